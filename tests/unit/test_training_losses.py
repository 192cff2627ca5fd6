"""Losses, ensemble normalisation and the FLOPS schedule against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from opensearch_sparse.training.ensemble import (  # noqa: E402
    aggregate,
    minmax_normalise,
    positive_on_top,
)
from opensearch_sparse.training.losses import (  # noqa: E402
    InfoNCELoss,
    ListwiseKLLoss,
    MarginMSELoss,
)
from opensearch_sparse.training.schedule import QuadraticWarmup  # noqa: E402


def test_listwise_kl_matches_hand_computation() -> None:
    student = torch.tensor([[1.0, 0.0]])
    teacher = torch.tensor([[0.0, 0.0]])
    # KL(p || q) with p = (1/2, 1/2), q = softmax(1, 0) = (e/(e+1), 1/(e+1))
    q1, q2 = math.e / (math.e + 1), 1 / (math.e + 1)
    expected = 0.5 * math.log(0.5 / q1) + 0.5 * math.log(0.5 / q2)
    assert ListwiseKLLoss()(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_listwise_kl_is_zero_when_distributions_agree() -> None:
    scores = torch.tensor([[3.0, 1.0, 0.5], [0.0, 2.0, 1.0]])
    assert ListwiseKLLoss()(scores + 7.0, scores).item() == pytest.approx(0.0, abs=1e-7)


def test_margin_mse_matches_hand_computation() -> None:
    student = torch.tensor([[3.0, 1.0, 2.0]])  # margins 2, 1
    teacher = torch.tensor([[5.0, 4.0, 5.0]])  # margins 1, 0
    assert MarginMSELoss()(student, teacher).item() == pytest.approx((1.0 + 1.0) / 2)


def test_infonce_is_cross_entropy_of_the_positive() -> None:
    student = torch.tensor([[2.0, 0.0, 0.0]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert InfoNCELoss()(student, torch.zeros(1, 3)).item() == pytest.approx(expected, rel=1e-6)
    halved = -math.log(math.exp(1) / (math.exp(1) + 2))
    assert InfoNCELoss(temperature=2.0)(student, student).item() == pytest.approx(halved, rel=1e-6)


def test_minmax_normalises_each_query_and_zeroes_flat_rows() -> None:
    scores = np.array([[2.0, 4.0, 3.0], [5.0, 5.0, 5.0]])
    np.testing.assert_allclose(minmax_normalise(scores), [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]])


def test_aggregate_averages_normalised_teachers_and_scales() -> None:
    dense = np.array([[0.9, 0.1, 0.5]])  # -> 1, 0, 0.5
    sparse = np.array([[10.0, 30.0, 20.0]])  # -> 0, 1, 0.5
    out = aggregate([dense, sparse], [1.0, 1.0], scale=10.0)
    np.testing.assert_allclose(out, [[5.0, 5.0, 5.0]])
    weighted = aggregate([dense, sparse], [3.0, 1.0], scale=4.0)
    np.testing.assert_allclose(weighted, [[3.0, 1.0, 2.0]])


def test_aggregate_without_normalisation_is_a_weighted_mean_of_raw_scores() -> None:
    dense, sparse = np.array([[0.5, 0.0]]), np.array([[10.0, 20.0]])
    raw = aggregate([dense, sparse], [1.0, 1.0], scale=2.0, normalise=False)
    np.testing.assert_allclose(raw, [[10.5, 20.0]])  # scale 2 x mean = plain sum


def test_positive_on_top_lifts_only_a_positive_that_is_not_clear_of_the_negatives() -> None:
    targets = np.array([[10.0, 4.0, 6.0], [5.0, 9.0, 2.0], [7.0, 7.0, 1.0]])
    lifted = positive_on_top(targets, 3.0)
    # Already 4 above the best negative: kept; below or tied: best negative + 3.
    assert lifted[:, 0].tolist() == [10.0, 12.0, 10.0]
    assert np.array_equal(lifted[:, 1:], targets[:, 1:])  # the teachers' negatives untouched
    assert targets[1, 0] == 5.0  # the input is not changed in place


def test_aggregate_rejects_mismatched_weights() -> None:
    with pytest.raises(ValueError):
        aggregate([np.zeros((1, 2))], [1.0, 1.0], scale=1.0)


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 0.0), (25, 0.0625 * 0.02), (50, 0.25 * 0.02), (100, 0.02), (500, 0.02)],
)
def test_flops_weight_warms_up_quadratically(step: int, expected: float) -> None:
    assert QuadraticWarmup(0.02, 100)(step) == pytest.approx(expected)


def test_flops_weight_without_warmup_is_constant() -> None:
    assert QuadraticWarmup(0.1, 0)(0) == 0.1
