"""Issue 10's target check: the positive's rank within a group (ties against it), and the whole
script on the tiny training fixture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("torch")

from test_training_fixtures import make_config

from benchmarks.training_teachers import group_metrics, positive_ranks

ROOT = Path(__file__).resolve().parents[2]


def test_a_tie_counts_against_the_positive() -> None:
    scores = np.array(
        [
            [3.0, 1.0, 2.0],  # first
            [1.0, 2.0, 0.5],  # second
            [0.0, 0.0, 0.0],  # matches nothing: last, not first
            [2.0, 2.0, 1.0],  # tied with a negative: second
        ]
    )
    assert positive_ranks(scores).tolist() == [1, 2, 3, 2]
    metrics = group_metrics(scores)
    assert metrics["p_at_1"] == pytest.approx(0.25)
    assert metrics["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 2) / 4)


def test_script_end_to_end_on_the_fixture(tiny_mlm: Path, tmp_path: Path) -> None:
    """The tiny model as teacher and as student (twice: the config's start and --student):
    every view is a rate, the same checkpoint scores the same, and JSON, markdown and PNG are
    written."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(make_config(tiny_mlm, tmp_path)))
    out = tmp_path / "out"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "training_teachers.py"), str(config),
         "--student", f"again={tiny_mlm}", "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )  # fmt: skip
    report = json.loads((out / "training_teachers.json").read_text())
    names = [row["name"] for row in report["rows"]]
    assert names[-3:] == ["ensemble (training's target)", "student start: " + tiny_mlm.name
                          + " (IDF queries)", "again"]  # fmt: skip
    # The fixture is mined with no spare negatives and no threshold: trained as mined.
    assert report["groups"] == report["kept"] == 4
    for row in report["rows"]:
        assert row["after_drop"] == row["mined"]
        assert 0.0 <= row["mined"]["p_at_1"] <= row["mined"]["mrr"] <= 1.0
    # The same checkpoint as the start and as --student: the same scores.
    assert report["rows"][-1]["mined"] == report["rows"][-2]["mined"]
    assert (out / "training_teachers.md").read_text().startswith("# Training targets: 4 groups")
    assert (out / "training_teachers.png").stat().st_size > 1000


def test_a_student_named_like_the_scripts_own_row_is_refused(
    tiny_mlm: Path, tmp_path: Path
) -> None:
    """It would replace that row in the report; refused before any scoring."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(make_config(tiny_mlm, tmp_path)))
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "training_teachers.py"), str(config),
         "--student", f"ensemble (training's target)={tiny_mlm}", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2
    assert "ensemble (training's target) would label two rows the same" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
