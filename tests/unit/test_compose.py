"""The Docker files stay in step with the embedded node and with each other (static checks;
tests/docker/test_compose_up.py builds and runs them for real).

The node in the image is the embedded node: its settings come from ``install.node_settings``
(ml-commons settings from ``config``), so what is checked here is what the files choose:
the image they build, the commands they run, loopback-only ports and named volumes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from opensearch_sparse import config
from opensearch_sparse.cluster.install import node_settings
from opensearch_sparse.cluster.layout import ClusterLayout
from opensearch_sparse.cluster.serve import CONTAINER_BIND, container_settings

REPO = Path(__file__).resolve().parents[2]
IMAGE = "opensearch-sparse:local"
NODE_FOLDERS = "/var/lib/opensearch-sparse/nodes"
FILES = ["docker-compose.yml", "docker-compose.cluster.yml"]


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


def _nodes(doc: dict) -> dict[str, dict]:
    return {
        k: v for k, v in doc["services"].items() if v.get("command", [])[:2] == ["cluster", "serve"]
    }


@pytest.mark.parametrize("name", FILES)
def test_every_service_is_built_from_the_dockerfile(name: str) -> None:
    doc = _load(name)
    for key, service in doc["services"].items():
        if "dashboards" in key:
            continue
        assert service["image"] == IMAGE, key
        build = service["build"]
        assert build["context"] == "."
        assert build["args"]["BASE_IMAGE"] == "${OPENSEARCH_SPARSE_BASE_IMAGE:-debian:trixie-slim}"
        assert build["args"]["EXTRA_CA_CERTS"] == "${OPENSEARCH_SPARSE_EXTRA_CA_CERTS:-}"


@pytest.mark.parametrize("name", FILES)
def test_nodes_named_volumes_and_loopback_ports(name: str) -> None:
    doc = _load(name)
    nodes = _nodes(doc)
    assert nodes
    published = []
    for service in nodes.values():
        volume, target = service["volumes"][0].split(":")
        assert volume in doc["volumes"] and target == NODE_FOLDERS
        assert "healthcheck" in service
        published += service.get("ports", [])
    # One node answers on the host's 127.0.0.1:9200; nothing listens beyond loopback.
    assert published == [f"127.0.0.1:{config.DEFAULT_PORT}:9200"]
    for service in doc["services"].values():
        assert all(p.startswith("127.0.0.1:") for p in service.get("ports", []))


@pytest.mark.parametrize(
    ("name", "urls"),
    [
        ("docker-compose.yml", "http://opensearch:9200"),
        ("docker-compose.cluster.yml", ",".join(ClusterLayout(config.DEFAULT_PORT, 3).urls)),
    ],
)
def test_demo_runs_on_every_node_once_they_are_healthy(name: str, urls: str) -> None:
    doc = _load(name)
    nodes = _nodes(doc)
    demo = doc["services"]["demo"]
    assert demo["command"][:3] == ["demo", "--url", urls]
    assert demo["depends_on"] == {n: {"condition": "service_healthy"} for n in nodes}
    assert demo["restart"] == "no"


def test_single_node_and_optional_dashboards() -> None:
    doc = _load("docker-compose.yml")
    assert list(_nodes(doc)) == ["opensearch"]
    assert doc["services"]["opensearch"]["command"] == ["cluster", "serve"]
    dashboards = doc["services"]["dashboards"]
    assert dashboards["image"] == (
        f"opensearchproject/opensearch-dashboards:{config.OPENSEARCH_VERSION}"
    )
    assert dashboards["profiles"] == ["dashboards"]  # never needed for `docker compose up`


def test_cluster_is_the_embedded_three_node_layout() -> None:
    doc = _load("docker-compose.cluster.yml")
    nodes = _nodes(doc)
    assert list(nodes) == ["os1", "os2", "os3"]
    layout = ClusterLayout(config.DEFAULT_PORT, 3)
    for k, (key, service) in enumerate(nodes.items(), 1):
        assert service["command"] == ["cluster", "serve", "--nodes", "3", "--node", str(k)]
        port = layout.http_ports[k - 1]
        assert f"127.0.0.1:{port}/_cluster/health" in service["healthcheck"]["test"][-1]
        if key != "os1":  # one network namespace: transport stays on loopback
            assert service["network_mode"] == "service:os1"
    demo = doc["services"]["demo"]
    assert demo["network_mode"] == "service:os1"
    assert demo["command"][2] == ",".join(layout.urls)
    assert demo["command"][demo["command"].index("--replicas") + 1] == "1"


def test_dockerfile_builds_the_embedded_node_without_torch() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=debian:trixie", text, re.M)
    assert re.search(r"^ARG EXTRA_CA_CERTS=", text, re.M)
    assert "LocalCluster().install(" in text  # the library assembles the node
    assert "opensearch-sparse cluster install" in text  # and the installed CLI finds it done
    # The runtime only: the project's own dependencies, never an extra (torch is in [train]).
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs and not any("[" in line for line in installs)
    assert re.search(r"^USER opensearch-sparse$", text, re.M)


def test_container_node_is_the_embedded_node_with_http_on_every_interface(
    tmp_path: Path,
) -> None:
    embedded = node_settings(tmp_path, 9200)
    container = node_settings(tmp_path, 9200, overrides=container_settings())
    assert container == embedded | {"http.host": CONTAINER_BIND}
    assert container["network.host"] == "127.0.0.1"  # transport: no bootstrap checks
    for key, value in config.ML_COMMONS_SETTINGS.items():
        assert container[key] == value


def test_container_member_of_a_layout(tmp_path: Path) -> None:
    layout = ClusterLayout(9200, 3)
    overrides = container_settings(extra={"a.b": "c"})
    settings = node_settings(tmp_path, 9201, layout, overrides)
    assert settings == node_settings(tmp_path, 9201, layout) | {
        "http.host": CONTAINER_BIND,
        "a.b": "c",
    }
