"""The pieces the product needs, proved on a real node: plugins, rank_features, neural_sparse
query_tokens scoring, BM25, and the ml-commons settings."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from opensearch_sparse import config
from opensearch_sparse.testing import ClusterHandle

# Lucene's FeatureField keeps 9 significant bits of each weight.
LUCENE_REL_PRECISION = 2.0**-8


@pytest.fixture()
def client(local_cluster: ClusterHandle) -> Any:
    return local_cluster.client()


@pytest.fixture()
def sparse_index(client: Any) -> Iterator[str]:
    name = f"test-sparse-{uuid.uuid4().hex[:8]}"
    client.indices.create(
        index=name,
        body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {
                "properties": {
                    "text": {"type": "text"},
                    "text_sparse": {"type": "rank_features"},
                }
            },
        },
    )
    yield name
    client.indices.delete(index=name, ignore_unavailable=True)


def test_plugins_installed(client: Any) -> None:
    rows = client.cat.plugins(format="json")
    components = {row["component"] for row in rows}
    assert {
        "opensearch-ml",
        "opensearch-neural-search",
        "opensearch-knn",
        "opensearch-job-scheduler",
    } <= components
    versions = {row["version"] for row in rows}
    assert versions == {f"{client.info()['version']['number']}.0"}


def test_required_modules_loaded(client: Any) -> None:
    nodes = client.nodes.info(metric="plugins")["nodes"]
    modules = {m["name"] for node in nodes.values() for m in node["modules"]}
    assert set(config.REQUIRED_MODULES) <= modules


def test_ml_commons_settings_applied(client: Any) -> None:
    settings = client.cluster.get_settings(include_defaults=True, flat_settings=True)
    merged = {**settings["defaults"], **settings["persistent"], **settings["transient"]}
    for key, value in config.ML_COMMONS_SETTINGS.items():
        assert str(merged.get(key)).lower() == value.lower(), key


def test_neural_sparse_query_tokens_scores_dot_product(client: Any, sparse_index: str) -> None:
    doc_weights = {"sparse": 1.7, "retrieval": 2.25, "opensearch": 0.5, "bm25": 0.031}
    client.index(
        index=sparse_index,
        id="d1",
        body={"text": "learned sparse retrieval in opensearch", "text_sparse": doc_weights},
        refresh=True,
    )
    client.index(
        index=sparse_index,
        id="d2",
        body={"text": "unrelated", "text_sparse": {"cooking": 3.0}},
        refresh=True,
    )
    query = {"sparse": 0.8, "retrieval": 3.5, "bm25": 12.0, "absent": 1.0}
    resp = client.search(
        index=sparse_index,
        body={"query": {"neural_sparse": {"text_sparse": {"query_tokens": query}}}},
    )
    hits = resp["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["d1"]
    expected = sum(w * doc_weights.get(t, 0.0) for t, w in query.items())
    # Each stored weight carries at most 2^-8 relative error, so the sum does too.
    assert math.isclose(hits[0]["_score"], expected, rel_tol=LUCENE_REL_PRECISION)


def test_bm25_match_on_text(client: Any, sparse_index: str) -> None:
    docs = {
        "a": "the wing stall at high angle of attack",
        "b": "boundary layer transition on a flat plate",
        "c": "stall stall stall: wing stall behaviour",
    }
    for doc_id, text in docs.items():
        client.index(index=sparse_index, id=doc_id, body={"text": text})
    client.indices.refresh(index=sparse_index)
    resp = client.search(index=sparse_index, body={"query": {"match": {"text": "wing stall"}}})
    ids = [h["_id"] for h in resp["hits"]["hits"]]
    assert set(ids) == {"a", "c"}
    assert ids[0] == "c"  # higher term frequency ranks first
