"""Latency and throughput on one node: BM25 vs sparse (client query encoding included) vs
hybrid, same corpus, same queries, at 1, 4 and 16 concurrent clients. Prints p50/p90/p99
client latency, server `took`, QPS and the sparse/BM25 ratios; writes JSON, markdown and a PNG.

    python benchmarks/latency.py --corpus ../shared/data/scale/debian-descriptions.jsonl.gz
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    SHARED,
    base_parser,
    connect,
    markdown_table,
    prepared_index,
    write_report,
)

from opensearch_sparse.corpus import read_corpus, read_queries
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.model_package import ModelPackage, load_tokenizer, resolve_zip
from opensearch_sparse.query_encoder import QueryEncoder
from opensearch_sparse.search import SparseSearch

MODES = ("bm25", "sparse", "hybrid")
QUERY_SETS = ("cranfield", "nfcorpus", "dbpedia-5k", "msmarco-dl19-5k")


def load_queries(data: Path, sets: list[str]) -> list[str]:
    """Natural-language questions and keyword queries from the evaluation sets."""
    queries: list[str] = []
    for name in sets:
        if (data / name / "queries.jsonl").is_file():
            queries.extend(read_queries(data / name).values())
    if not queries:
        raise SystemExit(f"no queries.jsonl under {data}")
    return queries


def run_level(
    searcher: SparseSearch, mode: str, queries: list[str], clients: int, k: int
) -> dict[str, float]:
    """``len(queries)`` searches over ``clients`` threads; latencies measured per request."""

    def one(text: str) -> tuple[float, int]:
        result = searcher.search(text, mode, k=k)
        return result.client_ms, result.took_ms

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        samples = list(pool.map(one, queries))
    wall = time.perf_counter() - started
    client = np.array([s[0] for s in samples])
    took = np.array([s[1] for s in samples])
    return {
        "p50_ms": float(np.percentile(client, 50)),
        "p90_ms": float(np.percentile(client, 90)),
        "p99_ms": float(np.percentile(client, 99)),
        "took_p50_ms": float(np.percentile(took, 50)),
        "took_p99_ms": float(np.percentile(took, 99)),
        "qps": len(queries) / wall,
    }


def plot(results: dict[str, dict[str, dict[str, float]]], levels: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for i, mode in enumerate(MODES):
        style = {"color": f"C{i}"}  # one colour per mode across both panels
        p50 = [results[mode][str(c)]["p50_ms"] for c in levels]
        p99 = [results[mode][str(c)]["p99_ms"] for c in levels]
        left.plot(levels, p50, "o-", label=f"{mode} p50", **style)
        left.plot(levels, p99, "x--", label=f"{mode} p99", **style)
        right.plot(
            levels, [results[mode][str(c)]["qps"] for c in levels], "o-", label=mode, **style
        )
    left.set(xlabel="concurrent clients", ylabel="client latency (ms)", xscale="log")
    right.set(xlabel="concurrent clients", ylabel="queries / s", xscale="log")
    left.legend(fontsize=7)
    right.legend()
    fig.suptitle("Same node, same corpus, same queries")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument(
        "--corpus", type=Path, default=SHARED / "data" / "scale" / "debian-descriptions.jsonl.gz"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED / "data",
        help="folder of evaluation sets whose queries are replayed",
    )
    parser.add_argument(
        "--query-sets", nargs="+", default=list(QUERY_SETS), help="sets under --data to replay"
    )
    parser.add_argument("--queries", type=int, default=500, help="measured queries per run")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--limit", type=int, default=None, help="index at most N documents")
    parser.add_argument("--encode", choices=("local", "pipeline"), default="local")
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()

    client = connect(args.url)
    with tempfile.TemporaryDirectory() as tmp:
        package = ModelPackage.open(resolve_zip(args.model, Path(tmp)))
        docs = list(islice(read_corpus(args.corpus), args.limit))
        stem = args.corpus.name.split(".")[0]
        index, rate = prepared_index(
            client,
            f"bench-{stem}-{len(docs)}-{package.sha256[:8]}",
            docs,
            encode=args.encode,
            package=package,
        )
        tokenizer = load_tokenizer(package.path)
    idf = IdfTable.build((d.content for d in docs), tokenizer)
    encoder = QueryEncoder(tokenizer, idf)
    searcher = SparseSearch(client, index, encoder)
    replay = list(islice(cycle(load_queries(args.data, args.query_sets)), args.queries))

    encode_ms = []
    for text in replay:
        started = time.perf_counter()
        encoder.encode(text)
        encode_ms.append((time.perf_counter() - started) * 1000)

    results: dict[str, dict[str, dict[str, float]]] = {m: {} for m in MODES}
    for clients in args.clients:
        for mode in MODES:
            run_level(searcher, mode, replay[: args.warmup], clients, args.k)
            results[mode][str(clients)] = run_level(searcher, mode, replay, clients, args.k)
            r = results[mode][str(clients)]
            print(
                f"{mode:>6} x{clients:<2} p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
                f"took p50 {r['took_p50_ms']:4.0f} ms  {r['qps']:7.1f} qps"
            )

    rows: list[list[Any]] = []
    for clients in args.clients:
        b = results["bm25"][str(clients)]
        for mode in MODES:
            r = results[mode][str(clients)]
            rows.append(
                [
                    clients,
                    mode,
                    r["p50_ms"],
                    r["p90_ms"],
                    r["p99_ms"],
                    r["took_p50_ms"],
                    r["qps"],
                    r["p50_ms"] / b["p50_ms"],
                    r["p99_ms"] / b["p99_ms"],
                    r["qps"] / b["qps"],
                ]
            )
    header = [
        "clients",
        "mode",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "took p50 ms",
        "QPS",
        "p50 / BM25",
        "p99 / BM25",
        "QPS / BM25",
    ]
    encode = {"p50_ms": statistics.median(encode_ms), "p99_ms": float(np.percentile(encode_ms, 99))}
    markdown = (
        f"# Latency: {len(docs)} documents of {args.corpus.name}, "
        f"{args.queries} queries per run\n\n"
        + markdown_table(header, rows)
        + f"\nClient query encoding alone: p50 {encode['p50_ms']:.3f} ms, "
        f"p99 {encode['p99_ms']:.3f} ms per query.\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    plot(results, args.clients, args.out / "latency.png")
    write_report(
        args.out,
        "latency",
        {
            "corpus": str(args.corpus),
            "documents": len(docs),
            "index_rate_docs_per_s": rate,
            "encode": encode,
            "results": results,
        },
        markdown,
    )


if __name__ == "__main__":
    main()
