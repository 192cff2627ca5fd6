"""Where the nodes of a local cluster listen and how they find each other (pure, no I/O).

One node: the historical single-node layout (``discovery.type: single-node``). N nodes on
loopback: HTTP on P, P+1, ..., transport on P+100, P+101, ... (9200 -> 9300, as OpenSearch's
own defaults pair them), every node cluster-manager eligible, data and ML node, seeded with the
others' transport ports. The cluster name carries the first port so two local clusters never
join each other.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Transport port = HTTP port + this offset.
TRANSPORT_OFFSET = 100
MAX_NODES = 9


@dataclass(frozen=True)
class ClusterLayout:
    base_port: int
    nodes: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.nodes <= MAX_NODES:
            raise ValueError(f"a local cluster has 1 to {MAX_NODES} nodes, not {self.nodes}")

    @property
    def http_ports(self) -> list[int]:
        return [self.base_port + i for i in range(self.nodes)]

    def transport_port(self, http_port: int) -> int:
        return http_port + TRANSPORT_OFFSET

    def node_name(self, http_port: int) -> str:
        return f"opensearch-sparse-{http_port}"

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.http_ports]

    def settings(self, http_port: int) -> dict[str, object]:
        """The discovery part of ``opensearch.yml`` for the node on ``http_port``."""
        if self.nodes == 1:
            return {"cluster.name": "opensearch-sparse", "discovery.type": "single-node"}
        return {
            "cluster.name": f"opensearch-sparse-{self.base_port}",
            "transport.port": str(self.transport_port(http_port)),
            "discovery.seed_hosts": [
                f"127.0.0.1:{self.transport_port(port)}" for port in self.http_ports
            ],
            "cluster.initial_cluster_manager_nodes": [
                self.node_name(port) for port in self.http_ports
            ],
        }
