"""Shared fixtures: where ../shared is (data and weights are never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    return Path(os.environ.get("OPENSEARCH_SPARSE_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    root = shared_root()
    if not root.is_dir():
        pytest.skip(f"shared data folder {root} not found (set OPENSEARCH_SPARSE_SHARED)")
    return root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration talks to a real node."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)
