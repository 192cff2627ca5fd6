"""A load generator that is fair on a noisy machine: every mode runs in every round, in a
rotating order, at each client count, so a burst of load from another process lands on all modes
alike; each round's figures are divided by the baseline's figures of the same round, and the
report gives the median of those per-round ratios with their min-max.

A mode is a callable ``text -> (client ms, server took ms)``: the whole request as a user sees it
(query encoding included) and what the node says it spent. ``took`` counts whole milliseconds,
too coarse where a search takes about one; a mode may also name a ``ShardClock`` (the node's
cumulative query + fetch phase time for its index), read before and after each run, which gives
the node's mean time per search to the microsecond.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_range

Mode = Callable[[str], tuple[float, float]]
#: The node's cumulative milliseconds spent in the query and fetch phases of one index's shards.
ShardClock = Callable[[], float]
#: What a run measures (``shard_ms`` only with a clock) and which of it is divided by the baseline.
METRICS = ("p50_ms", "p90_ms", "p99_ms", "took_p50_ms", "took_p99_ms", "shard_ms", "qps")
RATIO_METRICS = ("p50_ms", "p99_ms", "took_p50_ms", "shard_ms", "qps")


def run_level(
    mode: Mode, queries: Sequence[str], clients: int, clock: ShardClock | None = None
) -> dict[str, float]:
    """``len(queries)`` requests over ``clients`` threads; percentiles of client and server time,
    and with ``clock`` the node's mean shard time per search (``shard_ms``)."""
    before = clock() if clock else 0.0
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        samples = list(pool.map(mode, queries))
    wall = time.perf_counter() - started
    client = np.array([s[0] for s in samples])
    took = np.array([s[1] for s in samples])
    level = {
        "p50_ms": float(np.percentile(client, 50)),
        "p90_ms": float(np.percentile(client, 90)),
        "p99_ms": float(np.percentile(client, 99)),
        "took_p50_ms": float(np.percentile(took, 50)),
        "took_p99_ms": float(np.percentile(took, 99)),
        "qps": len(queries) / wall,
    }
    if clock:
        level["shard_ms"] = (clock() - before) / len(queries)
    return level


def interleaved(
    modes: dict[str, Mode],
    queries: Sequence[str],
    *,
    clients: Sequence[int],
    rounds: int,
    warmup: int,
    baseline: str,
    clocks: dict[str, ShardClock] | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Per client count and mode: the median of each metric over rounds, the median per-round
    ratio to ``baseline`` with min-max, and the raw rounds. ``clocks`` (by mode) add
    ``shard_ms``; a mode's runs never overlap another's, so each clock's change is its own."""
    names = list(modes)
    clocks = clocks or {}
    for name in names:  # warm caches and JIT once per mode before anything is measured
        run_level(modes[name], queries[:warmup], max(clients))
    raw: dict[str, dict[str, list[dict[str, float]]]] = {
        str(c): {n: [] for n in names} for c in clients
    }
    for r in range(rounds):
        for c in clients:
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                raw[str(c)][name].append(run_level(modes[name], queries, c, clocks.get(name)))
            base = raw[str(c)][baseline][-1]
            line = "  ".join(
                f"{n} {raw[str(c)][n][-1]['p50_ms']:.1f}/{raw[str(c)][n][-1]['p99_ms']:.1f}ms"
                for n in names
            )
            progress(f"round {r + 1}/{rounds} x{c}: {line} (bm25 took {base['took_p50_ms']:.0f})")
    summary: dict[str, Any] = {}
    for c in clients:
        per_mode: dict[str, Any] = {}
        for name in names:
            runs = raw[str(c)][name]
            base_runs = raw[str(c)][baseline]
            metrics = [m for m in METRICS if m in runs[0]]
            per_mode[name] = {
                "median": {m: float(np.median([x[m] for x in runs])) for m in metrics},
                "ratio": {
                    m: median_range(
                        [
                            x[m] / b[m] if b[m] > 0 else float("nan")
                            for x, b in zip(runs, base_runs, strict=True)
                        ]
                    )
                    for m in RATIO_METRICS
                    if m in runs[0] and m in base_runs[0]
                },
                "rounds": runs,
            }
        summary[str(c)] = per_mode
    return summary


def ratio_cell(stats: dict[str, float]) -> str:
    return f"{stats['median']:.2f} ({stats['min']:.2f}-{stats['max']:.2f})"
