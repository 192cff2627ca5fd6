"""Latency and throughput on one node: BM25 on a BM25-only index vs sparse search (client query
encoding included, except in ``sparse-preencoded``) on a sparse index of the same documents,
both force-merged to one segment, at 1, 4 and 16 concurrent clients. Modes are interleaved in
rounds (see ``loadgen``): the report gives per-round sparse/BM25 ratios (median, min-max) for
client p50/p99, the node's mean shard time per search and QPS (with ``took`` p50 beside), the
index sizes, and the machine's load while it ran.

    python benchmarks/latency.py                                   # 64k Debian descriptions
    python benchmarks/latency.py --corpus ../shared/data/scale/pypi-summaries.jsonl.gz
    python benchmarks/latency.py --prune max_ratio:0.1 --modes bm25 sparse seismic
    python benchmarks/latency.py --prune alpha_mass:0.8 --min-idf 1 --no-source
    python benchmarks/latency.py ... --reuse --rounds 15   # same indices, more rounds
    python benchmarks/latency.py ... --modes bm25 sparse bm25-counted sparse-counted
    python benchmarks/latency.py ... --modes bm25 sparse sparse-preencoded sparse-two-phase
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import replace
from itertools import cycle, islice
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    EVAL_SETS,
    SHARED,
    LoadMonitor,
    base_parser,
    connect,
    fill_index,
    markdown_table,
    model_facts,
    paired_ratio,
    recall,
    shard_clock,
    tie_aware_recall,
    weighed,
    write_report,
)
from encoded import encoded_corpus, read_docs
from loadgen import Mode, interleaved, ratio_cell

from opensearch_sparse.cli.output import known_failures
from opensearch_sparse.corpus import read_queries
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.model_package import ModelPackage, load_tokenizer, resolve_zip
from opensearch_sparse.pruning import Pruning
from opensearch_sparse.query_encoder import ENGLISH_STOP_WORDS, MAX_QUERY_TOKENS, QueryEncoder
from opensearch_sparse.schema import SparseIndex
from opensearch_sparse.search import AnnParams, SparseSearch


class Plan(NamedTuple):
    """A mode: the index it searches (``index_key``: a key of ``build``'s names) and how.
    ``preencoded`` modes encode their queries before the clock starts: the sparse request
    alone, to tell the client's encoding (reported on its own) from the node's and the wire's
    share."""

    index_key: str
    search: str
    counted: bool = False
    two_phase: bool = False
    preencoded: bool = False


MODE_PLAN = {
    "bm25": Plan("bm25", "bm25"),
    "sparse": Plan("sparse", "sparse"),
    "hybrid": Plan("sparse", "hybrid"),
    "seismic": Plan("seismic", "sparse"),
    "bm25-counted": Plan("bm25", "bm25", counted=True),
    "sparse-counted": Plan("sparse", "sparse", counted=True),
    "sparse-preencoded": Plan("sparse", "sparse", preencoded=True),
    "sparse-two-phase": Plan("sparse", "sparse", two_phase=True),
}
MODES = tuple(MODE_PLAN)
#: The ``-counted`` modes count hits as OpenSearch does by default (exactly up to 10,000); the
#: others count none, as the product searches (``opensearch_sparse.search.TRACK_TOTAL_HITS``).
COUNTED = 10000
SEISMIC = SparseIndex(kind="seismic", approximate_threshold=0)


def load_queries(data: Path, sets: list[str]) -> list[str]:
    """Natural-language questions and keyword queries from the evaluation sets."""
    queries: list[str] = []
    for name in sets:
        if (data / name / "queries.jsonl").is_file():
            queries.extend(read_queries(data / name).values())
    if not queries:
        raise SystemExit(f"no queries.jsonl under {data}")
    return queries


def build(client: Any, args: Any, package: ModelPackage) -> tuple[dict, dict, list, QueryEncoder]:
    """The BM25-only index, the sparse index (and the SEISMIC one when asked), filled from the
    cached vectors; returns (index names, their facts, documents, the query encoder: IDF from
    the documents, as ``idf build --index`` would, which ``contribution`` pruning weighs by)."""
    docs = read_docs(args.corpus, args.limit)
    vectors = encoded_corpus(docs, package, args.corpus)
    tokenizer = load_tokenizer(package.path)
    vocab = [""] * tokenizer.get_vocab_size()
    for token, index in tokenizer.get_vocab().items():
        vocab[index] = token
    idf = IdfTable.build((d.content for d in docs), tokenizer)
    stop_words = ENGLISH_STOP_WORDS if args.stop_words else frozenset()
    encoder = QueryEncoder(
        tokenizer,
        idf,
        max_tokens=args.max_query_tokens,
        min_idf=args.min_idf,
        stop_words=stop_words,
    )
    prune = weighed(Pruning.parse(args.prune), encoder) if args.prune else None
    stem = args.corpus.name.split(".")[0]
    tag = f"lat-{stem}-{len(docs)}-{package.sha256[:8]}"
    names = {"bm25": f"{tag}-bm25", "sparse": f"{tag}-sparse"}
    exact = SparseIndex(store_source=not args.no_source)
    facts = {
        "bm25": fill_index(client, names["bm25"], docs, None, vocab, reuse=args.reuse),
        "sparse": fill_index(
            client,
            names["sparse"],
            docs,
            vectors,
            vocab,
            prune=prune,
            sparse=exact,
            reuse=args.reuse,
        ),
    }
    if "seismic" in args.modes:
        names["seismic"] = f"{tag}-seismic"
        seismic = replace(
            SEISMIC,
            store_source=not args.no_source,
            n_postings=args.seismic_postings,
            summary_prune_ratio=args.summary_prune_ratio,
        )
        facts["seismic"] = fill_index(
            client,
            names["seismic"],
            docs,
            vectors,
            vocab,
            sparse=seismic,
            prune=prune,
            reuse=args.reuse,
        )
    return names, facts, docs, encoder


def modes_for(
    client: Any, args: Any, names: dict, encoder: QueryEncoder, queries: list[str]
) -> dict[str, Mode]:
    def make(name: str) -> Mode:
        plan = MODE_PLAN[name]
        searcher = SparseSearch(
            client,
            names[plan.index_key],
            encoder,
            ann=ann_params(args) if plan.index_key == "seismic" else None,
            track_total_hits=COUNTED if plan.counted else False,
        )
        ready = {q: encoder.encode(q) for q in queries} if plan.preencoded else {}

        def one(text: str) -> tuple[float, float]:
            result = searcher.search(
                text, plan.search, k=args.k, two_phase=plan.two_phase, encoded=ready.get(text)
            )
            return result.client_ms, float(result.took_ms)

        return one

    return {m: make(m) for m in args.modes}


def counted_table(results: dict[str, Any]) -> str:
    """sparse/BM25 when both count hits as OpenSearch does by default, from the same rounds."""
    rows = [
        [
            clients,
            *(
                ratio_cell(paired_ratio(per_mode, "sparse-counted", "bm25-counted", metric))
                for metric in ("p50_ms", "p99_ms", "qps")
            ),
            ratio_cell(per_mode["bm25-counted"]["ratio"]["p50_ms"]),
        ]
        for clients, per_mode in results.items()
    ]
    header = ["clients", "p50 / BM25", "p99 / BM25", "QPS / BM25", "BM25 p50 counted / not"]
    return (
        f"\nBoth counting hits ({COUNTED}, OpenSearch's default), same rounds: sparse-counted "
        "over bm25-counted, and what counting costs BM25.\n\n" + markdown_table(header, rows)
    )


def ann_params(args: Any) -> AnnParams:
    return AnnParams(top_n=args.top_n, heap_factor=args.heap_factor)


#: How deep exact search is read for tie-aware recall (documents tied with the k-th).
EXACT_DEPTH = 1000


def seismic_recall(
    client: Any, names: dict, encoder: QueryEncoder, queries: list[str], args: Any
) -> dict[str, float]:
    """Recall@k of the SEISMIC index against exact search over the distinct replay queries:
    by id (``ids``) and counting exact-score ties with the k-th as found (``ties``)."""
    exact = SparseSearch(client, names["sparse"], encoder)
    approx = SparseSearch(client, names["seismic"], encoder, ann=ann_params(args))
    runs: dict[str, dict[str, list]] = {"exact": {}, "approx": {}}
    for i, text in enumerate(dict.fromkeys(queries)):
        for name, searcher, depth in (("exact", exact, EXACT_DEPTH), ("approx", approx, args.k)):
            hits = searcher.search(text, "sparse", k=depth).hits
            runs[name][str(i)] = [(h.doc_id, h.score) for h in hits]
    top = {q: hits[: args.k] for q, hits in runs["exact"].items()}
    return {
        "ids": recall(top, runs["approx"]),
        "ties": tie_aware_recall(runs["exact"], runs["approx"], args.k),
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [int(c) for c in results]
    modes = list(next(iter(results.values())))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for i, mode in enumerate(modes):
        style = {"color": f"C{i}"}
        p50 = [results[str(c)][mode]["median"]["p50_ms"] for c in levels]
        p99 = [results[str(c)][mode]["median"]["p99_ms"] for c in levels]
        left.plot(levels, p50, "o-", label=f"{mode} p50", **style)
        left.plot(levels, p99, "x--", label=f"{mode} p99", **style)
        ratio = [results[str(c)][mode]["ratio"]["p50_ms"] for c in levels]
        right.errorbar(
            levels,
            [r["median"] for r in ratio],
            yerr=[[r["median"] - r["min"] for r in ratio], [r["max"] - r["median"] for r in ratio]],
            fmt="o-",
            label=mode,
            capsize=3,
            **style,
        )
    right.axhline(1.0, color="k", lw=0.8)
    left.set(xlabel="concurrent clients", ylabel="client latency (ms, median of rounds)")
    right.set(xlabel="concurrent clients", ylabel="p50 / BM25 per round (median, min-max)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.legend(fontsize=7)
    fig.suptitle("Same node, same documents, same queries, modes interleaved")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument(
        "--corpus", type=Path, default=SHARED / "data" / "scale" / "debian-descriptions.jsonl.gz"
    )
    parser.add_argument("--data", type=Path, default=SHARED / "data")
    parser.add_argument("--query-sets", nargs="+", default=list(EVAL_SETS))
    parser.add_argument("--queries", type=int, default=300, help="queries per mode per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--limit", type=int, default=None, help="index at most N documents")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["bm25", "sparse"])
    parser.add_argument("--prune", default=None, metavar="TYPE:VALUE", help="document pruning")
    parser.add_argument("--top-n", type=int, default=10, help="SEISMIC query tokens used")
    parser.add_argument(
        "--heap-factor",
        type=float,
        default=1.0,
        help="SEISMIC: visit clusters whose bound is within this factor of the k-th best "
        "(higher: more recall, more time)",
    )
    parser.add_argument(
        "--seismic-postings",
        type=int,
        default=None,
        help="SEISMIC n_postings: documents kept per posting list (default 0.0005 x documents)",
    )
    parser.add_argument(
        "--summary-prune-ratio",
        type=float,
        default=SEISMIC.summary_prune_ratio,
        help="SEISMIC: share of a cluster summary's weight kept (1: every token, so a summary "
        "bounds its documents' scores; lower: smaller, may skip clusters holding hits)",
    )
    parser.add_argument(
        "--min-idf", type=float, default=0.0, help="drop query tokens at or below this IDF"
    )
    parser.add_argument(
        "--stop-words",
        action="store_true",
        help="drop the english analyzer's stop words from sparse queries, as BM25's field does",
    )
    parser.add_argument(
        "--max-query-tokens",
        type=int,
        default=MAX_QUERY_TOKENS,
        help="keep at most this many sparse query tokens, the highest-IDF ones",
    )
    parser.add_argument(
        "--no-source",
        action="store_true",
        help="leave the weights out of _source in every sparse index (smaller, faster fetch)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep indices an earlier run built from the same documents, vectors and options "
        "(rerun with more rounds without reloading)",
    )
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    if "bm25" not in args.modes:
        args.modes.insert(0, "bm25")

    client = connect(args.url)
    with tempfile.TemporaryDirectory() as tmp:
        package = ModelPackage.open(resolve_zip(args.model, Path(tmp)))
        names, facts, docs, encoder = build(client, args, package)
    replay = list(islice(cycle(load_queries(args.data, args.query_sets)), args.queries))
    encode_ms = []
    for text in replay:
        started = time.perf_counter()
        encoder.encode(text)
        encode_ms.append((time.perf_counter() - started) * 1000)
    with LoadMonitor() as load:
        results = interleaved(
            modes_for(client, args, names, encoder, replay),
            replay,
            clients=args.clients,
            rounds=args.rounds,
            warmup=args.warmup,
            baseline="bm25",
            clocks={m: shard_clock(client, names[MODE_PLAN[m].index_key]) for m in args.modes},
        )
    found = (
        seismic_recall(client, names, encoder, replay, args) if "seismic" in args.modes else None
    )
    rows: list[list[Any]] = []
    for clients, per_mode in results.items():
        for mode, r in per_mode.items():
            m = r["median"]
            rows.append(
                [
                    clients,
                    mode,
                    m["p50_ms"],
                    m["p99_ms"],
                    m["took_p50_ms"],
                    m["shard_ms"],
                    m["qps"],
                    ratio_cell(r["ratio"]["p50_ms"]),
                    ratio_cell(r["ratio"]["p99_ms"]),
                    ratio_cell(r["ratio"]["shard_ms"]),
                    ratio_cell(r["ratio"]["qps"]),
                ]
            )
    header = [
        "clients",
        "mode",
        "p50 ms",
        "p99 ms",
        "took p50",
        "shard ms",
        "QPS",
        "p50 / BM25",
        "p99 / BM25",
        "shard ms / BM25",
        "QPS / BM25",
    ]
    encode = {"p50_ms": statistics.median(encode_ms), "p99_ms": float(np.percentile(encode_ms, 99))}
    bm25_mb = facts["bm25"]["index_mb"]
    capped = args.max_query_tokens < MAX_QUERY_TOKENS
    sizes = markdown_table(
        ["index", "MB", "/ BM25-only", "tokens/doc"],
        [
            [n, f["index_mb"], f"{f['index_mb'] / bm25_mb:.2f}", f["tokens_per_doc"]]
            for n, f in facts.items()
        ],
    )
    markdown = (
        f"# Latency: {len(docs)} documents of {args.corpus.name} ({package.name} "
        f"{package.sha256[:12]})\n\n"
        f"{args.rounds} rounds x {args.queries} queries per mode and client count, modes "
        f"interleaved; ratios are per round (median, min-max). Every index force-merged to one "
        f"segment{'; documents pruned ' + args.prune if args.prune else ''}"
        f"{f'; query tokens with IDF <= {args.min_idf:g} dropped' if args.min_idf else ''}"
        f"{'; english stop words dropped from sparse queries' if args.stop_words else ''}"
        f"{f'; at most {args.max_query_tokens} query tokens' if capped else ''}. "
        f"No hit count (track_total_hits false), except in the -counted modes ({COUNTED}, "
        "OpenSearch's default). `took` counts whole milliseconds; `shard ms` is the node's mean "
        "query + fetch phase time per search (index search stats, summed in nanoseconds)."
        + (
            " `sparse-preencoded` sends the sparse requests with every query encoded before "
            "the clock starts."
            if any(MODE_PLAN[m].preencoded for m in args.modes)
            else ""
        )
        + "\n\n"
        + markdown_table(header, rows)
        + (counted_table(results) if {"bm25-counted", "sparse-counted"} <= set(args.modes) else "")
        + "\n"
        + sizes
        + (
            f"\nSEISMIC recall@{args.k} against exact search: {found['ids']:.3f} by id, "
            f"{found['ties']:.3f} counting documents tied with exact search's {args.k}th as "
            f"found (n_postings {args.seismic_postings or 'default'}, summary_prune_ratio "
            f"{args.summary_prune_ratio:g}, top_n {args.top_n}, heap_factor "
            f"{args.heap_factor:g}).\n"
            if found is not None
            else ""
        )
        + f"\nClient query encoding alone: p50 {encode['p50_ms']:.3f} ms, "
        f"p99 {encode['p99_ms']:.3f} ms per query.\n" + load.markdown()
    )
    stem = "latency-" + args.corpus.name.split(".")[0]
    args.out.mkdir(parents=True, exist_ok=True)
    plot(results, args.out / f"{stem}.png")
    write_report(
        args.out,
        stem,
        {
            **model_facts(package),
            "corpus": str(args.corpus),
            "documents": len(docs),
            "prune": args.prune,
            "min_idf": args.min_idf,
            "stop_words": args.stop_words,
            "max_query_tokens": args.max_query_tokens,
            "seismic_recall": found["ids"] if found else None,
            "seismic_recall_ties": found["ties"] if found else None,
            "seismic": {
                "n_postings": args.seismic_postings,
                "summary_prune_ratio": args.summary_prune_ratio,
                "top_n": args.top_n,
                "heap_factor": args.heap_factor,
            },
            "indices": facts,
            "encode": encode,
            "load": load.report(),
            "results": results,
        },
        markdown,
    )


if __name__ == "__main__":
    with known_failures():  # no cluster, a refused request: one cause, one fix
        main()
