"""One node in the foreground, as a container's main process (``cluster serve``).

It is the embedded node, not a look-alike: the same distribution (``install.install``, which
the image runs at build time), the same ``opensearch.yml`` and the same staged libtorch
(``install.prepare_node``), one node or one of a ``ClusterLayout`` as for ``cluster start
--nodes N``. Only HTTP differs: it listens on every interface of the container. Python is
replaced by OpenSearch (``exec``), so the container's stop signal reaches the JVM itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import NoReturn

from opensearch_sparse.cluster import install
from opensearch_sparse.cluster.process import LocalCluster
from opensearch_sparse.progress import Status, quiet

logger = logging.getLogger(__name__)

#: A container's node serves HTTP on every interface of its container; the compose files
#: publish the port on the host's loopback only.
CONTAINER_BIND = "0.0.0.0"


def container_settings(
    *, bind: str = CONTAINER_BIND, extra: Mapping[str, str] | None = None
) -> dict[str, object | None]:
    """What ``cluster serve`` changes in the embedded node's settings (None drops a setting).

    Only HTTP leaves loopback. Transport stays on 127.0.0.1, as for the embedded node: the
    nodes of a multi-node cluster share one network namespace (compose's ``network_mode:
    service:...``) and find each other exactly as ``cluster start --nodes N`` does, so
    OpenSearch's production bootstrap checks (file descriptors, vm.max_map_count, which a
    container often cannot raise) apply no more than they do to the embedded node.
    """
    settings: dict[str, object | None] = {"http.host": bind}
    settings.update(extra or {})
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
        node.layout,
        overrides,
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
