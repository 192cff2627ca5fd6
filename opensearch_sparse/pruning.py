"""Document pruning: the four prune types of neural-search's ``sparse_encoding`` processor,
so local encoding stores exactly the tokens the ingest pipeline would.

Semantics follow neural-search's ``PruneUtils.pruneSparseVector`` (3.x):

- ``max_ratio`` r: keep weights ``>= r * max`` (r in [0, 1));
- ``top_k`` k: keep the k largest weights (k a positive integer; ties broken arbitrarily);
- ``alpha_mass`` a: sort descending, keep the prefix whose running sum stays ``<= a * total``
  (a in [0, 1));
- ``abs_value`` t: keep weights ``>= t`` (t >= 0).

One more type is ours, for local encoding only: ``contribution`` t keeps a token when the most it
can add to any query's score, its weight times the weight a query gives it (its IDF), is
``>= t``. A common token's posting adds little to any score, so it goes at a weight
``abs_value`` would keep, and a rare token's stays at a weight ``abs_value`` would drop: at
about the same query cost it loses less NDCG@10 (``benchmarks/levers.py``). The processor has
no IDF, so ingest pipelines cannot use it (``processor_fields`` says so).

Fewer tokens per document means shorter posting lists (faster queries) and a smaller index;
the relevance cost is measured in ``benchmarks/levers.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from opensearch_sparse.errors import SparseError

PruneType = Literal["max_ratio", "top_k", "alpha_mass", "abs_value", "contribution"]
PRUNE_TYPES: tuple[str, ...] = ("max_ratio", "top_k", "alpha_mass", "abs_value", "contribution")


class PruneError(SparseError):
    """A prune type or ratio neural-search would refuse."""


@dataclass(frozen=True)
class Pruning:
    """One prune setting; all but ``contribution`` are valid for neural-search's processor as
    well as local encoding."""

    type: PruneType
    ratio: float
    #: ``contribution`` only: the weight a query gives each vocabulary id (``with_query_weights``).
    query_weights: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        ok = {
            "max_ratio": 0 <= self.ratio < 1,
            "alpha_mass": 0 <= self.ratio < 1,
            "abs_value": self.ratio >= 0,
            "contribution": self.ratio >= 0,
            "top_k": self.ratio > 0 and float(self.ratio).is_integer(),
        }.get(self.type)
        if ok is None:
            raise PruneError(f"unknown prune type {self.type!r}", f"use one of {PRUNE_TYPES}")
        if not ok:
            raise PruneError(
                f"prune ratio {self.ratio} is not valid for {self.type}",
                "max_ratio/alpha_mass take [0, 1), top_k a positive integer, "
                "abs_value/contribution >= 0",
            )

    @classmethod
    def parse(cls, spec: str) -> Pruning:
        """``"max_ratio:0.1"`` -> Pruning("max_ratio", 0.1)."""
        kind, _, value = spec.partition(":")
        try:
            return cls(kind, float(value))  # type: ignore[arg-type]
        except ValueError as exc:
            raise PruneError(f"cannot read prune setting {spec!r}", "write TYPE:VALUE") from exc

    @property
    def label(self) -> str:
        value = int(self.ratio) if self.type == "top_k" else self.ratio
        return f"{self.type}:{value}"

    @property
    def needs_query_weights(self) -> bool:
        return self.type == "contribution"

    def with_query_weights(self, weights: np.ndarray) -> Pruning:
        """This setting with the per-vocabulary-id query weights ``contribution`` multiplies by
        (``QueryEncoder.vocabulary_weights``: the IDF table the index will be searched with)."""
        return replace(self, query_weights=np.asarray(weights, dtype=np.float32))

    def processor_fields(self) -> dict[str, object]:
        """The ``sparse_encoding`` processor's fields for this setting."""
        if self.needs_query_weights:
            raise PruneError(
                f"{self.label} needs the IDF table queries use, which the ingest pipeline's "
                "processor does not have",
                "encode locally: `ingest NAME CORPUS --encode local --model ZIP "
                f"--prune {self.label}`",
            )
        return {"prune_type": self.type, "prune_ratio": self.ratio}

    def keep(self, values: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        """A boolean mask over ``values`` (one document's positive weights; ``ids`` their
        vocabulary ids, which only ``contribution`` reads)."""
        if values.size == 0:
            return np.zeros(0, dtype=bool)
        # neural-search compares in float32 (Java floats): do the same so borderline
        # weights fall on the same side.
        v = values.astype(np.float32, copy=False)
        r = np.float32(self.ratio)
        if self.type == "contribution":
            if self.query_weights is None or ids is None:
                raise ValueError("contribution pruning needs query weights and the ids")
            return v * self.query_weights[ids] >= r
        if self.type == "max_ratio":
            return v >= r * v.max()
        if self.type == "abs_value":
            return v >= r
        order = np.argsort(-v, kind="stable")
        mask = np.zeros(v.size, dtype=bool)
        if self.type == "top_k":
            mask[order[: int(self.ratio)]] = True
            return mask
        # alpha_mass: running float32 sum of the sorted weights against alpha * total
        total = np.float32(v.astype(np.float64).sum())
        running = np.cumsum(v[order], dtype=np.float32)
        mask[order[running <= r * total]] = True
        return mask

    def apply(self, weights: dict[str, float]) -> dict[str, float]:
        """The kept part of one document's ``{token: weight}`` (a processor type: tokens
        carry no vocabulary ids here)."""
        if not weights:
            return weights
        tokens = list(weights)
        mask = self.keep(np.fromiter(weights.values(), dtype=np.float32, count=len(tokens)))
        return {t: weights[t] for t, k in zip(tokens, mask, strict=True) if k}
