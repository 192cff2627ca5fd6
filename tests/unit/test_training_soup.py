"""Weight-space interpolation of a fine-tuned checkpoint with its start (issue 10: a model
that keeps the fine-tuning gain on collections it never saw)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="interpolation needs torch (the train extra)")

from opensearch_sparse.training.soup import (  # noqa: E402
    SoupError,
    interpolate_checkpoints,
    interpolate_state,
)


def test_interpolated_tensors_are_the_weighted_mean_by_hand() -> None:
    start = {"w": torch.tensor([0.0, 2.0, -4.0]), "ids": torch.tensor([0, 1, 2])}
    end = {"w": torch.tensor([1.0, 4.0, 4.0]), "ids": torch.tensor([0, 1, 2])}
    mixed = interpolate_state(start, end, 0.25)
    assert torch.allclose(mixed["w"], torch.tensor([0.25, 2.5, -2.0]))
    assert torch.equal(mixed["ids"], start["ids"])
    assert torch.equal(interpolate_state(start, end, 0.0)["w"], start["w"])
    assert torch.equal(interpolate_state(start, end, 1.0)["w"], end["w"])


def test_half_precision_weights_are_mixed_in_float32_and_kept_half() -> None:
    start = {"w": torch.tensor([1.0, 3.0], dtype=torch.float16)}
    end = {"w": torch.tensor([2.0, 5.0], dtype=torch.float16)}
    mixed = interpolate_state(start, end, 0.5)["w"]
    assert mixed.dtype == torch.float16
    assert mixed.tolist() == [1.5, 4.0]


@pytest.mark.parametrize(
    ("start", "end", "alpha", "cause"),
    [
        ({"w": torch.zeros(2)}, {"w": torch.zeros(3)}, 0.5, "is (2,) in one"),
        ({"w": torch.zeros(2)}, {"v": torch.zeros(2)}, 0.5, "different tensors"),
        ({"i": torch.tensor([1])}, {"i": torch.tensor([2])}, 0.5, "integer tensor"),
        ({"w": torch.zeros(2)}, {"w": torch.zeros(2)}, 1.5, "outside [0, 1]"),
    ],
)
def test_checkpoints_that_do_not_fit_are_refused_with_the_cause(
    start: dict, end: dict, alpha: float, cause: str
) -> None:
    with pytest.raises(SoupError, match=re.escape(cause)):
        interpolate_state(start, end, alpha)


def test_the_written_checkpoint_holds_the_interpolated_weights(
    tiny_bert: Callable[..., Path], tmp_path: Path
) -> None:
    from transformers import BertForMaskedLM

    start = tiny_bert(tmp_path / "start", seed=0)
    end = tiny_bert(tmp_path / "end", seed=1)
    out = interpolate_checkpoints(start, end, 0.5, tmp_path / "soup")
    assert (out / "tokenizer.json").is_file()
    name = "bert.encoder.layer.0.attention.self.query.weight"
    weights = {p: BertForMaskedLM.from_pretrained(str(p)).state_dict()[name] for p in (start, end)}
    mixed = BertForMaskedLM.from_pretrained(str(out)).state_dict()[name]
    assert torch.allclose(mixed, (weights[start] + weights[end]) / 2, atol=1e-6)
    assert not torch.allclose(mixed, weights[end])


def test_the_command_refuses_a_checkpoint_of_another_shape_without_a_traceback(
    tiny_bert: Callable[..., Path], tmp_path: Path
) -> None:
    from transformers import BertConfig, BertForMaskedLM

    end = tiny_bert(tmp_path / "end")
    config = BertConfig.from_pretrained(str(end))
    config.intermediate_size = 48
    BertForMaskedLM(config).save_pretrained(str(tmp_path / "other"))
    command = [sys.executable, "-m", "opensearch_sparse.training.soup"]
    proc = subprocess.run(
        [*command, str(tmp_path / "other"), str(end), str(tmp_path / "out"), "--alpha", "0.5"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr
    assert "in one checkpoint" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
