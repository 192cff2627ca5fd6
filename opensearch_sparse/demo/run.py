"""The demo as one library call: node, model, pipeline, index, IDF, queries; a report back.

``run_demo`` does what the README's main command promises on the embedded node and returns a
``DemoReport``; the CLI only prints it. Every step reuses the product's own calls (the ones a
user would make by hand), so the demo is also an end-to-end check of the whole path.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from opensearch_sparse.client import make_client
from opensearch_sparse.cluster import LocalCluster
from opensearch_sparse.config import ClusterConfig, NodeConfig
from opensearch_sparse.corpus import Document, read_corpus
from opensearch_sparse.demo.corpus import stdlib_docs
from opensearch_sparse.idf import IdfTable, index_texts
from opensearch_sparse.ingest import IngestReport, create_index, ingest
from opensearch_sparse.mlcommons import MLCommons
from opensearch_sparse.model_package import ModelPackage, load_tokenizer, resolve_zip
from opensearch_sparse.progress import Listener, Silent
from opensearch_sparse.query_encoder import QueryEncoder
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
STEPS = 5


@dataclass(frozen=True)
class QueryComparison:
    """One example query: the top hits of BM25 and of sparse search, with their times."""

    query: str
    bm25: SearchResult
    sparse: SearchResult


@dataclass(frozen=True)
class DemoReport:
    url: str
    model_id: str
    package: ModelPackage
    source: str
    ingest: IngestReport
    idf_path: Path
    idf_tokens: int
    comparisons: list[QueryComparison]
    seconds: float
    index: str = DEMO_INDEX

    def median_ms(self, mode: str) -> float:
        return statistics.median(getattr(c, mode).client_ms for c in self.comparisons)


def run_demo(
    *,
    model: Path | None = None,
    corpus: Path | None = None,
    limit: int | None = None,
    port: int | None = None,
    url: str | None = None,
    replicas: int = 0,
    listener: Listener | None = None,
) -> DemoReport:
    """Start (or reuse) the embedded node, deploy the encoder, index the corpus through the
    sparse_encoding pipeline, build the IDF table from that index, and run the example
    queries in BM25 and sparse mode.

    With ``url`` the demo runs on that cluster instead (e.g. the compose files' nodes) and
    changes none of its settings; ``replicas`` copies of each shard are asked for.
    """
    show = listener or Silent()
    began = time.monotonic()
    client, url = _cluster(url, port, show)
    ml = MLCommons(client)

    # Kept (not a temp dir) so the commands suggested after the demo work as printed.
    workdir = NodeConfig().home / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    with show.status(f"[2/{STEPS}] registering and deploying the document encoder") as status:
        package = ModelPackage.open(resolve_zip(model, workdir))
        model_id, _ = ml.register(package, progress=status)
        ml.deploy(model_id, progress=status)
    show.step(
        f"[2/{STEPS}] model {model_id} deployed ({package.model_format}, "
        f"{package.size / 1e6:.1f} MB)"
    )

    docs, source = _documents(corpus, limit)
    create_index(client, DEMO_INDEX, model_id=model_id, replace=True, replicas=replicas)
    show.step(f"[3/{STEPS}] indexing {len(docs)} documents from {source} through the pipeline")
    with show.counter("ingest", len(docs)) as advance:
        report = ingest(client, DEMO_INDEX, docs, on_progress=advance)
    show.step(
        f"[3/{STEPS}] {report.stored} documents stored ({report.rate:.0f} docs/s, "
        f"{len(report.failed)} failed)"
    )

    tokenizer = load_tokenizer(package.path)
    with show.counter(f"[4/{STEPS}] IDF from the index", report.stored) as advance:
        idf = IdfTable.build(index_texts(client, DEMO_INDEX), tokenizer, on_progress=advance)
    idf_path = workdir / "idf.json"
    idf.save(idf_path)
    show.step(f"[4/{STEPS}] IDF table built from the index ({len(idf)} tokens)")

    searcher = SparseSearch(client, DEMO_INDEX, QueryEncoder(tokenizer, idf))
    show.step(f"[5/{STEPS}] example queries: top 3, BM25 beside sparse")
    comparisons = [
        QueryComparison(q, searcher.search(q, "bm25", k=3), searcher.search(q, "sparse", k=3))
        for q in EXAMPLE_QUERIES
    ]
    return DemoReport(
        url=url,
        model_id=model_id,
        package=package,
        source=source,
        ingest=report,
        idf_path=idf_path,
        idf_tokens=len(idf),
        comparisons=comparisons,
        seconds=time.monotonic() - began,
    )


def _cluster(url: str | None, port: int | None, show: Listener) -> tuple[Any, str]:
    """A client for the cluster the demo runs on: ``url``, or the embedded node (started
    when it is not running, and given the ml-commons settings a local model needs)."""
    if url:
        client = make_client(ClusterConfig(url=url))
        show.step(f"[1/{STEPS}] using the cluster at {url}")
        return client, url
    node = LocalCluster(port=port)
    if node.is_running():
        show.step(f"[1/{STEPS}] reusing the node already running at {node.url}")
    else:
        with show.status(f"[1/{STEPS}] starting OpenSearch {node.config.version}") as status:
            node.start(status)
        show.step(f"[1/{STEPS}] node ready at {node.url}")
    client = node.client()
    MLCommons(client).apply_settings()
    return client, node.url


def _documents(corpus: Path | None, limit: int | None) -> tuple[list[Document], str]:
    """At most ``limit`` documents, read lazily: a large corpus is never loaded whole."""
    stream: Iterable[Document] = read_corpus(corpus) if corpus else stdlib_docs()
    source = str(corpus) if corpus else "Python standard library docstrings"
    return list(islice(stream, limit)), source
