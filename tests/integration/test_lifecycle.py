"""The node's lifecycle on a second, throw-away node: data survives stop/start, a second start
does not start twice, and a node that dies during start-up explains itself."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from opensearch_sparse.cluster import LocalCluster
from opensearch_sparse.cluster.process import port_free
from opensearch_sparse.errors import NodeStartError
from opensearch_sparse.testing import ClusterHandle


def _free_port(start: int) -> int:
    for port in range(start, start + 50):
        if port_free(port):
            return port
    raise RuntimeError("no free port")


@pytest.fixture()
def node_dir(local_cluster: ClusterHandle) -> Iterator[Path]:
    """A fresh node folder under the product's home (pytest's tmp folders are private to
    root, and the node runs as a service user when the tests run as root)."""
    if local_cluster.local is None:
        pytest.skip("lifecycle tests need the embedded node, not OPENSEARCH_SPARSE_TEST_URL")
    parent = local_cluster.local.config.home / "nodes"
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="test-", dir=parent))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_data_survives_stop_and_start(node_dir: Path) -> None:
    port = _free_port(9270)
    node = LocalCluster(port=port, data_dir=node_dir, heap="512m")
    try:
        assert node.start() is True
        assert node.start() is False  # already running: nothing is started twice
        url = node.url
        requests.put(f"{url}/keep/_doc/1?refresh=true", json={"text": "persist me"}, timeout=30)
        assert node.stop() is True
        assert not node.is_running()
        assert port_free(port)

        assert node.start() is True
        doc = requests.get(f"{url}/keep/_doc/1", timeout=30).json()
        assert doc["_source"] == {"text": "persist me"}
    finally:
        node.stop()
    assert node.stop() is False


def test_node_crash_during_start_shows_log(node_dir: Path) -> None:
    node = LocalCluster(port=_free_port(9290), data_dir=node_dir, heap="512g")  # cannot reserve
    with pytest.raises(NodeStartError) as info:
        node.start()
    message = str(info.value)
    assert "exited during start-up" in message
    assert "Last log lines" in message
    assert not node.is_running()


def test_cli_start_on_taken_port_is_one_line_error(local_cluster: ClusterHandle) -> None:
    port = int(local_cluster.url.rsplit(":", 1)[1])
    # Same port, another node folder: that node is not running, and its port is taken.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "opensearch_sparse",
            "cluster",
            "start",
            "--port",
            str(port),
            "--data-dir",
            str(Path(tempfile.gettempdir()) / "opensearch-sparse-not-this-one"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert f"port {port}" in proc.stderr
    assert "fix:" in proc.stderr
    assert "Traceback" not in proc.stderr
