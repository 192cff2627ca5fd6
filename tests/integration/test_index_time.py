"""The index-time path on the real node: exported splade-tiny registered and deployed in
ml-commons, the server's predictions equal local onnxruntime, cranfield ingested through the
sparse_encoding pipeline and through local encoding, with the same stored weights."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from opensearchpy.helpers import scan

from opensearch_sparse.corpus import Document, read_corpus
from opensearch_sparse.encoders import DocumentEncoder
from opensearch_sparse.ingest import SPARSE_FIELD, create_index, ingest
from opensearch_sparse.mlcommons import MLCommons, ModelPackage
from opensearch_sparse.models import default_model_dir
from opensearch_sparse.packaging import package_exported_folder

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


@pytest.fixture(scope="module")
def cranfield(shared_dir: Path) -> list[Document]:
    docs = list(read_corpus(shared_dir / "data" / "cranfield"))
    assert len(docs) >= 1390
    return docs


@contextmanager
def _index(client: Any, **kwargs: Any) -> Iterator[str]:
    name = f"test-ingest-{uuid.uuid4().hex[:8]}"
    create_index(client, name, **kwargs)
    try:
        yield name
    finally:
        client.indices.delete(index=name, ignore_unavailable=True)
        client.ingest.delete_pipeline(id=f"{name}-sparse-encoding", ignore=[404])


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


def test_torchscript_export_deploys_offline(
    ml: MLCommons, torchscript_zip: Path, encoder: DocumentEncoder
) -> None:
    model_id, _ = ml.register(ModelPackage.open(torchscript_zip))
    ml.deploy(model_id)
    try:
        server = ml.predict_sparse(model_id, TEXTS[:3])
        for s, loc in zip(server, encoder.encode(TEXTS[:3]), strict=True):
            assert_same_weights(s, loc)
    finally:
        ml.undeploy(model_id)


def test_cranfield_through_the_pipeline(
    local_cluster: Any,
    onnx_model: Any,
    encoder: DocumentEncoder,
    cranfield: list[Document],
) -> None:
    client = local_cluster.client()
    with _index(client, model_id=onnx_model.model_id) as name:
        report = ingest(client, name, cranfield)
        assert report.failed == []
        assert report.sent == report.stored == len(cranfield)
        # Every document has a non-empty sparse field (rank_features has no `exists` query).
        stored = {
            hit["_id"]: hit["_source"].get(SPARSE_FIELD)
            for hit in scan(client, index=name, _source=[SPARSE_FIELD])
        }
        assert len(stored) == len(cranfield)
        assert all(stored.values())
        # Stored weights equal the local encoding (a sample, spread over the corpus).
        sample = cranfield[:: len(cranfield) // 40]
        local = encoder.encode([d.content for d in sample])
        for doc, weights in zip(sample, local, strict=True):
            assert_same_weights(stored[doc.doc_id], weights)
        # A rerun (e.g. after a crash) leaves exactly one copy of each document.
        again = ingest(client, name, cranfield[:50])
        assert again.stored == len(cranfield)


def test_local_encoding_stores_the_same_as_the_pipeline(
    local_cluster: Any,
    onnx_model: Any,
    encoder: DocumentEncoder,
    cranfield: list[Document],
) -> None:
    client = local_cluster.client()
    docs = cranfield[:120]
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
    local_cluster: Any, onnx_model: Any, torchscript_zip: Path
) -> None:
    """DJL fetches libtorch from the internet when it is not staged; the node log shows it."""
    if local_cluster.local is None:
        pytest.skip("needs the embedded node's log")
    log = local_cluster.local.log_path.read_text(errors="replace")
    assert "PtEngine" in log, "the PyTorch engine was loaded (so the staged libraries were used)"
    for needle in ("publish.djl.ai", "Downloading libtorch", "Downloading jni"):
        assert needle not in log


def test_shipped_model_deploys_and_matches_local_inference(ml: MLCommons, tmp_path: Path) -> None:
    folder = default_model_dir()
    pkg = ModelPackage.open(package_exported_folder(folder, tmp_path / "default.zip"))
    model_id, _ = ml.register(pkg)
    ml.deploy(model_id)
    try:
        server = ml.predict_sparse(model_id, TEXTS)
        local = DocumentEncoder(folder).encode(TEXTS)
        for s, loc in zip(server, local, strict=True):
            assert_same_weights(s, loc)
        assert sum(len(s) for s in server) > 0
    finally:
        ml.undeploy(model_id)
