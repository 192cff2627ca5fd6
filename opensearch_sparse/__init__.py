"""opensearch-sparse: inference-free learned sparse retrieval for OpenSearch.

The main classes are importable from here; each loads on first use, so ``import
opensearch_sparse`` (and the CLI's ``--help``) stays free of opensearch-py and onnxruntime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "ClusterConfig": "config",
    "NodeConfig": "config",
    "SparseError": "errors",
    "make_client": "client",
    "LocalCluster": "cluster",
    "NodeStatus": "cluster",
    "SecureCluster": "cluster.secure",
    "ModelPackage": "model_package",
    "resolve_zip": "model_package",
    "MLCommons": "mlcommons",
    "create_index": "ingest",
    "ingest": "ingest",
    "IngestReport": "ingest",
    "Document": "corpus",
    "read_corpus": "corpus",
    "DocumentEncoder": "encoders",
    "IdfTable": "idf",
    "QueryEncoder": "query_encoder",
    "SparseSearch": "search",
    "SearchResult": "search",
    "Hit": "search",
    "run_demo": "demo",
}

__all__ = [
    "ClusterConfig",
    "Document",
    "DocumentEncoder",
    "Hit",
    "IdfTable",
    "IngestReport",
    "LocalCluster",
    "MLCommons",
    "ModelPackage",
    "NodeConfig",
    "NodeStatus",
    "QueryEncoder",
    "SearchResult",
    "SecureCluster",
    "SparseError",
    "SparseSearch",
    "create_index",
    "ingest",
    "make_client",
    "read_corpus",
    "resolve_zip",
    "run_demo",
]

if TYPE_CHECKING:
    from opensearch_sparse.client import make_client
    from opensearch_sparse.cluster import LocalCluster, NodeStatus
    from opensearch_sparse.cluster.secure import SecureCluster
    from opensearch_sparse.config import ClusterConfig, NodeConfig
    from opensearch_sparse.corpus import Document, read_corpus
    from opensearch_sparse.demo import run_demo
    from opensearch_sparse.encoders import DocumentEncoder
    from opensearch_sparse.errors import SparseError
    from opensearch_sparse.idf import IdfTable
    from opensearch_sparse.ingest import IngestReport, create_index, ingest
    from opensearch_sparse.mlcommons import MLCommons
    from opensearch_sparse.model_package import ModelPackage, resolve_zip
    from opensearch_sparse.query_encoder import QueryEncoder
    from opensearch_sparse.search import Hit, SearchResult, SparseSearch


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'opensearch_sparse' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"opensearch_sparse.{_EXPORTS[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value
