"""The `opensearch-sparse` command: thin wrappers over the library, one module per concern.

Commands are imported only when they run: `opensearch-sparse --help` must not pay for
onnxruntime, opensearch-py or torch, so the group lists them from the table below.
"""

from __future__ import annotations

import importlib

import click

from opensearch_sparse import __version__
from opensearch_sparse.cli import output

#: name -> (module, attribute, one-line help shown by --help without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "cluster": ("cluster_cmd", "cluster", "Run a real local OpenSearch node (no Docker needed)."),
    "demo": ("demo_cmd", "demo", "Start a node, deploy the encoder, compare BM25 with sparse."),
    "export": ("export_cmd", "export", "Export a checkpoint to an ml-commons zip."),
    "model": ("model_cmd", "model", "Register and deploy sparse encoders in ml-commons."),
    "index": ("ingest_cmd", "index", "Create an index with its sparse_encoding pipeline."),
    "ingest": ("ingest_cmd", "ingest_cmd", "Stream a BEIR corpus into an index."),
    "idf": ("search_cmd", "idf", "Build the IDF table that weights query tokens."),
    "search": ("search_cmd", "search", "Search an index: sparse, BM25 or hybrid."),
    "train": ("train_cmd", "train", "Train a sparse document encoder (needs [train])."),
}


class LazyGroup(click.Group):
    """A group whose subcommands load on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opensearch-sparse")
def cli() -> None:
    """Learned sparse retrieval for OpenSearch at BM25 cost.

    Settings come from flags, then OPENSEARCH_SPARSE_* environment variables, then defaults.
    Set OPENSEARCH_SPARSE_DEBUG=1 to see tracebacks.
    """


def main() -> None:
    """Entry point: map the product's known failures to one line each, exit 1."""
    try:
        with output.known_failures():
            cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        output.info("aborted")
        raise SystemExit(130) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
