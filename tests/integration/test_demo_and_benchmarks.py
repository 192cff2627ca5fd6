"""The README's main command and the benchmark scripts run end to end on the real node, on the
fixture set the repo carries (the figures in the notes come from full runs on ../shared)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from opensearch_sparse.demo import EXAMPLE_QUERIES

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def _run(
    args: list[str], local_cluster: Any, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OPENSEARCH_SPARSE_URL=local_cluster.url)
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO, check=False
    )


def test_demo_runs_end_to_end(local_cluster: Any) -> None:
    if local_cluster.local is None:
        pytest.skip("the demo drives the embedded node")
    port = str(local_cluster.local.config.port)
    proc = _run(
        [
            sys.executable,
            "-m",
            "opensearch_sparse",
            "demo",
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


def test_relevance_benchmark(local_cluster: Any, onnx_zip: Path, tmp_path: Path) -> None:
    pytest.importorskip("ranx")
    proc = _run(
        [
            sys.executable,
            "benchmarks/relevance.py",
            "--model",
            str(onnx_zip),
            "--data",
            str(FIXTURES),
            "--sets",
            "dbpedia-mini",
            "--out",
            str(tmp_path),
        ],
        local_cluster,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "relevance.json").read_text())
    scores = report["results"]["dbpedia-mini"]["scores"]
    assert set(scores) == {"bm25", "sparse", "hybrid"}
    # Every judged query has its relevant documents in this small corpus: all modes find many.
    assert all(0.3 < s["ndcg@10"] <= 1.0 for s in scores.values())
    assert (tmp_path / "relevance.png").stat().st_size > 0


def test_latency_benchmark(local_cluster: Any, onnx_zip: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    proc = _run(
        [
            sys.executable,
            "benchmarks/latency.py",
            "--model",
            str(onnx_zip),
            "--corpus",
            str(FIXTURES / "dbpedia-mini"),
            "--limit",
            "200",
            "--data",
            str(FIXTURES),
            "--query-sets",
            "dbpedia-mini",
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


def test_ingest_benchmark(local_cluster: Any, onnx_zip: Path, tmp_path: Path) -> None:
    proc = _run(
        [
            sys.executable,
            "benchmarks/ingest.py",
            "--model",
            str(onnx_zip),
            "--corpus",
            str(FIXTURES / "dbpedia-mini"),
            "--limit",
            "60",
            "--out",
            str(tmp_path),
        ],
        local_cluster,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "ingest-dbpedia-mini.json").read_text())
    for path in ("bm25-only", "pipeline", "local"):
        assert report["results"][path]["stored"] == 60
        assert report["results"][path]["failed"] == 0
