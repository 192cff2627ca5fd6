"""A masked-LM start grafted onto a dense encoder (issue 10: a student larger than splade-tiny)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="grafting needs torch (the train extra)")

from opensearch_sparse.training.graft import (  # noqa: E402
    GraftError,
    graft_masked_lm,
    shared_bias,
)
from opensearch_sparse.training.student import SparseScorer, build_student  # noqa: E402

TEXTS = [
    "Debian package providing a fast JSON parser library for C programs.",
    "Vitamin D deficiency is associated with bone fractures in elderly women.",
    "The river flooded the town after three days of rain.",
    "A compiler translates source code into machine instructions.",
]


def test_shared_bias_puts_the_target_count_above_zero() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(20, 1000, generator=generator) * 3 + 1
    logits[:, :5] = float("-inf")  # special tokens never count
    bias = shared_bias(logits, 50)
    counts = (logits + bias > 0).sum(dim=1).float()
    assert abs(float(counts.mean()) - 50) <= 1
    assert float(counts.min()) < float(counts.max())  # one bias, so rows differ


def test_shared_bias_refuses_targets_outside_the_vocabulary() -> None:
    with pytest.raises(ValueError, match="target_tokens"):
        shared_bias(torch.zeros(2, 10), 10)
    with pytest.raises(ValueError, match="documents"):
        shared_bias(torch.zeros(0, 10), 3)


@pytest.fixture(scope="module")
def encoder(tiny_bert: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dense encoder without an MLM head (MiniLM's layout, hidden size 32)."""
    return tiny_bert(tmp_path_factory.mktemp("dense"), masked_lm=False, seed=3)


def test_grafted_head_is_the_encoders_embeddings_and_starts_at_the_target(
    encoder: Path, tiny_mlm: Path, tmp_path: Path
) -> None:
    from transformers import BertForMaskedLM, BertModel

    facts = graft_masked_lm(encoder, tiny_mlm, tmp_path / "mlm", TEXTS, target_tokens=40)
    grafted = BertForMaskedLM.from_pretrained(str(tmp_path / "mlm"))
    dense = BertModel.from_pretrained(str(encoder)).state_dict()
    state = grafted.state_dict()
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.1.output.dense.weight"):
        assert torch.equal(state[f"bert.{name}"], dense[name])
    assert torch.equal(
        state["cls.predictions.decoder.weight"], dense["embeddings.word_embeddings.weight"]
    )
    hidden = grafted.config.hidden_size
    assert torch.equal(state["cls.predictions.transform.dense.weight"], torch.eye(hidden))
    assert torch.all(state["cls.predictions.bias"] == facts["bias"])
    assert (tmp_path / "mlm" / "tokenizer.json").read_bytes() == (
        tiny_mlm / "tokenizer.json"
    ).read_bytes()
    # The student built on it starts near the target (special tokens and padding excluded).
    scorer = SparseScorer(build_student(tmp_path / "mlm", idf=None, max_len=256)).eval()
    with torch.no_grad():
        lengths = (scorer.documents(TEXTS) > 0).sum(dim=1).float()
    assert abs(float(lengths.mean()) - 40) <= 1
    assert facts["tokens_per_text"] == pytest.approx(float(lengths.mean()), abs=1)


def test_graft_refuses_an_encoder_with_another_vocabulary(
    encoder: Path, tiny_mlm: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    tokenizer = json.loads((tiny_mlm / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    vocab["zzz-not-bert"] = vocab.pop("river")
    (other / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(GraftError, match="different vocabularies"):
        graft_masked_lm(encoder, other, tmp_path / "out", TEXTS)
    assert not (tmp_path / "out").exists()


def test_graft_command_says_what_is_missing_without_a_traceback(
    tiny_mlm: Path, tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"query": "q", "positive": "a text"}) + "\n")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "opensearch_sparse.training.graft"),
            *(str(tmp_path / "nowhere"), str(tiny_mlm), str(tmp_path / "out")),
            *("--texts", str(pairs)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "tokenizer.json does not exist" in result.stderr and "fix:" in result.stderr
