"""The training evidence table: NDCG@10 and document length on the four evaluation sets.

Rows: BM25 (bm25s, computed here), splade-tiny as-is (inference-free), and splade-tiny
fine-tuned by the full method and its four ablations. Model rows come from runs made by
``training_device.py`` (on a GPU, or on this CPU with ``--device-out``-less defaults: it runs
anywhere, just slowly); this script scores them with ranx, so metrics never depend on where the
encoding ran. No OpenSearch involved: inference-free queries are scored in Python.

    python benchmarks/training_report.py --runs /path/to/runs.json.gz
Writes benchmarks/results/training_report.{md,json} and prints the table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ranx import Qrels, Run, evaluate
from training_eval import BeirSet, bm25_run, load_runs

from opensearch_sparse.corpus import read_qrels

SHARED = Path(__file__).resolve().parents[2] / "shared"
RESULTS = Path(__file__).resolve().parent / "results"
EVAL_SETS = ("cranfield", "nfcorpus", "dbpedia-5k", "msmarco-dl19-5k")
ROWS = {
    "bm25": "BM25 (bm25s, k1 0.9, b 0.4, stemmed)",
    "splade-tiny|general": "splade-tiny as-is (inference-free)",
    "full|general": "(a) fine-tuned, full method",
    "no_idf|binary": "(b) no IDF in the score",
    "dense_only|general": "(c) dense teacher only",
    "sparse_only|general": "(d) sparse teacher only",
    "no_norm|general": "(e) ensemble without normalisation",
    "full_lambda_001|general": "(a) full method, FLOPS lambda 0.01",
    "full_lambda_0005|general": "(a) full method, FLOPS lambda 0.005",
}
IDF_ROWS = {
    "splade-tiny|general": "splade-tiny, general IDF",
    "splade-tiny|corpus": "splade-tiny, per-corpus IDF",
    "full|general": "(a) full, general IDF",
    "full|corpus": "(a) full, per-corpus IDF",
    "full_lambda_0005|general": "(a) full lambda 0.005, general IDF",
    "no_idf|general": "(b) no-IDF model, general IDF at query time",
    "no_idf|binary": "(b) no-IDF model, binary query",
}


def ndcg(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> float:
    judged = {q: docs for q, docs in run.items() if q in qrels}
    for qid in qrels:
        judged.setdefault(qid, {})
    return float(evaluate(Qrels(qrels), Run(judged), "ndcg@10"))


def table(rows: dict[str, str], scores: dict[str, dict[str, float]], lengths: dict) -> list[str]:
    head = "| system | " + " | ".join(EVAL_SETS) + " | average | avg doc length |"
    lines = [head, "|---" * (len(EVAL_SETS) + 3) + "|"]
    for key, label in rows.items():
        if key not in scores:
            continue
        values = [scores[key][s] for s in EVAL_SETS]
        model = key.split("|")[0]
        doc_len = lengths.get(model)
        length = f"{sum(doc_len.values()) / len(doc_len):.0f}" if doc_len else "-"
        cells = " | ".join(f"{v:.3f}" for v in values)
        lines.append(f"| {label} | {cells} | {sum(values) / len(values):.3f} | {length} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="runs.json.gz of the models")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    payload = load_runs(args.runs)
    runs: dict = payload["runs"]
    lengths: dict = payload["doc_length"]
    qrels = {name: read_qrels(args.shared / "data" / name) for name in EVAL_SETS}
    runs["bm25"] = {n: bm25_run(BeirSet.load(args.shared / "data" / n)) for n in EVAL_SETS}
    scores = {
        key: {name: ndcg(qrels[name], by_set[name]) for name in EVAL_SETS}
        for key, by_set in runs.items()
        if all(name in by_set for name in EVAL_SETS)
    }
    lines = ["## NDCG@10 (general IDF unless noted) and document length (non-zero tokens)", ""]
    lines += table(ROWS, scores, lengths)
    lines += ["", "## Query-side IDF: general (non-evaluation text) vs per-corpus", ""]
    lines += table(IDF_ROWS, scores, lengths)
    markdown = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "training_report.md").write_text(markdown)
    report = {"ndcg@10": scores, "doc_length": lengths}
    (args.out / "training_report.json").write_text(json.dumps(report, indent=1))
    print(markdown)


if __name__ == "__main__":
    main()
