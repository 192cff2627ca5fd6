"""The embedded local node: artifacts, installation, and the running process."""

from opensearch_sparse.cluster.process import LocalCluster, NodeStatus

__all__ = ["LocalCluster", "NodeStatus"]
