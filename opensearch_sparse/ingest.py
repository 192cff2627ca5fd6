"""Create a sparse index (mappings and pipeline from ``schema``) and bulk-ingest on either
path: the cluster encodes (ml-commons model in the pipeline) or Python encodes (onnxruntime).

Ingest is idempotent: the corpus ``_id`` is the document id, so a rerun after a crash
overwrites instead of duplicating. Nothing is lost silently: a document the cluster refuses
fails alone with its line and reason, transient failures are retried, and the run ends by
checking that each of its ids is in the index.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError, ConnectionTimeout, TransportError

from opensearch_sparse.batching import batched
from opensearch_sparse.client import TRANSIENT_STATUS, is_transient
from opensearch_sparse.config import INGEST_BACKOFF_MAX_S, INGEST_BACKOFF_S, INGEST_RETRIES
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
from opensearch_sparse.sparse_field import sparse_kind

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
    # Built first: a setting the processor refuses must not cost an existing index.
    pipeline_body = (
        ingest_pipeline_body(model_id, prune=prune, batch_size=batch_size) if model_id else None
    )
    if client.indices.exists(index=name):
        if not replace:
            raise IngestError(
                f"index {name} already exists", "pass --replace to drop and recreate it"
            )
        client.indices.delete(index=name)
    if pipeline and pipeline_body:
        client.ingest.put_pipeline(id=pipeline, body=pipeline_body)
    client.indices.create(
        index=name,
        body=index_body(
            pipeline, shards=shards, replicas=replicas, analyzer=analyzer, sparse=sparse
        ),
    )
    return pipeline


@dataclass(frozen=True)
class Rejected:
    """A document the cluster refused, alone: its id, corpus line (0: unknown) and reason."""

    doc_id: str
    line: int
    reason: str


@dataclass
class IngestReport:
    """What one run did with *its own* documents, counted by id (documents that were already
    in the index neither hide a missing one nor count as stored)."""

    sent: int = 0
    stored: int = 0
    failed: list[Rejected] = field(default_factory=list)
    #: Later lines whose id an earlier line of this run had: the index keeps only the last
    #: document with an id, so the earlier one is replaced, and that is said, not silent.
    duplicates: list[Rejected] = field(default_factory=list)
    retries: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def complete(self) -> bool:
        return not self.failed and not self.duplicates and self.stored == self.sent


@dataclass(frozen=True)
class _Action:
    doc_id: str
    line: int
    source: dict[str, Any]


def _actions(
    docs: Iterable[Document], encoder: DocumentEncoder | None, chunk: int, *, by_id: bool
) -> Iterator[_Action]:
    """Bulk actions; with ``encoder`` the weights go in keyed by token, or by vocabulary id
    (``by_id``) for a SEISMIC field, which also refuses an empty vector: a document encoded
    (or pruned) to nothing goes in without the field, as the ingest pipeline stores it."""
    # The encoder groups texts by token length: hand it a window of many documents.
    for batch in batched(docs, encoder.window if encoder else chunk):
        weights = encoder.encode([d.content for d in batch], by_id=by_id) if encoder else None
        for i, doc in enumerate(batch):
            source: dict[str, Any] = {TITLE_FIELD: doc.title, TEXT_FIELD: doc.content}
            if weights is not None and (weights[i] or not by_id):
                source[SPARSE_FIELD] = weights[i]
            yield _Action(doc.doc_id, doc.line, source)


#: Item errors that a node leaving or (re)joining causes, worth another try like a 429: the
#: ingest pipeline's model on a worker that just died, or a shard between nodes.
TRANSIENT_REASONS = (
    "Model not ready yet",
    "node_not_connected_exception",
    "node_closed_exception",
    "unavailable_shards_exception",
    "no_shard_available_action_exception",
)
#: Whole-request refusals that one bad document can cause: split the batch to find it.
SPLIT_STATUS = frozenset({400, 413})


class _Sender:
    """Sends batches; retries transient failures with back-off and isolates bad documents.

    A request-level refusal (400, 413) of a batch is bisected until the document that causes it
    fails alone, so the rest of its batch is stored. opensearch-py's ``streaming_bulk`` raises
    on those instead, losing the batch.
    """

    def __init__(
        self,
        client: OpenSearch,
        index: str,
        params: dict[str, Any],
        report: IngestReport,
        request_timeout: float,
    ) -> None:
        self.client, self.index, self.params, self.report = client, index, params, report
        self.request_timeout = request_timeout

    def send(self, batch: list[_Action], attempt: int = 0) -> None:
        try:
            response = self._bulk(batch)
        except TransportError as exc:
            status = exc.status_code if isinstance(exc.status_code, int) else 0
            if status not in SPLIT_STATUS:
                raise
            if len(batch) > 1:
                half = len(batch) // 2
                self.send(batch[:half])
                self.send(batch[half:])
            else:
                self._reject(batch[0], f"{status}: {_reason(exc.info) or exc.error}")
            return
        again: list[tuple[_Action, str]] = []
        for action, item in zip(batch, response["items"], strict=True):
            result = next(iter(item.values()))
            reason = _reason(result["error"]) if "error" in result else ""
            if result.get("status") in TRANSIENT_STATUS or any(
                marker in reason for marker in TRANSIENT_REASONS
            ):
                again.append((action, reason or f"status {result.get('status')}"))
            elif reason:
                self._reject(action, reason)
        if again:
            if attempt >= INGEST_RETRIES:
                for action, reason in again:
                    self._reject(action, f"still failing after {INGEST_RETRIES} retries: {reason}")
                return
            self._pause(attempt)
            self.send([action for action, _ in again], attempt + 1)

    def _bulk(self, batch: list[_Action]) -> dict[str, Any]:
        body: list[dict[str, Any]] = []
        for action in batch:
            body.append({"index": {"_index": self.index, "_id": action.doc_id}})
            body.append(action.source)
        attempt = 0
        while True:
            try:
                response: dict[str, Any] = self.client.bulk(
                    body=body, params={**self.params, "request_timeout": self.request_timeout}
                )
                return response
            except (ConnectionError, ConnectionTimeout) as exc:
                failure: Exception = exc
            except TransportError as exc:
                if not is_transient(exc):
                    raise
                failure = exc
            if attempt == INGEST_RETRIES:
                raise IngestError(
                    f"the cluster did not take a batch after {INGEST_RETRIES} retries: {failure}",
                    "check that the cluster is up and healthy, then rerun the same command: "
                    "ingest is idempotent",
                ) from failure
            self._pause(attempt)
            attempt += 1

    def _pause(self, attempt: int) -> None:
        self.report.retries += 1
        time.sleep(min(INGEST_BACKOFF_S * 2**attempt, INGEST_BACKOFF_MAX_S))

    def _reject(self, action: _Action, reason: str) -> None:
        self.report.failed.append(Rejected(action.doc_id, action.line, reason))


def _reason(error: Any) -> str:
    """``type: reason`` (and the root cause's, when it differs) from an OpenSearch error."""
    if not isinstance(error, dict):
        return str(error)
    if "error" in error:
        return _reason(error["error"])
    text = f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
    cause = error.get("caused_by")
    if isinstance(cause, dict) and cause.get("reason") and cause["reason"] not in text:
        text += f" (caused by {cause.get('type')}: {cause['reason']})"
    return text


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
    """Bulk-index ``docs``; with ``encoder`` the weights are computed here (keyed as the
    index's sparse field wants them) and the index's pipeline is bypassed, otherwise the
    index's default pipeline encodes them.

    A refused document fails alone (``report.failed``, with its corpus line); transient
    failures are retried with back-off; ``report.stored`` counts this run's ids found in the
    index afterwards.
    """
    report = IngestReport()
    started = time.monotonic()
    seen: set[str] = set()
    params: dict[str, Any] = {"pipeline": "_none"} if encoder else {}
    sender = _Sender(client, index, params, report, request_timeout)
    by_id = encoder is not None and sparse_kind(client, index) == "seismic"
    for batch in batched(_actions(docs, encoder, chunk_size, by_id=by_id), chunk_size):
        for action in batch:
            if action.doc_id in seen:
                reason = "an earlier line has the same _id: that document is replaced by this one"
                report.duplicates.append(Rejected(action.doc_id, action.line, reason))
            seen.add(action.doc_id)
        sender.send(list(batch))
        if on_progress:
            on_progress(len(batch))
    client.indices.refresh(index=index)
    failed = {r.doc_id for r in report.failed}
    report.stored = _count_present(client, index, sorted(seen - failed))
    report.seconds = time.monotonic() - started
    # Duplicated ids count once, as they do in the index (and are listed in duplicates).
    report.sent = len(seen)
    return report


def _count_present(client: OpenSearch, index: str, ids: list[str], chunk: int = 1000) -> int:
    """How many of ``ids`` the index holds (an ``ids`` query per chunk)."""
    present = 0
    for part in batched(ids, chunk):
        body = {"query": {"ids": {"values": list(part)}}}
        present += int(client.count(index=index, body=body)["count"])
    return present
