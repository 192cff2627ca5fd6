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
from opensearch_sparse.schema import SPARSE_FIELD

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def _run(
    args: list[str], local_cluster: Any, timeout: int = 1800
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
    result = report["results"]["dbpedia-mini"]
    (model,) = result["models"].values()
    scores = {"bm25": result["bm25"], **model["scores"]}
    assert set(scores) == {"bm25", "sparse", "hybrid"}
    # Every judged query has its relevant documents in this small corpus: all modes find many.
    assert all(0.3 < s["ndcg@10"] <= 1.0 for s in scores.values())
    assert 0.0 <= model["p_sparse_vs_bm25"] <= 1.0
    assert model["tokens_per_doc"] > 10
    assert (tmp_path / "relevance.png").stat().st_size > 0


def test_relevance_benchmark_sets_models_side_by_side(
    local_cluster: Any, onnx_zip: Path, tiny_exports: dict[str, Path], tmp_path: Path
) -> None:
    """Two models on the same node in one run: one BM25 row, a row per model, paired t-tests
    against BM25 and each baseline, and the average leaving out the dev set."""
    pytest.importorskip("ranx")
    proc = _run(
        [
            sys.executable,
            "benchmarks/relevance.py",
            "--models",
            f"shipped={onnx_zip}",
            f"random={tiny_exports['onnx']}",
            "--baseline",
            "random",
            "shipped",
            "--data",
            str(FIXTURES),
            "--sets",
            "dbpedia-mini",
            "--dev-sets",
            "dbpedia-mini",
            "--out",
            str(tmp_path),
        ],
        local_cluster,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    models = json.loads((tmp_path / "relevance.json").read_text())["results"]["dbpedia-mini"][
        "models"
    ]
    assert set(models) == {"shipped", "random"}
    # An untrained tiny BERT against the shipped encoder: a difference the test can see.
    shipped, random = models["shipped"], models["random"]
    assert shipped["scores"]["sparse"]["ndcg@10"] > random["scores"]["sparse"]["ndcg@10"] + 0.2
    assert shipped["p_sparse_vs_random"] < 0.05
    assert "p_sparse_vs_random" not in random
    # Every baseline gets its own column; a paired t-test reads the same from either side.
    assert random["p_sparse_vs_shipped"] == pytest.approx(shipped["p_sparse_vs_random"])
    assert "p_sparse_vs_shipped" not in shipped
    markdown = (tmp_path / "relevance.md").read_text()
    assert "| p vs bm25 | p vs random | p vs shipped |" in markdown
    assert "| dbpedia-mini | shipped sparse |" in markdown
    assert "average without" not in markdown  # the only set is the dev set: no average


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
            "--modes",
            "bm25",
            "sparse",
            "seismic",
            "sparse-counted",
            "bm25-counted",
            "sparse-preencoded",
            "sparse-two-phase",
            "--seismic-postings",
            "200",
            "--heap-factor",
            "1.5",
            "--summary-prune-ratio",
            "1",
            "--max-query-tokens",
            "4",
            "--queries",
            "20",
            "--rounds",
            "2",
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
    report = json.loads((tmp_path / "latency-dbpedia-mini.json").read_text())
    assert len(report["model_sha256"]) == 64
    for clients in ("1", "2"):
        for mode in (
            "bm25",
            "sparse",
            "seismic",
            "bm25-counted",
            "sparse-counted",
            "sparse-preencoded",
            "sparse-two-phase",
        ):
            r = report["results"][clients][mode]
            assert len(r["rounds"]) == 2
            assert 0 < r["median"]["p50_ms"] <= r["median"]["p99_ms"]
            assert r["ratio"]["p50_ms"]["min"] <= r["ratio"]["p50_ms"]["median"]
            # the node's own time per search: a part of what the client waited for
            assert 0 < r["median"]["shard_ms"] < r["median"]["p99_ms"]
        assert report["results"][clients]["bm25"]["ratio"]["p50_ms"]["median"] == 1.0
    # The approximate index finds most of exact search's top 10 on the same queries.
    assert 0.5 < report["seismic_recall"] <= report["seismic_recall_ties"] <= 1.0
    assert report["seismic"] == {
        "n_postings": 200,
        "summary_prune_ratio": 1.0,
        "top_n": 10,
        "heap_factor": 1.5,
    }
    name = f"lat-dbpedia-mini-200-{report['model_sha256'][:8]}-seismic"
    mapping = local_cluster.client().indices.get_mapping(index=name)[name]["mappings"]
    parameters = mapping["properties"][SPARSE_FIELD]["method"]["parameters"]
    assert (parameters["n_postings"], parameters["summary_prune_ratio"]) == (200, 1.0)
    sizes = report["indices"]
    assert sizes["bm25"]["documents"] == sizes["sparse"]["documents"] == 200
    assert sizes["sparse"]["index_mb"] > sizes["bm25"]["index_mb"] > 0
    assert report["load"]["cores"] >= 1 and report["load"]["top_processes"]
    assert (tmp_path / "latency-dbpedia-mini.png").stat().st_size > 0
    markdown = (tmp_path / "latency-dbpedia-mini.md").read_text()
    assert report["max_query_tokens"] == 4 and "at most 4 query tokens" in markdown
    assert "Machine load" in markdown
    assert "Both counting hits (10000" in markdown
    assert "`sparse-preencoded` sends the sparse requests" in markdown


def test_levers_benchmark(local_cluster: Any, onnx_zip: Path, tmp_path: Path) -> None:
    pytest.importorskip("ranx")
    proc = _run(
        [
            sys.executable,
            "benchmarks/levers.py",
            "--model",
            str(onnx_zip),
            "--data",
            str(FIXTURES),
            "--sets",
            "dbpedia-mini",
            "--prunes",
            "max_ratio:0.1",
            "top_k:16",
            "contribution:1",
            "--corpus",
            str(FIXTURES / "dbpedia-mini"),
            "--latency-limit",
            "150",
            "--queries",
            "10",
            "--rounds",
            "1",
            "--warmup",
            "2",
            "--clients",
            "1",
            "--out",
            str(tmp_path),
        ],
        local_cluster,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "levers.json").read_text())
    rel = report["relevance"]["dbpedia-mini"]
    ndcg = rel["ndcg@10"]
    levers = ("bm25", "sparse", "two-phase", "seismic", "cap-4", "min-idf-1", "stop-words")
    for name in (*levers, "prune top_k:16"):
        assert 0.0 < ndcg[name] <= 1.0, name
    # Two-phase rescoring restores exact scores for the top documents.
    assert rel["two_phase"]["same_top10"] > 0.9
    assert 0.0 <= rel["seismic_recall@10"] <= 1.0
    assert rel["indices"]["prune top_k:16"]["tokens_per_doc"] <= 16
    assert rel["indices"]["exact"]["tokens_per_doc"] > 16
    walked = {
        n: f["postings_per_query"] for n, f in rel["indices"].items() if "postings_per_query" in f
    }
    assert 0 < walked["prune contribution:1.0"] < walked["exact"]
    assert walked["prune top_k:16"] < walked["exact"]
    choice = report["pruning_choice"]
    # Pipelines get a processor type; the local choice may be any pruning.
    assert choice["chosen"] in ("prune max_ratio:0.1", "prune top_k:16", None)
    local = ("prune max_ratio:0.1", "prune top_k:16", "prune contribution:1.0")
    assert choice["chosen_local"] in (*local, None)
    # Every pruning the pipeline choice could take is a candidate for the local one too.
    assert choice["chosen"] is None or choice["chosen_local"] is not None
    assert 0.0 < choice["local_together_ndcg@10"]["dbpedia-mini"] <= 1.0
    assert 0.0 < choice["local_with_stop_words_ndcg@10"]["dbpedia-mini"] <= 1.0
    # The lowest query cap at which some pruning keeps the margin, floor and stop words on.
    capped = choice["capped_local"]
    assert capped["cap"] in (4, 8, 12, 16, None)
    if capped["cap"] is not None:
        assert capped["prune"] in local
        assert 0.0 < capped["ndcg@10"]["dbpedia-mini"] <= 1.0
    if choice["chosen_local"] != choice["chosen"]:  # its own index, measured beside the rest
        assert report["latency"]["results"]["1"]["chosen-local+stop-words"]["rounds"]
    assert report["latency"]["results"]["1"]["sparse"]["rounds"]
    # The chosen pruning and IDF floor are measured together.
    assert report["latency"]["results"]["1"]["chosen"]["rounds"]
    assert report["pruning_choice"]["min_idf"] in (0.0, 0.5, 1.0, 2.0)
    assert 0.0 < report["pruning_choice"]["together_ndcg@10"]["dbpedia-mini"] <= 1.0
    assert 0.0 < report["pruning_choice"]["with_stop_words_ndcg@10"]["dbpedia-mini"] <= 1.0
    assert report["latency"]["results"]["1"]["chosen+stop-words"]["rounds"]
    assert (tmp_path / "levers.png").stat().st_size > 0


def test_ingest_benchmark(local_cluster: Any, onnx_zip: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    proc = _run(
        [
            sys.executable,
            "benchmarks/ingest.py",
            "--model",
            str(onnx_zip),
            "--corpus",
            str(FIXTURES / "dbpedia-mini"),
            "--limit",
            "40",
            "--rounds",
            "1",
            "--data",
            str(FIXTURES),
            "--relevance-sets",
            "dbpedia-mini",
            "--out",
            str(tmp_path),
        ],
        local_cluster,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "ingest-dbpedia-mini.json").read_text())
    assert report["eager_parity"] < 1e-3
    assert all(r["docs_per_s"] > 0 for r in report["encode"].values())
    paths = ("bm25-only", "local fp32 fast head", "local int8", "pipeline fp32", "pipeline int8")
    for path in paths:
        assert report["ingest"][path]["stored"] == 40, path
        assert report["ingest"][path]["failed"] == 0, path
    # The server's ONNX Runtime 1.16.3 runs the int8 zip and agrees with local int8.
    agreement = report["server_int8"]
    assert agreement["mean_jaccard"] >= 0.9
    rel = report["int8_relevance"]["dbpedia-mini"]
    assert abs(rel["int8"]["ndcg@10"] - rel["fp32"]["ndcg@10"]) < 0.05
    assert (tmp_path / "ingest-dbpedia-mini.png").stat().st_size > 0


def _random_corpus(n: int, per_doc: int, vocab_size: int, seed: int) -> tuple[Any, Any, Any]:
    """``n`` documents with ``per_doc`` random token weights each, as the benchmarks' cached
    vectors (``Encoded``), and the vocabulary they index."""
    import numpy as np

    from benchmarks.encoded import Encoded
    from opensearch_sparse.corpus import Document

    rng = np.random.default_rng(seed)
    vocab = [f"tok{i}" for i in range(vocab_size)]
    docs = [Document(f"d{i}", "", f"document {i} about things") for i in range(n)]
    vectors = Encoded(
        doc_ids=np.array([d.doc_id for d in docs]),
        indptr=np.arange(0, (n + 1) * per_doc, per_doc),
        ids=rng.integers(0, vocab_size, n * per_doc),
        weights=rng.random(n * per_doc, dtype=np.float32) + 0.01,
    )
    return docs, vectors, vocab


def test_index_sizes_are_measured_after_recovery_source_is_dropped(local_cluster: Any) -> None:
    """Leaving the weights out of ``_source`` must measure smaller than keeping them: merging
    before the retention leases catch up would keep a full ``_recovery_source`` copy and
    measure it several times larger instead."""
    from benchmarks.common import fill_index
    from opensearch_sparse.schema import SparseIndex

    docs, vectors, vocab = _random_corpus(3000, 40, 5000, seed=0)
    n = len(docs)
    client = local_cluster.client()
    names = ["test-size-source", "test-size-nosource"]
    try:
        kept = fill_index(client, names[0], docs, vectors, vocab)
        left_out = fill_index(
            client, names[1], docs, vectors, vocab, sparse=SparseIndex(store_source=False)
        )
    finally:
        for name in names:
            client.indices.delete(index=name, ignore_unavailable=True)
    assert left_out["documents"] == kept["documents"] == n
    assert left_out["index_mb"] < 0.7 * kept["index_mb"], (left_out, kept)


def test_a_benchmark_index_is_reused_only_when_built_from_the_same_inputs(
    local_cluster: Any,
) -> None:
    """``latency.py --reuse`` keeps an index only when its recorded inputs match: the same
    documents, vectors and options; other pruning, or no ``--reuse``, rebuilds it."""
    from benchmarks.common import fill_index
    from opensearch_sparse.pruning import Pruning

    n, per_doc = 300, 20
    docs, vectors, vocab = _random_corpus(n, per_doc, 2000, seed=1)
    client = local_cluster.client()
    name = "test-bench-reuse"

    def created() -> str:
        return str(client.indices.get_settings(index=name)[name]["settings"]["index"]["uuid"])

    try:
        first = fill_index(client, name, docs, vectors, vocab, reuse=True)
        built = created()
        again = fill_index(client, name, docs, vectors, vocab, reuse=True)
        assert created() == built
        assert again["documents"] == first["documents"] == n
        assert again["tokens_per_doc"] == first["tokens_per_doc"] == per_doc
        pruned = fill_index(
            client, name, docs, vectors, vocab, prune=Pruning.parse("top_k:5"), reuse=True
        )
        assert created() != built and pruned["tokens_per_doc"] == 5
        rebuilt = created()
        fill_index(client, name, docs, vectors, vocab, prune=Pruning.parse("top_k:5"))
        assert created() != rebuilt
    finally:
        client.indices.delete(index=name, ignore_unavailable=True)
