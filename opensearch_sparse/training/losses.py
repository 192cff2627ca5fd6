"""Losses as small modules, in the shape sentence-transformers uses (a module per loss, a dict
of named terms from the combined loss, ``get_config_dict`` for the model card).

Ranking losses compare the student's scores with the teacher's over each query's group of
documents (positive first): ``[n, k]`` against ``[n, k]``. The combined loss adds the FLOPS
regulariser (sentence-transformers' ``FlopsLoss``) on the raw document weights, with a weight
that a schedule raises during warm-up. IDF-awareness needs no term of its own: the student's
query vectors carry ``idf(t)``, so the ranking gradient on ``d_t`` is scaled by ``idf(t)``
while FLOPS pushes every token down alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sentence_transformers.sparse_encoder.losses import FlopsLoss
from torch import nn

from opensearch_sparse.training.student import SparseScorer, listwise_scores


class ListwiseKLLoss(nn.Module):
    """``KL(softmax(teacher) || softmax(student))`` per query, averaged (the method's default)."""

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        return F.kl_div(
            F.log_softmax(student, dim=-1),
            F.log_softmax(teacher, dim=-1),
            log_target=True,
            reduction="batchmean",
        )


class MarginMSELoss(nn.Module):
    """Mean squared error between student and teacher margins ``s(q, d+) - s(q, d-_j)``."""

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        student_margins = student[:, :1] - student[:, 1:]
        teacher_margins = teacher[:, :1] - teacher[:, 1:]
        return F.mse_loss(student_margins, teacher_margins)


class InfoNCELoss(nn.Module):
    """Cross-entropy of the positive (column 0) against the group; teacher scores unused.

    The no-teacher baseline: contrastive training on the mined negatives alone.
    """

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        target = torch.zeros(student.shape[0], dtype=torch.long, device=student.device)
        return F.cross_entropy(student / self.temperature, target)


RANKING_LOSSES: dict[str, type[nn.Module]] = {
    "kl": ListwiseKLLoss,
    "margin_mse": MarginMSELoss,
    "infonce": InfoNCELoss,
}


class DistillationLoss(nn.Module):
    """Ranking loss on IDF-aware student scores plus ``flops_weight * FLOPS(documents)``.

    ``forward`` returns the named terms (summed by the trainer) and keeps the batch's average
    document length in non-zero tokens in ``last_doc_length`` for the progress bar.
    """

    def __init__(
        self,
        scorer: SparseScorer,
        ranking: nn.Module,
        flops_weight: float,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError("the student temperature must be positive")
        self.scorer = scorer
        self.temperature = temperature
        self.ranking = ranking
        self.flops = FlopsLoss(scorer.model)
        self.flops_weight = flops_weight
        self.last_doc_length = 0.0

    def forward(
        self, queries: list[str], documents: list[list[str]], teacher: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        n, k = teacher.shape
        flat = [text for group in documents for text in group]
        doc_vectors = self.scorer.documents(flat)
        query_vectors = self.scorer.queries(queries)
        student = listwise_scores(query_vectors, doc_vectors.view(n, k, -1)) / self.temperature
        self.last_doc_length = float((doc_vectors.detach() > 0).sum(dim=1).float().mean())
        return {
            "ranking": self.ranking(student, teacher.to(student.device)),
            "flops": self.flops_weight * self.flops.compute_loss_from_embeddings(doc_vectors),
        }

    def get_config_dict(self) -> dict[str, object]:
        return {
            "ranking": type(self.ranking).__name__,
            "flops_weight": self.flops_weight,
            "temperature": self.temperature,
        }
