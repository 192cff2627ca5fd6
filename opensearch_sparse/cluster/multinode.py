"""A local cluster of several nodes on loopback: the road for users who outgrow one machine,
with the same commands (``cluster start --nodes 3``; every other command takes the nodes'
URLs, comma-separated, and fails over between them).

Each member is an ordinary ``LocalCluster`` (own folder, state file, identity checks) that
shares the distribution; the cluster's own file, ``<home>/clusters/cluster-<port>.json``,
lists its members so that ``cluster status`` and ``cluster stop --port P`` cover them all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from opensearch_sparse import config
from opensearch_sparse.cluster.layout import ClusterLayout
from opensearch_sparse.cluster.process import LocalCluster, NodeStatus, port_free
from opensearch_sparse.errors import PortInUseError
from opensearch_sparse.progress import Status, quiet


@dataclass
class MultiNodeCluster:
    layout: ClusterLayout
    members: list[LocalCluster]
    home: Path

    @classmethod
    def create(
        cls,
        port: int,
        nodes: int,
        *,
        home: Path | None = None,
        heap: str | None = None,
        start_timeout_s: float | None = None,
    ) -> MultiNodeCluster:
        layout = ClusterLayout(port, nodes)
        members = [
            LocalCluster(
                port=p, home=home, heap=heap, start_timeout_s=start_timeout_s, layout=layout
            )
            for p in layout.http_ports
        ]
        return cls(layout, members, members[0].config.home)

    @classmethod
    def find(cls, port: int, home: Path | None = None) -> MultiNodeCluster | None:
        """The cluster whose first HTTP port is ``port``, when one was started there."""
        root = home or config.NodeConfig().home
        try:
            saved = json.loads(cluster_file(root, port).read_text())
        except (OSError, ValueError):
            return None
        return cls.create(port, int(saved["nodes"]), home=root)

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated: what ``--url`` takes for failover."""
        return ",".join(self.layout.urls)

    def is_running(self) -> bool:
        return any(member.is_running() for member in self.members)

    def start(self, progress: Status = quiet) -> None:
        """Start every node that is not running and wait until each one serves requests.

        Nodes start together: with three cluster-manager-eligible nodes, none is ready until
        two of them have elected a manager.
        """
        for member in self.members:
            if not member.is_running() and not port_free(member.config.port):
                raise PortInUseError(
                    f"port {member.config.port} on 127.0.0.1 is already in use",
                    f"pick a --port whose {self.layout.nodes} following ports are free",
                )
        dist, java = self.members[0].install(progress)
        cluster_file(self.home, self.layout.base_port).parent.mkdir(parents=True, exist_ok=True)
        cluster_file(self.home, self.layout.base_port).write_text(
            json.dumps({"nodes": self.layout.nodes, "urls": self.layout.urls}, indent=2)
        )
        for member in self.members:
            if not member.is_running():
                progress(f"starting the node on port {member.config.port}")
                member.spawn(dist, java)
        for member in self.members:
            member.wait_ready(progress)

    def stop(self) -> bool:
        """Stop every node; False when none was running. The cluster's data stays."""
        stopped = [member.stop() for member in self.members]
        return any(stopped)

    def status(self) -> list[NodeStatus]:
        return [member.status() for member in self.members]


def cluster_file(home: Path, port: int) -> Path:
    return home / "clusters" / f"cluster-{port}.json"
