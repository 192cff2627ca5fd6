"""`opensearch-sparse demo`: the README's main command, end to end on the embedded node.

Starts the node, deploys the document encoder in ml-commons, indexes a real corpus through the
sparse_encoding pipeline, builds the IDF table, and shows BM25 and sparse results side by side.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import click
from rich.table import Table

from opensearch_sparse.cli import output
from opensearch_sparse.cli.model_cmd import model_zip
from opensearch_sparse.cluster import LocalCluster
from opensearch_sparse.corpus import Document, count_lines, read_corpus
from opensearch_sparse.demo_corpus import stdlib_docs
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.ingest import create_index, ingest
from opensearch_sparse.mlcommons import MLCommons, ModelPackage
from opensearch_sparse.models import default_model_dir
from opensearch_sparse.query_encoder import QueryEncoder, load_tokenizer
from opensearch_sparse.search import SearchResult, SparseSearch

EXAMPLE_QUERIES = (
    "how do I read a file line by line",
    "parse command line arguments",
    "compress data with gzip",
    "send an email message",
    "run a program and capture its output",
    "format dates and times",
    "random number from a distribution",
    "what happens when the connection times out",
)
DEMO_INDEX = "demo-sparse"


def _side_by_side(query: str, bm25: SearchResult, sparse: SearchResult) -> Table:
    table = Table(title=f"[bold]{query}", title_justify="left", expand=True)
    table.add_column(f"BM25 ({bm25.client_ms:.0f} ms, server {bm25.took_ms} ms)", ratio=1)
    table.add_column(f"sparse ({sparse.client_ms:.0f} ms, server {sparse.took_ms} ms)", ratio=1)
    for i in range(3):
        cells = [r.hits[i].title if i < len(r.hits) else "" for r in (bm25, sparse)]
        table.add_row(*cells)
    return table


@click.command()
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Document encoder: exported zip/folder or a checkpoint [default: shipped]",
)
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    default=None,
    help="BEIR-layout folder to index [default: Python stdlib docstrings]",
)
@click.option("--limit", type=int, default=None, help="Index at most this many documents")
@click.option("--port", type=int, default=None, help="HTTP port of the local node")
def demo(model_path: Path | None, corpus: Path | None, limit: int | None, port: int | None) -> None:
    """Start a node, deploy the encoder, index a corpus, compare BM25 with sparse search."""
    began = time.monotonic()
    model_path = model_path or default_model_dir()
    node = LocalCluster(port=port)
    if node.is_running():
        output.info(f"[1/5] reusing the node already running at {node.url}")
    else:
        with output.spinner(f"[1/5] starting OpenSearch {node.config.version}") as progress:
            node.start(progress)
        output.info(f"[1/5] node ready at {node.url}")
    client = node.client()
    ml = MLCommons(client)
    ml.apply_settings()

    # Kept (not a temp dir) so the commands suggested at the end work as printed.
    workdir = node.config.home / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    pkg = ModelPackage.open(model_zip(model_path, workdir))
    with output.spinner("[2/5] registering and deploying the document encoder") as progress:
        model_id, _ = ml.register(pkg, progress=progress)
        ml.deploy(model_id, progress=progress)
    output.info(f"[2/5] model {model_id} deployed ({pkg.model_format}, {pkg.size / 1e6:.1f} MB)")

    if corpus:
        total = count_lines(corpus)
        docs: list[Document] = list(read_corpus(corpus))[:limit]
        source = str(corpus)
    else:
        docs = list(stdlib_docs(limit))
        total = len(docs)
        source = "Python standard library docstrings"
    create_index(client, DEMO_INDEX, model_id=model_id, replace=True)
    output.info(f"[3/5] indexing {len(docs)} documents from {source} through the pipeline")
    with output.progress("ingest", min(total, len(docs))) as advance:
        report = ingest(client, DEMO_INDEX, docs, on_progress=advance)
    output.info(
        f"[3/5] {report.stored} documents stored ({report.rate:.0f} docs/s, "
        f"{len(report.failed)} failed)"
    )

    idf_file = model_path / "idf.json" if model_path.is_dir() else None
    if idf_file and idf_file.is_file():
        idf = IdfTable.load(idf_file)
        output.info(f"[4/5] IDF table shipped with the model ({len(idf)} tokens)")
    else:
        with output.spinner("[4/5] building the IDF table from the corpus"):
            idf = IdfTable.build((d.content for d in docs), load_tokenizer(pkg.path))
        output.info(f"[4/5] IDF table built from the corpus ({len(idf)} tokens)")
    idf_path = workdir / "idf.json"
    idf.save(idf_path)

    searcher = SparseSearch(client, DEMO_INDEX, QueryEncoder(load_tokenizer(pkg.path), idf))
    output.info("[5/5] example queries: top 3 titles, BM25 beside sparse")
    latencies: dict[str, list[float]] = {"bm25": [], "sparse": []}
    for query in EXAMPLE_QUERIES:
        bm25 = searcher.search(query, "bm25", k=3)
        sparse = searcher.search(query, "sparse", k=3)
        latencies["bm25"].append(bm25.client_ms)
        latencies["sparse"].append(sparse.client_ms)
        output.out.print(_side_by_side(query, bm25, sparse))
    bm25_ms = statistics.median(latencies["bm25"])
    sparse_ms = statistics.median(latencies["sparse"])
    output.out.print(
        f"median client latency: BM25 {bm25_ms:.1f} ms, sparse {sparse_ms:.1f} ms "
        f"(sparse/BM25 {sparse_ms / bm25_ms:.2f}x, query encoding included)",
        highlight=False,
    )
    output.info(f"demo finished in {time.monotonic() - began:.0f}s. Next:")
    output.info(
        f'  opensearch-sparse search {DEMO_INDEX} "your question" --mode hybrid '
        f"--model {pkg.path} --idf {idf_path}"
    )
    output.info("  python benchmarks/relevance.py   and   python benchmarks/latency.py")
    output.info("  opensearch-sparse cluster stop   (the index stays for the next start)")
