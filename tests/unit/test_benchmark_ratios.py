"""Ratios between two modes of one interleaved run, round by round (benchmarks/common.py)."""

from __future__ import annotations

import pytest

from benchmarks.common import paired_ratio


def test_paired_ratio_divides_the_same_rounds() -> None:
    per_mode = {
        "a": {"rounds": [{"p50_ms": 2.0}, {"p50_ms": 3.0}, {"p50_ms": 8.0}]},
        "b": {"rounds": [{"p50_ms": 1.0}, {"p50_ms": 3.0}, {"p50_ms": 2.0}]},
    }
    # rounds 2 / 1 / 4: median 2, not the ratio of the medians (3 / 2)
    assert paired_ratio(per_mode, "a", "b", "p50_ms") == pytest.approx(
        {"median": 2.0, "min": 1.0, "max": 4.0}
    )


def test_a_round_whose_baseline_took_0_ms_is_left_out() -> None:
    """Server ``took`` is whole milliseconds: a 0 ms baseline round has no ratio."""
    per_mode = {
        "a": {"rounds": [{"took": 1.0}, {"took": 3.0}]},
        "b": {"rounds": [{"took": 0.0}, {"took": 2.0}]},
    }
    assert paired_ratio(per_mode, "a", "b", "took") == pytest.approx(
        {"median": 1.5, "min": 1.5, "max": 1.5}
    )
