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
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from opensearch_sparse.errors import SparseError

out = Console()
# Messages are one line each, never wrapped: logs and tests grep them.
err = Console(stderr=True, soft_wrap=True)


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


@contextmanager
def progress(title: str, total: int | None, unit: str = "docs") -> Iterator[Callable[[int], None]]:
    """A bar with count, rate and ETA on stderr; yields ``advance(n)``."""
    columns = (
        TextColumn(f"[bold]{title}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err) as bar:
        task = bar.add_task(title, total=total, rate="")

        def advance(n: int) -> None:
            bar.advance(task, n)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:.1f} {unit}/s" if speed else "")

        yield advance


def fail(exc: SparseError) -> None:
    """Print a known failure as one cause line and one fix line; exit 1."""
    err.print(f"[bold red]error:[/bold red] {exc.cause}", highlight=False)
    if exc.fix:
        err.print(f"[bold]fix:[/bold] {exc.fix}", highlight=False)
    sys.exit(1)


def debug_enabled() -> bool:
    return os.environ.get("OPENSEARCH_SPARSE_DEBUG", "") not in ("", "0", "false")
