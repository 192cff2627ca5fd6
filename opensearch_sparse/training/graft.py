"""A masked-LM start grafted onto a dense bi-encoder that has no MLM head, so the document
encoder can be larger than splade-tiny (all-MiniLM-L6-v2: 6 layers x 384 against 2 x 128).

Issue 10's students all start from splade-tiny; none of them clears BM25 by much on collections
they never saw, whatever the loss, data or lambda, which points at the encoder's size. The only
larger weights at hand are the dense teacher's encoder. Its head is not learned from scratch: the
decoder is tied to the encoder's own word embeddings (as BERT's is) and the head's transform
starts as the identity (dense = I, LayerNorm neutral), so a position's logits are its final
hidden state's similarity to every vocabulary embedding. On MiniLM that already ranks a text's
own words and their neighbours first ("programs", "library", "software" for a package
description; "elderly", "seniors", "older" for a sentence about elderly women). One shared
output bias then sets how many tokens an average document starts with (``target_tokens``);
FLOPS and distillation take it from there.

The tokenizer files come from ``tokenizer_from`` (splade-tiny): the same bert-base-uncased
vocabulary and ids, without MiniLM's ``tokenizer.json`` padding every input to 128, which the
query encoder and ml-commons would otherwise inherit.

    python -m opensearch_sparse.training.graft ../shared/models/all-MiniLM-L6-v2 \\
        ../shared/models/splade-tiny .train_bundle/minilm-mlm \\
        --texts ../shared/data/train/squad-dev-pairs.jsonl.gz
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from opensearch_sparse.errors import SparseError
from opensearch_sparse.training.data import read_pairs
from opensearch_sparse.training.recover import save_masked_lm

#: Non-zero tokens an average calibration text starts with (splade-tiny's start has 240-300 on the
#: evaluation sets, the shipped default 110-230).
TARGET_TOKENS = 200
#: Calibration texts: enough for a stable mean, few enough for a CPU.
SAMPLE = 256


class GraftError(SparseError):
    """The encoder cannot take the head: not a BERT checkpoint, another vocabulary than the
    tokenizer's, or nothing to calibrate on."""


def masked_lm_from_encoder(encoder: Path) -> Any:
    """``BertForMaskedLM`` with ``encoder``'s weights, a tied decoder and an identity transform;
    the output bias is 0 until :func:`graft_masked_lm` sets it from :func:`shared_bias`."""
    from transformers import BertConfig, BertForMaskedLM, BertModel

    config = BertConfig.from_pretrained(str(encoder))
    model = BertForMaskedLM(config)
    missing, _ = model.bert.load_state_dict(
        BertModel.from_pretrained(str(encoder), add_pooling_layer=False).state_dict(), strict=False
    )
    if missing:
        raise GraftError(
            f"{encoder} lacks {missing[:3]}", "pass a BERT encoder (config.json + weights)"
        )
    head = model.cls.predictions
    with torch.no_grad():
        head.transform.dense.weight.copy_(torch.eye(config.hidden_size))
        head.transform.dense.bias.zero_()
        head.transform.LayerNorm.weight.fill_(1.0)
        head.transform.LayerNorm.bias.zero_()
        head.bias.zero_()
    model.tie_weights()
    return model


def shared_bias(max_logits: torch.Tensor, target_tokens: float) -> float:
    """The bias ``b`` for which the mean count of ``max_logits + b > 0`` per row (document) is
    closest to ``target_tokens``; ``max_logits`` is ``[documents, vocab]``, special tokens
    already excluded. The mean count only falls as ``-b`` rises, so ``-b`` is bisected."""
    if max_logits.ndim != 2 or max_logits.shape[0] == 0:
        raise ValueError("max_logits must be [documents, vocab] with at least one document")
    vocab = max_logits.shape[1]
    if not 0 < target_tokens < vocab:
        raise ValueError(f"target_tokens must be in (0, {vocab})")
    finite = max_logits[torch.isfinite(max_logits)]
    low, high = float(finite.min()) - 1.0, float(finite.max()) + 1.0
    for _ in range(60):  # bisection on the threshold t = -b; the count falls as t rises
        threshold = (low + high) / 2
        count = float((max_logits > threshold).sum(dim=1).float().mean())
        if count > target_tokens:
            low = threshold
        else:
            high = threshold
    return -(low + high) / 2


@torch.no_grad()
def max_pooled_logits(
    model: Any, tokenizer: Any, texts: Sequence[str], max_len: int
) -> torch.Tensor:
    """``[len(texts), vocab]``: each text's logits max-pooled over its real positions, special
    tokens set to -inf (they are zeroed in every document vector)."""
    model.eval()
    rows = []
    for start in range(0, len(texts), 32):
        batch = tokenizer(
            list(texts[start : start + 32]),
            padding=True,
            truncation=True,
            max_length=max_len,
            return_tensors="pt",
        )
        logits = model(**batch).logits
        mask = batch["attention_mask"].unsqueeze(-1) == 0
        rows.append(logits.masked_fill(mask, float("-inf")).max(dim=1).values)
    pooled = torch.cat(rows)
    pooled[:, sorted(tokenizer.all_special_ids)] = float("-inf")
    return pooled


def graft_masked_lm(
    encoder: Path,
    tokenizer_from: Path,
    out: Path,
    texts: Sequence[str],
    *,
    target_tokens: float = TARGET_TOKENS,
    max_len: int = 256,
) -> dict[str, float]:
    """Write the grafted checkpoint to ``out``; returns its bias and the calibration figures."""
    from transformers import AutoTokenizer

    _same_vocabulary(encoder, tokenizer_from)
    if not texts:
        raise GraftError("no calibration texts", "pass --texts with a training pairs file")
    model = masked_lm_from_encoder(encoder)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_from))
    pooled = max_pooled_logits(model, tokenizer, texts, max_len)
    bias = shared_bias(pooled, target_tokens)
    model.cls.predictions.bias.data.fill_(bias)
    save_masked_lm(model, tokenizer_from, out)
    return {
        "bias": bias,
        "texts": float(len(texts)),
        "tokens_per_text": float((pooled + bias > 0).sum(dim=1).float().mean()),
    }


def _same_vocabulary(encoder: Path, tokenizer_from: Path) -> None:
    """Both ``tokenizer.json`` vocabularies equal, token for token and id for id."""

    def vocab(folder: Path) -> dict[str, int]:
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise GraftError(f"{path} does not exist", "pass model folders with tokenizer.json")
        return dict(json.loads(path.read_text())["model"]["vocab"])

    if vocab(encoder) != vocab(tokenizer_from):
        raise GraftError(
            f"{encoder} and {tokenizer_from} have different vocabularies",
            "graft onto an encoder with the tokenizer's vocabulary (bert-base-uncased here)",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoder", type=Path, help="a BERT encoder without an MLM head")
    parser.add_argument("tokenizer_from", type=Path, help="a model folder with the tokenizer")
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--texts", type=Path, required=True, help="training pairs (JSONL); positives calibrate"
    )
    parser.add_argument("--target-tokens", type=float, default=TARGET_TOKENS)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--seed", type=int, default=13, help="which texts calibrate")
    args = parser.parse_args()
    texts = sorted({pair.positive for pair in read_pairs(args.texts)})
    random.Random(args.seed).shuffle(texts)  # a sample of the file, not its alphabetical head
    texts = texts[:SAMPLE]
    facts = graft_masked_lm(
        args.encoder,
        args.tokenizer_from,
        args.out,
        texts,
        target_tokens=args.target_tokens,
        max_len=args.max_len,
    )
    print(f"{args.out}: bias {facts['bias']:.3f}, {facts['tokens_per_text']:.0f} tokens per text")


if __name__ == "__main__":
    from opensearch_sparse.cli.output import known_failures

    with known_failures():  # mismatched vocabularies: one cause, one fix, exit 1
        main()
