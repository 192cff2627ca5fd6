"""Periodic evaluation during training: NDCG@10 of held-out training-style queries.

Each held-out query has one relevant document (its own answer) among all held-out answers, so
NDCG@10 reduces to ``1 / log2(rank + 1)`` when the answer ranks in the top 10. The benchmark
report uses ranx on the real evaluation sets; this loop-side check only needs to be cheap and
never to touch an evaluation set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from opensearch_sparse.training.data import Pair
from opensearch_sparse.training.student import SparseScorer


def ndcg_at_10_single(ranks: Sequence[int]) -> float:
    """Mean NDCG@10 for queries with one relevant document at 1-based ``ranks``."""
    if not ranks:
        return 0.0
    return float(np.mean([1.0 / math.log2(r + 1) if r <= 10 else 0.0 for r in ranks]))


@torch.no_grad()
def evaluate_heldout(
    scorer: SparseScorer, pairs: Sequence[Pair], *, batch_size: int = 32
) -> dict[str, float]:
    """``{"ndcg@10", "doc_length"}`` over the held-out pairs, in eval mode, then back."""
    was_training = scorer.training
    scorer.eval()
    texts = sorted({p.positive for p in pairs})
    row = {t: i for i, t in enumerate(texts)}
    docs = torch.cat(
        [
            scorer.documents(texts[i : i + batch_size]).cpu()
            for i in range(0, len(texts), batch_size)
        ]
    )
    queries = scorer.queries([p.query for p in pairs]).cpu()
    scores = queries @ docs.T
    positive_scores = scores[
        torch.arange(len(pairs)), torch.tensor([row[p.positive] for p in pairs])
    ]
    ranks = (scores > positive_scores.unsqueeze(1)).sum(dim=1) + 1
    scorer.train(was_training)
    return {
        "ndcg@10": ndcg_at_10_single(ranks.tolist()),
        "doc_length": float((docs > 0).sum(dim=1).float().mean()),
    }
