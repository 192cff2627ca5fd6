"""Create a sparse index (mappings and pipeline from ``schema``) and bulk-ingest on either
path: the cluster encodes (ml-commons model in the pipeline) or Python encodes (onnxruntime).

Ingest is idempotent: the corpus ``_id`` is the document id, so a rerun after a crash
overwrites instead of duplicating, and the run ends by comparing what was sent with what the
index holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opensearchpy import OpenSearch
from opensearchpy.helpers import streaming_bulk

from opensearch_sparse.batching import batched
from opensearch_sparse.corpus import Document
from opensearch_sparse.errors import SparseError
from opensearch_sparse.schema import (
    DEFAULT_ANALYZER,
    EXACT,
    SPARSE_FIELD,
    TEXT_FIELD,
    TITLE_FIELD,
    Analyzer,
    SparseIndex,
    index_body,
    ingest_pipeline_body,
    ingest_pipeline_name,
)

if TYPE_CHECKING:  # onnxruntime loads only when local encoding is asked for
    from opensearch_sparse.encoders import DocumentEncoder
    from opensearch_sparse.pruning import Pruning

logger = logging.getLogger(__name__)


class IngestError(SparseError):
    """The index or pipeline cannot be set up, or documents went missing."""


def create_index(
    client: OpenSearch,
    name: str,
    *,
    model_id: str | None = None,
    prune: Pruning | None = None,
    batch_size: int | None = None,
    replace: bool = False,
    shards: int = 1,
    replicas: int = 0,
    analyzer: Analyzer = DEFAULT_ANALYZER,
    sparse: SparseIndex | None = EXACT,
) -> str | None:
    """Create the index (and, with a model, its ingest pipeline as the default); returns the
    pipeline name. ``sparse`` picks the sparse field's index options (None: BM25 only)."""
    pipeline = ingest_pipeline_name(name) if model_id else None
    if client.indices.exists(index=name):
        if not replace:
            raise IngestError(
                f"index {name} already exists", "pass --replace to drop and recreate it"
            )
        client.indices.delete(index=name)
    if pipeline and model_id:
        client.ingest.put_pipeline(
            id=pipeline,
            body=ingest_pipeline_body(model_id, prune=prune, batch_size=batch_size),
        )
    client.indices.create(
        index=name,
        body=index_body(
            pipeline, shards=shards, replicas=replicas, analyzer=analyzer, sparse=sparse
        ),
    )
    return pipeline


@dataclass
class IngestReport:
    """Counts of one ingest run; ``complete`` says nothing was lost."""

    sent: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    stored: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def complete(self) -> bool:
        return not self.failed and self.stored >= self.sent


def _actions(
    index: str, docs: Iterable[Document], encoder: DocumentEncoder | None, chunk: int
) -> Iterator[dict[str, Any]]:
    # The encoder groups texts by token length: hand it a window of many documents.
    for batch in batched(docs, encoder.window if encoder else chunk):
        weights = encoder.encode([d.content for d in batch]) if encoder else None
        for i, doc in enumerate(batch):
            source: dict[str, Any] = {TITLE_FIELD: doc.title, TEXT_FIELD: doc.content}
            if weights is not None:
                source[SPARSE_FIELD] = weights[i]
            yield {"_index": index, "_id": doc.doc_id, "_source": source}


def ingest(
    client: OpenSearch,
    index: str,
    docs: Iterable[Document],
    *,
    encoder: DocumentEncoder | None = None,
    chunk_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
    request_timeout: float = 600.0,
) -> IngestReport:
    """Bulk-index ``docs``; with ``encoder`` the weights are computed here and the index's
    pipeline is bypassed, otherwise the index's default pipeline encodes them."""
    report = IngestReport()
    started = time.monotonic()
    seen: set[str] = set()

    def tracked() -> Iterator[dict[str, Any]]:
        for action in _actions(index, docs, encoder, chunk_size):
            seen.add(action["_id"])
            yield action

    params: dict[str, Any] = {"pipeline": "_none"} if encoder else {}
    for ok, item in streaming_bulk(
        client,
        tracked(),
        chunk_size=chunk_size,
        max_chunk_bytes=20 * 1024 * 1024,
        raise_on_error=False,
        raise_on_exception=True,
        max_retries=5,
        initial_backoff=1,
        max_backoff=30,
        request_timeout=request_timeout,
        **params,
    ):
        if not ok:
            op = next(iter(item.values()))
            error = op.get("error", {})
            reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
            report.failed.append((str(op.get("_id")), reason))
        if on_progress:
            on_progress(1)
    client.indices.refresh(index=index)
    report.stored = int(client.count(index=index)["count"])
    report.seconds = time.monotonic() - started
    # Duplicated ids in the corpus count once, as they do in the index.
    report.sent = len(seen)
    return report
