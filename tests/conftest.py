"""Shared fixtures. The suite is self-contained: nothing here reads ../shared (that folder is for
benchmarks), so a fresh clone runs every test. Models the tests need are built here, tiny and
seeded; judged queries come from the small BEIR-layout set in ``tests/fixtures``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opensearch_sparse.models import default_model_dir

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def build_tiny_bert(folder: Path, *, masked_lm: bool = True, seed: int = 0) -> Path:
    """A seeded BERT with the shipped model's 30,522-token vocabulary and hidden size 32.

    Random weights are enough to test export, training and the ml-commons contract (shapes,
    names, parity, gradients); relevance is measured by the benchmarks, never by unit tests.
    With ``masked_lm=False`` it has no MLM head, like a dense sentence encoder.
    """
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    model = BertForMaskedLM(config) if masked_lm else BertModel(config)
    model.save_pretrained(folder)
    shutil.copy(default_model_dir() / "tokenizer.json", folder / "tokenizer.json")
    return folder


@pytest.fixture(scope="session")
def tiny_bert() -> Callable[..., Path]:
    """``build_tiny_bert`` for tests that need a variant (e.g. no MLM head)."""
    pytest.importorskip("torch", reason="building a checkpoint needs the [train] extra")
    return build_tiny_bert


@pytest.fixture(scope="session")
def tiny_mlm(tiny_bert: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny masked-LM checkpoint folder (config.json, weights, tokenizer.json)."""
    return tiny_bert(tmp_path_factory.mktemp("tiny-mlm"))


@pytest.fixture(scope="session")
def beir_mini() -> Path:
    """The judged BEIR-layout set the repo carries (see tests/fixtures/dbpedia-mini)."""
    return FIXTURES / "dbpedia-mini"


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    """The document encoder the package ships (ONNX, tokenizer.json, idf.json)."""
    return default_model_dir()


CliRunner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def cli() -> CliRunner:
    """Run ``opensearch-sparse ARGS...`` in a fresh interpreter, as a user would; the result
    (exit status, stdout, stderr) is for the test to judge."""

    def run(
        *args: str, timeout: float = 300, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "opensearch_sparse", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=cwd,
        )

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration talks to a real node."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


#: Skips a fresh machine cannot avoid: the reason must start with one of these.
ALLOWED_SKIPS = ("needs a GPU",)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Refuse silent skips: every skip is listed, and one not in ``ALLOWED_SKIPS`` fails the
    run (set ``OPENSEARCH_SPARSE_ALLOW_SKIPS=1`` to run a partial suite on purpose)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = reporter.stats.get("skipped", [])
    unexpected = [r for r in skipped if not _skip_reason(r).startswith(ALLOWED_SKIPS)]
    for report in skipped:
        reporter.write_line(f"skipped {report.nodeid}: {_skip_reason(report)}")
    if unexpected and not os.environ.get("OPENSEARCH_SPARSE_ALLOW_SKIPS"):
        reporter.write_line(
            f"{len(unexpected)} unexpected skip(s): the suite must run in full "
            "(install the [dev] extra; see README)",
            red=True,
        )
        if exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _skip_reason(report: Any) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]).removeprefix("Skipped: ") if isinstance(longrepr, tuple) else ""
