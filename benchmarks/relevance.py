"""Relevance on BEIR-layout test collections: BM25, sparse and hybrid on the same node, side by
side (NDCG@10, Recall@100, MRR@10 with ranx), as markdown + JSON + a PNG bar chart.

    python benchmarks/relevance.py --model ../shared/models/splade-tiny-onnx.zip
    python benchmarks/relevance.py --sets cranfield nfcorpus --idf corpus
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from ranx import Qrels, Run, evaluate
from rich.progress import track

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    SHARED,
    base_parser,
    connect,
    markdown_table,
    prepared_index,
    write_report,
)

from opensearch_sparse.cli.output import known_failures
from opensearch_sparse.corpus import read_corpus, read_qrels, read_queries
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.model_package import ModelPackage, load_tokenizer, resolve_zip
from opensearch_sparse.query_encoder import QueryEncoder
from opensearch_sparse.search import SparseSearch

SETS = ("cranfield", "nfcorpus", "dbpedia-5k", "msmarco-dl19-5k")
MODES = ("bm25", "sparse", "hybrid")
METRICS = ("ndcg@10", "recall@100", "mrr@10")


def evaluate_set(
    client: Any, folder: Path, package: ModelPackage, idf_mode: str, encode: str
) -> dict[str, Any]:
    docs = list(read_corpus(folder))
    tag = package.sha256[:8]
    index, rate = prepared_index(
        client, f"bench-{folder.name}-{tag}", docs, encode=encode, package=package
    )
    tokenizer = load_tokenizer(package.path)
    if idf_mode == "corpus":
        idf = IdfTable.build((d.content for d in docs), tokenizer)
    else:
        idf = IdfTable.load(Path(idf_mode))
    searcher = SparseSearch(client, index, QueryEncoder(tokenizer, idf))
    qrels = read_qrels(folder)
    queries = {q: t for q, t in read_queries(folder).items() if q in qrels}
    scores: dict[str, dict[str, float]] = {}
    for mode in MODES:
        run: dict[str, dict[str, float]] = {}
        for qid, text in track(queries.items(), description=f"{folder.name} {mode}"):
            hits = searcher.search(text, mode, k=100).hits
            # ranx needs a score per document; ties keep the engine's order.
            run[qid] = {h.doc_id: h.score - i * 1e-9 for i, h in enumerate(hits)} or {"-": 0.0}
        result = evaluate(Qrels(qrels), Run(run), list(METRICS), make_comparable=True)
        scores[mode] = {m: float(v) for m, v in result.items()}
    return {
        "documents": len(docs),
        "queries": len(queries),
        "ingest_docs_per_s": rate,
        "scores": scores,
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    width = 0.27
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, mode in enumerate(MODES):
        values = [results[n]["scores"][mode]["ndcg@10"] for n in names]
        ax.bar([x + (i - 1) * width for x in range(len(names))], values, width, label=mode)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("NDCG@10")
    ax.set_title("BM25 vs inference-free sparse vs hybrid (same node)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--data", type=Path, default=SHARED / "data")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument(
        "--idf", default="corpus", help="'corpus' (IDF of each collection) or a path to an idf.json"
    )
    parser.add_argument("--encode", choices=("local", "pipeline"), default="local")
    args = parser.parse_args()
    client = connect(args.url)
    with tempfile.TemporaryDirectory() as tmp:
        package = ModelPackage.open(resolve_zip(args.model, Path(tmp)))
        results = {
            name: evaluate_set(client, args.data / name, package, args.idf, args.encode)
            for name in args.sets
        }
    rows = []
    for name, res in results.items():
        for mode in MODES:
            rows.append([name, mode, *(res["scores"][mode][m] for m in METRICS)])
    for mode in MODES:
        avg = [sum(r["scores"][mode][m] for r in results.values()) / len(results) for m in METRICS]
        rows.append(["average", mode, *avg])
    model_name = package.name + " " + package.sha256[:8]
    markdown = f"# Relevance ({model_name}, IDF: {args.idf})\n\n" + markdown_table(
        ["set", "mode", *METRICS], rows
    )
    args.out.mkdir(parents=True, exist_ok=True)
    plot(results, args.out / "relevance.png")
    write_report(
        args.out, "relevance", {"model": model_name, "idf": args.idf, "results": results}, markdown
    )
    print(f"plot: {args.out / 'relevance.png'}")


if __name__ == "__main__":
    with known_failures():  # no cluster, a refused request: one cause, one fix
        main()
