"""A SEISMIC index through the product's own commands on the real node: `index create
--sparse-field seismic`, both ingest paths (the pipeline and local encoding both store
vocabulary ids), and every search mode, which read the field's kind from the mapping."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opensearch_sparse.mlcommons import MLCommons
from opensearch_sparse.model_package import ModelPackage, package_tokenizer_model
from opensearch_sparse.query_encoder import QueryEncoder
from opensearch_sparse.schema import SPARSE_FIELD, ingest_pipeline_name
from opensearch_sparse.sparse_field import sparse_kind

Cli = Callable[..., subprocess.CompletedProcess[str]]

QUERIES = ["river in north dakota", "prime minister of canada", "fungal infection"]


@pytest.fixture(scope="module")
def indices(
    cli: Cli, local_cluster: Any, onnx_model: Any, onnx_zip: Path, beir_mini: Path
) -> Iterator[dict[str, str]]:
    """The fixture corpus in a SEISMIC index filled by the pipeline, one filled by local
    encoding, and an exact index beside them, all made with the CLI."""
    tag = uuid.uuid4().hex[:6]
    names = {"pipeline": f"test-seis-p-{tag}", "local": f"test-seis-l-{tag}", "exact": f"t-{tag}"}
    url = ("--url", local_cluster.url)
    made = [
        cli("index", "create", names["pipeline"], "--model-id", onnx_model.model_id,
            "--sparse-field", "seismic", "--summary-prune-ratio", "1", *url),
        cli("ingest", names["pipeline"], str(beir_mini), *url),
        cli("index", "create", names["local"], "--sparse-field", "seismic", *url),
        cli("ingest", names["local"], str(beir_mini), "--encode", "local",
            "--model", str(onnx_zip), *url),
        cli("index", "create", names["exact"], *url),
        cli("ingest", names["exact"], str(beir_mini), "--encode", "local",
            "--model", str(onnx_zip), *url),
    ]  # fmt: skip
    for proc in made:
        assert proc.returncode == 0, proc.stderr
    yield names
    client = local_cluster.client()
    for name in names.values():
        client.indices.delete(index=name, ignore_unavailable=True)
        client.ingest.delete_pipeline(id=ingest_pipeline_name(name), ignore=[404])


def _search(cli: Cli, url: str, index: str, query: str, *args: str) -> list[dict[str, Any]]:
    proc = cli("search", index, query, "--json", "-k", "10", "--url", url, *args)
    assert proc.returncode == 0, proc.stderr
    hits: list[dict[str, Any]] = json.loads(proc.stdout)["hits"]
    return hits


def test_both_ingest_paths_store_vocabulary_ids(
    local_cluster: Any, indices: dict[str, str]
) -> None:
    client = local_cluster.client()
    mapping = client.indices.get_mapping(index=indices["pipeline"])
    field = mapping[indices["pipeline"]]["mappings"]["properties"][SPARSE_FIELD]
    assert field["type"] == "sparse_vector"
    assert field["method"]["parameters"]["summary_prune_ratio"] == 1
    assert [sparse_kind(client, name) for name in indices.values()] == [
        "seismic",
        "seismic",
        "rank_features",
    ]
    for name in indices.values():
        assert client.count(index=name)["count"] == 300
    for doc_id in ("<dbpedia:Forest_River_(North_Dakota)>", "<dbpedia:1200_Travis>"):
        piped = client.get(index=indices["pipeline"], id=doc_id)["_source"][SPARSE_FIELD]
        local = client.get(index=indices["local"], id=doc_id)["_source"][SPARSE_FIELD]
        assert piped and all(key.isdigit() for key in piped)
        assert set(piped) == set(local)
        for key, weight in piped.items():
            assert weight == pytest.approx(local[key], rel=2**-8, abs=2e-5)


def test_sparse_and_hybrid_search_find_what_exact_search_finds(
    cli: Cli, local_cluster: Any, indices: dict[str, str], onnx_zip: Path, idf_file: Path
) -> None:
    encoder = ("--model", str(onnx_zip), "--idf", str(idf_file))
    for query in QUERIES:
        exact = _search(cli, local_cluster.url, indices["exact"], query, *encoder)
        for name in (indices["pipeline"], indices["local"]):
            approx = _search(cli, local_cluster.url, name, query, *encoder)
            assert approx[0]["doc_id"] == exact[0]["doc_id"], (name, query)
            # Scores differ only by SEISMIC's byte quantisation of the weights.
            assert approx[0]["score"] == pytest.approx(exact[0]["score"], rel=0.05)
        hybrid = _search(cli, local_cluster.url, indices["local"], query, "--mode", "hybrid",
                         *encoder)  # fmt: skip
        assert hybrid and hybrid[0]["score"] <= 1.0


def test_top_n_limits_the_posting_lists_searched(
    cli: Cli, local_cluster: Any, indices: dict[str, str], onnx_zip: Path, idf_file: Path
) -> None:
    """With --top-n 1 only the heaviest query token's posting list is read: every hit has it."""
    encoder = QueryEncoder.from_paths(onnx_zip, idf_file)
    query = "fungal infection of the lungs"
    weights = encoder.encode(query).weights
    heaviest = encoder.ids({max(weights, key=lambda t: weights[t]): 1.0})
    args = ("--model", str(onnx_zip), "--idf", str(idf_file), "--top-n", "1")
    hits = _search(cli, local_cluster.url, indices["local"], query, *args)
    assert hits
    client = local_cluster.client()
    for hit in hits:
        stored = client.get(index=indices["local"], id=hit["doc_id"])["_source"][SPARSE_FIELD]
        assert set(heaviest) <= set(stored), hit["doc_id"]
    wide = _search(cli, local_cluster.url, indices["local"], query, *args[:4], "--top-n", "32")
    assert any(not set(heaviest) <= set(client.get(index=indices["local"], id=h["doc_id"])
               ["_source"][SPARSE_FIELD]) for h in wide)  # fmt: skip


def test_server_side_query_encoding_on_a_seismic_index(
    ml: MLCommons,
    cli: Cli,
    local_cluster: Any,
    indices: dict[str, str],
    onnx_zip: Path,
    idf_file: Path,
    tmp_path: Path,
) -> None:
    model_id, _ = ml.register(
        ModelPackage.open(package_tokenizer_model(onnx_zip, idf_file, tmp_path / "tok.zip"))
    )
    ml.deploy(model_id)
    encoder = ("--model", str(onnx_zip), "--idf", str(idf_file))
    for query in QUERIES:
        client_side = _search(cli, local_cluster.url, indices["local"], query, *encoder)
        server_side = _search(
            cli, local_cluster.url, indices["local"], query, "--server-encode", model_id
        )
        assert [h["doc_id"] for h in server_side] == [h["doc_id"] for h in client_side]


def test_two_phase_on_a_seismic_index_is_one_clear_error(
    cli: Cli, local_cluster: Any, indices: dict[str, str]
) -> None:
    proc = cli("search", indices["local"], QUERIES[0], "--two-phase", "--url", local_cluster.url)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.startswith(("error", "fix"))]
    assert lines == [
        f"error: two-phase search does not apply to {indices['local']}: its sparse field is "
        "SEISMIC",
        "fix: search without --two-phase: SEISMIC already searches with the top query tokens "
        "only (--top-n)",
    ]
    assert "Traceback" not in proc.stderr
