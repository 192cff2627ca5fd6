"""The heterogeneous ensemble: per-query min-max normalisation, weighted sum, scale S.

Dense cosines live in [-1, 1] and sparse dot products in [0, tens]: summed raw, the sparse
teacher would decide alone. Normalising each teacher's scores over a query's own candidates to
[0, 1] puts them on one footing; S then acts as the inverse temperature of the teacher softmax
(10 in the paper's pre-training, 30 in fine-tuning).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: A query whose candidates all got the same score carries no preference: it normalises to 0.
_FLAT = 1e-12


def minmax_normalise(scores: np.ndarray) -> np.ndarray:
    """Row-wise ``(s - min) / (max - min)``; flat rows become all zeros."""
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return np.where(span > _FLAT, (scores - low) / np.maximum(span, _FLAT), 0.0)


def aggregate(
    scores: Sequence[np.ndarray], weights: Sequence[float], *, scale: float, normalise: bool = True
) -> np.ndarray:
    """``scale * sum_i w_i * norm(s_i) / sum_i w_i``; with ``normalise=False`` a plain weighted
    mean of raw scores (the paper's "without normalisation" ablation)."""
    if len(scores) != len(weights) or not scores:
        raise ValueError("need one weight per teacher and at least one teacher")
    total = float(sum(weights))
    combined = np.zeros(scores[0].shape, dtype=np.float64)
    for s, w in zip(scores, weights, strict=True):
        combined += w * (minmax_normalise(s) if normalise else s)
    return (scale * combined / total).astype(np.float32)
