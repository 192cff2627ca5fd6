"""What the product creates in a cluster, by name and shape: field names, index mappings, the
ingest pipeline and the search pipelines.

Kept apart from the code that sends them so that ingest, search, the benchmarks and the tests
agree on one spelling, and so that reading a field name never imports an encoder.
"""

from __future__ import annotations

from typing import Any, Literal

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

HYBRID_PIPELINE = "opensearch-sparse-hybrid"
TWO_PHASE_PIPELINE = "opensearch-sparse-two-phase"


def ingest_pipeline_name(index: str) -> str:
    return f"{index}-sparse-encoding"


def index_body(
    pipeline: str | None = None,
    *,
    shards: int = 1,
    replicas: int = 0,
    analyzer: Analyzer = DEFAULT_ANALYZER,
) -> dict[str, Any]:
    """Settings and mappings of a sparse index: BM25 text fields beside the sparse field."""
    settings: dict[str, Any] = {"number_of_shards": shards, "number_of_replicas": replicas}
    if pipeline:
        settings["default_pipeline"] = pipeline
    return {
        "settings": {"index": settings},
        "mappings": {
            "properties": {
                TITLE_FIELD: {"type": "text", "analyzer": analyzer},
                TEXT_FIELD: {"type": "text", "analyzer": analyzer},
                SPARSE_FIELD: {"type": "rank_features"},
            }
        },
    }


def ingest_pipeline_body(
    model_id: str, *, prune_ratio: float | None = None, batch_size: int | None = None
) -> dict[str, Any]:
    """A ``sparse_encoding`` processor: the cluster encodes ``text`` into ``text_sparse``."""
    processor: dict[str, Any] = {"model_id": model_id, "field_map": {TEXT_FIELD: SPARSE_FIELD}}
    if prune_ratio:
        processor.update({"prune_type": "max_ratio", "prune_ratio": prune_ratio})
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
