"""Weight-space interpolation of two checkpoints of one model (WiSE-FT, Wortsman et al., 2022):
``(1 - alpha) * start + alpha * end``, parameter by parameter.

Why: the default is fine-tuned on ~2k pairs from a handful of domains, and it is judged on
collections it never saw. Interpolating a fine-tuned model with the model it started from is
the standard cheap way to keep part of the fine-tuning gain while giving back less of the
start's robustness to new domains; it costs no training, only choosing ``alpha`` on the dev
split. ``transformers`` has no merge, and a merge toolkit (mergekit) is a large dependency for
one line of arithmetic, so it is written here.

    python -m opensearch_sparse.training.soup START END --alpha 0.5 OUT
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import torch

from opensearch_sparse.errors import SparseError
from opensearch_sparse.training.recover import save_masked_lm


class SoupError(SparseError):
    """The two checkpoints are not the same architecture, or alpha is out of range."""


def interpolate_state(
    start: Mapping[str, torch.Tensor], end: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * start + alpha * end`` for floating tensors; integer buffers (position
    ids) must be equal and are kept. ``alpha`` 0 is ``start``, 1 is ``end``."""
    if not 0.0 <= alpha <= 1.0:
        raise SoupError(f"alpha {alpha} is outside [0, 1]", "pass --alpha between 0 and 1")
    if start.keys() != end.keys():
        odd = sorted(set(start) ^ set(end))
        raise SoupError(
            f"the checkpoints hold different tensors ({len(odd)}, first: {odd[0]})",
            "interpolate two checkpoints of one architecture (a model and its fine-tuning)",
        )
    mixed: dict[str, torch.Tensor] = {}
    for name, a in start.items():
        b = end[name]
        if a.shape != b.shape:
            raise SoupError(
                f"{name} is {tuple(a.shape)} in one checkpoint and {tuple(b.shape)} in the other",
                "interpolate two checkpoints of one architecture (a model and its fine-tuning)",
            )
        if a.is_floating_point():
            mixed[name] = torch.lerp(a.float(), b.float(), alpha).to(b.dtype)
        elif torch.equal(a, b):
            mixed[name] = b.clone()
        else:
            raise SoupError(
                f"{name} is an integer tensor that differs between the checkpoints",
                "interpolate two checkpoints of one architecture (a model and its fine-tuning)",
            )
    return mixed


def interpolate_checkpoints(start: Path, end: Path, alpha: float, out: Path) -> Path:
    """Write ``out``: ``end``'s config and tokenizer with the interpolated masked-LM weights."""
    from transformers import BertForMaskedLM

    model = BertForMaskedLM.from_pretrained(str(end))
    first = BertForMaskedLM.from_pretrained(str(start)).state_dict()
    model.load_state_dict(interpolate_state(first, model.state_dict(), alpha))
    return save_masked_lm(model, end, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("start", type=Path, help="the checkpoint fine-tuning started from")
    parser.add_argument("end", type=Path, help="the fine-tuned checkpoint")
    parser.add_argument("out", type=Path)
    parser.add_argument("--alpha", type=float, required=True, help="0: start, 1: end")
    args = parser.parse_args()
    print(interpolate_checkpoints(args.start, args.end, args.alpha, args.out))


if __name__ == "__main__":
    from opensearch_sparse.cli.output import known_failures

    with known_failures():  # mismatched checkpoints: one cause, one fix, exit 1
        main()
