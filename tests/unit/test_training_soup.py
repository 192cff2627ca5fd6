"""Weight-space interpolation of a fine-tuned checkpoint with its start (issue 10: a model
that keeps the fine-tuning gain on collections it never saw)."""

from __future__ import annotations

import os
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


def test_the_dev_benchmark_end_to_end_on_the_fixture(
    tiny_bert: Callable[..., Path], tmp_path: Path
) -> None:
    """Two tiny BERTs, dbpedia-mini as the dev set and a few held-out pairs: every (start,
    alpha) row and the end once, the choice is the best dev score, JSON, markdown, PNG and the
    chosen checkpoint are written."""
    import gzip
    import json

    root = Path(__file__).resolve().parents[2]
    start = tiny_bert(tmp_path / "start", seed=0)
    end = tiny_bert(tmp_path / "end", seed=1)
    set_dir = tmp_path / "set"
    set_dir.mkdir()
    pairs = [
        {"query": "concert tour", "positive": "The band toured in 2011 with three acts."},
        {"query": "river colour", "positive": "The Red River of the North runs to Canada."},
        {"query": "island city", "positive": "Singapore is an island city-state in Asia."},
    ]
    with gzip.open(set_dir / "heldout.jsonl.gz", "wt") as handle:
        handle.writelines(json.dumps(p) + "\n" for p in pairs)
    config = {
        "model": str(end),
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "data": {"set_dir": str(set_dir)},
        "teachers": [{"kind": "sparse", "path": str(start)}],
        "idf": str(root / "opensearch_sparse" / "models" / "default" / "idf.json"),
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    arguments = [
        "--starts",
        f"first={start}",
        "--end",
        str(end),
        "--config",
        str(tmp_path / "config.json"),
    ]
    arguments += ["--alphas", "0", "0.5", "1", "--data", str(root / "tests" / "fixtures")]
    arguments += ["--dev-set", "dbpedia-mini", "--out", str(out), "--name", "t"]
    arguments += ["--save", str(tmp_path / "chosen")]
    subprocess.run(
        [sys.executable, str(root / "benchmarks" / "training_soup.py"), *arguments],
        check=True,
        cwd=tmp_path,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    report = json.loads((out / "training_soup_t.json").read_text())
    rows = report["rows"]
    expected = [("first", 0.0), ("first", 0.5), ("end", 1.0)]
    assert [(r["start"], r["alpha"]) for r in rows] == expected  # labelled by the given name
    assert report["starts"] == {"first": str(start)}
    for row in rows:
        assert row["dev_score"] == pytest.approx((row["dev_ndcg@10"] + row["heldout_ndcg@10"]) / 2)
    assert report["chosen"]["dev_score"] == max(r["dev_score"] for r in rows)
    assert rows[0]["dev_doc_length"] != rows[-1]["dev_doc_length"]  # two different models
    assert (out / "training_soup_t.md").is_file() and (out / "training_soup_t.png").is_file()
    assert (tmp_path / "chosen" / "tokenizer.json").is_file()


def test_starts_that_would_share_a_label_are_refused_before_any_work(tmp_path: Path) -> None:
    """Two checkpoints named by the same inner folder would collapse into one row."""
    root = Path(__file__).resolve().parents[2]
    starts = [str(tmp_path / run / "document_0_Transformer") for run in ("a", "b")]
    arguments = ["--starts", *starts, "--end", "x", "--config", str(tmp_path / "missing.yaml")]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "training_soup.py"), *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert done.returncode == 2
    assert "would label two rows the same" in done.stderr and "Traceback" not in done.stderr
