"""How the CLI talks: data to stdout (human tables or --json), messages and progress to stderr.

Text that comes from data or a server (titles, ids, error reasons) is always printed
literally: rich would read ``[/]`` or ``dict[str, int]`` as markup, crash on the first and
silently drop the brackets of the second. So messages are ``Text`` objects or printed with
``markup=False``; only this module's own styling uses markup.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import click
from rich.console import Console as RichConsole
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from opensearch_sparse.errors import SparseError
from opensearch_sparse.progress import Advance, Status

out = RichConsole()
# Messages are one line each, never wrapped: logs and tests grep them.
err = RichConsole(stderr=True, soft_wrap=True)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def info(message: str) -> None:
    err.print(message, markup=False, highlight=False)


@contextmanager
def spinner(title: str) -> Iterator[Status]:
    """A status line with elapsed time; yields a callback that updates its text."""
    started = time.monotonic()
    with err.status(Text(title)) as status:

        def update(message: str) -> None:
            line = Text(f"{title}: {message} ")
            line.append(f"({time.monotonic() - started:.0f}s)", style="dim")
            status.update(line)

        yield update


@contextmanager
def progress(title: str, total: int | None, unit: str = "docs") -> Iterator[Advance]:
    """A bar with count, rate and ETA on stderr; yields ``advance(n)``."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err) as bar:
        # The description is escaped by rich's TextColumn only when it is a Text.
        task = bar.add_task(Text(title).markup, total=total, rate="")

        def advance(n: int) -> None:
            bar.advance(task, n)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:.1f} {unit}/s" if speed else "")

        yield advance


class Console:
    """The ``progress.Listener`` the CLI hands to multi-step library calls."""

    def step(self, message: str) -> None:
        info(message)

    def status(self, title: str) -> AbstractContextManager[Status]:
        return spinner(title)

    def counter(self, title: str, total: int | None) -> AbstractContextManager[Advance]:
        return progress(title, total)


def fail(exc: SparseError) -> None:
    """Print a known failure as one cause line and one fix line; exit 1."""
    err.print(Text("error: ", style="bold red") + Text(exc.cause), highlight=False)
    if exc.fix:
        err.print(Text("fix: ", style="bold") + Text(exc.fix), highlight=False)
    sys.exit(1)


@contextmanager
def known_failures() -> Iterator[None]:
    """The product's failures, and what ``error_map`` can explain (a refused request, a dropped
    connection, an unreadable file), become one cause line and one fix line and exit 1; a bug
    keeps its traceback. The CLI and the benchmark scripts both run inside it."""
    try:
        yield
    except SparseError as exc:
        if debug_enabled():
            raise
        fail(exc)
    except Exception as exc:
        from opensearch_sparse.error_map import explain

        mapped = explain(exc)
        if mapped is None or debug_enabled():
            raise
        fail(mapped)


def debug_enabled() -> bool:
    return os.environ.get("OPENSEARCH_SPARSE_DEBUG", "") not in ("", "0", "false")
