"""The load generator's bookkeeping (benchmarks/loadgen.py), with stand-in modes and clocks."""

from __future__ import annotations

import threading

import pytest

from benchmarks.loadgen import interleaved, run_level


class Clock:
    """A node's cumulative shard milliseconds: each search adds ``per_search``."""

    def __init__(self, per_search: float) -> None:
        self.total = 1000.0  # whatever earlier searches left on the counter
        self.per_search = per_search
        self.lock = threading.Lock()  # the load generator searches from several threads

    def mode(self, text: str) -> tuple[float, float]:
        with self.lock:
            self.total += self.per_search
        return 2.0, 1.0

    def __call__(self) -> float:
        return self.total


def test_shard_time_is_the_clocks_change_per_search_not_its_total() -> None:
    clock = Clock(0.25)
    level = run_level(clock.mode, ["q"] * 40, 4, clock)
    assert level["shard_ms"] == pytest.approx(0.25)
    assert "shard_ms" not in run_level(clock.mode, ["q"] * 4, 1)  # no clock, no figure


def test_each_mode_is_timed_by_its_own_clock_and_divided_by_the_baselines() -> None:
    bm25, sparse = Clock(0.2), Clock(0.3)
    results = interleaved(
        {"bm25": bm25.mode, "sparse": sparse.mode},
        ["q"] * 10,
        clients=[1],
        rounds=3,
        warmup=2,
        baseline="bm25",
        clocks={"bm25": bm25, "sparse": sparse},
        progress=lambda line: None,
    )
    sparse_ratio = results["1"]["sparse"]["ratio"]["shard_ms"]
    assert sparse_ratio["median"] == pytest.approx(1.5)
    assert results["1"]["sparse"]["median"]["shard_ms"] == pytest.approx(0.3)
    assert len(results["1"]["sparse"]["rounds"]) == 3
