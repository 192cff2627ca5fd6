"""The README's main command and the benchmark scripts run end to end on the real node (small
sizes here; the figures in the notes come from full runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from opensearch_sparse.cli.demo_cmd import EXAMPLE_QUERIES

REPO = Path(__file__).resolve().parents[2]


def _run(
    args: list[str], local_cluster: Any, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OPENSEARCH_SPARSE_URL=local_cluster.url)
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO, check=False
    )


def test_demo_runs_end_to_end(local_cluster: Any, onnx_zip: Path) -> None:
    if local_cluster.local is None:
        pytest.skip("the demo drives the embedded node")
    port = str(local_cluster.local.config.port)
    proc = _run(
        [
            sys.executable,
            "-m",
            "opensearch_sparse",
            "demo",
            "--model",
            str(onnx_zip),
            "--limit",
            "300",
            "--port",
            port,
        ],
        local_cluster,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "300 documents stored" in proc.stderr
    assert "BM25 (" in proc.stdout and "sparse (" in proc.stdout
    for query in EXAMPLE_QUERIES:  # one side-by-side table per example query
        assert query in proc.stdout
    # The first 300 docstrings include argparse's: "parse command line arguments" finds them.
    assert "argparse" in proc.stdout
    assert "median client latency" in proc.stdout


def test_relevance_benchmark(
    local_cluster: Any, onnx_zip: Path, shared_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("ranx")
    proc = _run(
        [
            sys.executable,
            "benchmarks/relevance.py",
            "--model",
            str(onnx_zip),
            "--data",
            str(shared_dir / "data"),
            "--sets",
            "cranfield",
            "--out",
            str(tmp_path),
        ],
        local_cluster,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "relevance.json").read_text())
    scores = report["results"]["cranfield"]["scores"]
    assert set(scores) == {"bm25", "sparse", "hybrid"}
    # Far from zero on a real collection (reference BM25 NDCG@10 on cranfield: 0.343).
    assert all(0.2 < s["ndcg@10"] < 0.6 for s in scores.values())
    assert (tmp_path / "relevance.png").stat().st_size > 0


def test_latency_benchmark(
    local_cluster: Any, onnx_zip: Path, shared_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    proc = _run(
        [
            sys.executable,
            "benchmarks/latency.py",
            "--model",
            str(onnx_zip),
            "--corpus",
            str(shared_dir / "data" / "cranfield"),
            "--limit",
            "200",
            "--data",
            str(shared_dir / "data"),
            "--queries",
            "40",
            "--warmup",
            "5",
            "--clients",
            "1",
            "2",
            "--out",
            str(tmp_path),
        ],
        local_cluster,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "latency.json").read_text())
    for mode in ("bm25", "sparse", "hybrid"):
        for clients in ("1", "2"):
            r = report["results"][mode][clients]
            assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
            assert r["qps"] > 0
    assert (tmp_path / "latency.png").stat().st_size > 0


def test_ingest_benchmark(
    local_cluster: Any, onnx_zip: Path, shared_dir: Path, tmp_path: Path
) -> None:
    proc = _run(
        [
            sys.executable,
            "benchmarks/ingest.py",
            "--model",
            str(onnx_zip),
            "--corpus",
            str(shared_dir / "data" / "cranfield"),
            "--limit",
            "60",
            "--out",
            str(tmp_path),
        ],
        local_cluster,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "ingest-cranfield.json").read_text())
    for path in ("bm25-only", "pipeline", "local"):
        assert report["results"][path]["stored"] == 60
        assert report["results"][path]["failed"] == 0
