"""One node in the foreground, as a container's main process (``cluster serve``).

It is the embedded node, not a look-alike: the same distribution (``install.install``, which
the image runs at build time), the same ``opensearch.yml`` and the same staged libtorch
(``install.prepare_node``). Only the network differs: the node binds every interface of its
container, and a node of a multi-container cluster finds its peers by host name. Python is
replaced by OpenSearch (``exec``), so the container's stop signal reaches the JVM itself.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, Sequence
from typing import NoReturn

from opensearch_sparse.cluster import install
from opensearch_sparse.cluster.process import LocalCluster
from opensearch_sparse.errors import NodeStartError
from opensearch_sparse.progress import Status, quiet

logger = logging.getLogger(__name__)

#: A container's node listens on every interface of the container; the compose files publish
#: its port on the host's loopback only.
CONTAINER_BIND = "0.0.0.0"


def container_settings(
    *,
    bind: str = CONTAINER_BIND,
    node_name: str | None = None,
    peers: Sequence[str] = (),
    extra: Mapping[str, str] | None = None,
) -> dict[str, object | None]:
    """What ``cluster serve`` changes in the embedded node's settings (None drops a setting).

    With ``peers`` (host names, this node's among them) the nodes form one cluster, every
    one cluster-manager eligible, instead of each being a single-node cluster.
    """
    settings: dict[str, object | None] = {"network.host": bind}
    if peers:
        name = node_name or socket.gethostname()
        if name not in peers:
            raise NodeStartError(
                f"this node ({name}) is not among its peers ({', '.join(peers)})",
                "pass --node-name with this container's host name, as listed in --peers",
            )
        settings |= {
            "discovery.type": None,
            "node.name": name,
            "discovery.seed_hosts": list(peers),
            "cluster.initial_cluster_manager_nodes": list(peers),
        }
    elif node_name:
        settings["node.name"] = node_name
    settings |= dict(extra or {})
    return settings


def serve(
    node: LocalCluster,
    overrides: Mapping[str, object | None],
    progress: Status = quiet,
) -> NoReturn:
    """Write the node's configuration and become the node (never returns)."""
    dist, java = node.install(progress)
    install.prepare_node(
        dist,
        node.node_dir,
        node.config.port,
        node.config.heap,
        node.config.home,
        overrides=overrides,
    )
    env = node.node_env(java)
    owner = install.service_user()
    # 3.x loads its java agent by a path relative to the working directory.
    os.chdir(dist)
    if owner:  # run as root (e.g. `docker run --user root`): the node refuses root
        os.setgroups([])
        os.setgid(owner[1])
        os.setuid(owner[0])
    binary = str(dist / "bin" / "opensearch")
    logger.info("exec %s for %s", binary, node.node_dir)
    os.execve(binary, [binary], env)
