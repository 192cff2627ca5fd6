"""``--prune contribution:T`` on a real node: local ingest keeps exactly the tokens whose weight
times their query IDF reaches T, with the IDF built from the corpus or given; the ingest
pipeline refuses the setting before touching an existing index."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from opensearchpy.helpers import scan

from opensearch_sparse.corpus import read_corpus
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.model_package import load_tokenizer
from opensearch_sparse.query_encoder import QueryEncoder
from opensearch_sparse.schema import SPARSE_FIELD

Cli = Callable[..., subprocess.CompletedProcess[str]]
THRESHOLD = 1.5


def _stored(client: Any, index: str) -> dict[str, dict[str, float]]:
    return {
        hit["_id"]: hit["_source"].get(SPARSE_FIELD, {})
        for hit in scan(client, index=index, _source=[SPARSE_FIELD])
    }


def test_local_ingest_keeps_the_tokens_a_query_can_score_enough(
    cli: Cli, local_cluster: Any, onnx_zip: Path, beir_mini: Path, tmp_path: Path
) -> None:
    corpus = beir_mini / "corpus.jsonl"
    conn = ["--url", local_cluster.url]
    tag = uuid.uuid4().hex[:8]
    names = {run: f"test-contrib-{run}-{tag}" for run in ("full", "built", "given")}
    tokenizer = load_tokenizer(onnx_zip)
    idf = IdfTable.build((d.content for d in read_corpus(corpus)), tokenizer)
    idf_path = tmp_path / "idf.json"
    idf.save(idf_path)
    prune = ["--prune", f"contribution:{THRESHOLD}"]
    extra = {"full": [], "built": prune, "given": [*prune, "--idf", str(idf_path)]}
    client = local_cluster.client()
    try:
        for run, flags in extra.items():
            assert cli("index", "create", names[run], *conn).returncode == 0
            done = cli(
                "ingest", names[run], str(corpus), "--encode", "local",
                "--model", str(onnx_zip), *flags, *conn,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        full, built, given = (_stored(client, names[run]) for run in extra)
        assert built.keys() == full.keys() == given.keys()
        query_weight = QueryEncoder(tokenizer, idf).vocabulary_weights()
        vocab = tokenizer.get_vocab()
        for doc_id, weights in full.items():
            # In float32, as the pruning compares (a float64 product could fall on the other side).
            expected = {
                t: w
                for t, w in weights.items()
                if np.float32(w) * query_weight[vocab[t]] >= np.float32(THRESHOLD)
            }
            assert built[doc_id] == expected, doc_id
        assert given == built
        kept, before = sum(map(len, built.values())), sum(map(len, full.values()))
        assert 0 < kept < before
    finally:
        for name in names.values():
            client.indices.delete(index=name, ignore_unavailable=True)


def test_the_pipeline_refuses_contribution_pruning_and_keeps_the_index(
    cli: Cli, local_cluster: Any
) -> None:
    name = f"test-contrib-pipe-{uuid.uuid4().hex[:8]}"
    conn = ["--url", local_cluster.url]
    client = local_cluster.client()
    assert cli("index", "create", name, *conn).returncode == 0
    try:
        refused = cli(
            "index", "create", name, "--model-id", "any", "--prune", "contribution:1",
            "--replace", *conn,
        )  # fmt: skip
        assert refused.returncode == 1
        assert "error: contribution:1.0 needs the IDF table queries use" in refused.stderr
        assert "fix: encode locally" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert client.indices.exists(index=name)
    finally:
        client.indices.delete(index=name, ignore_unavailable=True)
