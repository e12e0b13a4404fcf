#!/usr/bin/env python3
"""Benchmark baseline (e): read and validate a roster .xlsx with openpyxl + pandas.

    python bench/roster_openpyxl.py ROSTER.xlsx [--county 500110] [--sheet NAME] [--kinds]
    python bench/roster_openpyxl.py --self-test

The roster is 附件3 精神障碍患者花名册. The script prints one JSON line to stdout:

    {"rows_read":N,"accepted":N,"errors":N,"duplicates":N,"seconds":S}

`seconds` is wall time from opening the workbook to the final counts. It does not include
interpreter start-up, `import pandas` or loading the county's townships from
crates/jingkang-core/data/regions.tsv.gz (the Rust importer gets its region tree ready-made too);
time the whole process from outside if you want those.
`--kinds` also prints the number of errors of each code to stderr (stdout keeps its one line). The
codes are the Rust importer's, counted like the entries of its `errors` list (one row can have
several).

It does the same read and validation as the Rust importer (crates/jingkang-core/src/import/roster.rs
and the domain types it uses), so `rows_read`, `accepted`, `errors` (distinct rows) and `duplicates`
equal `jingkang import roster FILE --county C --json --dry-run` on a database that has no persons
yet. (Checks that need the database, such as person-outside-scope, are not made.)

Cells
  openpyxl `read_only=True, data_only=True`; a cell is read as text the way the importer does:
  numbers without a trailing `.0` (shortest round-trip digits, never an exponent), TRUE/FALSE,
  dates as YYYY-MM-DD. "Whitespace" below is Unicode White_Space (Rust `char::is_whitespace`);
  "folded" means full-width ASCII U+FF01..U+FF5E to ASCII and U+3000 to a space; zero-width
  characters (U+200B..U+200D, U+2060, U+FEFF) are "invisible".

Layout
  The first worksheet is read (or `--sheet`). The header is the first of rows 1-30 whose text cells,
  normalised (whitespace and * / ＊ removed, （）→ (), one trailing (必填)/(选填)/(可选) dropped),
  name at least 3 known columns including 镇街, 姓名 and 身份证号 (aliases in COLUMNS). Rows above it
  are ignored. Below it these rows are skipped and do not count in rows_read:
    - blank rows;
    - template rows: every column from 镇街 to 备注 except 年龄 blank (only 序号/年龄 filled in);
    - footers: one of the first 4 cells, whitespace removed, starts with 合计, 总计, 小计, 填表人,
      填报人, 审核人, 负责人, 填表日期, 填报日期, 制表, 联系电话：, 填报单位, 说明, 注： (MARKERS);
    - repeated headers: at least 3 cells equal the header's cell in the same column (normalised);
    - column-number rows: at least 3 non-blank cells, reading 1, 2, 3, ... in order.
  Every other row is a data row (rows_read).

Per data row (all problems of a row are reported; the row counts once in `errors`)
  身份证号: a numeric cell -> id-not-text-precision-lost. Otherwise normalise (fold, drop
    whitespace and invisibles, ASCII upper-case, drop leading ' ‘ ’ `): empty -> id-missing;
    scientific notation or an integer with .0 -> id-not-text-precision-lost; not only digits and
    X -> id-characters; not 15 or 18 long -> id-length; an X but as 18th character ->
    id-characters; birth date not a real date, before 1900 or after today -> id-invalid-date
    (15-digit numbers are born 19YY); wrong check character -> id-not-text-precision-lost if the
    number ends in 000, else id-checksum. The canonical ID is the 17 digits plus the check
    character (15-digit numbers upgraded).
  姓名: PersonName (name.rs): empty or a placeholder (无 不详 未知 空 null none n/a - —) ->
    name-missing; characters other than letters and a middle dot (and, in Latin names, space . - ')
    or no CJK/Latin letter -> name-invalid; over 30 characters -> name-too-long.
  性别, if not blank: 男/女/男性/女性/M/F/1/2/male/female (folded, any case) else sex-invalid (or
    sex-missing if only invisibles); with a valid ID it must match the 17th digit (odd = male) ->
    sex-id-mismatch.
  镇街: blank -> township-missing; else resolved among the county's townships (whitespace
    removed, folded): a unique exact name, else a unique township whose name without its suffix
    (街道办事处 民族乡 民族镇 街道办 办事处 街道 地区 苏木 镇 乡 街) equals the written name without
    its suffix, else a unique township whose name starts with that -> township-unknown /
    township-ambiguous.
  残疾等级, if not blank: 3, 3级, 三级, 叁级, Ⅲ级, iii, 精神三级, 三级精神残疾, ... -> grade-invalid
    otherwise (two categories named: grade-invalid); a named category other than 精神/多重 ->
    certificate-not-mental.
  残疾证号, if not blank: a numeric cell -> certificate-not-text-precision-lost; not checked when
    the ID is invalid; else normalised like the ID (a reissue suffix B1/B12 after 20 characters is
    dropped): empty -> certificate-missing; spreadsheet number ->
    certificate-not-text-precision-lost; not ASCII letters/digits -> certificate-characters; not 20
    long -> certificate-length; not 18 ID characters + 2 digits -> certificate-characters; the ID
    part invalid -> certificate-id-invalid; category digit not 1-7 ->
    certificate-category-invalid, not 6/7 -> certificate-not-mental; grade digit not 1-4 ->
    certificate-grade-invalid; ID part not the row's ID -> certificate-id-mismatch; a readable
    残疾等级 of another grade -> certificate-grade-mismatch.
  监护人, if not blank: must be a valid name -> guardian-name-invalid.
  监护人电话, if not blank: one or more numbers (phone.rs) split on / 、 , ; | 或 and line
    breaks (full-width too), a piece that fails also tried split on spaces. One number: folded,
    lower-cased, a label (手机 电话 座机 Tel ...) and an extension (转 分机 ext x # ...) removed,
    split on separators (whitespace - — – . ( ) [ ] 【 】), +86/0086 dropped; a mobile
    1[3-9]+9 digits (also 86/0 before it), or a landline with area code 010/02x (3 digits) or
    0[3-9]xx (4) and a 7-8 digit local number starting 2-9. A local number without area code ->
    phone-no-area-code, anything else -> phone-invalid. Canonical forms are matched with one
    vectorised regex; only the other cells go through the full parser (once per distinct value).
  A row with at least one phone, no guardian name and no other error -> guardian-name-missing.

Counting: each data row is in exactly one bucket, so accepted + errors + duplicates = rows_read.
  A row with any error goes in `errors`. A valid row whose canonical ID already appeared in an
  earlier valid row goes in `duplicates` (pandas `duplicated(keep="first")`). Every other row goes in
  `accepted`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import re
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

REGIONS_TSV = Path(__file__).resolve().parent.parent / "crates/jingkang-core/data/regions.tsv.gz"

# field -> header aliases (compared after norm_header), as in ROSTER_COLUMNS (import/roster.rs);
# the order matters: an alias belongs to the first field that lists it.
COLUMNS: dict[str, tuple[str, ...]] = {
    "seq": ("序号", "编号"),
    "township": ("镇街", "街镇", "乡镇(街道)", "乡镇街道", "乡镇/街道", "街道(镇)", "镇(街道)", "镇(街)",
                 "所属镇街", "所属乡镇(街道)", "乡镇", "街道", "镇街名称"),
    "name": ("姓名", "患者姓名", "服务对象姓名"),
    "sex": ("性别",),
    "age": ("年龄",),
    "id": ("身份证号", "身份证号码", "公民身份号码", "公民身份证号码", "居民身份证号", "居民身份证号码",
           "身份证", "证件号码"),
    "cert": ("残疾证号", "残疾证号码", "残疾人证号", "残疾人证号码", "残疾证"),
    "grade": ("残疾等级", "残疾级别", "残疾类别等级", "等级"),
    "address": ("家庭住址", "现住址", "居住地址", "现居住地址", "家庭地址", "住址", "现居住地"),
    "guardian": ("监护人", "监护人姓名"),
    "phone": ("监护人电话", "监护人联系电话", "监护人手机", "联系电话", "电话", "联系方式"),
    "notes": ("备注",),
}
REQUIRED = ("township", "name", "id")
MIN_MATCHES = 3
MAX_HEADER_ROW = 30
MAX_COLUMNS = 512  # the Rust reader ignores cells further right
# the columns that must all be blank for a pre-numbered template row (everything but 序号 and 年龄)
TEMPLATE = ("township", "name", "sex", "id", "cert", "grade", "address", "guardian", "phone", "notes")
MARKERS = ("合计", "总计", "小计", "填表人", "填报人", "审核人", "负责人", "单位负责人", "分管负责人", "填表日期",
           "填报日期", "制表", "联系电话：", "联系电话:", "填报单位", "说明", "填表说明", "注：", "注:")

# --- characters ------------------------------------------------------------------------------

# Unicode White_Space, i.e. what Rust's char::is_whitespace accepts (Python's isspace differs).
WS = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
WS_SET = frozenset(WS)
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_WS_RUN = re.compile(f"[{re.escape(WS)}]+")
_FOLD = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20}


def fold(s: str) -> str:
    """Full-width ASCII to ASCII, U+3000 to a space (domain::fold_width)."""
    return s.translate(_FOLD)


_DROP_WS = dict.fromkeys(map(ord, WS))
_DROP_INV = dict.fromkeys(map(ord, INVISIBLE))
# normalize_code_text (ID, certificate): fold, drop whitespace and invisibles, ASCII upper-case
CODE_TBL = {**{k: chr(v).upper() if 0x61 <= v <= 0x7A else chr(v) for k, v in _FOLD.items()},
            **{ord(c): c.upper() for c in "abcdefghijklmnopqrstuvwxyz"}, **_DROP_WS, **_DROP_INV}
CODE_LEAD = "'\u2018\u2019`"
# Sex / grade: fold, drop whitespace and invisibles (lower-cased separately)
KEY_TBL = {**_FOLD, **_DROP_WS, **_DROP_INV}
# regions::tree::normalise_name: drop whitespace, fold full-width ASCII (invisibles stay)
TOWN_TBL = {**_FOLD, **_DROP_WS}
# header::normalise_header: drop whitespace and asterisks, full-width parentheses to ASCII
HDR_TBL = {**_DROP_WS, ord("*"): None, ord("＊"): None, ord("（"): "(", ord("）"): ")"}
HDR_NOTES = ("(必填)", "(选填)", "(可选)")

_SPREADSHEET_NUMBER = r"[0-9]+(?:(?:[.,][0-9]+)?E[+-]?[0-9]{1,3}|\.0+)"


def norm_header(s: str) -> str:
    s = s.translate(HDR_TBL)
    for note in HDR_NOTES:
        if s.endswith(note):
            return s[: -len(note)]
    return s


ALIAS_TO_FIELD: dict[str, str] = {}
for _f, _aliases in COLUMNS.items():
    for _a in _aliases:
        ALIAS_TO_FIELD.setdefault(norm_header(_a), _f)


def cell_text(v: object) -> str:
    """A cell as text, as the importer reads it (import::sheet::Cell::text)."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int) and abs(v) < 10**15:
        return str(v)
    if isinstance(v, (int, float)):
        f = float(v)
        if f.is_integer() and abs(f) < 1e15:
            return str(int(f))
        return np.format_float_positional(f, trim="-")  # like Rust's `{}`: shortest digits, no exponent
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# --- townships -------------------------------------------------------------------------------

TOWNSHIP_SUFFIXES = ("街道办事处", "民族乡", "民族镇", "街道办", "办事处", "街道", "地区", "苏木", "镇", "乡", "街")
PREFIX_LEN = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}


def strip_township_suffix(s: str) -> str:
    for suf in TOWNSHIP_SUFFIXES:
        if s.endswith(suf) and len(s) > len(suf):
            return s[: -len(suf)]
    return s


class Townships:
    """A county's townships and resolve_township (regions/tree.rs) as dict look-ups built once."""

    def __init__(self, county: str, county_name: str, townships: list[tuple[str, str]]):
        self.county, self.county_name = county, county_name
        self.exact: dict[str, list[str]] = {}
        self.base: dict[str, list[str]] = {}
        self.prefix: dict[str, list[str]] = {}
        for code, name in sorted(townships):
            self.exact.setdefault(name, []).append(code)
            self.base.setdefault(strip_township_suffix(name), []).append(code)
            for i in range(1, len(name) + 1):
                self.prefix.setdefault(name[:i], []).append(code)

    def resolve(self, written: str) -> str | None:
        """None if found, else the error code. `written` is already normalised (TOWN_TBL)."""
        if not written:
            return "township-unknown"
        if len(self.exact.get(written, ())) == 1:
            return None
        wb = strip_township_suffix(written)
        n = len(self.base.get(wb, ()))
        if n == 0:
            n = len(self.prefix.get(wb, ()))
            if n == 0:
                return "township-unknown"
        return None if n == 1 else "township-ambiguous"


def load_townships(county: str, regions: Path = REGIONS_TSV) -> Townships:
    """The townships under `county` (a county or city) from the gzip TSV `code name parent level`."""
    rows = [line.split("\t") for line in gzip.open(regions, "rt", encoding="utf-8").read().splitlines() if line]
    by_code = {r[0]: r for r in rows}
    if county not in by_code:
        raise SystemExit(f"unknown county code {county}")
    _, name, _, level = by_code[county]
    prefix = county[: PREFIX_LEN.get(level, len(county))]
    towns = [(r[0], r[1]) for r in rows if r[3] == "township" and r[0].startswith(prefix)]
    if level not in ("county", "city") or not towns:
        raise SystemExit(f"region {county} is not a county")
    return Townships(county, name, towns)


# --- scalar parsers for the cells the vectorised checks do not settle ---------------------------

PLACEHOLDERS = frozenset(["无", "不详", "未知", "空", "null", "none", "n/a", "-", "—"])
DOTS = frozenset("·.•・‧･∙⋅﹒\u2e31\u318d")


def _is_cjk(c: str) -> bool:
    o = ord(c)
    return (o == 0x3007 or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF
            or 0x20000 <= o <= 0x2EBEF or 0x30000 <= o <= 0x323AF)


def _is_alphabetic(c: str) -> bool:
    cat = unicodedata.category(c)
    return cat[0] == "L" or cat == "Nl"


def _is_numeric(c: str) -> bool:
    return unicodedata.category(c) in ("Nd", "Nl", "No")


def _is_latin_letter(c: str) -> bool:
    return ("A" <= c <= "Z" or "a" <= c <= "z") or (_is_alphabetic(c) and "\u00c0" <= c <= "\u024f")


def parse_name(text: str) -> str | None:
    """PersonName::parse (domain/name.rs): None if valid, else the error code."""
    folded = "".join(c for c in fold(text) if c not in INVISIBLE)
    trimmed = folded.strip(WS)
    if not trimmed or trimmed.lower() in PLACEHOLDERS:
        return "name-missing"
    has_cjk = any(_is_cjk(c) for c in trimmed)
    out: list[str] = []
    pending_space = False
    for c in trimmed:
        if c in WS_SET:
            pending_space = not has_cjk
            continue
        if c in DOTS and (has_cjk or c != "."):
            c = "·"
        if c == "·":
            pending_space = False
            if not out or out[-1] == "·":
                continue
        elif pending_space and out and out[-1] != "·":
            out.append(" ")
        pending_space = False
        out.append(c)
    while out and out[-1] == "·":
        out.pop()

    def allowed(c: str) -> bool:
        return (c == "·" or (_is_alphabetic(c) and (c == "\u3007" or not _is_numeric(c)))
                or (not has_cjk and c in " .-'"))

    if not all(map(allowed, out)) or not any(_is_cjk(c) or _is_latin_letter(c) for c in out):
        return "name-invalid"
    name = "".join(out)
    if name.lower() in PLACEHOLDERS:
        return "name-missing"
    if len(name) > 30:
        return "name-too-long"
    return None


CATEGORIES = (("视力", 1), ("听力", 2), ("言语", 3), ("肢体", 4), ("智力", 5), ("精神", 6), ("多重", 7))
GRADE_NOISE = ("残疾人", "残疾", "等级", "级别", "级", "第", ":", "：")
GRADE_WORDS = {w: g for g, ws in enumerate((("1", "一", "壹", "i", "ⅰ", "Ⅰ"), ("2", "二", "贰", "ii", "ⅱ", "Ⅱ"),
                                            ("3", "三", "叁", "iii", "ⅲ", "Ⅲ"), ("4", "四", "肆", "iv", "ⅳ", "Ⅳ")), 1)
               for w in ws}


def parse_grade(text: str) -> tuple[str | None, int | None, int]:
    """DisabilityGrade::parse_text (domain/certificate.rs): (error code, category, grade); grade 0
    when unreadable. The category error certificate-not-mental is the caller's."""
    s = text.translate(KEY_TBL).lower()
    if not s:
        return "grade-missing", None, 0
    category = None
    for label, code in CATEGORIES:
        if label in s:
            if category is not None:
                return "grade-invalid", None, 0
            category = code
            s = s.replace(label, "", 1)
    for noise in GRADE_NOISE:
        s = s.replace(noise, "")
    grade = GRADE_WORDS.get(s)
    if grade is None:
        return "grade-invalid", None, 0
    return None, category, grade


EXT_MARKERS = ("转", "分机", "ext.", "ext", "x", "#")
PHONE_LABELS = ("手机号码", "手机号", "手机", "电话号码", "电话", "座机", "固话", "tel")
_PHONE_SEP = re.compile("[" + re.escape(WS + "-—–‐−─()[].【】") + "]")
PHONE_SEP = frozenset(WS + "-—–‐−─()[].【】")
_LIST_SEP = re.compile("[/、,;|或\n\r／，；｜]")


def _digits(s: str) -> bool:
    return s.isascii() and s.isdigit()


def _is_mobile(d: str) -> bool:
    return len(d) == 11 and d[0] == "1" and "3" <= d[1] <= "9" and _digits(d)


def _is_local(d: str) -> bool:
    return 7 <= len(d) <= 8 and _digits(d) and "2" <= d[0] <= "9"


def _is_extension(d: str) -> bool:
    return 1 <= len(d) <= 6 and _digits(d)


def _area_code_len(d: str) -> int | None:
    if d[:3] == "010" or d[:2] == "02":
        return 3
    if len(d) >= 2 and d[0] == "0" and "3" <= d[1] <= "9":
        return 4
    return None


def parse_phone(text: str) -> tuple[str | None, str | None]:
    """Phone::parse (domain/phone.rs): (error code, canonical number)."""
    s = "".join(c for c in fold(text) if c not in INVISIBLE).lower().strip(WS)
    if not s:
        return "phone-missing", None
    for label in PHONE_LABELS:
        if s.startswith(label):
            s = s[len(label):].lstrip(":" + WS)
            break
    found = [(pos, len(m)) for m in EXT_MARKERS if (pos := s.find(m)) >= 0]
    ext = None
    if found:
        pos, n = min(found)
        ext = "".join(c for c in s[pos + n:] if c not in PHONE_SEP and c != ":")
        if not _is_extension(ext):
            return "phone-invalid", None
        s = s[:pos]
    groups = [g for g in _PHONE_SEP.split(s) if g]
    international = False
    if groups:
        first = groups[0]
        if first.startswith("+"):
            if not first.startswith("+86"):
                return "phone-invalid", None
            groups[0], international = first[3:], True
        elif first.startswith("0086"):
            groups[0], international = first[4:], True
    groups = [g for g in groups if g]
    if not groups or not all(map(_digits, groups)):
        return "phone-invalid", None
    digits = "".join(groups)
    if _is_mobile(digits):
        return None, digits
    if not international and len(digits) == 13 and digits.startswith("86") and _is_mobile(digits[2:]):
        return None, digits[2:]
    if not international and len(digits) == 12 and digits.startswith("0") and _is_mobile(digits[1:]):
        return None, digits[1:]
    if international and not digits.startswith("0"):
        digits, groups[0] = "0" + digits, "0" + groups[0]
    if not digits.startswith("0"):
        last = groups[-1]
        without_last = digits[: len(digits) - len(last)] if len(groups) >= 2 and _is_extension(last) else None
        if _is_local(digits) or (without_last is not None and _is_local(without_last)):
            return "phone-no-area-code", None
        return "phone-invalid", None
    area_len = _area_code_len(digits)
    if area_len is None or len(digits) < area_len:
        return "phone-invalid", None
    area, rest = digits[:area_len], digits[area_len:]
    if len(groups) == 2 and groups[0] == area and _is_local(groups[1]):
        number = groups[1]
    elif (len(groups) == 3 and groups[0] == area and _is_local(groups[1]) and ext is None
          and _is_extension(groups[2])):
        number, ext = groups[1], groups[2]
    elif _is_local(rest):
        number = rest
    elif len(groups) >= 2 and ext is None and _is_extension(groups[-1]):
        number = rest[: max(0, len(rest) - len(groups[-1]))]
        if not _is_local(number):
            return "phone-invalid", None
        ext = groups[-1]
    else:
        return "phone-invalid", None
    return None, f"{area}-{number}" + (f"-{ext}" if ext is not None else "")


def parse_phone_list(text: str) -> tuple[str | None, int]:
    """Phone::parse_list: (error code, number of distinct phones)."""
    out: list[str] = []
    for piece in _LIST_SEP.split(text):
        if all(c in WS_SET or c in INVISIBLE for c in piece):
            continue
        err, value = parse_phone(piece)
        if err is None:
            found = [value]
        else:
            words = _WS_RUN.split(piece.strip(WS))
            each = [parse_phone(w) for w in words]
            if len(words) < 2 or any(e is not None for e, _ in each):
                return err, 0
            found = [v for _, v in each]
        out.extend(v for v in found if v not in out)
    return None, len(out)


# Canonical or common phone cells, all valid for parse_phone_list (checked with one regex).
_AREA = r"(?:010|02[0-9]|0[3-9][0-9]{2})"
_ONE_PHONE = rf"(?:1[3-9][0-9](?:[ -]?[0-9]{{4}}){{2}}|(?:{_AREA}-?|\({_AREA}\))[2-9][0-9]{{6,7}})"
PHONE_FAST = rf"{_ONE_PHONE}(?:[/、,;，；]{_ONE_PHONE})*"


# --- vectorised checks ----------------------------------------------------------------------------

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_CHECK = np.array(list("10X98765432"), dtype=object)
_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def checksum_chars(first17: pd.Series) -> pd.Series:
    """ISO 7064 MOD 11-2 check character for a Series of 17-digit strings (vectorised)."""
    if first17.empty:
        return pd.Series([], index=first17.index, dtype=object)
    digits = np.frombuffer("".join(first17).encode("ascii"), dtype=np.uint8).reshape(-1, 17)
    idx = ((digits.astype(np.int64) - 48) @ ID_WEIGHTS) % 11
    return pd.Series(ID_CHECK[idx], index=first17.index, dtype=object)


def birth_ok(first17: pd.Series, today: dt.date) -> pd.Series:
    """Digits 7-14 are a calendar date from 1900-01-01 to today."""
    if first17.empty:
        return pd.Series([], index=first17.index, dtype=bool)
    d = np.frombuffer("".join(first17).encode("ascii"), dtype=np.uint8).reshape(-1, 17)[:, 6:14].astype(np.int64) - 48
    y = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    m = d[:, 4] * 10 + d[:, 5]
    day = d[:, 6] * 10 + d[:, 7]
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month_ok = (m >= 1) & (m <= 12)
    dim = _DAYS[np.where(month_ok, m, 0)] + ((m == 2) & leap)
    ok = month_ok & (day >= 1) & (day <= dim) & (y >= 1900)
    ok &= y * 10000 + m * 100 + day <= today.year * 10000 + today.month * 100 + today.day
    return pd.Series(ok, index=first17.index)


class Codes:
    """One error code (or None) per row, first failing check wins."""

    def __init__(self, index: pd.Index):
        self.code = pd.Series(None, index=index, dtype=object)
        self.pending = pd.Series(True, index=index)

    def fail(self, mask: pd.Series, code: str) -> None:
        m = self.pending & mask.reindex(self.pending.index, fill_value=False).astype(bool)
        self.code[m] = code
        self.pending &= ~m


def normalize_code(text: pd.Series) -> pd.Series:
    """normalize_code_text on every cell; cells that are already plain digits/X are left alone."""
    plain = text.str.fullmatch("[0-9X]*")
    if plain.all():
        return text
    out = text.copy()
    out[~plain] = text[~plain].str.translate(CODE_TBL).str.lstrip(CODE_LEAD)
    return out


ID_SHAPE = r"[0-9]{15}|[0-9]{17}[0-9X]"


def parse_ids(text: pd.Series, today: dt.date) -> tuple[pd.Series, pd.Series]:
    """IdNumber::parse_as_of on every cell: (error code or None, canonical ID or None)."""
    s = normalize_code(text)
    shaped = s.str.fullmatch(ID_SHAPE)
    c = Codes(s.index)
    if not shaped.all():  # the precise reason, in the importer's order, for the few others
        b = s[~shaped]
        c.fail(b == "", "id-missing")
        c.fail(b.str.fullmatch(_SPREADSHEET_NUMBER), "id-not-text-precision-lost")
        c.fail(~b.str.fullmatch(r"[0-9X]*"), "id-characters")
        c.fail(~b.str.len().isin([15, 18]), "id-length")
        c.fail(b == b, "id-characters")  # an X, but not as 18th character
    p = s[shaped]
    is15 = p.str.len() == 15
    first17 = p.str.slice(0, 17)
    if is15.any():
        p15 = p[is15]
        first17[is15] = p15.str.slice(0, 6) + "19" + p15.str.slice(6)
    c.fail(~birth_ok(first17, today), "id-invalid-date")
    expected = checksum_chars(first17)
    wrong = ~is15 & (p.str.slice(17) != expected)
    c.fail(wrong & p.str.endswith("000"), "id-not-text-precision-lost")
    c.fail(wrong, "id-checksum")
    canon = pd.Series(None, index=s.index, dtype=object)
    ok = c.pending[p.index]
    canon[ok[ok].index] = (first17 + expected)[ok]
    return c.code, canon


def check_names(text: pd.Series) -> pd.Series:
    """PersonName::parse on every cell: error code or None. Plain CJK names are settled by a
    regex; the rest go through parse_name once per distinct value."""
    plain = text.str.fullmatch("[\u4e00-\u9fef]{1,30}") & ~text.isin(PLACEHOLDERS)
    out = pd.Series(None, index=text.index, dtype=object)
    rest = text[~plain]
    if not rest.empty:
        out[rest.index] = rest.map({u: parse_name(u) for u in rest.unique()})
    return out


def per_value(s: pd.Series, fn, n: int = 0):
    """fn applied once per distinct value of `s`; for a function returning an n-tuple, n Series."""
    res = {u: fn(u) for u in s.unique()}
    if not n:
        return s.map(res).astype(object)
    return [s.map({u: r[i] for u, r in res.items()}).astype(object) for i in range(n)]


SEXES = {"男": "M", "男性": "M", "m": "M", "1": "M", "male": "M", "女": "F", "女性": "F", "f": "F", "2": "F", "female": "F"}


def parse_sex(text: str) -> str:
    """Sex::parse: "M", "F" or the error code."""
    s = text.translate(KEY_TBL).lower()
    return SEXES.get(s, "sex-invalid" if s else "sex-missing")


_MARKER_START = f"[{re.escape(WS)}]*[{''.join(sorted({m[0] for m in MARKERS}))}]"


def row_codes(rows: list[tuple], towns: Townships, today: dt.date | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """Validate the data rows: (error code or None per check slot, canonical ID or None), both
    indexed by the sheet's 1-based row number."""
    today = today or dt.date.today()
    header_i, mapping, header_texts = find_header(rows)
    body = rows[header_i + 1:]
    index = pd.RangeIndex(header_i + 2, header_i + 2 + len(body))
    if not body:
        return pd.DataFrame(index=index), pd.Series([], index=index, dtype=object)
    width = min(max(max(map(len, body)), max(mapping.values()) + 1), MAX_COLUMNS)
    columns = list(zip(*(r[:width] + (None,) * (width - len(r)) for r in body)))  # cell values by column
    text = pd.DataFrame({j: [v if type(v) is str else cell_text(v) for v in columns[j]] for j in range(width)},
                        index=index, dtype=object)

    # --- rows that are not data -------------------------------------------------------------------
    # Blank and pre-numbered template rows: every column from 镇街 to 备注 but 年龄 is blank.
    blank = {j: text[j].str.strip(WS) == "" for j in {mapping[f] for f in TEMPLATE if f in mapping}}
    skip = pd.concat(blank.values(), axis=1).all(axis=1)
    # Footers: one of the first 4 cells starts with a marker (whitespace removed).
    for j in range(min(4, width)):
        cand = text[j].str.match(_MARKER_START)
        if cand.any():
            skip[cand] |= text[j][cand].str.translate(_DROP_WS).str.startswith(MARKERS)
    # Repeated headers: at least 3 cells equal to the header's, compared normalised. A cell can only
    # be equal if it contains the header text's first character other than a parenthesis.
    same = pd.Series(0, index=index)
    for j, h in enumerate(header_texts[:width]):
        if not h:
            continue
        key = next((ch for ch in h if ch not in "()"), None)
        cand = text[j].str.contains(key, regex=False) if key else pd.Series(True, index=index)
        t = text[j][cand].str.translate(HDR_TBL)
        t = t.where(~t.str.endswith(HDR_NOTES), t.str.slice(0, -4))
        same[t.index] += (t == h).astype(int)
    skip |= same >= MIN_MATCHES
    # Column-number rows: the non-blank cells read 1, 2, 3, ... (at least 3 of them).
    for i in index[((text == "1").any(axis=1) & ~skip).to_numpy()]:
        vals = [t for t in text.loc[i] if t.strip(WS)]
        skip[i] = len(vals) >= 3 and all(t == str(k) for k, t in enumerate(vals, 1))

    keep = (~skip).to_numpy()
    text = text[keep]
    idx = text.index

    def col(f: str) -> pd.Series:
        return text[mapping[f]] if f in mapping else pd.Series("", index=idx, dtype=object)

    def given(f: str) -> pd.Series:
        return ~blank[mapping[f]][keep] if f in mapping else pd.Series(False, index=idx)

    def numeric(f: str) -> pd.Series:
        if f not in mapping:
            return pd.Series(False, index=idx)
        return pd.Series([is_number(v) for v in columns[mapping[f]]], index=index, dtype=bool)[keep]

    def nothing() -> pd.Series:
        return pd.Series(None, index=idx, dtype=object)

    errs: dict[str, pd.Series] = {}  # check slot -> error code or None, per row

    # --- 身份证号 -----------------------------------------------------------------------------------
    id_numeric = numeric("id")
    id_code, canon = parse_ids(col("id"), today)
    errs["id"] = id_code.mask(id_numeric, "id-not-text-precision-lost")
    canon = canon.mask(id_numeric, None)
    id_valid = canon.notna()

    # --- 姓名 ---------------------------------------------------------------------------------------
    errs["name"] = check_names(col("name"))

    # --- 性别 ---------------------------------------------------------------------------------------
    sex = per_value(col("sex")[given("sex")], parse_sex).reindex(idx)
    sex_err = sex.where(~sex.isin(["M", "F"]))
    male = canon[id_valid].map(lambda v: v[16] in "13579").astype(bool)  # odd 17th digit
    mismatch = sex.isin(["M", "F"]) & id_valid & ((sex == "M") != male.reindex(idx, fill_value=False))
    errs["sex"] = sex_err.mask(mismatch, "sex-id-mismatch")

    # --- 镇街 ---------------------------------------------------------------------------------------
    town_err = per_value(col("township"), lambda t: towns.resolve(t.translate(TOWN_TBL)))
    errs["township"] = town_err.mask(~given("township"), "township-missing")

    # --- 残疾等级 ------------------------------------------------------------------------------------
    grade_err, category, grade_num = per_value(col("grade")[given("grade")], parse_grade, 3)
    errs["grade"] = grade_err.reindex(idx)
    errs["grade-category"] = nothing()
    errs["grade-category"][category.index[category.notna() & ~category.isin([6, 7])]] = "certificate-not-mental"
    grade_num = grade_num.reindex(idx, fill_value=0).astype(int)  # 0: no readable grade

    # --- 残疾证号 ------------------------------------------------------------------------------------
    errs["cert"], errs["cert-grade"] = nothing(), nothing()
    cert_given = given("cert")
    cert_numeric = cert_given & numeric("cert")
    errs["cert"][cert_numeric] = "certificate-not-text-precision-lost"
    check = cert_given & ~cert_numeric & id_valid  # not checked when the ID is wrong
    if check.any():
        s = normalize_code(col("cert")[check])
        c = Codes(s.index)
        c.fail(s == "", "certificate-missing")
        c.fail(s.str.fullmatch(_SPREADSHEET_NUMBER), "certificate-not-text-precision-lost")
        c.fail(~s.str.fullmatch("[0-9A-Za-z]*"), "certificate-characters")
        main = s.str.slice(0, 20).where(s.str.fullmatch(".{20}B[0-9]{1,2}"), s)  # reissue suffix
        c.fail(main.str.len() != 20, "certificate-length")
        c.fail(~main.str.fullmatch("[0-9X]{18}[0-9]{2}"), "certificate-characters")
        p = main[c.pending]
        holder = p.str.slice(0, 18)
        other = holder != canon[p.index]
        if other.any():  # is the ID part a valid ID at all?
            holder_code, _ = parse_ids(holder[other], today)
            c.fail(holder_code.notna(), "certificate-id-invalid")
        cat, num = p.str.slice(18, 19), p.str.slice(19, 20)
        c.fail(~cat.isin(list("1234567")), "certificate-category-invalid")
        c.fail(~cat.isin(["6", "7"]), "certificate-not-mental")
        c.fail(~num.isin(list("1234")), "certificate-grade-invalid")
        c.fail(other, "certificate-id-mismatch")
        errs["cert"][s.index] = c.code
        ok = c.pending[c.pending].index
        g, cert_g = grade_num[ok], num[ok].astype(int)
        errs["cert-grade"][ok[((g != 0) & (g != cert_g)).to_numpy()]] = "certificate-grade-mismatch"

    # --- 监护人 -------------------------------------------------------------------------------------
    guardian_given = given("guardian")
    gname = check_names(col("guardian")[guardian_given])
    errs["guardian"] = nothing()
    errs["guardian"][gname.index[gname.notna()]] = "guardian-name-invalid"

    # --- 监护人电话 ----------------------------------------------------------------------------------
    phone = col("phone")[given("phone")]
    fast = phone.str.fullmatch(PHONE_FAST)
    phone_err, n_slow = per_value(phone[~fast], parse_phone_list, 2)  # the full parser for the rest
    errs["phone"] = phone_err.reindex(idx)
    n_phones = fast.astype(int).reindex(idx, fill_value=0)
    n_phones[n_slow.index] = n_slow.astype(int)

    codes = pd.DataFrame(errs)
    missing_guardian = ~guardian_given & (n_phones > 0) & codes.isna().all(axis=1)
    codes["guardian-missing"] = nothing().mask(missing_guardian, "guardian-name-missing")
    return codes, canon


def validate_frame(rows: list[tuple], towns: Townships, today: dt.date | None = None) -> tuple[dict[str, int], Counter]:
    codes, canon = row_codes(rows, towns, today)
    n = len(codes)
    if n == 0:
        return {"rows_read": 0, "accepted": 0, "errors": 0, "duplicates": 0}, Counter()
    has_error = codes.notna().any(axis=1)
    dup = canon[~has_error].duplicated(keep="first")
    n_dup = int(dup.sum())
    n_err = int(has_error.sum())
    counts = {"rows_read": n, "accepted": n - n_err - n_dup, "errors": n_err, "duplicates": n_dup}
    kinds = Counter(pd.Series(codes.to_numpy().ravel()).dropna().value_counts().to_dict())
    return counts, kinds


def find_header(rows: list[tuple]) -> tuple[int, dict[str, int], list[str]]:
    """header::detect on rows 1-30: (row index, field -> column, normalised header texts)."""
    for i, row in enumerate(rows[:MAX_HEADER_ROW]):
        mapping: dict[str, int] = {}
        for j, v in enumerate(row[:MAX_COLUMNS]):
            if not isinstance(v, str):
                continue
            f = ALIAS_TO_FIELD.get(norm_header(v))
            if f and f not in mapping:
                mapping[f] = j
        if len(mapping) >= MIN_MATCHES and all(f in mapping for f in REQUIRED):
            return i, mapping, [norm_header(cell_text(v)) for v in row[:MAX_COLUMNS]]
    raise SystemExit(f"no header row (with 镇街, 姓名 and 身份证号) in the first {MAX_HEADER_ROW} rows")


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


def run(path: Path, towns: Townships, sheet: str | None = None, today: dt.date | None = None) -> tuple[dict, Counter]:
    t0 = time.perf_counter()
    rows = read_rows(path, sheet)
    counts, kinds = validate_frame(rows, towns, today)
    counts["seconds"] = round(time.perf_counter() - t0, 6)
    return counts, kinds


# ---------------------------------------------------------------------------------------
# self-test


def _id18(first17: str) -> str:
    return first17 + checksum_chars(pd.Series([first17])).iloc[0]


def self_test_workbook(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Write the self-test roster to `path`; return the expected counts and error codes (what the
    Rust importer reports for it with --county 500110 on an empty database)."""
    good_m = _id18("50011019800101001")  # 17th digit 1 -> male
    good_f = _id18("50011019850615002")  # 17th digit 2 -> female
    good_x = next(i for d in range(10) if (i := _id18(f"5001101990030400{d}")).endswith("X"))
    sex_x = "男" if int(good_x[16]) % 2 else "女"
    id15 = "500110620304031"  # 1962-03-04, 15th digit 1 -> male
    id15_up = _id18("50011019620304031")
    good_n = _id18("50011020000229004")  # leap day, female
    bad_cs = good_m[:17] + ("0" if good_m[17] != "0" else "1")
    bad_birth = _id18("50011019990230003")  # 30 Feb, checksum correct
    lost = next(i for k in range(10) if not (i := f"50011019800115{k}000").endswith(_id18(i[:17])[17]))
    fw = str.maketrans("0123456789", "０１２３４５６７８９")

    rows = [
        # good (6)
        (1, "万东镇", "张三", "男", 44, good_m, good_m + "62", "二级", "万东镇XX村", "张父", "13800138000", ""),
        (2, "南桐", "李四", sex_x, 39, " " + good_x[:6].translate(fw) + good_x[6:17] + "x ", "", "", "", "李母",
         "(023)48281234", ""),
        (3, "青年 镇", "王五", "男性", 63, id15, id15_up + "71", "多重一级", "", "王父", "+86 138-0013-8000 / 023 4828 1234", ""),
        (4, "关坝镇", "赵 六", "", 25, good_n, "", "Ⅳ级", "", "", "", "备注"),
        (5, "三江街道办事处", "买买提.艾力", "2", 30, "'" + good_f, good_f.lower() + "６４B1", "精神残疾四级", "", "赵父",
         "手机：13912345678、13812345678", ""),
        (6, "古南", "John  Smith", "M", 30, _id18("50011019700707011"), "",
         "", "", "Mary", "023-48281234转801", ""),
        # errors (13 rows)
        (7, "丛林镇", "甲", "男", 1, int(good_m[:17] + "0") if good_m[17] == "X" else int(good_m), "", "", "", "", "", ""),
        (8, "丛林镇", "乙", "男", 1, "5.00110E+17", "", "", "", "", "", ""),
        (9, "丛林镇", "丙", "男", 1, bad_cs, good_m + "62", "", "", "", "", ""),  # certificate not checked
        (10, "丛林镇", "丁", "", 1, bad_birth, "", "", "", "", "", ""),
        (11, "丛林镇", "戊", "女", 1, good_m, "", "", "", "", "", ""),
        (12, "丛林镇", "无", "女", 1, good_f, "", "", "", "", "", ""),
        (13, "丛林镇", "己", "女", 1, good_f, good_m + "62", "肢体二级", "", "", "", ""),
        (14, "不存在镇", "庚", "女", 1, good_f, good_f + "52", "三级", "", "", "", ""),
        (15, "石", "辛", "女", 1, good_f, good_f + "6", "", "", "", "", ""),
        (16, "丛林镇", "壬", "女", 1, good_f, good_f + "63", "二级", "", "", "48281234", ""),
        (17, "丛林镇", "癸", "未知", 1, "50011019850615", "", "", "", "", "12345", ""),
        (18, "", "子", "女", 1, lost, "", "", "", "", "", ""),
        (19, "丛林镇", "丑", "女", 1, good_f, "", "", "", "", "13800138000", ""),
        # duplicates (2): same person as row 1 with spaces; row 3's 15-digit ID given as 18 digits
        (20, "万东镇", "张三", "男", 44, good_m[:6] + " " + good_m[6:], "", "", "", "", "", ""),
        (21, "青年镇", "王五", "男", 63, id15_up, "", "", "", "", "", ""),
    ]
    expected_kinds = {
        "id-not-text-precision-lost": 3, "id-checksum": 1, "id-invalid-date": 1, "sex-id-mismatch": 1,
        "name-missing": 1, "certificate-id-mismatch": 1, "certificate-not-mental": 2,
        "township-unknown": 1, "township-ambiguous": 1, "certificate-length": 1,
        "certificate-grade-mismatch": 1, "phone-no-area-code": 1, "id-length": 1, "sex-invalid": 1,
        "phone-invalid": 1, "township-missing": 1, "guardian-name-missing": 1,
    }
    header = ("序号", "乡镇（街道）", "姓 名", "性别", "年龄", "公民身份\n号码", "残疾证号码",
              "残疾等级", "现住址", "监护人姓名", "监护人联系电话", "备注")

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append(["綦江区XX镇精神障碍患者花名册"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    ws.append(["填报单位：綦江区XX镇卫生院", None, None, None, None, None, None, None, "填报日期：2024年5月"])
    ws.append([])
    ws.append(header)
    ws.append(list(range(1, len(header) + 1)))  # column numbers
    for i, r in enumerate(rows):
        ws.append(list(r))
        if i in (3, 9):
            ws.append([])  # blank rows in the middle
        if i == 12:
            ws.append(list(header))  # the header repeated (a second page)
    ws.append([22])  # pre-numbered template rows, otherwise empty
    ws.append([23, None, None, None, 40])
    ws.append([])
    ws.append(["合 计", None, f"{len(rows)}人"])
    ws.append(["填表人：某某", None, None, None, "审核人：某某", None, "联系电话：023-48281234"])
    wb.save(path)
    want = {"rows_read": 21, "accepted": 6, "errors": 13, "duplicates": 2}
    return want, expected_kinds


def self_test(towns: Townships) -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "roster.xlsx"
        want, expected_kinds = self_test_workbook(path)
        counts, kinds = run(path, towns)

    print(json.dumps(counts, ensure_ascii=False, separators=(",", ":")))
    print("error kinds:", dict(sorted(kinds.items())), file=sys.stderr)
    got = {k: counts[k] for k in want}
    assert got == want, f"counts {got} != {want}"
    assert dict(kinds) == expected_kinds, f"kinds {dict(sorted(kinds.items()))} != {expected_kinds}"

    # the scalar parsers against cases from the Rust unit tests
    for s, want_phone in [("13812345678", None), ("86 138 1234 5678", None), ("013812345678", None),
                          ("+86 (0)23 48281234", None), ("0571-8888-1234", None), ("023 48281234 801", None),
                          ("023-48281234 ext. 801", None), ("Tel: 13812345678", None), ("（０２３）４８２８—１２３４", None),
                          ("48281234", "phone-no-area-code"), ("4828-1234-801", "phone-no-area-code"),
                          ("023-0828123", "phone-invalid"), ("+1 555 123 4567", "phone-invalid"),
                          ("13812345678 13912345678", "phone-invalid"), ("400-123-4567", "phone-invalid"),
                          ("  \u3000", "phone-missing")]:
        assert parse_phone(s)[0] == want_phone, (s, parse_phone(s))
    for s, want_list in [("13812345678 13912345678", (None, 2)), ("13812345678/138-1234-5678", (None, 1)),
                         ("13812345678／／", (None, 1)), ("13812345678 或 13912345678", (None, 2)),
                         ("13812345678/48281234", ("phone-no-area-code", 0))]:
        assert parse_phone_list(s) == want_list, (s, parse_phone_list(s))
    for s, want_name in [(" 张 三 ", None), ("·买买提·艾力·", None), ("J. Smith", None), ("Mary-Jane O'Neil", None),
                         ("李〇", None), ("NULL", "name-missing"), ("Null·", "name-missing"), ("张三1", "name-invalid"),
                         ("张-三", "name-invalid"), ("Иван", "name-invalid"), ("张三Ⅱ", "name-invalid"),
                         ("张" * 31, "name-too-long")]:
        assert parse_name(s) == want_name, (s, parse_name(s))
    for s, want_grade in [("３级", (None, None, 3)), ("III级", (None, None, 3)), ("三级精神残疾", (None, 6, 3)),
                          ("残疾等级：三级", (None, None, 3)), ("精神多重二级", ("grade-invalid", None, 0)),
                          ("肢体2级", (None, 4, 2)), ("五级", ("grade-invalid", None, 0))]:
        assert parse_grade(s) == want_grade, (s, parse_grade(s))
    print("self-test OK", file=sys.stderr)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description="openpyxl+pandas baseline for the roster import benchmark")
    ap.add_argument("xlsx", nargs="?", type=Path)
    ap.add_argument("--county", default="500110", help="county code whose townships are valid (default: 500110)")
    ap.add_argument("--regions", type=Path, default=REGIONS_TSV, help="region table (gzip TSV code name parent level)")
    ap.add_argument("--sheet", help="worksheet name (default: the first sheet)")
    ap.add_argument("--kinds", action="store_true", help="print error counts by code to stderr")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test(load_townships("500110", args.regions))
    if not args.xlsx:
        ap.error("give an .xlsx file or --self-test")
    towns = load_townships(args.county, args.regions)
    counts, kinds = run(args.xlsx, towns, args.sheet)
    print(json.dumps(counts, separators=(",", ":")))
    if args.kinds:
        print(json.dumps(dict(sorted(kinds.items())), ensure_ascii=False), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
