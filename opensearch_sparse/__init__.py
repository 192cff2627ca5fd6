"""opensearch-sparse: inference-free learned sparse retrieval for OpenSearch."""

from opensearch_sparse.client import make_client
from opensearch_sparse.cluster import LocalCluster, NodeStatus
from opensearch_sparse.config import ClusterConfig, NodeConfig
from opensearch_sparse.errors import SparseError

__version__ = "0.1.0"

__all__ = [
    "ClusterConfig",
    "LocalCluster",
    "NodeConfig",
    "NodeStatus",
    "SparseError",
    "make_client",
]
