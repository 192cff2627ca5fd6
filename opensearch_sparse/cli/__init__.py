"""The `opensearch-sparse` command: thin wrappers over the library, one per concern."""

from __future__ import annotations

import click

from opensearch_sparse import __version__
from opensearch_sparse.cli import output
from opensearch_sparse.cli.cluster_cmd import cluster
from opensearch_sparse.cli.demo_cmd import demo
from opensearch_sparse.cli.ingest_cmd import index, ingest_cmd
from opensearch_sparse.cli.model_cmd import export, model
from opensearch_sparse.cli.search_cmd import idf, search
from opensearch_sparse.cli.train_cmd import train
from opensearch_sparse.errors import SparseError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opensearch-sparse")
def cli() -> None:
    """Learned sparse retrieval for OpenSearch at BM25 cost.

    Settings come from flags, then OPENSEARCH_SPARSE_* environment variables, then defaults.
    Set OPENSEARCH_SPARSE_DEBUG=1 to see tracebacks.
    """


cli.add_command(cluster)
cli.add_command(demo)
cli.add_command(export)
cli.add_command(model)
cli.add_command(index)
cli.add_command(ingest_cmd)
cli.add_command(idf)
cli.add_command(search)
cli.add_command(train)


def main() -> None:
    """Entry point: map the product's known failures to one line each, exit 1."""
    try:
        cli.main(standalone_mode=False)
    except SparseError as exc:
        if output.debug_enabled():
            raise
        output.fail(exc)
    except click.exceptions.Abort:
        output.err.print("aborted")
        raise SystemExit(130) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
