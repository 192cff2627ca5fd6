"""The cost levers on a real node: the processor's four prune types store what local pruning
stores, a SEISMIC ``sparse_vector`` index answers ``neural_sparse`` with vocabulary ids, and the
two-phase processor returns exact search's top documents and scores."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from opensearch_sparse.corpus import Document
from opensearch_sparse.encoders import DocumentEncoder
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.ingest import create_index, ingest
from opensearch_sparse.model_package import load_tokenizer
from opensearch_sparse.pruning import Pruning
from opensearch_sparse.query_encoder import QueryEncoder
from opensearch_sparse.schema import SPARSE_FIELD, SparseIndex, ingest_pipeline_name
from opensearch_sparse.search import AnnParams, SparseSearch

QUERIES = ["river in north dakota", "prime minister of canada", "fungal infection"]


def _drop(client: Any, name: str) -> None:
    client.indices.delete(index=name, ignore_unavailable=True)
    client.ingest.delete_pipeline(id=ingest_pipeline_name(name), ignore=[404])


@pytest.mark.parametrize("spec", ["max_ratio:0.2", "top_k:12", "alpha_mass:0.6", "abs_value:0.5"])
def test_pipeline_pruning_equals_local_pruning(
    local_cluster: Any, onnx_model: Any, onnx_zip: Any, corpus_docs: list[Document], spec: str
) -> None:
    client = local_cluster.client()
    prune = Pruning.parse(spec)
    docs = corpus_docs[:25]
    piped, local = f"test-prune-{uuid.uuid4().hex[:6]}", f"test-prune-{uuid.uuid4().hex[:6]}"
    try:
        create_index(client, piped, model_id=onnx_model.model_id, prune=prune)
        create_index(client, local)
        assert ingest(client, piped, docs).complete
        assert ingest(client, local, docs, encoder=DocumentEncoder(onnx_zip, prune=prune)).complete
        unpruned = DocumentEncoder(onnx_zip).encode([d.content for d in docs])
        for doc, full in zip(docs, unpruned, strict=True):
            a = client.get(index=piped, id=doc.doc_id)["_source"][SPARSE_FIELD]
            b = client.get(index=local, id=doc.doc_id)["_source"][SPARSE_FIELD]
            if prune.type == "top_k":
                assert len(a) == len(b) == min(12, len(full))
            else:
                assert set(a) == set(b), doc.doc_id
            assert len(b) < len(full)
    finally:
        _drop(client, piped)
        _drop(client, local)


@pytest.fixture(scope="module")
def searchable(local_cluster: Any, onnx_zip: Any, corpus_docs: list[Document]) -> Any:
    client = local_cluster.client()
    tokenizer = load_tokenizer(onnx_zip)
    encoder = DocumentEncoder(onnx_zip)
    exact, seismic = f"test-exact-{uuid.uuid4().hex[:6]}", f"test-seismic-{uuid.uuid4().hex[:6]}"
    create_index(client, exact)
    create_index(client, seismic, sparse=SparseIndex(kind="seismic", approximate_threshold=0))
    assert ingest(client, exact, corpus_docs, encoder=encoder).complete
    assert ingest(client, seismic, corpus_docs, encoder=encoder).complete  # keyed by id
    client.indices.forcemerge(index=seismic, params={"max_num_segments": 1})
    client.indices.refresh(index=seismic)
    query = QueryEncoder(tokenizer, IdfTable.build((d.content for d in corpus_docs), tokenizer))
    yield client, exact, seismic, query
    _drop(client, exact)
    _drop(client, seismic)


def test_seismic_index_answers_with_vocabulary_ids(searchable: Any) -> None:
    client, exact, seismic, query = searchable
    approx = SparseSearch(client, seismic, query, ann=AnnParams(top_n=10, heap_factor=1.0))
    plain = SparseSearch(client, exact, query)
    for text in QUERIES:
        a = approx.search(text, "sparse", k=10)
        b = plain.search(text, "sparse", k=10)
        assert a.hits, text
        # Same best document; scores differ only by SEISMIC's byte quantisation of weights.
        assert a.hits[0].doc_id == b.hits[0].doc_id
        assert a.hits[0].score == pytest.approx(b.hits[0].score, rel=0.1)


def test_two_phase_returns_exact_top_documents_and_scores(searchable: Any) -> None:
    client, exact, _, query = searchable
    searcher = SparseSearch(client, exact, query)
    for text in QUERIES:
        full = searcher.search(text, "sparse", k=10)
        two = searcher.search(text, "sparse", k=10, two_phase=True)
        assert [h.doc_id for h in two.hits] == [h.doc_id for h in full.hits]
        assert [h.score for h in two.hits] == pytest.approx([h.score for h in full.hits])
