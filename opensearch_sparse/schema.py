"""What the product creates in a cluster, by name and shape: field names, index mappings, the
ingest pipeline and the search pipelines.

Kept apart from the code that sends them so that ingest, search, the benchmarks and the tests
agree on one spelling, and so that reading a field name never imports an encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from opensearch_sparse.pruning import Pruning

TITLE_FIELD = "title"
#: What BM25 searches and the encoder reads: the title (when any) and the body.
TEXT_FIELD = "text"
#: The encoder's token weights (``rank_features``: one Lucene feature per token).
SPARSE_FIELD = "text_sparse"

#: How the text fields are analysed for BM25. ``english`` (stemming, English stop words) is
#: what a user sets up for English text and the strong BM25 the benchmarks compare against;
#: ``standard`` is OpenSearch's default.
Analyzer = Literal["english", "standard"]
ANALYZERS: tuple[str, ...] = ("english", "standard")
DEFAULT_ANALYZER: Analyzer = "english"

#: How the sparse field is indexed (``SparseIndex.kind``): exact ``rank_features`` keyed by
#: token, or a SEISMIC ``sparse_vector`` keyed by vocabulary id.
SparseKind = Literal["rank_features", "seismic"]
SPARSE_KINDS: tuple[str, ...] = ("rank_features", "seismic")
#: The OpenSearch field type behind each kind, as a mapping names it.
FIELD_TYPES: dict[str, SparseKind] = {"rank_features": "rank_features", "sparse_vector": "seismic"}

HYBRID_PIPELINE = "opensearch-sparse-hybrid"
TWO_PHASE_PIPELINE = "opensearch-sparse-two-phase"


def ingest_pipeline_name(index: str) -> str:
    return f"{index}-sparse-encoding"


@dataclass(frozen=True)
class SparseIndex:
    """How the sparse field is indexed: the index options the latency benchmark compares.

    - ``rank_features`` (default): exact scoring; one Lucene feature per token string.
    - ``seismic``: a ``sparse_vector`` field with the SEISMIC approximate index (neural-search
      3.3+): keys are vocabulary ids, each posting list keeps its ``n_postings`` heaviest
      documents in clusters with pruned summaries, and segments under
      ``approximate_threshold`` documents are searched exactly. Weights are quantised to a
      byte up to ``quantization_ceiling_ingest`` (default 3 in neural-search, below this
      encoder's largest weights, hence 5 here). ``summary_prune_ratio`` keeps neural-search's
      0.4; on short documents that costs recall (785k 13-token summaries: recall@10 0.80
      against exact, 0.96 with 1.0, whose summaries bound their documents' scores).
    - ``store_source=False`` leaves the weights out of ``_source`` (smaller index; reindex
      and update then need the text encoded again).
    """

    kind: SparseKind = "rank_features"
    store_source: bool = True
    n_postings: int | None = None
    cluster_ratio: float = 0.1
    summary_prune_ratio: float = 0.4
    approximate_threshold: int = 0
    quantization_ceiling_ingest: float = 5.0
    quantization_ceiling_search: float = 16.0

    def mapping(self) -> dict[str, Any]:
        if self.kind == "rank_features":
            return {"type": "rank_features"}
        parameters: dict[str, Any] = {
            "cluster_ratio": self.cluster_ratio,
            "summary_prune_ratio": self.summary_prune_ratio,
            "approximate_threshold": self.approximate_threshold,
            "quantization_ceiling_ingest": self.quantization_ceiling_ingest,
            "quantization_ceiling_search": self.quantization_ceiling_search,
        }
        if self.n_postings:
            parameters["n_postings"] = self.n_postings
        return {"type": "sparse_vector", "method": {"name": "seismic", "parameters": parameters}}


#: The default sparse field: exact ``rank_features`` with the weights kept in ``_source``.
EXACT = SparseIndex()


def index_body(
    pipeline: str | None = None,
    *,
    shards: int = 1,
    replicas: int = 0,
    analyzer: Analyzer = DEFAULT_ANALYZER,
    sparse: SparseIndex | None = EXACT,
) -> dict[str, Any]:
    """Settings and mappings of a sparse index: BM25 text fields beside the sparse field
    (``sparse=None``: the BM25-only index the benchmarks compare against)."""
    settings: dict[str, Any] = {"number_of_shards": shards, "number_of_replicas": replicas}
    if pipeline:
        settings["default_pipeline"] = pipeline
    properties: dict[str, Any] = {
        TITLE_FIELD: {"type": "text", "analyzer": analyzer},
        TEXT_FIELD: {"type": "text", "analyzer": analyzer},
    }
    mappings: dict[str, Any] = {"properties": properties}
    if sparse is not None:
        properties[SPARSE_FIELD] = sparse.mapping()
        if sparse.kind == "seismic":
            settings["sparse"] = True
        if not sparse.store_source:
            mappings["_source"] = {"excludes": [SPARSE_FIELD]}
    return {"settings": {"index": settings}, "mappings": mappings}


def ingest_pipeline_body(
    model_id: str,
    *,
    prune: Pruning | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """A ``sparse_encoding`` processor: the cluster encodes ``text`` into ``text_sparse``,
    pruned with one of the processor's prune types when asked."""
    processor: dict[str, Any] = {"model_id": model_id, "field_map": {TEXT_FIELD: SPARSE_FIELD}}
    if prune is not None:
        processor.update(prune.processor_fields())
    if batch_size:
        processor["batch_size"] = batch_size
    return {
        "description": f"opensearch-sparse: {TEXT_FIELD} -> {SPARSE_FIELD} with model {model_id}",
        "processors": [{"sparse_encoding": processor}],
    }


def hybrid_pipeline_body(bm25_weight: float = 0.5) -> dict[str, Any]:
    """Min-max normalise BM25 and sparse scores per query, then average them."""
    return {
        "description": "opensearch-sparse hybrid: min-max normalised BM25 + sparse",
        "phase_results_processors": [
            {
                "normalization-processor": {
                    "normalization": {"technique": "min_max"},
                    "combination": {
                        "technique": "arithmetic_mean",
                        "parameters": {"weights": [bm25_weight, 1.0 - bm25_weight]},
                    },
                }
            }
        ],
    }


def two_phase_pipeline_body(
    prune_ratio: float = 0.4, expansion_rate: float = 5.0, max_window_size: int = 10000
) -> dict[str, Any]:
    """neural-search's two-phase processor: high-weight query tokens first, the rest rescored
    on the top ``expansion_rate * k`` documents."""
    return {
        "description": "opensearch-sparse: neural sparse two-phase search",
        "request_processors": [
            {
                "neural_sparse_two_phase_processor": {
                    "enabled": True,
                    "two_phase_parameter": {
                        "prune_ratio": prune_ratio,
                        "expansion_rate": expansion_rate,
                        "max_window_size": max_window_size,
                    },
                }
            }
        ],
    }
