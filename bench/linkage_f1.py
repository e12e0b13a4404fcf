"""Precision, recall and F1 of `jingkang link csv --json` output against a truth file
(`jingkang gen linkage` writes truth.csv: registry,list).

    python3 bench/linkage_f1.py OUTPUT.json DIR/truth.csv
"""

import csv
import json
import sys

out = json.load(open(sys.argv[1]))
found = {(p["left"], p["right"]) for p in out["pairs"]}
truth = {(r["registry"], r["list"]) for r in csv.DictReader(open(sys.argv[2], encoding="utf-8"))}
tp = len(found & truth)
precision = tp / len(found) if found else 0.0
recall = tp / len(truth) if truth else 0.0
f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
print(json.dumps({"pairs": len(found), "true_pairs": len(truth), "true_positives": tp, "precision": round(precision, 4),
                  "recall": round(recall, 4), "f1": round(f1, 4), "compared": out.get("compared")}))
