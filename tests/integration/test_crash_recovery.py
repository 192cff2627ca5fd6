"""Crash recovery on a real node of its own: SIGKILL the node in the middle of an ingest
(pipeline and local encoding), restart it, rerun: the exact count and no duplicates. Then the
same after killing the client mid-run.

The node runs on ``OPENSEARCH_SPARSE_TEST_CRASH_PORT`` (default 9262).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opensearch_sparse.cluster import LocalCluster
from opensearch_sparse.corpus import Document
from opensearch_sparse.encoders import DocumentEncoder
from opensearch_sparse.ingest import IngestError, IngestReport, create_index, ingest
from opensearch_sparse.mlcommons import MLCommons
from opensearch_sparse.model_package import ModelPackage

PORT = int(os.environ.get("OPENSEARCH_SPARSE_TEST_CRASH_PORT", "9262"))


@pytest.fixture(scope="module")
def node() -> Iterator[LocalCluster]:
    # The default heap: at 512m a node loading the model can trip its real-memory circuit
    # breaker (CI saw it in the 3-node test).
    with LocalCluster(port=PORT) as running:
        yield running


@pytest.fixture(scope="module")
def model_id(node: LocalCluster, onnx_zip: Path) -> str:
    ml = MLCommons(node.client())
    model_id, _ = ml.register(ModelPackage.open(onnx_zip))
    ml.deploy(model_id)
    return model_id


def _kill_and_restart(node: LocalCluster) -> None:
    pid = node.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while node.running_pid() is not None:
        time.sleep(0.1)
    node.start()


def _ingest_through_a_crash(
    node: LocalCluster, index: str, docs: list[Document], encoder: DocumentEncoder | None
) -> IngestReport | None:
    """Ingest, SIGKILL the node after 64 documents and restart it; the run either rides the
    restart out on its retries or stops with IngestError (None)."""
    sent = 0

    def count(n: int) -> None:
        nonlocal sent
        sent += n

    def killer() -> None:
        while sent < 64:
            time.sleep(0.02)
        _kill_and_restart(node)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        return ingest(node.client(), index, docs, encoder=encoder, chunk_size=16, on_progress=count)
    except IngestError:
        return None
    finally:
        thread.join()


@pytest.mark.parametrize("path", ["pipeline", "local"])
def test_node_killed_mid_ingest_then_rerun_stores_each_document_once(
    node: LocalCluster, model_id: str, onnx_zip: Path, corpus_docs: list[Document], path: str
) -> None:
    index = f"crash-{path}"
    create_index(node.client(), index, model_id=model_id, replace=True)
    encoder = DocumentEncoder(onnx_zip) if path == "local" else None
    first = _ingest_through_a_crash(node, index, corpus_docs, encoder)
    print(f"{path}: the crashed run {'stopped' if first is None else 'rode it out'}: {first}")
    MLCommons(node.client()).deploy(model_id)  # what a user does after a restart
    again = ingest(node.client(), index, corpus_docs, encoder=encoder)
    assert again.complete and again.stored == len(corpus_docs)
    assert node.client().count(index=index)["count"] == len(corpus_docs)  # no duplicates


def test_client_killed_mid_ingest_then_rerun_stores_each_document_once(
    node: LocalCluster, model_id: str, corpus_docs: list[Document], tmp_path: Path
) -> None:
    index = "crash-client"
    client = node.client()
    create_index(client, index, model_id=model_id, replace=True)
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {"_id": f"{copy}-{d.doc_id}", "title": d.title, "text": d.text}
        for copy in range(4)
        for d in corpus_docs
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    command = [sys.executable, "-m", "opensearch_sparse", "ingest", index, str(corpus)]
    command += ["--url", node.url, "--batch-size", "16"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and run.poll() is None:
        client.indices.refresh(index=index)
        if client.count(index=index)["count"] >= 64:
            break
        time.sleep(0.2)
    assert run.poll() is None, "the ingest ended before it could be interrupted"
    run.send_signal(signal.SIGKILL)
    run.wait()
    partial = client.count(index=index)["count"]
    assert 0 < partial < len(rows)
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    client.indices.refresh(index=index)
    assert client.count(index=index)["count"] == len(rows)
