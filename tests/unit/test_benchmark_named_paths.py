"""``NAME=PATH`` arguments shared by the benchmarks that set models side by side
(benchmarks/common.py ``named_paths``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from benchmarks.common import named_paths


def _error(capsys: pytest.CaptureFixture[str], *args: object, **kwargs: object) -> str:
    parser = argparse.ArgumentParser(prog="bench")
    with pytest.raises(SystemExit) as exited:
        named_paths(parser, *args, **kwargs)  # type: ignore[arg-type]
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_names_and_paths_keep_their_order() -> None:
    parser = argparse.ArgumentParser()
    got = named_paths(parser, "--models", ["b=/x/one", "a=rel/two=three"])
    assert list(got.items()) == [("b", Path("/x/one")), ("a", Path("rel/two=three"))]


def test_a_bare_path_is_named_by_its_folder() -> None:
    parser = argparse.ArgumentParser()
    assert named_paths(parser, "--starts", ["/runs/seed13"]) == {"seed13": Path("/runs/seed13")}


def test_a_bare_path_is_refused_where_a_name_is_required(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = _error(capsys, "--student", ["/runs/seed13"], require_name=True)
    assert "--student /runs/seed13: give it a name, as NAME=PATH" in err


@pytest.mark.parametrize("spec", ["=/runs/a", "a="])
def test_an_empty_name_or_path_is_refused(capsys: pytest.CaptureFixture[str], spec: str) -> None:
    assert "both NAME and PATH are needed" in _error(capsys, "--models", [spec])


def test_two_folders_of_the_same_name_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """Checkpoints' inner folders share a name; the second would silently replace the first."""
    specs = ["/a/document_0_Transformer", "/b/document_0_Transformer"]
    err = _error(capsys, "--starts", specs)
    assert "document_0_Transformer would label two rows the same" in err


def test_a_reserved_name_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, "--starts", ["end=/runs/x"], reserved=("end",))
    assert "the name(s) end would label" in err and "(not end)" in err
