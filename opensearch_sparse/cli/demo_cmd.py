"""`opensearch-sparse demo`: the README's main command, end to end on the embedded node."""

from __future__ import annotations

import time

import click

from opensearch_sparse.cli import output
from opensearch_sparse.cluster import LocalCluster


@click.command()
@click.option("--port", type=int, default=None, help="HTTP port of the local node")
def demo(port: int | None) -> None:
    """Start the embedded node and show what it runs.

    Later stages add: export and deploy the document encoder, index a corpus, and compare BM25
    with sparse retrieval side by side.
    """
    node = LocalCluster(port=port)
    began = time.monotonic()
    if node.is_running():
        output.info(f"reusing the node already running at {node.url}")
    else:
        with output.spinner(f"starting OpenSearch {node.config.version}") as progress:
            node.start(progress)
        output.info(f"node ready in {time.monotonic() - began:.0f}s")
    info = node.status()
    click.echo(f"OpenSearch {info.version} at {info.url}: health {info.health}")
    click.echo(f"plugins: {', '.join(info.plugins)}")
    output.info(
        "next: `opensearch-sparse cluster status`, `opensearch-sparse cluster logs`, "
        "and `opensearch-sparse cluster stop` when done"
    )
