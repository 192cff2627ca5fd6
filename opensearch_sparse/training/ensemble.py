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


def drop_false_negatives(
    scores: Sequence[np.ndarray],
    weights: Sequence[float],
    *,
    negatives: int,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Columns to keep per example, and which examples survive.

    Column 0 is the positive. A negative whose normalised ensemble score (in [0, 1], the
    positive usually near 1) is ``>= threshold`` is likely relevant too and is dropped; the
    first ``negatives`` remaining ones are kept. Returns ``(columns [m, 1 + negatives],
    kept example indices [m])``: an example with too few negatives left is dropped.
    """
    ensemble = aggregate(scores, weights, scale=1.0, normalise=True)
    columns, kept = [], []
    for row, values in enumerate(ensemble):
        negs = [j for j in range(1, values.shape[0]) if values[j] < threshold][:negatives]
        if len(negs) == negatives:
            columns.append([0, *negs])
            kept.append(row)
    return np.array(columns, dtype=np.int64).reshape(-1, 1 + negatives), np.array(
        kept, dtype=np.int64
    )


def positive_on_top(targets: np.ndarray, margin: float) -> np.ndarray:
    """Raise column 0 (the positive) to at least ``margin`` above the row's best negative,
    leaving the negatives' order (what the teachers know beyond the label) as it is."""
    lifted = targets.copy()
    lifted[:, 0] = np.maximum(targets[:, 0], targets[:, 1:].max(axis=1) + margin)
    return lifted
