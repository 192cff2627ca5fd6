"""The CLI prints text from data and servers literally: rich would crash on ``[/]``, drop
``[str, int]`` as an unknown tag and eat the brackets of an OpenSearch reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from opensearch_sparse.cli import cli, output
from opensearch_sparse.errors import SparseError

LITERALS = [
    "a [/] closing tag",
    "dict[str, int] is a type",
    "field [text_sparse] of type [rank_features] does not support [exists]",
    "[bold red]not styled[/bold red]",
]


@pytest.mark.parametrize("text", LITERALS)
def test_messages_print_brackets_as_written(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    output.info(f"skipped line 3: {text}")
    assert capsys.readouterr().err == f"skipped line 3: {text}\n"


@pytest.mark.parametrize("text", LITERALS)
def test_errors_print_cause_and_fix_as_written(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        output.fail(SparseError(f"the cluster refused the request (400): {text}", f"see {text}"))
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert err == f"error: the cluster refused the request (400): {text}\nfix: see {text}\n"


@pytest.mark.parametrize("text", LITERALS)
def test_progress_and_spinner_titles_are_literal(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A title from data (an index or file name) must not crash the bar or lose characters.
    with output.progress(text, total=2) as advance:
        advance(2)
    with output.spinner(text) as update:
        update(text)
    assert text in capsys.readouterr().err


def test_a_benchmark_without_a_cluster_says_so_in_two_lines() -> None:
    """Benchmark scripts run inside ``known_failures`` like the CLI: no traceback, exit 1."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "relevance.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "OPENSEARCH_SPARSE_DEBUG"},
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: no OpenSearch answers at http://127.0.0.1:9")
    assert lines[1].startswith("fix: ")


def test_help_text_is_printed_as_written() -> None:
    """click prints help strings verbatim (no %-formatting as in argparse): a ``%%`` shows
    up doubled, as it did in ``search --help``."""

    def helps(command: click.Command, ctx: click.Context) -> list[str]:
        found = [command.get_help(ctx)]
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                found += helps(sub, click.Context(sub, info_name=name, parent=ctx))
        return found

    texts = helps(cli, click.Context(cli, info_name="opensearch-sparse"))
    assert len(texts) > 20  # every group and command
    assert not [t for t in texts if "%%" in t]
