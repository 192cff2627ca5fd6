"""How the CLI talks: data to stdout (human tables or --json), messages and progress to stderr."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console

from opensearch_sparse.errors import SparseError

out = Console()
err = Console(stderr=True)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def info(message: str) -> None:
    err.print(message, highlight=False)


@contextmanager
def spinner(title: str) -> Iterator[Callable[[str], None]]:
    """A status line with elapsed time; yields a callback that updates its text."""
    started = time.monotonic()
    with err.status(title) as status:

        def update(message: str) -> None:
            status.update(f"{title}: {message} [dim]({time.monotonic() - started:.0f}s)[/dim]")

        yield update


def fail(exc: SparseError) -> None:
    """Print a known failure as one cause line and one fix line; exit 1."""
    err.print(f"[bold red]error:[/bold red] {exc.cause}", highlight=False)
    if exc.fix:
        err.print(f"[bold]fix:[/bold] {exc.fix}", highlight=False)
    sys.exit(1)


def debug_enabled() -> bool:
    return os.environ.get("OPENSEARCH_SPARSE_DEBUG", "") not in ("", "0", "false")
