"""docker-compose files parse and stay in step with the embedded node (version, settings)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from opensearch_sparse import config

REPO = Path(__file__).resolve().parents[2]


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.cluster.yml"])
def test_compose_matches_embedded_node(name: str) -> None:
    services = _load(name)["services"]
    nodes = {k: v for k, v in services.items() if "opensearch:" in v.get("image", "")}
    assert nodes, "no OpenSearch service"
    for service in nodes.values():
        assert service["image"] == f"opensearchproject/opensearch:{config.OPENSEARCH_VERSION}"
        env = {k: str(v) for k, v in service["environment"].items()}
        for key, value in config.ML_COMMONS_SETTINGS.items():
            assert env.get(key) == value, f"{name}: {key}"
        assert env.get("cluster.routing.allocation.disk.threshold_enabled") == "false"
        assert "opensearch:" in service["image"]


def test_single_node_compose_has_dashboards_and_named_volume() -> None:
    doc = _load("docker-compose.yml")
    dashboards = doc["services"]["dashboards"]
    assert dashboards["image"] == (
        f"opensearchproject/opensearch-dashboards:{config.OPENSEARCH_VERSION}"
    )
    assert doc["services"]["opensearch"]["environment"]["discovery.type"] == "single-node"
    volume = doc["services"]["opensearch"]["volumes"][0].split(":")[0]
    assert volume in doc["volumes"]
    # Ports are published on loopback only, like the embedded node.
    for service in doc["services"].values():
        assert all(p.startswith("127.0.0.1:") for p in service.get("ports", []))


def test_cluster_compose_has_three_nodes() -> None:
    services = _load("docker-compose.cluster.yml")["services"]
    assert len(services) == 3
    names = {s["environment"]["node.name"] for s in services.values()}
    assert names == {"os1", "os2", "os3"}
