#!/bin/bash
# FHIR R4 export and import of a 50k-person county with a year of care and service history
# (docs/fhir.md). Run from the repository root after `cargo build --release`; needs GNU time.
set -e
cd "$(dirname "$0")/.."
J=./target/release/jingkang
DB=sqlite://bench/out/fhir.db
mkdir -p bench/out
rm -f bench/out/fhir.db* bench/out/r50k.xlsx
$J gen roster --rows 50000 --seed 11 --clean --out bench/out/r50k.xlsx >/dev/null
$J --database $DB import roster bench/out/r50k.xlsx --county 500110 > /dev/null
$J --database $DB gen history --years 1 --seed 11 > /dev/null
$J --database $DB gen services --years 1 --seed 11 > /dev/null
echo "--- export masked"
/usr/bin/time -v $J --database $DB export fhir --region 500110 --out bench/out/fhir_masked.json 2>&1 | grep -E "已导出|Elapsed|Maximum resident"
echo "--- export revealed"
/usr/bin/time -v $J --database $DB export fhir --region 500110 --out bench/out/fhir.json --reveal --reason 测量 2>&1 | grep -E "已导出|Elapsed|Maximum resident"
ls -la bench/out/fhir.json bench/out/fhir_masked.json
echo "--- import revealed (dry run)"
/usr/bin/time -v $J --database $DB import fhir bench/out/fhir.json --county 500110 --dry-run 2>&1 | grep -E "预览|Elapsed|Maximum resident|没有导入"
