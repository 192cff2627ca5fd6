"""What the node benchmarks hand ranx: BEIR's self-hit rule, the engine's order on ties, k."""

from __future__ import annotations

from benchmarks.common import graded_run
from opensearch_sparse.search import Hit


def _hits(*pairs: tuple[str, float]) -> list[Hit]:
    return [Hit(doc_id, score, "", "") for doc_id, score in pairs]


def test_the_query_s_own_id_is_dropped_and_k_counts_after_it() -> None:
    run = graded_run({"5": _hits(("5", 3.0), ("7", 2.0), ("9", 1.0))}, k=2)
    assert list(run["5"]) == ["7", "9"]


def test_ties_keep_the_engine_s_order_and_an_empty_result_gets_a_placeholder() -> None:
    run = graded_run({"q": _hits(("b", 1.0), ("a", 1.0)), "only-self": _hits(("only-self", 1.0))})
    assert run["q"]["b"] > run["q"]["a"]
    assert run["only-self"] == {"-": 0.0}
