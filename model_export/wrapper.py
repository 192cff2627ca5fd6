"""The document encoder as one traceable module, plus an eager reference to check exports against.

ml-commons applies nothing to a SPARSE_ENCODING model's output: every non-zero entry becomes a
token in the index. So masked max-pooling, ``log(1 + relu)``, special-token removal and pruning
all have to live inside the exported graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from model_export.errors import ExportError
from model_export.source import ModelSource, inspect_source, load_masked_lm


def check_prune_ratio(prune_ratio: float) -> float:
    """Reject ratios that would keep nothing (>= 1) or mean nothing (< 0)."""
    if not 0.0 <= prune_ratio < 1.0:
        raise ExportError(
            f"prune_ratio must be in [0, 1), got {prune_ratio}",
            "use 0 for no pruning or a ratio such as 0.1 (keep weights above 10% of the max)",
        )
    return float(prune_ratio)


class SparseDocumentEncoder(nn.Module):
    """MLM logits -> one non-negative weight per vocabulary token, ready for a rank_features field.

    ``forward(input_ids, attention_mask)`` returns float32 ``[batch, vocab]``. Padded positions
    never contribute, special tokens are always 0, and with ``prune_ratio`` r > 0 a weight
    survives only if it exceeds r times the largest weight of its row (max-ratio pruning).
    """

    def __init__(
        self, mlm: nn.Module, special_ids: Sequence[int], vocab_size: int, prune_ratio: float = 0.0
    ) -> None:
        super().__init__()
        self.mlm = mlm
        self.prune_ratio = check_prune_ratio(prune_ratio)
        keep = torch.ones(vocab_size, dtype=torch.float32)
        keep[list(special_ids)] = 0.0
        self.register_buffer("keep", keep)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.mlm(input_ids=input_ids, attention_mask=attention_mask).logits
        # Multiplying by the mask turns padded logits into 0, which relu removes anyway, so the
        # max over positions equals the max over real tokens after the activation.
        mask = attention_mask.unsqueeze(-1).to(logits.dtype)
        pooled = (logits * mask).max(dim=1).values
        weights = torch.log1p(torch.relu(pooled)) * self.keep
        if self.prune_ratio > 0.0:
            threshold = self.prune_ratio * weights.max(dim=-1, keepdim=True).values
            weights = weights * (weights > threshold).to(weights.dtype)
        return weights


class DictInputEncoder(nn.Module):
    """The TorchScript face: ml-commons (through DJL) passes ``input1.*`` as one dict argument.

    The output is ``{"output": [batch, vocab]}``, the shape OpenSearch's own traced sparse
    encoders return; DJL turns the key into the tensor's name.
    """

    def __init__(self, encoder: SparseDocumentEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"output": self.encoder(features["input_ids"], features["attention_mask"])}


def build_encoder(
    model_dir: str | Path, prune_ratio: float = 0.0
) -> tuple[SparseDocumentEncoder, ModelSource]:
    """Validate the folder, load its MLM and wrap it, in eval mode on the CPU."""
    check_prune_ratio(prune_ratio)
    source = inspect_source(model_dir)
    mlm = load_masked_lm(source)
    encoder = SparseDocumentEncoder(mlm, source.special_ids, source.vocab_size, prune_ratio)
    return encoder.eval(), source


@torch.no_grad()
def reference_encode(
    mlm: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    special_ids: Sequence[int],
    prune_ratio: float = 0.0,
) -> torch.Tensor:
    """The same vector computed eagerly by other means, so a parity check tests the export.

    It fills padded positions with -inf instead of multiplying, assigns zeros by index instead of
    a mask buffer, and prunes row by row.
    """
    logits = mlm(input_ids=input_ids, attention_mask=attention_mask).logits
    logits = logits.masked_fill(attention_mask.unsqueeze(-1) == 0, float("-inf"))
    weights = torch.log(1.0 + torch.clamp(logits.amax(dim=1), min=0.0))
    weights[:, list(special_ids)] = 0.0
    if prune_ratio > 0.0:
        for row in weights:
            row[row <= prune_ratio * row.max()] = 0.0
    return weights
