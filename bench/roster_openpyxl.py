#!/usr/bin/env python3
"""Benchmark baseline (e): read and validate a roster .xlsx with openpyxl + pandas.

    python bench/roster_openpyxl.py ROSTER.xlsx [--sheet NAME] [--kinds]
    python bench/roster_openpyxl.py --self-test

The roster is 附件3 精神障碍患者花名册. The script prints one JSON line to stdout:

    {"rows_read":N,"accepted":N,"errors":N,"duplicates":N,"seconds":S}

`seconds` is wall time from opening the workbook to the final counts. It does not include
interpreter start-up or `import pandas`; time the whole process from outside if you want those.
`--kinds` also prints the count of each error kind to stderr (stdout keeps its one line).

It does the same read and validation as the Rust importer:

Layout
  The first worksheet is read (or `--sheet`), with openpyxl `read_only=True, data_only=True`.
  The header row is the first of the first 20 rows whose cells, compared after removing all
  whitespace (so "身份证\\n号码" still matches) and turning full-width （） into (), include at
  least the name and ID columns. Aliases are listed in COLUMNS. Everything above it (the merged
  title, 填报单位：...) is ignored. Below it, these rows are skipped and do not count in
  rows_read:
    - blank rows, and rows where every personal column is empty (a pre-numbered template row
      with only 序号 or 镇街 filled in);
    - footer rows whose first non-empty cell starts with 合计, 总计, 小计, 填表人, 填报人,
      填报单位, 审核人 or 制表人;
    - repeated header rows (name cell is "姓名").
  Every other row is a data row (rows_read).

Per data row (one row may have several error kinds, but it counts once in `errors`)
  ID (身份证号):
    - a numeric cell (int or float) -> id-numeric-cell (Excel has already lost digits);
    - text in scientific notation, e.g. "5.00110E+17" -> id-scientific;
    - otherwise normalise: remove all whitespace, full-width digits to ASCII, x/ｘ/Ｘ to X;
    - empty -> id-missing;
    - 15 digits -> upgrade to 18: insert "19" after the 6-digit area code and append the
      check character;
    - then it must be 17 digits plus a digit or X (else id-format), pass the ISO 7064
      MOD 11-2 check (else id-checksum), and have a real birth date YYYYMMDD between
      1900-01-01 and today (else id-birth-date).
  Sex (性别): 男/男性 or 女/女性, and it must agree with the 17th digit of a valid ID (odd means
    male). Another value -> sex-invalid. A mismatch -> sex-mismatch. Empty is allowed (taken
    from the ID).
  Name (姓名): empty after trimming -> name-missing.
  Certificate (残疾证号), if present, normalised like the ID: it must be 20 characters
    (cert-format), its first 18 must equal the normalised 18-digit ID (cert-id-mismatch), and
    its 19th character, the disability category, must be 6 or 7 (cert-category). A numeric
    cell -> cert-format.
  Phone (监护人电话), if present, after removing whitespace: an 11-digit mobile
    1[3-9]xxxxxxxxx, or a landline with area code 0xx(x)-xxxxxxx(x) where the hyphen is
    optional. Anything else -> phone-format.

Counting: each data row is in exactly one bucket, so accepted + errors + duplicates = rows_read.
  A row with any error goes in `errors`. A valid row whose normalised 18-digit ID already
  appeared in an earlier valid row goes in `duplicates` (pandas `duplicated(keep="first")`).
  Every other row goes in `accepted`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

# field -> header aliases (compared after norm_header)
COLUMNS: dict[str, tuple[str, ...]] = {
    "seq": ("序号",),
    "township": ("镇街", "乡镇（街道）", "乡镇街道", "街道（镇）", "镇（街道）"),
    "name": ("姓名", "患者姓名"),
    "sex": ("性别",),
    "age": ("年龄",),
    "id": ("身份证号", "身份证号码", "公民身份号码", "居民身份证号", "居民身份证号码"),
    "cert": ("残疾证号", "残疾证号码"),
    "grade": ("残疾等级",),
    "address": ("家庭住址", "现住址", "居住地址"),
    "guardian": ("监护人", "监护人姓名"),
    "phone": ("监护人电话", "监护人联系电话", "联系电话"),
    "remark": ("备注",),
}
PERSONAL = ("name", "sex", "age", "id", "cert", "grade", "address", "guardian", "phone")
FOOTER_PREFIXES = ("合计", "总计", "小计", "填表人", "填报人", "填报单位", "审核人", "制表人")
HEADER_SCAN_ROWS = 20

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_CHECK = np.array(list("10X98765432"))

# full-width digits/letters used in IDs -> ASCII; lowercase x -> X
_FW = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)}, "ｘ": "X", "Ｘ": "X", "x": "X"})
_WS = re.compile(r"[\s\u3000\u00a0\u200b\ufeff]+")
_SCI = r"^[+-]?\d+(?:\.\d*)?[eE][+-]?\d+$"
_MOBILE = r"^1[3-9]\d{9}$"
_LANDLINE = r"^0\d{2,3}-?\d{7,8}$"


def norm_header(v: object) -> str:
    if v is None:
        return ""
    s = _WS.sub("", str(v)).replace("(", "（").replace(")", "）")
    return s.lstrip("*").rstrip(":：")


ALIAS_TO_FIELD = {norm_header(a): f for f, aliases in COLUMNS.items() for a in aliases}


def to_text(v: object) -> str:
    """Cell value as text: None -> "", integral float -> digits, dates -> ISO."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    return str(v)


def is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def find_header(rows: list[tuple]) -> tuple[int, dict[str, int]]:
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        mapping: dict[str, int] = {}
        for j, v in enumerate(row):
            f = ALIAS_TO_FIELD.get(norm_header(v))
            if f and f not in mapping:
                mapping[f] = j
        if "name" in mapping and "id" in mapping:
            return i, mapping
    raise SystemExit(f"no header row (with 姓名 and 身份证号) in the first {HEADER_SCAN_ROWS} rows")


def read_rows(path: Path, sheet: str | None) -> list[tuple]:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb[sheet] if sheet else wb.worksheets[0]
        # Some writers (WPS, older tools) store a wrong <dimension>; read_only mode trusts it
        # unless reset, and would silently drop rows.
        ws.reset_dimensions()
        return [tuple(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def checksum_chars(first17: pd.Series) -> pd.Series:
    """ISO 7064 MOD 11-2 check character for a Series of 17-digit strings (vectorised)."""
    if first17.empty:
        return pd.Series([], index=first17.index, dtype=object)
    digits = np.frombuffer("".join(first17).encode("ascii"), dtype=np.uint8).reshape(-1, 17)
    idx = ((digits.astype(np.int64) - 48) @ ID_WEIGHTS) % 11
    return pd.Series(ID_CHECK[idx], index=first17.index, dtype=object)


def validate_frame(rows: list[tuple]) -> tuple[dict[str, int], Counter]:
    header_i, mapping = find_header(rows)
    body = rows[header_i + 1 :]
    width = max(mapping.values()) + 1
    raw = pd.DataFrame(
        [tuple(r[:width]) + (None,) * (width - len(r)) for r in body] if body else [],
        columns=range(width),
        dtype=object,
    )
    raw = raw[[mapping[f] for f in mapping]]
    raw.columns = list(mapping)
    for f in COLUMNS:
        if f not in raw.columns:
            raw[f] = None

    zero = {"rows_read": 0, "accepted": 0, "errors": 0, "duplicates": 0}
    if raw.empty:
        return zero, Counter()
    text = raw.apply(lambda col: col.map(to_text)).astype(object)
    stripped = text.apply(lambda col: col.str.strip())

    # --- skip non-data rows -------------------------------------------------------------
    first_text = stripped.where(stripped != "").bfill(axis=1).iloc[:, 0].fillna("").astype(object)
    footer = first_text.str.startswith(FOOTER_PREFIXES)
    empty_personal = (stripped[list(PERSONAL)] == "").all(axis=1)
    repeated_header = stripped["name"].map(norm_header) == "姓名"
    df = stripped[~(footer | empty_personal | repeated_header)]
    raw = raw.loc[df.index]
    n = len(df)
    if n == 0:
        return zero, Counter()

    errs = pd.DataFrame(index=df.index)

    # --- ID -----------------------------------------------------------------------------
    id_raw = raw["id"]
    errs["id-numeric-cell"] = id_raw.map(is_number).astype(bool)
    id_text = df["id"].str.replace(_WS, "", regex=True)
    errs["id-scientific"] = ~errs["id-numeric-cell"] & id_text.str.match(_SCI)
    id_norm = id_text.str.translate(_FW)
    bad_cell = errs["id-numeric-cell"] | errs["id-scientific"]
    errs["id-missing"] = ~bad_cell & (id_norm == "")

    is15 = ~bad_cell & id_norm.str.fullmatch(r"\d{15}")
    up17 = id_norm[is15].str.slice(0, 6) + "19" + id_norm[is15].str.slice(6)
    id18 = id_norm.copy()
    id18.loc[is15] = up17 + checksum_chars(up17)

    shape_ok = ~bad_cell & id18.str.fullmatch(r"\d{17}[\dX]")
    errs["id-format"] = ~bad_cell & ~errs["id-missing"] & ~shape_ok
    ok18 = id18[shape_ok]
    cs_ok = pd.Series(False, index=df.index)
    cs_ok.loc[ok18.index] = checksum_chars(ok18.str.slice(0, 17)) == ok18.str.slice(17)
    errs["id-checksum"] = shape_ok & ~cs_ok
    birth = pd.to_datetime(id18.where(shape_ok, "").str.slice(6, 14), format="%Y%m%d", errors="coerce")
    today = pd.Timestamp(dt.date.today())
    birth_ok = birth.notna() & (birth >= pd.Timestamp("1900-01-01")) & (birth <= today)
    errs["id-birth-date"] = shape_ok & cs_ok & ~birth_ok
    id_valid = shape_ok & cs_ok & birth_ok

    # --- sex ----------------------------------------------------------------------------
    sex = df["sex"].str.replace(_WS, "", regex=True).replace({"男性": "男", "女性": "女"})
    errs["sex-invalid"] = ~sex.isin(["", "男", "女"])
    male_by_id = id18.str.slice(16, 17).where(id_valid, "0").astype(int) % 2 == 1
    errs["sex-mismatch"] = id_valid & sex.isin(["男", "女"]) & ((sex == "男") != male_by_id)

    # --- name ---------------------------------------------------------------------------
    errs["name-missing"] = df["name"] == ""

    # --- certificate --------------------------------------------------------------------
    cert = df["cert"].str.replace(_WS, "", regex=True).str.translate(_FW)
    has_cert = cert != ""
    cert_shape = cert.str.len() == 20
    errs["cert-format"] = has_cert & (raw["cert"].map(is_number).astype(bool) | ~cert_shape)
    cert_checkable = has_cert & ~errs["cert-format"]
    errs["cert-id-mismatch"] = cert_checkable & id_valid & (cert.str.slice(0, 18) != id18)
    errs["cert-category"] = cert_checkable & ~cert.str.slice(18, 19).isin(["6", "7"])

    # --- phone --------------------------------------------------------------------------
    phone = df["phone"].str.replace(_WS, "", regex=True).str.translate(_FW)
    phone_ok = phone.str.fullmatch(_MOBILE) | phone.str.fullmatch(_LANDLINE)
    errs["phone-format"] = (phone != "") & ~phone_ok

    # --- buckets ------------------------------------------------------------------------
    errs = errs.fillna(False).astype(bool)
    has_error = errs.any(axis=1)
    valid_ids = id18[~has_error]
    dup = valid_ids.duplicated(keep="first")
    n_dup = int(dup.sum())
    n_err = int(has_error.sum())
    counts = {"rows_read": n, "accepted": n - n_err - n_dup, "errors": n_err, "duplicates": n_dup}
    kinds = Counter({k: int(v) for k, v in errs.sum().items() if v})
    return counts, kinds


def run(path: Path, sheet: str | None = None) -> tuple[dict, Counter]:
    t0 = time.perf_counter()
    rows = read_rows(path, sheet)
    counts, kinds = validate_frame(rows)
    counts["seconds"] = round(time.perf_counter() - t0, 6)
    return counts, kinds


# ---------------------------------------------------------------------------------------
# self-test


def _id18(first17: str) -> str:
    return first17 + checksum_chars(pd.Series([first17])).iloc[0]


def self_test() -> int:
    import tempfile

    good_m = _id18("50011019800101001")  # 17th digit 1 -> male
    good_f = _id18("50011019850615002")  # 17th digit 2 -> female
    good_x = next(
        _id18(f"5001101990030400{d}") for d in range(10) if _id18(f"5001101990030400{d}").endswith("X")
    )
    id15 = "500110620304031"  # 1962-03-04, 15th digit 1 -> male
    id15_up = _id18("50011019620304031")
    good_n = _id18("50011020000229004")  # leap day, female
    bad_cs = good_m[:17] + ("0" if good_m[17] != "0" else "1")
    bad_birth = _id18("50011019990230003")  # 30 Feb, checksum correct
    fw = str.maketrans("0123456789", "０１２３４５６７８９")

    rows = [
        # good (4)
        (1, "万东镇", "张三", "男", 44, good_m, good_m + "62", "二级", "万东镇XX村", "张父", "13800138000", ""),
        (2, "南桐镇", "李四", "男" if int(good_x[16]) % 2 else "女", 39, " " + good_x[:6].translate(fw) + good_x[6:17] + "x ", "", "", "", "", "023-48281234", ""),
        (3, "青年镇", "王五", "男", 63, id15, id15_up + "71", "一级", "", "", "", ""),
        (4, "关坝镇", "赵六", "", 25, good_n, "", "", "", "", "", "备注"),
        # errors, one kind each (12)
        (5, "丛林镇", "甲", "男", 1, int(good_m[:17] + "0") if good_m[17] == "X" else int(good_m), "", "", "", "", "", ""),
        (6, "丛林镇", "乙", "男", 1, "5.00110E+17", "", "", "", "", "", ""),
        (7, "丛林镇", "丙", "男", 1, bad_cs, "", "", "", "", "", ""),
        (8, "丛林镇", "丁", "", 1, bad_birth, "", "", "", "", "", ""),
        (9, "丛林镇", "戊", "女", 1, good_m, "", "", "", "", "", ""),
        (10, "丛林镇", "", "女", 1, good_f, "", "", "", "", "", ""),
        (11, "丛林镇", "己", "女", 1, good_f, good_m + "62", "", "", "", "", ""),
        (12, "丛林镇", "庚", "女", 1, good_f, good_f + "52", "", "", "", "", ""),
        (13, "丛林镇", "辛", "女", 1, good_f, good_f + "6", "", "", "", "", ""),
        (14, "丛林镇", "壬", "女", 1, good_f, "", "", "", "", "12345", ""),
        (15, "丛林镇", "癸", "女", 1, "50011019850615", "", "", "", "", "", ""),
        (16, "丛林镇", "子", "女", 1, None, "", "", "", "", "", ""),
        # duplicates (2): same person as row 1 with spaces; row 3's 15-digit ID given as 18 digits
        (17, "万东镇", "张三", "男", 44, good_m[:6] + " " + good_m[6:], "", "", "", "", "13800138000", ""),
        (18, "青年镇", "王五", "男", 63, id15_up, "", "", "", "", "", ""),
    ]
    expected_kinds = {
        "id-numeric-cell": 1, "id-scientific": 1, "id-checksum": 1, "id-birth-date": 1,
        "sex-mismatch": 1, "name-missing": 1, "cert-id-mismatch": 1, "cert-category": 1,
        "cert-format": 1, "phone-format": 1, "id-format": 1, "id-missing": 1,
    }
    header = ("序号", "乡镇（街道）", "姓名", "性别", "年龄", "公民身份\n号码", "残疾证号码",
              "残疾等级", "现住址", "监护人姓名", "监护人联系电话", "备注")

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append(["万盛经开区XX镇精神障碍患者花名册"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    ws.append(["填报单位：万盛经开区XX镇卫生院", None, None, None, None, None, None, None, "填报日期：2024年5月"])
    ws.append([])
    ws.append(header)
    for i, r in enumerate(rows):
        ws.append(list(r))
        if i in (3, 9):
            ws.append([])  # blank rows in the middle
    ws.append([19])  # pre-numbered template row, otherwise empty
    ws.append([20, "万东镇"])
    ws.append([])
    ws.append(["合计", None, f"{len(rows)}人"])
    ws.append(["填表人：某某", None, None, None, "审核人：某某", None, "联系电话：023-48281234"])

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "roster.xlsx"
        wb.save(path)
        counts, kinds = run(path)

    print(json.dumps(counts, ensure_ascii=False, separators=(",", ":")))
    print("error kinds:", dict(sorted(kinds.items())), file=sys.stderr)
    want = {"rows_read": 18, "accepted": 4, "errors": 12, "duplicates": 2}
    got = {k: counts[k] for k in want}
    assert got == want, f"counts {got} != {want}"
    assert dict(kinds) == expected_kinds, f"kinds {dict(sorted(kinds.items()))} != {expected_kinds}"
    print("self-test OK", file=sys.stderr)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description="openpyxl+pandas baseline for the roster import benchmark")
    ap.add_argument("xlsx", nargs="?", type=Path)
    ap.add_argument("--sheet", help="worksheet name (default: the first sheet)")
    ap.add_argument("--kinds", action="store_true", help="print error counts by kind to stderr")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.xlsx:
        ap.error("give an .xlsx file or --self-test")
    counts, kinds = run(args.xlsx, args.sheet)
    print(json.dumps(counts, separators=(",", ":")))
    if args.kinds:
        print(json.dumps(dict(sorted(kinds.items())), ensure_ascii=False), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
