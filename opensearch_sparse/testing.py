"""A pytest plugin: the ``local_cluster`` fixture gives tests a real node without ceremony.

Registered through the ``pytest11`` entry point, so any project that installs opensearch-sparse
can write ``def test_x(local_cluster): local_cluster.client().info()``.

- ``OPENSEARCH_SPARSE_TEST_URL`` set: tests use that cluster as it is (nothing is started).
- otherwise a local node on ``OPENSEARCH_SPARSE_TEST_PORT`` (default 9250) is started for the
  session, or reused when already running (then it is left running, e.g. for ``.ci/run``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from opensearch_sparse.client import make_client
from opensearch_sparse.cluster import LocalCluster
from opensearch_sparse.config import ClusterConfig

DEFAULT_TEST_PORT = 9250


@dataclass(frozen=True)
class ClusterHandle:
    """What a test needs: where the cluster is and a client for it."""

    url: str
    local: LocalCluster | None

    def client(self) -> Any:
        return make_client(ClusterConfig(url=self.url))


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[ClusterHandle]:
    url = os.environ.get("OPENSEARCH_SPARSE_TEST_URL")
    if url:
        yield ClusterHandle(url, None)
        return
    port = int(os.environ.get("OPENSEARCH_SPARSE_TEST_PORT", DEFAULT_TEST_PORT))
    node = LocalCluster(port=port)
    started = node.start()
    try:
        yield ClusterHandle(node.url, node)
    finally:
        if started:
            node.stop()
