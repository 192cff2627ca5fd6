"""The equal-sparsity baseline (issue 10, item 2): pruning the encoded vectors as ingest would,
reading a curve at a trained run's length, and the whole script on the repository's fixture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from benchmarks.training_pruned import interpolate, prune_matrix
from opensearch_sparse.pruning import Pruning

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("spec", ["top_k:2", "alpha_mass:0.6", "max_ratio:0.5", "abs_value:0.3"])
def test_prune_matrix_keeps_what_the_processor_keeps(spec: str) -> None:
    rng = np.random.default_rng(7)
    dense = rng.random((6, 12)) * (rng.random((6, 12)) < 0.5)
    dense[3] = 0.0  # an empty document stays empty
    pruning = Pruning.parse(spec)
    pruned = prune_matrix(sparse.csr_matrix(dense), pruning).toarray()
    for row in range(dense.shape[0]):
        weights = {str(j): float(v) for j, v in enumerate(dense[row]) if v > 0}
        kept = pruning.apply(weights)
        assert {str(j): float(v) for j, v in enumerate(pruned[row]) if v > 0} == pytest.approx(kept)
    assert (pruned > 0).sum() < (dense > 0).sum()


def test_interpolate_reads_between_points_and_not_beyond() -> None:
    points = [(100.0, 0.5), (50.0, 0.4), (150.0, 0.52)]
    assert interpolate(points, 75.0) == pytest.approx(0.45)
    assert interpolate(points, 150.0) == pytest.approx(0.52)
    assert interpolate(points, 40.0) is None
    assert interpolate(points, 151.0) is None


def test_script_end_to_end_on_the_fixture(tmp_path: Path, tiny_mlm: Path) -> None:
    """The shipped model and a random tiny BERT on dbpedia-mini, two settings: JSON, markdown
    and PNG written, pruning shortens documents, the two models are t-tested against each
    other, and no sweep points are claimed for a set the sweep never scored."""
    out = tmp_path / "out"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "training_pruned.py"),
            "--model",
            f"shipped=onnx:{ROOT / 'opensearch_sparse' / 'models' / 'default'}",
            "--model",
            f"random=mlm:{tiny_mlm}",
            "--compare",
            "shipped",
            "random",
            "--data",
            str(ROOT / "tests" / "fixtures"),
            "--dev-sets",
            "--report-sets",
            "dbpedia-mini",
            "--settings",
            "top_k:16",
            "alpha_mass:0.8",
            "--out",
            str(out),
        ],
        check=True,
        cwd=tmp_path,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    report = json.loads((out / "training_pruned.json").read_text())
    rows = report["rows"]
    assert {"shipped", "shipped top_k:16", "shipped alpha_mass:0.8", "random"} <= set(rows)
    assert rows["shipped top_k:16"]["doc_length"]["dbpedia-mini"] <= 16
    assert (
        rows["shipped alpha_mass:0.8"]["doc_length"]["dbpedia-mini"]
        < rows["shipped"]["doc_length"]["dbpedia-mini"]
    )
    assert 0 < rows["shipped"]["ndcg@10"]["corpus"]["dbpedia-mini"] <= 1
    assert report["pruned_at_trained_length"] == {}
    markdown = (out / "training_pruned.md").read_text()
    assert "| shipped top_k:16 |" in markdown
    # a trained model against random weights: a significant difference, in both query sides
    tested = [line for line in markdown.splitlines() if line.startswith("| shipped | random |")]
    assert len(tested) == 2
    assert all(float(line.split("|")[-2]) < 0.05 for line in tested)
    assert (out / "training_pruned.png").stat().st_size > 0
