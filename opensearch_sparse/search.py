"""Search: sparse (``neural_sparse.query_tokens`` from the client-side encoder), BM25, and
hybrid (both, normalised and combined by a search pipeline the tool creates), with typed hits.

Bad queries never surface as a server 400: a query with nothing to search returns no hits and
a reason; one the server rejects raises ``SearchError`` with the server's reason on one line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError, RequestError, TransportError

from opensearch_sparse.client import ask_again_when_busy, server_reason
from opensearch_sparse.config import SEARCH_RETRY_PAUSES_S
from opensearch_sparse.errors import SparseError
from opensearch_sparse.query_encoder import EncodedQuery, QueryEncoder
from opensearch_sparse.schema import (
    HYBRID_PIPELINE,
    SPARSE_FIELD,
    TEXT_FIELD,
    TITLE_FIELD,
    TWO_PHASE_PIPELINE,
    hybrid_pipeline_body,
    two_phase_pipeline_body,
)
from opensearch_sparse.sparse_field import sparse_kind

Mode = Literal["sparse", "bm25", "hybrid"]
MODES: tuple[str, ...] = ("sparse", "bm25", "hybrid")

#: BM25 queries keep this many words: a pasted page must not exceed the clause limit.
MAX_BM25_WORDS = 256
#: Searches ask for no hit count. OpenSearch counts exactly up to 10,000 hits by default, and
#: until a query has matched that many Lucene cannot skip the blocks whose best score is below
#: the current top k (block-max WAND / MaxScore), so a query over common tokens scores most of
#: their postings. Nothing here shows a total; ``SparseSearch(track_total_hits=...)`` restores
#: counting (10000: OpenSearch's default, True: exact) for a caller that wants it.
TRACK_TOTAL_HITS: bool | int = False
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class SearchError(SparseError):
    """The cluster rejected a search, or the index cannot be searched."""


@dataclass(frozen=True)
class Hit:
    doc_id: str
    score: float
    title: str
    text: str


@dataclass(frozen=True)
class SearchResult:
    """Hits plus where the time went; ``reason`` says why a result is empty or trimmed."""

    mode: str
    hits: list[Hit]
    took_ms: int
    client_ms: float
    encode_ms: float = 0.0
    reason: str | None = None
    query_tokens: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AnnParams:
    """Query parameters of a SEISMIC ``sparse_vector`` field (neural-search 3.3+): the ``top_n``
    highest-weighted query tokens choose the posting lists, clusters whose summary score is
    below the current k-th best divided by ``heap_factor`` are skipped, ``k`` candidates are
    kept (default: the request's size)."""

    top_n: int = 10
    heap_factor: float = 1.0
    k: int | None = None


def sparse_query(weights: dict[str, float]) -> dict[str, Any]:
    return {"neural_sparse": {SPARSE_FIELD: {"query_tokens": weights}}}


def ann_parameters(ann: AnnParams, size: int) -> dict[str, Any]:
    return {"top_n": ann.top_n, "heap_factor": ann.heap_factor, "k": ann.k or size}


def ann_query(weights_by_id: dict[str, float], ann: AnnParams, size: int) -> dict[str, Any]:
    """``neural_sparse`` on a ``sparse_vector`` field: keys are vocabulary ids."""
    parameters = ann_parameters(ann, size)
    return {
        "neural_sparse": {
            SPARSE_FIELD: {"query_tokens": weights_by_id, "method_parameters": parameters}
        }
    }


def server_encoded_query(
    text: str, model_id: str, ann: AnnParams | None = None, size: int = 10
) -> dict[str, Any]:
    """The query text is tokenized and IDF-weighted by a SPARSE_TOKENIZE model in the cluster
    (which asks the model for vocabulary ids itself when the field is SEISMIC)."""
    clause: dict[str, Any] = {"query_text": text, "model_id": model_id}
    if ann is not None:
        clause["method_parameters"] = ann_parameters(ann, size)
    return {"neural_sparse": {SPARSE_FIELD: clause}}


def bm25_query(text: str) -> dict[str, Any]:
    return {"match": {TEXT_FIELD: text}}


#: The search pipelines sparse search uses, by name.
SEARCH_PIPELINES: dict[str, Callable[[], dict[str, Any]]] = {
    HYBRID_PIPELINE: hybrid_pipeline_body,
    TWO_PHASE_PIPELINE: two_phase_pipeline_body,
}


def ensure_search_pipeline(client: OpenSearch, name: str, body: dict[str, Any]) -> None:
    """Create or update pipeline ``name`` unless the cluster already holds exactly ``body``.

    Looking first means a user who may only search (and read pipelines) can use one that a
    user with write rights created, typically with ``index create``.
    """
    try:
        current = client.transport.perform_request("GET", f"/_search/pipeline/{name}")
        if isinstance(current, dict) and current.get(name) == body:
            return
    except NotFoundError:
        pass
    client.transport.perform_request("PUT", f"/_search/pipeline/{name}", body=body)


def ensure_search_pipelines(client: OpenSearch) -> list[str]:
    """Every search pipeline of ``SEARCH_PIPELINES``, up to date; returns their names."""
    for name, body in SEARCH_PIPELINES.items():
        ensure_search_pipeline(client, name, body())
    return list(SEARCH_PIPELINES)


def clean_text(text: str) -> str:
    """Control characters out, whitespace collapsed."""
    return " ".join(_CONTROL.sub(" ", text).split())


class SparseSearch:
    """Search one index in any mode; creates the search pipelines it needs on first use."""

    def __init__(
        self,
        client: OpenSearch,
        index: str,
        encoder: QueryEncoder | None,
        *,
        tokenizer_model_id: str | None = None,
        ann: AnnParams | None = None,
        track_total_hits: bool | int = TRACK_TOTAL_HITS,
    ) -> None:
        self.client = client
        self.track_total_hits = track_total_hits
        self.index = index
        self.encoder = encoder
        #: Query parameters used if the index's sparse field is SEISMIC (``sparse_vector``,
        #: vocabulary ids as keys); its mapping says so, read on the first sparse search.
        self.ann = ann or AnnParams()
        self._seismic: bool | None = None
        #: With a SPARSE_TOKENIZE model id, sparse queries are encoded by the cluster instead.
        self.tokenizer_model_id = tokenizer_model_id
        self._pipelines: set[str] = set()

    def ensure_pipeline(self, name: str, body: dict[str, Any]) -> str:
        if name not in self._pipelines:
            ensure_search_pipeline(self.client, name, body)
            self._pipelines.add(name)
        return name

    def approximate(self) -> AnnParams | None:
        """The SEISMIC query parameters when the index is SEISMIC, else None (read once)."""
        if self._seismic is None:
            self._seismic = sparse_kind(self.client, self.index) == "seismic"
        return self.ann if self._seismic else None

    def encode(self, text: str) -> EncodedQuery:
        if self.encoder is None:
            raise SearchError(
                "sparse and hybrid search need the query encoder (tokenizer + IDF table)",
                "pass --model (exported zip or folder) and --idf idf.json",
            )
        return self.encoder.encode(text)

    def search(
        self,
        text: str,
        mode: str = "sparse",
        k: int = 10,
        *,
        two_phase: bool = False,
        encoded: EncodedQuery | None = None,
    ) -> SearchResult:
        """Search ``text`` in ``mode``. ``encoded`` is ``text`` already through ``encode``, for
        callers that keep encodings (repeated queries, paging) or time the request alone;
        ``text`` still gives the BM25 side and the result's notes."""
        if mode not in MODES:
            raise SearchError(f"unknown mode {mode!r}", f"use one of {', '.join(MODES)}")
        if k < 1 or k > 10000:
            raise SearchError(f"k={k} is out of range", "use 1 <= k <= 10000")
        started = time.perf_counter()
        text = clean_text(text)
        if not text:
            return self._empty(mode, started, 0.0, "the query is empty")
        notes: list[str] = []
        words = text.split()
        bm25_text = " ".join(words[:MAX_BM25_WORDS])
        if len(words) > MAX_BM25_WORDS and mode != "sparse":
            notes.append(f"BM25 used the first {MAX_BM25_WORDS} of {len(words)} words")
        if mode == "bm25" or self.tokenizer_model_id:
            encoded = EncodedQuery({})
        else:
            encoded = encoded if encoded is not None else self.encode(text)
            if encoded.dropped_tokens:
                notes.append(f"kept the {len(encoded.weights)} highest-IDF query tokens")
            if encoded.empty:
                if mode == "sparse":
                    return self._empty(
                        mode, started, _ms(started), "the query has no searchable tokens"
                    )
                notes.append("no sparse tokens: BM25 only")
        encode_ms = _ms(started)
        query, params = self._request(mode, text, bm25_text, encoded, two_phase, k)
        body = {
            "size": k,
            "query": query,
            "_source": [TITLE_FIELD, TEXT_FIELD],
            "track_total_hits": self.track_total_hits,
        }
        try:
            resp = self._send(body, params)
        except NotFoundError as exc:
            if "index_not_found" in str(exc.error):
                raise SearchError(
                    f"index {self.index} does not exist",
                    "create it with `opensearch-sparse index create`, then fill it with "
                    "`opensearch-sparse ingest` (or check the name: `GET _cat/indices`)",
                ) from exc
            # e.g. an unknown model id given to --server-encode
            raise SearchError(
                f"the {mode} query names something the cluster does not have (404): "
                f"{server_reason(exc)}",
                "check the model id (`opensearch-sparse model list`)",
            ) from exc
        except (RequestError, TransportError) as exc:
            reason = server_reason(exc)
            raise SearchError(
                f"the cluster rejected the {mode} query: {reason}",
                # Token-keyed weights sent to a SEISMIC field whose mapping was not readable.
                f"let this user read {self.index}'s field mappings, so that its SEISMIC "
                "field gets vocabulary ids"
                if "should be valid integer" in reason
                else None,
            ) from exc
        hits = [
            Hit(
                doc_id=str(h["_id"]),
                score=float(h["_score"]),
                title=str(h.get("_source", {}).get(TITLE_FIELD, "")),
                text=str(h.get("_source", {}).get(TEXT_FIELD, "")),
            )
            for h in resp["hits"]["hits"]
        ]
        return SearchResult(
            mode=mode,
            hits=hits,
            took_ms=int(resp.get("took", 0)),
            client_ms=_ms(started),
            encode_ms=encode_ms,
            reason="; ".join(notes) or (None if hits else "no document matched"),
            query_tokens=encoded.weights,
        )

    def _send(self, body: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """One search, asked again after a busy or restarting node's refusal (see
        ``SEARCH_RETRY_PAUSES_S``); any other error, or the last refusal, is raised."""
        response: dict[str, Any] = ask_again_when_busy(
            partial(self.client.search, index=self.index, body=body, params=params),
            SEARCH_RETRY_PAUSES_S,
        )
        return response

    def _request(
        self,
        mode: str,
        text: str,
        bm25_text: str,
        encoded: EncodedQuery,
        two_phase: bool,
        k: int,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The query body and URL parameters (search pipeline) for one search."""
        if mode == "bm25" or (encoded.empty and not self.tokenizer_model_id):
            return bm25_query(bm25_text), {}
        ann = self.approximate()
        if ann is not None and two_phase:
            raise SearchError(
                f"two-phase search does not apply to {self.index}: its sparse field is SEISMIC",
                "search without --two-phase: SEISMIC already searches with the top query "
                "tokens only (--top-n)",
            )
        if self.tokenizer_model_id:
            sparse = server_encoded_query(text, self.tokenizer_model_id, ann, k)
        elif ann is not None and self.encoder is not None:
            sparse = ann_query(self.encoder.ids(encoded.weights), ann, k)
        else:
            sparse = sparse_query(encoded.weights)
        if mode == "hybrid":
            pipeline = self.ensure_pipeline(HYBRID_PIPELINE, hybrid_pipeline_body())
            return {"hybrid": {"queries": [bm25_query(bm25_text), sparse]}}, {
                "search_pipeline": pipeline
            }
        if two_phase:
            pipeline = self.ensure_pipeline(TWO_PHASE_PIPELINE, two_phase_pipeline_body())
            return sparse, {"search_pipeline": pipeline}
        return sparse, {}

    def _empty(self, mode: str, started: float, encode_ms: float, reason: str) -> SearchResult:
        return SearchResult(mode, [], 0, _ms(started), encode_ms, reason)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
