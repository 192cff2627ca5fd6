"""Side-by-side relevance of sparse models and BM25, in Python (no OpenSearch node).

Step 1, once per model (cached): ``encode NAME SPEC`` writes the model's runs on every set
with the general IDF table and with an IDF built from the set's own corpus. SPEC is
``onnx:PATH`` (an exported package, e.g. the shipped model), ``student:PATH`` (a saved
training run) or ``mlm:PATH`` (a masked-LM checkpoint such as splade-tiny, used as-is).
Step 2: ``report NAME...`` scores them and BM25 (bm25s, k1 0.9 / b 0.4, English stemming and
stop words: the "english analyzer" comparator in Python) with ranx, NDCG@10 per set, average
document length per row, and a paired t-test (ranx ``compare``) of every model against BM25 and
against the first model named.

    PYTHONPATH=$PWD python3 benchmarks/training_compare.py \
        encode splade-tiny mlm:../shared/models/splade-tiny
    PYTHONPATH=$PWD python3 benchmarks/training_compare.py report splade-tiny shipped mine

BEIR convention: a hit whose id equals the query id is dropped. Documents are read at 256
tokens (the training length), the same for every model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEV_SET, REPORT_SETS, SHARED, SHIPPED
from training_eval import (
    EVAL_MAX_LEN,
    BeirSet,
    bm25_run,
    counting_tokenizer,
    doc_length,
    idf_sides,
    judged_run,
    load_runs,
    query_side_runs,
    query_weights_vector,
    save_runs,
)

from opensearch_sparse.corpus import read_qrels
from opensearch_sparse.idf import IdfTable

OUT = Path(".train_bundle") / "compare"


def encoder(spec: str):
    """``texts -> csr [n, vocab]`` for a model SPEC (see the module docstring)."""
    kind, _, path = spec.partition(":")
    if kind == "onnx":
        from opensearch_sparse.encoders import DocumentEncoder

        onnx = DocumentEncoder(Path(path))
        onnx.tokenizer.enable_truncation(EVAL_MAX_LEN)
        vocab = onnx.tokenizer.get_vocab_size()

        def encode_onnx(texts: list[str]) -> sparse.csr_matrix:
            rows = onnx.encode_sparse(texts)
            indptr = np.cumsum([0] + [len(c) for c, _ in rows])
            cols = np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, np.int32)
            vals = np.concatenate([v for _, v in rows]) if rows else np.zeros(0, np.float32)
            return sparse.csr_matrix((vals, cols, indptr), shape=(len(texts), vocab))

        return encode_onnx
    from training_eval import encode_documents

    from opensearch_sparse.training.student import SparseScorer, build_student, load_student

    model = (
        load_student(path, max_len=EVAL_MAX_LEN)
        if kind == "student"
        else build_student(path, idf=None, max_len=EVAL_MAX_LEN)
    )
    scorer = SparseScorer(model)
    return lambda texts: encode_documents(scorer, texts)


def encode(name: str, spec: str, shared: Path, general: Path, sets: list[str]) -> None:
    tokenizer = counting_tokenizer(shared / "models" / "splade-tiny")
    general_w = query_weights_vector(tokenizer, IdfTable.load(general))
    encode_texts = encoder(spec)
    out = OUT / f"{name}.json.gz"
    payload = load_runs(out) if out.is_file() else {"runs": {}, "doc_length": {}, "seconds": {}}
    for set_name in sets:
        if set_name in payload["doc_length"]:
            continue
        beir = BeirSet.load(shared / "data" / set_name)
        started = time.perf_counter()
        docs = sparse.csr_matrix(encode_texts(beir.texts))
        payload["runs"][set_name] = query_side_runs(
            beir, tokenizer, docs, idf_sides(tokenizer, beir.texts, general_w)
        )
        payload["doc_length"][set_name] = doc_length(docs)
        payload["seconds"][set_name] = time.perf_counter() - started
        print(f"{name} {set_name}: {len(beir.texts)} docs, {payload['seconds'][set_name]:.0f} s")
        OUT.mkdir(parents=True, exist_ok=True)
        save_runs(out, payload)


def report(names: list[str], shared: Path, sets: list[str], idf: str) -> str:
    from ranx import Qrels, compare, evaluate

    payloads = {n: load_runs(OUT / f"{n}.json.gz") for n in names}
    lines = [f"NDCG@10, query IDF: {idf}; avg doc length = non-zero tokens per document", ""]
    lines.append("| system | " + " | ".join(sets) + " | avg (report sets) | avg doc length |")
    lines.append("|---" * (len(sets) + 3) + "|")
    sig_lines: list[str] = []
    per_system: dict[str, dict[str, float]] = {}
    for set_name in sets:
        qrels_raw = read_qrels(shared / "data" / set_name)
        qrels = Qrels(qrels_raw)
        bm25 = bm25_run(BeirSet.load(shared / "data" / set_name))
        runs = {"bm25": bm25} | {n: payloads[n]["runs"][set_name][idf] for n in names}
        ranx_runs = []
        for system, run in runs.items():
            r = judged_run(qrels_raw, run, system)
            ranx_runs.append(r)
            per_system.setdefault(system, {})[set_name] = float(evaluate(qrels, r, "ndcg@10"))
        result = compare(qrels, ranx_runs, metrics=["ndcg@10"], stat_test="student", max_p=0.05)
        sig_lines += [f"### {set_name} (paired t-test, p < 0.05 marked by letters)", "```"]
        sig_lines += [str(result), "```", ""]
    for system, by_set in per_system.items():
        cells = " | ".join(f"{by_set[s]:.3f}" for s in sets)
        report_avg = np.mean([by_set[s] for s in sets if s in REPORT_SETS] or [np.nan])
        lengths = payloads[system]["doc_length"] if system in payloads else None
        length = f"{np.mean([lengths[s] for s in sets]):.0f}" if lengths else "-"
        lines.append(f"| {system} | {cells} | {report_avg:.3f} | {length} |")
    return "\n".join([*lines, "", *sig_lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["encode", "report"])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--general-idf", type=Path, default=SHIPPED / "idf.json")
    parser.add_argument("--sets", nargs="+", default=[DEV_SET, *REPORT_SETS])
    parser.add_argument("--idf", choices=["general", "corpus"], default="general")
    args = parser.parse_args()
    if args.mode == "encode":
        name, spec = args.names
        encode(name, spec, args.shared, args.general_idf, args.sets)
    else:
        print(report(args.names, args.shared, args.sets, args.idf))


if __name__ == "__main__":
    main()
