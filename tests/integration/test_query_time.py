"""The query-time path on the real node: client-side IDF query encoding against the stored
document weights, BM25, hybrid, two-phase, the server-side SPARSE_TOKENIZE alternative, bad
queries, and the CLI over all of it."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opensearch_sparse.corpus import Document
from opensearch_sparse.encoders import DocumentEncoder
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.ingest import create_index, ingest
from opensearch_sparse.mlcommons import MLCommons
from opensearch_sparse.model_package import ModelPackage, load_tokenizer, package_tokenizer_model
from opensearch_sparse.query_encoder import QueryEncoder
from opensearch_sparse.schema import SPARSE_FIELD
from opensearch_sparse.search import SparseSearch

#: The session fixture ``cli`` (tests/conftest.py): runs the CLI in a fresh interpreter.
Cli = Callable[..., subprocess.CompletedProcess[str]]

QUERIES = [
    "Prime minister Canada nicknamed Silver-Tongued Laurier longest unbroken term",
    "airports",
    "Coen Brothers film: John Turturro?",
]
BAD_QUERIES = ["", "   \t ", "?!...", "\U0001f600\U0001f680", "x" * 10_000, "wing\x00\x07stall"]


@pytest.fixture(scope="module")
def docs(corpus_docs: list[Document]) -> list[Document]:
    return corpus_docs


@pytest.fixture(scope="module")
def query_encoder(onnx_zip: Path, idf_file: Path) -> QueryEncoder:
    return QueryEncoder.from_paths(onnx_zip, idf_file)


@pytest.fixture(scope="module")
def index(local_cluster: Any, onnx_zip: Path, docs: list[Document]) -> Iterator[str]:
    client = local_cluster.client()
    name = f"test-search-{uuid.uuid4().hex[:8]}"
    create_index(client, name)
    report = ingest(client, name, docs, encoder=DocumentEncoder(onnx_zip))
    assert report.complete
    yield name
    client.indices.delete(index=name, ignore_unavailable=True)


@pytest.fixture()
def searcher(local_cluster: Any, index: str, query_encoder: QueryEncoder) -> SparseSearch:
    return SparseSearch(local_cluster.client(), index, query_encoder)


def test_sparse_score_is_idf_weighted_dot_product(
    searcher: SparseSearch, query_encoder: QueryEncoder
) -> None:
    result = searcher.search(QUERIES[0], "sparse", k=5)
    assert result.hits and result.took_ms >= 0 and result.client_ms > 0
    top = result.hits[0]
    stored = searcher.client.get(index=searcher.index, id=top.doc_id)["_source"][SPARSE_FIELD]
    weights = query_encoder.encode(QUERIES[0]).weights
    expected = sum(w * stored.get(t, 0.0) for t, w in weights.items())
    assert top.score == pytest.approx(expected, rel=2**-8)
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def test_bm25_and_hybrid(searcher: SparseSearch) -> None:
    bm25 = searcher.search(QUERIES[1], "bm25", k=10)
    sparse = searcher.search(QUERIES[1], "sparse", k=10)
    hybrid = searcher.search(QUERIES[1], "hybrid", k=10)
    assert bm25.hits and sparse.hits and hybrid.hits
    assert all("airport" in h.text.lower() for h in bm25.hits[:3])
    # min-max normalised and averaged: scores in [0, 1], the best document near the top
    assert all(0.0 <= h.score <= 1.0 for h in hybrid.hits)
    union = {h.doc_id for h in bm25.hits} | {h.doc_id for h in sparse.hits}
    assert {h.doc_id for h in hybrid.hits} <= union


@pytest.mark.parametrize("mode", ["sparse", "bm25", "hybrid"])
def test_searching_without_a_hit_count_returns_the_counted_hits(
    searcher: SparseSearch, mode: str
) -> None:
    """The product asks for no hit count so Lucene may skip blocks; the top k must not change,
    and every mode (hybrid has its own collector) must accept it."""
    assert searcher.track_total_hits is False
    counted = SparseSearch(searcher.client, searcher.index, searcher.encoder, track_total_hits=True)
    for query in QUERIES:
        fast = searcher.search(query, mode, k=10).hits
        exact = counted.search(query, mode, k=10).hits
        assert fast, f"{mode}: no hits for {query!r}"
        assert [h.doc_id for h in fast] == [h.doc_id for h in exact]
        assert [h.score for h in fast] == pytest.approx([h.score for h in exact])


def test_a_query_encoded_beforehand_searches_the_same(searcher: SparseSearch) -> None:
    """``search(encoded=...)`` skips the client's encoding, not anything else."""
    for query in QUERIES:
        encoded = searcher.encode(query)
        plain = searcher.search(query, "sparse", k=10)
        ready = searcher.search(query, "sparse", k=10, encoded=encoded)
        assert ready.hits and [h.doc_id for h in ready.hits] == [h.doc_id for h in plain.hits]
        assert ready.query_tokens == plain.query_tokens
    # The text still gives BM25's side of a hybrid search.
    hybrid = searcher.search(QUERIES[0], "hybrid", k=10, encoded=searcher.encode(QUERIES[0]))
    assert [h.doc_id for h in hybrid.hits] == [
        h.doc_id for h in searcher.search(QUERIES[0], "hybrid", k=10).hits
    ]


def test_two_phase_finds_the_same_best_document(searcher: SparseSearch) -> None:
    plain = searcher.search(QUERIES[0], "sparse", k=50)
    two_phase = searcher.search(QUERIES[0], "sparse", k=5, two_phase=True)
    assert two_phase.hits[0].doc_id == plain.hits[0].doc_id
    assert {h.doc_id for h in two_phase.hits} <= {h.doc_id for h in plain.hits}


@pytest.mark.parametrize("query", BAD_QUERIES)
@pytest.mark.parametrize("mode", ["sparse", "bm25", "hybrid"])
def test_bad_queries_give_a_clear_result(searcher: SparseSearch, query: str, mode: str) -> None:
    result = searcher.search(query, mode, k=5)
    assert result.hits or result.reason, "an empty result must say why"


def test_server_side_tokenizer_matches_client_encoding(
    ml: MLCommons,
    onnx_zip: Path,
    idf_file: Path,
    query_encoder: QueryEncoder,
    searcher: SparseSearch,
    tmp_path: Path,
) -> None:
    pkg = ModelPackage.open(package_tokenizer_model(onnx_zip, idf_file, tmp_path / "tok.zip"))
    assert pkg.function_name == "SPARSE_TOKENIZE"
    model_id, _ = ml.register(pkg)
    ml.deploy(model_id)
    server = ml.predict_sparse(model_id, QUERIES, algorithm="sparse_tokenize")
    for query, weights in zip(QUERIES, server, strict=True):
        client = query_encoder.encode(query).weights
        assert weights.keys() == client.keys()
        for token, weight in weights.items():
            assert weight == pytest.approx(client[token], rel=1e-6)
    server_side = SparseSearch(searcher.client, searcher.index, None, tokenizer_model_id=model_id)
    for query in QUERIES:
        a = [(h.doc_id, round(h.score, 4)) for h in server_side.search(query, "sparse").hits]
        b = [(h.doc_id, round(h.score, 4)) for h in searcher.search(query, "sparse").hits]
        assert a == b


def test_cli_search_prints_table_and_times(
    cli: Cli, local_cluster: Any, index: str, onnx_zip: Path, idf_file: Path
) -> None:
    conn = ["--url", local_cluster.url, "--model", str(onnx_zip), "--idf", str(idf_file)]
    proc = cli("search", index, QUERIES[1], "--mode", "hybrid", "-k", "3", *conn)
    assert proc.returncode == 0, proc.stderr
    assert "hybrid: 3 hits" in proc.stdout
    assert "server took" in proc.stdout
    proc = cli("search", index, "", "--json", *conn)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["reason"] == "the query is empty"


def _cli_search_json(
    cli: Cli, local_cluster: Any, index: str, onnx_zip: Path, idf_file: Path, query: str
) -> Callable[..., dict[str, Any]]:
    """``search --json`` for ``query`` with extra flags, parsed (the command must succeed)."""
    conn = ["--url", local_cluster.url, "--model", str(onnx_zip), "--idf", str(idf_file)]

    def run(*flags: str) -> dict[str, Any]:
        proc = cli("search", index, query, "--json", *flags, *conn)
        assert proc.returncode == 0, proc.stderr
        result: dict[str, Any] = json.loads(proc.stdout)
        return result

    return run


def test_cli_min_idf_drops_common_query_tokens(
    cli: Cli, local_cluster: Any, index: str, onnx_zip: Path, idf_file: Path
) -> None:
    search = _cli_search_json(
        cli, local_cluster, index, onnx_zip, idf_file, "the airports of the world"
    )
    full, kept = search(), search("--min-idf", "1")
    idf = json.loads(idf_file.read_text())
    assert "the" in full["query_tokens"] and "the" not in kept["query_tokens"]
    assert kept["query_tokens"] == {t: w for t, w in full["query_tokens"].items() if w > 1}
    assert idf["the"] <= 1 < idf["airports"] and kept["hits"]


def test_cli_stop_words_drops_the_english_analyzers_stop_words(
    cli: Cli, local_cluster: Any, index: str, onnx_zip: Path, idf_file: Path
) -> None:
    search = _cli_search_json(
        cli, local_cluster, index, onnx_zip, idf_file, "the airports of the world with runways"
    )
    full, kept = search(), search("--stop-words")
    stop = {"the", "of", "with"}
    assert stop <= set(full["query_tokens"])
    assert kept["query_tokens"] == {t: w for t, w in full["query_tokens"].items() if t not in stop}
    assert kept["hits"]


def test_cli_max_query_tokens_keeps_the_highest_idf_tokens(
    cli: Cli, local_cluster: Any, index: str, onnx_zip: Path, idf_file: Path
) -> None:
    search = _cli_search_json(
        cli, local_cluster, index, onnx_zip, idf_file, "the airports of the world with runways"
    )
    full, kept = search(), search("--max-query-tokens", "2")
    assert len(full["query_tokens"]) > 2
    top = sorted(full["query_tokens"].items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    assert kept["query_tokens"] == dict(top)
    assert kept["hits"]
    refused = cli("search", index, "x", "--max-query-tokens", "0", "--url", local_cluster.url)
    assert refused.returncode == 2 and "--max-query-tokens" in refused.stderr


def test_cli_search_defaults_to_the_shipped_model_and_its_general_idf(
    cli: Cli, local_cluster: Any, index: str
) -> None:
    proc = cli("search", index, QUERIES[1], "-k", "3", "--url", local_cluster.url)
    assert proc.returncode == 0, proc.stderr
    assert "sparse: 3 hits" in proc.stdout
    assert "general IDF table" in proc.stderr and f"idf build --index {index}" in proc.stderr


def test_index_without_source_weights_searches_the_same(
    cli: Cli,
    local_cluster: Any,
    searcher: SparseSearch,
    query_encoder: QueryEncoder,
    docs: list[Document],
    onnx_zip: Path,
) -> None:
    """--no-source-weights keeps the weights searchable, just not readable from _source."""
    name = f"test-nosrc-{uuid.uuid4().hex[:8]}"
    client = local_cluster.client()
    assert (
        cli("index", "create", name, "--no-source-weights", "--url", local_cluster.url).returncode
        == 0
    )
    try:
        assert ingest(client, name, docs, encoder=DocumentEncoder(onnx_zip)).complete
        source = client.indices.get_mapping(index=name)[name]["mappings"]["_source"]
        assert source == {"excludes": [SPARSE_FIELD]}
        stored = client.get(index=name, id=docs[0].doc_id)["_source"]
        assert SPARSE_FIELD not in stored and stored["text"]
        lean = SparseSearch(client, name, query_encoder)
        for query in QUERIES:
            expected = searcher.search(query, "sparse", k=5).hits
            found = lean.search(query, "sparse", k=5).hits
            assert found and [h.doc_id for h in found] == [h.doc_id for h in expected], query
    finally:
        client.indices.delete(index=name, ignore_unavailable=True)


def test_cli_ingest_reports_bad_lines(
    cli: Cli, local_cluster: Any, onnx_zip: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(
        b'{"_id": "1", "text": "wing flutter"}\n{broken\n{"_id": "2", "text": 5}\n'
        b'{"_id": "3", "title": "stall", "text": "at high angle of attack"}\n\xff\xfe\n'
    )
    name = f"test-cli-{uuid.uuid4().hex[:8]}"
    conn = ["--url", local_cluster.url]
    assert cli("index", "create", name, *conn).returncode == 0
    try:
        fail = cli(
            "ingest",
            name,
            str(corpus),
            "--encode",
            "local",
            "--model",
            str(onnx_zip),
            "--on-error",
            "fail",
            *conn,
        )
        assert fail.returncode == 1
        assert "corpus.jsonl:2: invalid JSON" in fail.stderr
        assert "Traceback" not in fail.stderr
        skip = cli(
            "ingest", name, str(corpus), "--encode", "local", "--model", str(onnx_zip), *conn
        )
        # The good lines are stored, and the exit status still says not every line made it.
        assert skip.returncode == 1, skip.stderr
        for line in ("skipped line 2", "skipped line 3", "skipped line 5"):
            assert line in skip.stderr
        assert "2 documents sent, 0 failed, 2 of them stored" in skip.stderr
        assert "3 of 5 corpus lines are not in" in skip.stderr
    finally:
        local_cluster.client().indices.delete(index=name, ignore_unavailable=True)


def test_cli_idf_from_index_equals_idf_from_corpus(
    cli: Cli, local_cluster: Any, index: str, onnx_zip: Path, docs: list[Document], tmp_path: Path
) -> None:
    out = tmp_path / "idf.json"
    proc = cli(
        "idf",
        "build",
        "--tokenizer",
        str(onnx_zip),
        "--index",
        index,
        "--out",
        str(out),
        "--url",
        local_cluster.url,
    )
    assert proc.returncode == 0, proc.stderr
    from_index = IdfTable.load(out)
    from_corpus = IdfTable.build((d.content for d in docs), load_tokenizer(onnx_zip))
    assert from_index.weights.keys() == from_corpus.weights.keys()
    for token, weight in from_corpus.weights.items():
        assert from_index[token] == pytest.approx(weight)
