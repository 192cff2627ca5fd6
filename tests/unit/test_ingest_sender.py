"""The bulk sender's logic (no server needed): back-off on transient failures, bisection of a
request-level refusal down to the one document that causes it, item-level retries."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from opensearchpy.exceptions import ConnectionError, TransportError

from opensearch_sparse.ingest import IngestError, IngestReport, _Action, _Sender


class ScriptedCluster:
    """Answers bulk requests by a rule, and records every request's ids."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[list[str]] = []

    def bulk(self, body: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        ids = [line["index"]["_id"] for line in body[::2]]
        self.requests.append(ids)
        return self.answer(ids, len(self.requests))


def _ok(ids: list[str]) -> dict[str, Any]:
    return {"items": [{"index": {"_id": i, "status": 201}} for i in ids]}


def _send(cluster: ScriptedCluster, ids: list[str]) -> IngestReport:
    report = IngestReport()
    sender = _Sender(cluster, "ix", {}, report, 10.0)  # type: ignore[arg-type]
    sender.send([_Action(i, n + 1, {"text": i}) for n, i in enumerate(ids)])
    return report


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    # The package re-exports the function ``ingest``; the module is what holds ``time``.
    module = importlib.import_module("opensearch_sparse.ingest")
    monkeypatch.setattr(module.time, "sleep", lambda s: None)


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, "action_request_validation_exception"), (413, "content_too_long_exception")],
)
def test_a_request_refused_for_one_document_is_bisected_to_it(status: int, error: str) -> None:
    """An over-long id (400) or a document over http.max_content_length (413) makes the
    cluster refuse the whole request: only that document fails."""

    def answer(ids: list[str], n: int) -> dict[str, Any]:
        if "bad" in ids:
            raise TransportError(status, error, {"error": {"type": error, "reason": "refused"}})
        return _ok(ids)

    cluster = ScriptedCluster(answer)
    report = _send(cluster, ["a", "b", "c", "bad", "d", "e", "f", "g"])
    assert [(r.doc_id, r.line) for r in report.failed] == [("bad", 4)]
    assert report.failed[0].reason == f"{status}: {error}: refused"
    stored = {i for ids in cluster.requests[1:] for i in ids if "bad" not in ids}
    assert stored == {"a", "b", "c", "d", "e", "f", "g"}


def test_busy_cluster_is_retried_with_back_off() -> None:
    def answer(ids: list[str], n: int) -> dict[str, Any]:
        if n == 1:
            raise TransportError(429, "rejected", {})
        if n == 2:
            raise ConnectionError("N/A", "connection reset", None)
        return _ok(ids)

    report = _send(ScriptedCluster(answer), ["a", "b"])
    assert report.failed == [] and report.retries == 2


def test_item_level_429s_are_sent_again_alone() -> None:
    def answer(ids: list[str], n: int) -> dict[str, Any]:
        items = [
            {"index": {"_id": i, "status": 429 if (i == "b" and n == 1) else 201}} for i in ids
        ]
        return {"items": items}

    cluster = ScriptedCluster(answer)
    report = _send(cluster, ["a", "b", "c"])
    assert cluster.requests == [["a", "b", "c"], ["b"]]
    assert report.failed == []


def test_item_errors_fail_alone_with_the_server_reason() -> None:
    def answer(ids: list[str], n: int) -> dict[str, Any]:
        error = {"type": "mapper_parsing_exception", "reason": "failed to parse [text_sparse]"}
        items = [
            {"index": {"_id": i, "status": 400, "error": error}}
            if i == "x"
            else _ok([i])["items"][0]["index"]
            for i in ids
        ]
        return {"items": [it if "index" in it else {"index": it} for it in items]}

    report = _send(ScriptedCluster(answer), ["a", "x", "c"])
    assert [(r.doc_id, r.line) for r in report.failed] == [("x", 2)]
    assert report.failed[0].reason == "mapper_parsing_exception: failed to parse [text_sparse]"


def test_a_cluster_that_stays_down_ends_in_one_clear_error() -> None:
    def answer(ids: list[str], n: int) -> dict[str, Any]:
        raise ConnectionError("N/A", "connection refused", None)

    with pytest.raises(IngestError, match="retries") as caught:
        _send(ScriptedCluster(answer), ["a"])
    assert caught.value.fix and "idempotent" in caught.value.fix


def test_a_model_on_a_dead_worker_is_retried_not_failed() -> None:
    # What the pipeline answers while ml-commons notices that a worker node died.
    def answer(ids: list[str], n: int) -> dict[str, Any]:
        answers = _ok(ids)
        if n == 1:
            error = {"type": "illegal_argument_exception", "reason": "Model not ready yet."}
            answers["items"][0]["index"].update(status=400, error=error)
        return answers

    cluster = ScriptedCluster(answer)
    report = _send(cluster, ["a", "b"])
    assert cluster.requests == [["a", "b"], ["a"]] and report.failed == []
