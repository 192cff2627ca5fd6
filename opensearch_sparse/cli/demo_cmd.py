"""`opensearch-sparse demo`: the README's main command; the library runs it, this prints it."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from opensearch_sparse.cli import output
from opensearch_sparse.demo import DemoReport, QueryComparison, run_demo


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
@click.option(
    "--url",
    default=None,
    help="Run on this cluster instead of the local node (several nodes: comma-separated)",
)
@click.option(
    "--replicas",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Replicas of the demo index's shard (1 on a cluster of several nodes)",
)
def demo(
    model_path: Path | None,
    corpus: Path | None,
    limit: int | None,
    port: int | None,
    url: str | None,
    replicas: int,
) -> None:
    """Start a node, deploy the encoder, index a corpus, compare BM25 with sparse search."""
    if url and port:
        raise click.UsageError("--port names the local node; give --url or --port, not both")
    report = run_demo(
        model=model_path,
        corpus=corpus,
        limit=limit,
        port=port,
        url=url,
        replicas=replicas,
        listener=output.Console(),
    )
    for comparison in report.comparisons:
        output.out.print(_side_by_side(comparison))
    _summary(report, url=url, shipped=model_path is None)


def _side_by_side(c: QueryComparison) -> Table:
    table = Table(title=Text(c.query, style="bold"), title_justify="left", expand=True)
    for name, result in (("BM25", c.bm25), ("sparse", c.sparse)):
        table.add_column(
            Text(f"{name} ({result.client_ms:.0f} ms, server {result.took_ms} ms)"), ratio=1
        )
    for i in range(3):
        # Titles come from the corpus: shown as text, never interpreted as markup.
        table.add_row(
            *(Text(r.hits[i].title if i < len(r.hits) else "") for r in (c.bm25, c.sparse))
        )
    return table


def _summary(report: DemoReport, *, url: str | None, shipped: bool) -> None:
    bm25, sparse = report.median_ms("bm25"), report.median_ms("sparse")
    output.out.print(
        f"median client latency: BM25 {bm25:.1f} ms, sparse {sparse:.1f} ms "
        f"(sparse/BM25 {sparse / bm25:.2f}x, query encoding included)",
        highlight=False,
        markup=False,
    )
    output.info(f"demo finished in {report.seconds:.0f}s. Next:")
    model = "" if shipped else f" --model {report.package.path}"
    if url is None:
        output.info(
            f'  opensearch-sparse search {report.index} "your question" --mode hybrid'
            f"{model} --idf {report.idf_path}"
        )
    else:
        # The demo may have run in a container: its paths and its view of the cluster's
        # address mean nothing on the user's machine, so the hint rebuilds the IDF table there.
        output.info("  from your machine (add --url with the cluster's address from there):")
        tokenizer = "" if shipped else f" --tokenizer {report.package.path}"
        output.info(f"  opensearch-sparse idf build --index {report.index}{tokenizer}")
        output.info(
            f'  opensearch-sparse search {report.index} "your question" --mode hybrid{model} '
            f"--idf idf-{report.index}.json"
        )
    output.info("  python benchmarks/relevance.py   and   python benchmarks/latency.py")
    if url is None:
        output.info("  opensearch-sparse cluster stop   (the index stays for the next start)")
