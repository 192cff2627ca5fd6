"""Bad input loses nothing and crashes nothing (the README's bad-input table, row by row, on
the real node): a document the cluster refuses fails alone with its line and reason while the
rest of its batch is stored; text that looks like markup is printed literally."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opensearch_sparse.corpus import Document
from opensearch_sparse.ingest import create_index, ingest

#: The session fixture ``cli`` (tests/conftest.py): runs the CLI in a fresh interpreter.
Cli = Callable[..., subprocess.CompletedProcess[str]]

MARKUP = ["a [/] closing tag", "dict[str, int] is a type", "field [text_sparse] of type [x]"]


@pytest.fixture
def index(local_cluster: Any) -> Iterator[str]:
    name = f"test-bad-{uuid.uuid4().hex[:8]}"
    client = local_cluster.client()
    create_index(client, name)
    yield name
    client.indices.delete(index=name, ignore_unavailable=True)


class NegativeWeights:
    """An encoder whose weights the cluster refuses for one document (rank_features must be
    positive), to provoke a real per-document mapping error from the server."""

    window = 64

    def encode(self, texts: list[str], *, by_id: bool = False) -> list[dict[str, float]]:
        assert not by_id, "the test index is rank_features"
        return [{"wing": -1.0} if "poison" in t else {"wing": 1.0} for t in texts]


def test_over_long_id_fails_alone_and_the_batch_is_stored(local_cluster: Any, index: str) -> None:
    client = local_cluster.client()
    docs = [Document(str(i), "", f"good document {i}", i + 1) for i in range(20)]
    docs.insert(7, Document("x" * 600, "", "an id the cluster refuses", 99))
    report = ingest(client, index, docs, chunk_size=64)
    assert [(r.line, r.doc_id[:3]) for r in report.failed] == [(99, "xxx")]
    assert "id" in report.failed[0].reason and "too long" in report.failed[0].reason
    assert (report.sent, report.stored) == (21, 20)
    assert client.count(index=index)["count"] == 20
    assert not report.complete


def test_mapping_error_fails_alone(local_cluster: Any, index: str) -> None:
    client = local_cluster.client()
    docs = [Document(str(i), "", "poison" if i == 3 else f"fine {i}", i + 1) for i in range(10)]
    report = ingest(client, index, docs, encoder=NegativeWeights())  # type: ignore[arg-type]
    assert [r.line for r in report.failed] == [4]
    assert "mapper_parsing_exception" in report.failed[0].reason
    assert report.stored == 9


def test_documents_already_there_do_not_hide_a_missing_one(local_cluster: Any, index: str) -> None:
    client = local_cluster.client()
    first = [Document(str(i), "", f"doc {i}", i + 1) for i in range(5)]
    assert ingest(client, index, first).complete
    again = [*first[:4], Document("y" * 600, "", "refused", 5)]
    report = ingest(client, index, again)
    # The index holds 5 documents, as many as were sent: only counting by id sees the loss.
    assert client.count(index=index)["count"] == 5
    assert (report.sent, report.stored, len(report.failed)) == (5, 4, 1)


def test_cli_over_long_id_line_is_named_and_the_rest_stored(
    cli: Cli, local_cluster: Any, index: str, tmp_path: Path
) -> None:
    lines = [json.dumps({"_id": str(i), "text": f"good {i}"}) for i in range(20)]
    lines.insert(5, json.dumps({"_id": "z" * 600, "text": "too long an id"}))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    proc = cli("ingest", index, str(corpus), "--url", local_cluster.url)
    assert proc.returncode == 1
    assert "line 6" in proc.stderr and "600 bytes" in proc.stderr
    assert "20 documents sent, 0 failed, 20 of them stored" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert local_cluster.client().count(index=index)["count"] == 20


def test_markup_in_documents_is_printed_literally(
    cli: Cli, local_cluster: Any, index: str, tmp_path: Path, shipped_model: Path
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"_id": f"m{i}", "title": t, "text": "markup wing"} for i, t in enumerate(MARKUP)]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    local = ["--encode", "local", "--model", str(shipped_model)]
    assert cli("ingest", index, str(corpus), *local, "--url", local_cluster.url).returncode == 0
    for mode in ("bm25", "sparse"):
        proc = cli("search", index, "markup wing", "--mode", mode, "--url", local_cluster.url)
        assert proc.returncode == 0, proc.stderr
        for title in MARKUP:
            assert title in proc.stdout, (mode, proc.stdout)


def test_cli_pipeline_failure_fails_alone_with_its_line(
    cli: Cli, local_cluster: Any, index: str, tmp_path: Path
) -> None:
    """A document the index's pipeline refuses (here a `fail` processor, as a model or script
    failure would) is named with its line and the server's words; the others are stored."""
    client = local_cluster.client()
    pipeline = f"{index}-poison"
    client.ingest.put_pipeline(
        id=pipeline,
        body={
            "processors": [
                {
                    "fail": {
                        "if": "ctx.text != null && ctx.text.contains('poison')",
                        "message": "poisoned field [text] of type [x]",
                    }
                }
            ]
        },
    )
    try:
        client.indices.put_settings(index=index, body={"index.default_pipeline": pipeline})
        lines = [json.dumps({"_id": f"p{i}", "text": f"fine text {i}"}) for i in range(12)]
        lines[4] = json.dumps({"_id": "p4", "text": "poison"})
        corpus = tmp_path / "corpus.jsonl"
        corpus.write_text("\n".join(lines) + "\n")
        proc = cli("ingest", index, str(corpus), "--batch-size", "64", "--url", local_cluster.url)
        assert proc.returncode == 1
        assert "failed: line 5 (id p4): fail_processor_exception: poisoned field [text]" in (
            proc.stderr
        )
        assert "12 documents sent, 1 failed, 11 of them stored" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert client.count(index=index)["count"] == 11
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)
        client.ingest.delete_pipeline(id=pipeline)


def test_cli_unknown_index_is_named_not_a_traceback(
    cli: Cli, local_cluster: Any, tmp_path: Path
) -> None:
    missing = f"test-missing-{uuid.uuid4().hex[:8]}"
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"_id": "1", "text": "wing"}) + "\n")
    for args in (("ingest", missing, str(corpus)), ("search", missing, "wing", "--mode", "bm25")):
        proc = cli(*args, "--url", local_cluster.url)
        assert proc.returncode == 1, (args, proc.stderr)
        assert "error:" in proc.stderr and missing in proc.stderr, proc.stderr
        assert "fix:" in proc.stderr and "index create" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_cli_unknown_server_encode_model_is_not_called_a_missing_index(
    cli: Cli, local_cluster: Any, index: str
) -> None:
    proc = cli(
        "search", index, "wing", "--server-encode", "no-such-model", "--url", local_cluster.url
    )
    assert proc.returncode == 1
    assert "no-such-model" in proc.stderr or "model" in proc.stderr.lower(), proc.stderr
    assert "does not exist" not in proc.stderr and "Traceback" not in proc.stderr
    assert "fix: check the model id" in proc.stderr, proc.stderr


def test_cli_duplicate_id_is_named_not_silently_replaced(
    cli: Cli, local_cluster: Any, index: str, tmp_path: Path
) -> None:
    lines = [json.dumps({"_id": f"d{i}", "text": f"doc {i}"}) for i in range(6)]
    lines.append(json.dumps({"_id": "d2", "text": "a second document with id d2"}))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    proc = cli("ingest", index, str(corpus), "--url", local_cluster.url)
    assert proc.returncode == 1  # line 3's document is not in the index
    assert "duplicate: line 7 (id d2): an earlier line has the same _id" in proc.stderr
    assert "7 lines read, 0 bad lines skipped, 1 with a duplicate _id" in proc.stderr
    assert "6 documents sent, 0 failed, 6 of them stored" in proc.stderr
    assert "1 of 7 corpus lines are not in" in proc.stderr
    client = local_cluster.client()
    assert client.count(index=index)["count"] == 6
    assert client.get(index=index, id="d2")["_source"]["text"] == "a second document with id d2"
