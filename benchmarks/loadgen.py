"""A load generator that is fair on a noisy machine: every mode runs in every round, in a
rotating order, at each client count, so a burst of load from another process lands on all modes
alike; each round's figures are divided by the baseline's figures of the same round, and the
report gives the median of those per-round ratios with their min-max.

A mode is a callable ``text -> (client ms, server took ms)``: the whole request as a user sees it
(query encoding included) and what the node says it spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from common import median_range

Mode = Callable[[str], tuple[float, float]]
METRICS = ("p50_ms", "p90_ms", "p99_ms", "took_p50_ms", "took_p99_ms", "qps")


def run_level(mode: Mode, queries: Sequence[str], clients: int) -> dict[str, float]:
    """``len(queries)`` requests over ``clients`` threads; percentiles of client and server time."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        samples = list(pool.map(mode, queries))
    wall = time.perf_counter() - started
    client = np.array([s[0] for s in samples])
    took = np.array([s[1] for s in samples])
    return {
        "p50_ms": float(np.percentile(client, 50)),
        "p90_ms": float(np.percentile(client, 90)),
        "p99_ms": float(np.percentile(client, 99)),
        "took_p50_ms": float(np.percentile(took, 50)),
        "took_p99_ms": float(np.percentile(took, 99)),
        "qps": len(queries) / wall,
    }


def interleaved(
    modes: dict[str, Mode],
    queries: Sequence[str],
    *,
    clients: Sequence[int],
    rounds: int,
    warmup: int,
    baseline: str,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Per client count and mode: the median of each metric over rounds, the median per-round
    ratio to ``baseline`` with min-max, and the raw rounds."""
    names = list(modes)
    for name in names:  # warm caches and JIT once per mode before anything is measured
        run_level(modes[name], queries[:warmup], max(clients))
    raw: dict[str, dict[str, list[dict[str, float]]]] = {
        str(c): {n: [] for n in names} for c in clients
    }
    for r in range(rounds):
        for c in clients:
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                raw[str(c)][name].append(run_level(modes[name], queries, c))
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
            per_mode[name] = {
                "median": {m: float(np.median([x[m] for x in runs])) for m in METRICS},
                "ratio": {
                    m: median_range(
                        [
                            x[m] / b[m] if b[m] > 0 else float("nan")
                            for x, b in zip(runs, base_runs, strict=True)
                        ]
                    )
                    for m in ("p50_ms", "p99_ms", "took_p50_ms", "qps")
                },
                "rounds": runs,
            }
        summary[str(c)] = per_mode
    return summary


def ratio_cell(stats: dict[str, float]) -> str:
    return f"{stats['median']:.2f} ({stats['min']:.2f}-{stats['max']:.2f})"
