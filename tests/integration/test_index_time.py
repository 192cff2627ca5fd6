"""The index-time path on the real node: the shipped encoder registered and deployed in
ml-commons, the server's predictions equal local onnxruntime, the fixture corpus ingested
through the sparse_encoding pipeline and through local encoding, with the same stored weights;
a TorchScript export deploys offline too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from opensearchpy.helpers import scan

from opensearch_sparse.corpus import Document
from opensearch_sparse.encoders import DocumentEncoder
from opensearch_sparse.ingest import create_index, ingest
from opensearch_sparse.mlcommons import MLCommons
from opensearch_sparse.model_package import ModelPackage
from opensearch_sparse.schema import SPARSE_FIELD, ingest_pipeline_name

TEXTS = [
    "What similarity laws must be obeyed when constructing aeroelastic models?",
    "Boundary-layer transition on a heated flat plate at Mach 2.5",
    "Übergang der Grenzschicht; 翼型; турбулентность",
    "!!! ??? ...",
    "unbelievably hypersonic re-entry vehicles",
]


def assert_same_weights(server: dict[str, float], local: dict[str, float]) -> None:
    """Same non-zero tokens; weights equal to Lucene's 2^-8 relative precision, or within
    2e-5 absolute for near-zero weights (the server's ONNX Runtime 1.16 and ours round the
    last float32 bits differently, which dominates weights around 1e-4)."""
    assert set(server) == set(local)
    for token, weight in server.items():
        assert weight == pytest.approx(local[token], rel=2**-8, abs=2e-5), token


@pytest.fixture(scope="module")
def encoder(onnx_zip: Path) -> DocumentEncoder:
    return DocumentEncoder(onnx_zip)


@contextmanager
def _index(client: Any, **kwargs: Any) -> Iterator[str]:
    name = f"test-ingest-{uuid.uuid4().hex[:8]}"
    create_index(client, name, **kwargs)
    try:
        yield name
    finally:
        client.indices.delete(index=name, ignore_unavailable=True)
        client.ingest.delete_pipeline(id=ingest_pipeline_name(name), ignore=[404])


def test_register_is_idempotent(ml: MLCommons, onnx_model: Any) -> None:
    again, reused = ml.register(onnx_model.package)
    assert (again, reused) == (onnx_model.model_id, True)
    assert ml.get(onnx_model.model_id).state == "DEPLOYED"


def test_server_predict_equals_local_onnxruntime(
    ml: MLCommons, onnx_model: Any, encoder: DocumentEncoder
) -> None:
    server = ml.predict_sparse(onnx_model.model_id, TEXTS)
    local = encoder.encode(TEXTS)
    assert len(server) == len(TEXTS)
    for s, loc in zip(server, local, strict=True):
        assert_same_weights(s, loc)
    assert any(t.startswith("##") for s in server for t in s), "word pieces keep their ##"
    assert all(w > 0 for s in server for w in s.values())


def test_torchscript_export_deploys_offline(ml: MLCommons, tiny_exports: dict[str, Path]) -> None:
    """The same tiny model as TorchScript (server) and ONNX (here) stores the same weights."""
    model_id, _ = ml.register(ModelPackage.open(tiny_exports["torchscript"]))
    ml.deploy(model_id)
    try:
        server = ml.predict_sparse(model_id, TEXTS[:3])
        local = DocumentEncoder(tiny_exports["onnx"]).encode(TEXTS[:3])
        for s, loc in zip(server, local, strict=True):
            assert_same_weights(s, loc)
        assert all(server), "every text got tokens"
    finally:
        ml.undeploy(model_id)


def test_corpus_through_the_pipeline(
    local_cluster: Any,
    onnx_model: Any,
    encoder: DocumentEncoder,
    corpus_docs: list[Document],
) -> None:
    client = local_cluster.client()
    with _index(client, model_id=onnx_model.model_id) as name:
        report = ingest(client, name, corpus_docs)
        assert report.failed == []
        assert report.sent == report.stored == len(corpus_docs)
        # Every document has a non-empty sparse field (rank_features has no `exists` query).
        stored = {
            hit["_id"]: hit["_source"].get(SPARSE_FIELD)
            for hit in scan(client, index=name, _source=[SPARSE_FIELD])
        }
        assert len(stored) == len(corpus_docs)
        assert all(stored.values())
        # Stored weights equal the local encoding (a sample, spread over the corpus).
        sample = corpus_docs[:: len(corpus_docs) // 40]
        local = encoder.encode([d.content for d in sample])
        for doc, weights in zip(sample, local, strict=True):
            assert_same_weights(stored[doc.doc_id], weights)
        # A rerun (e.g. after a crash) leaves exactly one copy of each document.
        again = ingest(client, name, corpus_docs[:50])
        assert (again.sent, again.stored) == (50, 50)  # this run's documents, by id
        assert client.count(index=name)["count"] == len(corpus_docs)


def test_local_encoding_stores_the_same_as_the_pipeline(
    local_cluster: Any,
    onnx_model: Any,
    encoder: DocumentEncoder,
    corpus_docs: list[Document],
) -> None:
    client = local_cluster.client()
    docs = corpus_docs[:120]
    with _index(client, model_id=onnx_model.model_id) as piped:
        ingest(client, piped, docs)
        # The local path bypasses the default pipeline of an index that has one.
        with _index(client, model_id=onnx_model.model_id) as local:
            report = ingest(client, local, docs, encoder=encoder)
            assert report.complete and report.stored == len(docs)
            for doc in docs:
                a = client.get(index=piped, id=doc.doc_id)["_source"][SPARSE_FIELD]
                b = client.get(index=local, id=doc.doc_id)["_source"][SPARSE_FIELD]
                assert_same_weights(a, b)


def test_deploys_never_download_native_libraries(
    local_cluster: Any, onnx_model: Any, tiny_exports: dict[str, Path]
) -> None:
    """DJL fetches libtorch from the internet when it is not staged; the node log shows it."""
    if local_cluster.local is None:
        pytest.skip("needs the embedded node's log")
    log = local_cluster.local.log_path.read_text(errors="replace")
    assert "PtEngine" in log, "the PyTorch engine was loaded (so the staged libraries were used)"
    for needle in ("publish.djl.ai", "Downloading libtorch", "Downloading jni"):
        assert needle not in log


def test_shipped_model_deploys_and_matches_local_inference(
    ml: MLCommons, onnx_model: Any, shipped_model: Path
) -> None:
    server = ml.predict_sparse(onnx_model.model_id, TEXTS)
    local = DocumentEncoder(shipped_model).encode(TEXTS)
    for s, loc in zip(server, local, strict=True):
        assert_same_weights(s, loc)
    assert sum(len(s) for s in server) > 0
