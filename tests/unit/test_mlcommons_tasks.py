"""What a deploy task's state means: the task documents below are shaped like the ones
ml-commons 3.x writes (TransportForwardAction: COMPLETED_WITH_ERROR with a JSON object of node
id to message when some nodes failed, FAILED when all did); and a busy node's answer to the
poll, which is waited out."""

from __future__ import annotations

import json
import time

import pytest
from opensearchpy.exceptions import TransportError

from opensearch_sparse.mlcommons import deploy_outcome, patiently, unless_busy

DUPLICATE = "Duplicate deploy model task"
CONFLICT = (
    "[k4PSGqIByAYOmACA9o6Y]: version conflict, required seqNo [121], primary term [23]. "
    "current document has seqNo [122] and primary term [23]"
)


def task(state: str, **errors: str) -> dict[str, object]:
    doc: dict[str, object] = {"state": state, "task_type": "DEPLOY_MODEL"}
    if errors:
        doc["error"] = json.dumps(errors)
    return doc


@pytest.mark.parametrize("state", ["CREATED", "RUNNING"])
def test_a_task_in_progress_is_waited_for(state: str) -> None:
    assert deploy_outcome(task(state)) == ("running", "")


def test_completed_is_done() -> None:
    assert deploy_outcome(task("COMPLETED")) == ("done", "")


def test_a_partial_deploy_that_lost_races_is_asked_again() -> None:
    """The 3-node case that timed out: two nodes lost to ml-commons' own auto-redeploy."""
    assert deploy_outcome(task("COMPLETED_WITH_ERROR", n1=DUPLICATE, n2=DUPLICATE))[0] == "again"
    assert deploy_outcome(task("FAILED", n1=DUPLICATE, n2=CONFLICT, n3=DUPLICATE))[0] == "again"


def test_a_node_whose_model_state_another_deploy_changed_is_asked_again() -> None:
    """CI's 3-node run: one node found the model DEPLOY_FAILED by the auto-redeploy's task."""
    changed = (
        "This method should only be called when model is in DEPLOYING state, but the model is "
        "in state: DEPLOY_FAILED"
    )
    assert deploy_outcome(task("FAILED", n1=changed, n2=DUPLICATE, n3=DUPLICATE))[0] == "again"


def test_a_node_that_rebuilt_the_zip_onto_a_stale_one_is_asked_to_download_again() -> None:
    """The 3-node run that failed in CI: a zip left by a cut-off deploy, appended to."""
    stale = "model content changed"
    assert deploy_outcome(task("COMPLETED_WITH_ERROR", n1=stale))[0] == "refetch"
    assert deploy_outcome(task("FAILED", n1=stale, n2=DUPLICATE, n3=stale))[0] == "refetch"
    assert deploy_outcome(task("CANCELLED", n1=stale))[0] == "failed"
    assert deploy_outcome(task("FAILED", n1=stale, n2="out of memory"))[0] == "failed"


def test_a_plain_text_error_is_read_too() -> None:
    assert deploy_outcome({"state": "FAILED", "error": CONFLICT}) == ("again", CONFLICT)
    assert deploy_outcome({"state": "FAILED", "error": "model content hash mismatch"}) == (
        "failed",
        "model content hash mismatch",
    )


def test_a_real_failure_on_some_nodes_is_an_error_that_says_so() -> None:
    status, error = deploy_outcome(task("COMPLETED_WITH_ERROR", n1=DUPLICATE, n2="out of memory"))
    assert status == "failed"
    assert error.startswith("deployed on some nodes only: ")
    assert "out of memory" in error


def test_a_failure_on_every_node_carries_the_servers_text() -> None:
    status, error = deploy_outcome(task("FAILED", n1="Exceed max local model per node limit"))
    assert status == "failed" and "Exceed max local model per node limit" in error
    assert deploy_outcome({"state": "FAILED"}) == ("failed", "no error message")


def test_a_cancelled_task_is_not_retried() -> None:
    assert deploy_outcome(task("CANCELLED", n1=DUPLICATE))[0] == "failed"


#: The answer CI got from a 512 MB node polling its own deploy task (abridged).
BREAKER = {
    "error": {
        "root_cause": [
            {
                "type": "circuit_breaking_exception",
                "reason": "[parent] Data too large, data for [<http_request>] would be "
                "[519953232/495.8mb], which is larger than the limit of [510027366/486.3mb]",
                "durability": "TRANSIENT",
            }
        ],
        "type": "circuit_breaking_exception",
    },
    "status": 429,
}


def test_a_busy_node_is_asked_again_and_the_wait_is_reported() -> None:
    said: list[str] = []

    def tripped() -> dict[str, str]:
        raise TransportError(429, "circuit_breaking_exception", BREAKER)

    assert unless_busy(tripped, said.append, 0.0) is None
    assert len(said) == 1
    assert said[0].startswith("the node is busy ([parent] Data too large, data for [<http_req")
    assert unless_busy(lambda: {"state": "RUNNING"}, said.append, 0.0) == {"state": "RUNNING"}


def test_a_refusal_that_waiting_cannot_fix_is_raised() -> None:
    def refused() -> None:
        raise TransportError(400, "illegal_argument_exception", {"error": "bad task id"})

    with pytest.raises(TransportError):
        unless_busy(refused, lambda _: None, 0.0)


def test_a_request_the_command_needs_is_asked_again_until_the_node_answers() -> None:
    said: list[str] = []
    answers = iter([BREAKER, BREAKER, {"model_state": "DEPLOYED"}])

    def busy_twice() -> dict[str, str]:
        answer = next(answers)
        if answer is BREAKER:
            raise TransportError(429, "circuit_breaking_exception", BREAKER)
        return answer

    deadline = time.monotonic() + 60
    assert patiently(busy_twice, deadline, said.append, 0.0) == {"model_state": "DEPLOYED"}
    assert len(said) == 2


def test_past_the_deadline_the_servers_busy_answer_is_the_callers() -> None:
    calls: list[int] = []

    def always_busy() -> None:
        calls.append(1)
        raise TransportError(429, "circuit_breaking_exception", BREAKER)

    with pytest.raises(TransportError) as raised:
        patiently(always_busy, time.monotonic() + 0.05, lambda _: None, 0.01)
    assert raised.value.status_code == 429
    assert len(calls) >= 2
