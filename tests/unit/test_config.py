"""Defaults live in one place and the environment overrides them."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import pytest

from opensearch_sparse.cluster import LocalCluster
from opensearch_sparse.config import ClusterConfig, NodeConfig
from opensearch_sparse.errors import PortInUseError


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENSEARCH_SPARSE_PORT", "9333")
    monkeypatch.setenv("OPENSEARCH_SPARSE_HEAP", "2g")
    monkeypatch.setenv("OPENSEARCH_SPARSE_HOME", str(tmp_path))
    monkeypatch.setenv("OPENSEARCH_SPARSE_URL", "https://search.example:9200")
    monkeypatch.setenv("OPENSEARCH_SPARSE_VERIFY_CERTS", "false")
    node = NodeConfig()
    assert (node.port, node.heap, node.home) == (9333, "2g", tmp_path)
    assert node.node_dir == tmp_path / "nodes" / "node-9333"
    assert node.url == "http://127.0.0.1:9333"
    cluster = ClusterConfig()
    assert cluster.url == "https://search.example:9200"
    assert cluster.verify_certs is False


def test_explicit_arguments_win_over_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENSEARCH_SPARSE_PORT", "9333")
    node = LocalCluster(port=9444, home=tmp_path, data_dir=tmp_path / "mine")
    assert node.config.port == 9444
    assert node.node_dir == tmp_path / "mine"


def test_taken_port_is_refused_before_any_download(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        node = LocalCluster(port=port, home=tmp_path)
        with pytest.raises(PortInUseError, match=f"port {port}"):
            node.start()
    assert not (tmp_path / "m2").exists()


def test_client_for_a_secured_cluster() -> None:
    from opensearch_sparse.client import InsecureConnectionWarning, make_client

    with pytest.warns(InsecureConnectionWarning, match="not verified"):
        client = make_client(
            ClusterConfig(
                url="https://search.example:9443",
                username="admin",
                password="s3cret",
                verify_certs=False,
            )
        )
    (conn,) = client.transport.connection_pool.connections
    assert conn.host == "https://search.example:9443"
    assert conn.use_ssl
    expected = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert conn.headers["authorization"] == expected


def test_non_http_url_is_refused() -> None:
    from opensearch_sparse.client import make_client
    from opensearch_sparse.errors import ClusterUnreachableError

    with pytest.raises(ClusterUnreachableError, match="not an http"):
        make_client(ClusterConfig(url="ftp://search.example"))
