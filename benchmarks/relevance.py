"""Relevance on BEIR-layout test collections: BM25 and one or more models' sparse and hybrid
search on the same node, side by side (NDCG@10, Recall@100, MRR@10 with ranx), with paired
t-tests, tokens per stored document, markdown + JSON + a PNG bar chart.

    python benchmarks/relevance.py --model ../shared/models/splade-tiny  # exported ([train])
    python benchmarks/relevance.py --sets cranfield nfcorpus --idf corpus
    python benchmarks/relevance.py --dev-sets nfcorpus --baseline splade-tiny \
        --models default=opensearch_sparse/models/default \
                 splade-tiny=../shared/models/splade-tiny

With ``--models`` every model gets its own index per set (the name carries its hash) and BM25
runs once per set, so all rows come from one node and one run. Each model's sparse NDCG@10 per
query is tested against BM25's and against each ``--baseline`` model's (ranx's paired t-test;
name the previous default too to see whether a new one differs from it). ``--dev-sets`` are
shown but left out of the average, which is then the report sets'.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from opensearchpy import helpers
from ranx import Qrels, Run, compare, evaluate
from rich.progress import track

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    EVAL_SETS,
    GRADED_K,
    SHARED,
    base_parser,
    connect,
    graded_run,
    markdown_table,
    named_paths,
    prepared_index,
    write_report,
)

from opensearch_sparse.cli.output import known_failures
from opensearch_sparse.corpus import read_corpus, read_qrels, read_queries
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.model_package import ModelPackage, load_tokenizer, resolve_zip
from opensearch_sparse.query_encoder import QueryEncoder
from opensearch_sparse.schema import SPARSE_FIELD
from opensearch_sparse.search import SparseSearch

METRICS = ("ndcg@10", "recall@100", "mrr@10")
MODEL_MODES = ("sparse", "hybrid")


def tokens_per_document(client: Any, index: str) -> float:
    """Average number of weighted tokens stored per document, read back from the node."""
    counts = [
        len(hit["_source"].get(SPARSE_FIELD) or {})
        for hit in helpers.scan(client, index=index, _source=[SPARSE_FIELD])
    ]
    return sum(counts) / max(len(counts), 1)


def search_run(searcher: SparseSearch, queries: dict[str, str], mode: str, title: str) -> Run:
    hits = {
        qid: searcher.search(text, mode, k=GRADED_K).hits
        for qid, text in track(queries.items(), description=title)
    }
    return Run(graded_run(hits), name=title)


def p_value(qrels: Qrels, run: Run, other: Run) -> float:
    """Paired t-test of NDCG@10 per query (ranx ``compare``)."""
    report = compare(qrels, [run, other], ["ndcg@10"], stat_test="student", make_comparable=True)
    return float(report.to_dict()[run.name]["comparisons"][other.name]["ndcg@10"])


def evaluate_set(
    client: Any,
    folder: Path,
    packages: dict[str, ModelPackage],
    idf_mode: str,
    encode: str,
    baselines: list[str],
) -> dict[str, Any]:
    docs = list(read_corpus(folder))
    qrels = Qrels(read_qrels(folder))
    queries = {q: t for q, t in read_queries(folder).items() if q in qrels.qrels}
    models: dict[str, dict[str, Any]] = {}
    sparse_runs: dict[str, Run] = {}
    bm25: Run | None = None
    for name, package in packages.items():
        index, rate = prepared_index(
            client,
            f"bench-{folder.name}-{package.sha256[:8]}",
            docs,
            encode=encode,
            package=package,
        )
        tokenizer = load_tokenizer(package.path)
        if idf_mode == "corpus":
            idf = IdfTable.build((d.content for d in docs), tokenizer)
        else:
            idf = IdfTable.load(Path(idf_mode))
        searcher = SparseSearch(client, index, QueryEncoder(tokenizer, idf))
        if bm25 is None:  # the same text and analyzer in every model's index
            bm25 = search_run(searcher, queries, "bm25", f"{folder.name} bm25")
        runs = {
            m: search_run(searcher, queries, m, f"{folder.name} {name} {m}") for m in MODEL_MODES
        }
        sparse_runs[name] = runs["sparse"]
        models[name] = {
            "ingest_docs_per_s": rate,
            "tokens_per_doc": tokens_per_document(client, index),
            "scores": {m: _scores(qrels, run) for m, run in runs.items()},
            "p_sparse_vs_bm25": p_value(qrels, runs["sparse"], bm25),
        }
    assert bm25 is not None
    for baseline in baselines:
        for name, row in models.items():
            if name != baseline:
                row[f"p_sparse_vs_{baseline}"] = p_value(
                    qrels, sparse_runs[name], sparse_runs[baseline]
                )
    return {
        "documents": len(docs),
        "queries": len(queries),
        "bm25": _scores(qrels, bm25),
        "models": models,
    }


def _scores(qrels: Qrels, run: Run) -> dict[str, float]:
    result = evaluate(qrels, run, list(METRICS), make_comparable=True)
    return {m: float(v) for m, v in result.items()}


def rows_of(results: dict[str, Any]) -> list[tuple[str, str, dict[str, float]]]:
    """(set, row label, scores) for BM25 and every model's sparse and hybrid search."""
    rows = []
    for set_name, res in results.items():
        rows.append((set_name, "bm25", res["bm25"]))
        for model, row in res["models"].items():
            for mode in MODEL_MODES:
                rows.append((set_name, f"{model} {mode}", row["scores"][mode]))
    return rows


def markdown(results: dict[str, Any], title: str, dev_sets: list[str], baselines: list[str]) -> str:
    names = list(next(iter(results.values()))["models"])
    tests = ["p vs bm25"] + [f"p vs {baseline}" for baseline in baselines]
    table = []
    for set_name, res in results.items():
        table.append(
            [set_name, "bm25", *(res["bm25"][m] for m in METRICS), "-", *["-"] * len(tests)]
        )
        for name in names:
            row = res["models"][name]
            for mode in MODEL_MODES:
                cells = ["-"] * len(tests)
                if mode == "sparse":
                    cells = [f"{row['p_sparse_vs_bm25']:.3f}"]
                    for baseline in baselines:
                        key = f"p_sparse_vs_{baseline}"
                        cells.append(f"{row[key]:.3f}" if key in row else "-")
                table.append(
                    [
                        set_name,
                        f"{name} {mode}",
                        *(row["scores"][mode][m] for m in METRICS),
                        f"{row['tokens_per_doc']:.0f}",
                        *cells,
                    ]
                )
    averaged = [s for s in results if s not in dev_sets]
    label = "average" if not dev_sets else f"average without {', '.join(dev_sets)}"
    if averaged:
        for row_label in dict.fromkeys(label_ for s, label_, _ in rows_of(results)):
            values = [
                scores for s, r, scores in rows_of(results) if r == row_label and s in averaged
            ]
            avg = [sum(v[m] for v in values) / len(values) for m in METRICS]
            table.append([label, row_label, *avg, "", *[""] * len(tests)])
    header = ["set", "search", *METRICS, "tokens/doc", *tests]
    note = (
        "\nPaired t-tests (ranx) on NDCG@10 per query, sparse search against BM25"
        + (f" and against the sparse search of {', '.join(baselines)}" if baselines else "")
        + "; tokens/doc as stored on the node.\n"
    )
    return f"# {title}\n\n" + markdown_table(header, table) + note


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(results)
    labels = list(dict.fromkeys(label for _, label, _ in rows_of(results)))
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(max(8, 2 * len(sets) + len(labels)), 4))
    for i, label in enumerate(labels):
        values = [
            scores["ndcg@10"]
            for s in sets
            for _, r, scores in rows_of({s: results[s]})
            if r == label
        ]
        ax.bar(
            [x + (i - (len(labels) - 1) / 2) * width for x in range(len(sets))],
            values,
            width,
            label=label,
        )
    ax.set_xticks(range(len(sets)), sets)
    ax.set_ylabel("NDCG@10")
    ax.set_title("BM25 vs inference-free sparse vs hybrid (same node)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--data", type=Path, default=SHARED / "data")
    parser.add_argument("--sets", nargs="+", default=list(EVAL_SETS))
    parser.add_argument(
        "--idf", default="corpus", help="'corpus' (IDF of each collection) or a path to an idf.json"
    )
    parser.add_argument("--encode", choices=("local", "pipeline"), default="local")
    parser.add_argument(
        "--models",
        nargs="+",
        metavar="NAME=MODEL",
        help="several models side by side (exported zips or folders); replaces --model",
    )
    parser.add_argument(
        "--baseline",
        nargs="+",
        default=[],
        metavar="NAME",
        help="--models NAMEs every other model is tested against (one p column each)",
    )
    parser.add_argument(
        "--dev-sets", nargs="*", default=[], help="sets shown but left out of the average"
    )
    args = parser.parse_args()
    specs: list[tuple[str | None, Path | None]] = (
        list(named_paths(parser, "--models", args.models).items())
        if args.models
        else [(None, args.model)]
    )
    unknown = [b for b in args.baseline if b not in {name for name, _ in specs}]
    if unknown:
        parser.error(f"--baseline {' '.join(unknown)}: not among the --models names")
    client = connect(args.url)
    with tempfile.TemporaryDirectory() as tmp:
        packages = {}
        for i, (name, path) in enumerate(specs):
            workdir = Path(tmp) / str(i)
            workdir.mkdir()
            package = ModelPackage.open(resolve_zip(path, workdir))
            packages[name or package.name] = package
        results = {
            name: evaluate_set(
                client, args.data / name, packages, args.idf, args.encode, args.baseline
            )
            for name in args.sets
        }
    models = {name: f"{p.name} {p.sha256[:8]}" for name, p in packages.items()}
    title = f"Relevance ({', '.join(f'{n}: {m}' for n, m in models.items())}; IDF: {args.idf})"
    args.out.mkdir(parents=True, exist_ok=True)
    plot(results, args.out / "relevance.png")
    data = {"models": models, "idf": args.idf, "dev_sets": args.dev_sets, "results": results}
    write_report(
        args.out, "relevance", data, markdown(results, title, args.dev_sets, args.baseline)
    )
    print(f"plot: {args.out / 'relevance.png'}")


if __name__ == "__main__":
    with known_failures():  # no cluster, a refused request: one cause, one fix
        main()
