"""Recall of approximate (SEISMIC) search against exact search, by id and with score ties."""

from __future__ import annotations

import pytest

from benchmarks.common import recall, tie_aware_recall


def test_a_tied_document_counts_as_found_but_a_lower_one_does_not() -> None:
    # exact top 2 = a (5.0), b (3.0); c ties with b; d scores lower.
    exact_deep = {"q": [("a", 5.0), ("b", 3.0), ("c", 3.0), ("d", 1.0)]}
    assert tie_aware_recall(exact_deep, {"q": [("a", 9.9), ("c", 0.1)]}, k=2) == 1.0
    assert tie_aware_recall(exact_deep, {"q": [("a", 9.9), ("d", 0.1)]}, k=2) == 0.5
    # by id, c is a miss
    assert recall({"q": exact_deep["q"][:2]}, {"q": [("a", 9.9), ("c", 0.1)]}) == 0.5


def test_documents_outside_the_exact_list_and_extra_hits_are_not_counted() -> None:
    exact_deep = {"q": [("a", 2.0), ("b", 2.0)], "empty": []}
    approx = {"q": [("z", 7.0), ("a", 1.0), ("b", 1.0)]}  # z: not in exact's list; b: past k
    assert tie_aware_recall(exact_deep, approx, k=2) == pytest.approx(0.5)
    assert tie_aware_recall({"q": []}, {}, k=10) == 0.0
