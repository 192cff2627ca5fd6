"""The local cluster layout: ports, names and discovery settings (pure)."""

from __future__ import annotations

import pytest

from opensearch_sparse.client import make_client
from opensearch_sparse.cluster.install import clear_deploy_scratch, node_settings
from opensearch_sparse.cluster.layout import ClusterLayout
from opensearch_sparse.config import ClusterConfig
from opensearch_sparse.errors import ClusterUnreachableError


def test_one_node_keeps_the_single_node_layout(tmp_path) -> None:
    settings = node_settings(tmp_path, 9200)
    assert settings["discovery.type"] == "single-node"
    assert settings["cluster.name"] == "opensearch-sparse"
    assert "discovery.seed_hosts" not in settings


def test_three_nodes_find_each_other_on_loopback(tmp_path) -> None:
    layout = ClusterLayout(9330, 3)
    assert layout.http_ports == [9330, 9331, 9332]
    assert layout.urls[2] == "http://127.0.0.1:9332"
    settings = node_settings(tmp_path, 9331, layout)
    assert "discovery.type" not in settings
    assert settings["http.port"] == "9331" and settings["transport.port"] == "9431"
    assert settings["network.host"] == "127.0.0.1"
    assert settings["discovery.seed_hosts"] == [
        "127.0.0.1:9430",
        "127.0.0.1:9431",
        "127.0.0.1:9432",
    ]
    assert settings["cluster.initial_cluster_manager_nodes"] == [
        "opensearch-sparse-9330",
        "opensearch-sparse-9331",
        "opensearch-sparse-9332",
    ]
    # Two local clusters never join: the name carries the first port.
    assert (
        settings["cluster.name"]
        != node_settings(tmp_path, 9341, ClusterLayout(9340, 3))["cluster.name"]
    )


@pytest.mark.parametrize("nodes", [0, 10])
def test_node_count_is_bounded(nodes: int) -> None:
    with pytest.raises(ValueError, match="1 to 9"):
        ClusterLayout(9200, nodes)


def test_client_takes_every_node_for_failover() -> None:
    client = make_client(ClusterConfig(url="http://127.0.0.1:9330, http://127.0.0.1:9331"))
    hosts = sorted(c.host for c in client.transport.connection_pool.connections)
    assert hosts == ["http://127.0.0.1:9330", "http://127.0.0.1:9331"]
    with pytest.raises(ClusterUnreachableError, match="mixes"):
        make_client(ClusterConfig(url="http://a:9200,https://b:9200"))


def test_a_start_clears_ml_commons_download_scratch_but_not_its_libraries(tmp_path) -> None:
    """A zip left in deploy/ by a cut-off deploy corrupts the next download of that model."""
    cache = tmp_path / "data" / "ml_cache"
    stale = cache / "models_cache" / "deploy" / "model-id" / "default.zip"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    library = cache / "pytorch" / "libtorch.so"
    library.parent.mkdir(parents=True)
    library.write_bytes(b"lib")
    clear_deploy_scratch(tmp_path)
    assert not stale.parent.parent.exists()
    assert library.read_bytes() == b"lib"
    clear_deploy_scratch(tmp_path)  # nothing there: no error
