"""Corpus reading: every bad line is named by its number; nothing valid is lost."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from opensearch_sparse.corpus import (
    CorpusError,
    ReadReport,
    count_lines,
    dropping_self,
    parse_line,
    read_corpus,
    read_qrels,
    read_queries,
)

GOOD = [
    {"_id": "a", "title": "Wings", "text": "stall at high angle"},
    {"_id": 7, "text": "integer ids become strings"},
    {"_id": "c", "title": "title only"},
]


def _write(path: Path, lines: list[bytes]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(b"\n".join(lines) + b"\n")
    return path


def _mixed() -> list[bytes]:
    good = [json.dumps(g).encode() for g in GOOD]
    return [
        good[0],
        b"{not json",
        good[1],
        json.dumps({"_id": "x", "title": "", "text": "   "}).encode(),
        json.dumps({"_id": "y", "text": 42}).encode(),
        b"",
        "\u00e9t\u00e9".encode("latin-1"),
        json.dumps(["a", "list"]).encode(),
        json.dumps({"text": "no id"}).encode(),
        good[2],
    ]


@pytest.mark.parametrize("name", ["corpus.jsonl", "corpus.jsonl.gz"])
def test_skip_reports_each_bad_line_and_keeps_every_good_one(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / name, _mixed())
    report = ReadReport()
    docs = list(read_corpus(tmp_path, on_error="skip", report=report))
    assert [d.doc_id for d in docs] == ["a", "7", "c"]
    assert docs[0].content == "Wings\nstall at high angle"
    assert docs[2].content == "title only"
    assert [n for n, _ in report.bad] == [2, 4, 5, 7, 8, 9]
    reasons = dict(report.bad)
    assert "invalid JSON" in reasons[2]
    assert "no text" in reasons[4]
    assert "text is not a string" in reasons[5]
    assert "UTF-8" in reasons[7]
    assert "not a JSON object" in reasons[8]
    assert "_id" in reasons[9]
    assert (report.lines, report.documents) == (9, 3)
    assert count_lines(path) == 9


def test_fail_stops_at_the_first_bad_line_with_its_number(tmp_path: Path) -> None:
    _write(tmp_path / "corpus.jsonl", _mixed())
    with pytest.raises(CorpusError, match=r"corpus.jsonl:2: invalid JSON"):
        list(read_corpus(tmp_path, on_error="fail"))


def test_missing_corpus_is_explained(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"no corpus\.jsonl"):
        list(read_corpus(tmp_path))


def test_parse_line_rejects_boolean_id() -> None:
    with pytest.raises(ValueError, match="_id"):
        parse_line(json.dumps({"_id": True, "text": "x"}).encode())


def test_qrels_drop_grade_zero(tmp_path: Path) -> None:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td3\t1\n"
    )
    assert read_qrels(tmp_path) == {"q1": {"d1": 2}, "q2": {"d3": 1}}


def test_over_long_id_is_a_bad_line_and_keeps_its_number(tmp_path: Path) -> None:
    # 600 bytes: OpenSearch would refuse the whole bulk request that carried it.
    lines = [
        json.dumps(GOOD[0]).encode(),
        json.dumps({"_id": "\u00e9" * 300, "text": "x"}).encode(),
    ]
    report = ReadReport()
    docs = list(read_corpus(_write(tmp_path / "corpus.jsonl", lines), report=report))
    assert [(d.doc_id, d.line) for d in docs] == [("a", 1)]
    assert report.bad == [(2, "_id is 600 bytes long; OpenSearch allows at most 512")]


def test_non_utf8_queries_name_the_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "queries.jsonl", [b'{"_id": "1", "text": "ok"}', "\u00e9".encode("latin-1")]
    )
    with pytest.raises(CorpusError, match=r"queries.jsonl:2: not valid UTF-8") as caught:
        read_queries(path)
    assert caught.value.fix and "UTF-8" in caught.value.fix


def test_bad_qrels_lines_are_errors_not_tracebacks(tmp_path: Path) -> None:
    (tmp_path / "qrels").mkdir()
    target = tmp_path / "qrels" / "test.tsv"
    target.write_bytes(b"query-id\tcorpus-id\tscore\nq1\td1\ttwo\n")
    with pytest.raises(CorpusError, match=r"test.tsv:2: expected"):
        read_qrels(tmp_path)
    target.write_bytes(b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq\xe9\td1\t1\n")
    with pytest.raises(CorpusError, match=r"test.tsv:3: not valid UTF-8 \(byte 1\)"):
        read_qrels(tmp_path)


def test_non_utf8_idf_table_is_an_idf_error(tmp_path: Path) -> None:
    from opensearch_sparse.idf import IdfError, IdfTable

    path = tmp_path / "idf.json"
    path.write_bytes(b'{\n"cafe": 1.0,\n"caf\xe9": 1.0}')
    with pytest.raises(IdfError, match=r"idf.json:3: not valid UTF-8 \(byte 4\)") as caught:
        IdfTable.load(path)
    assert caught.value.fix and "UTF-8" in caught.value.fix
    path.write_text('{\n"cafe": 1.0,\n"x" 1.0}')
    with pytest.raises(IdfError, match=r"idf.json:3: not JSON"):
        IdfTable.load(path)


def test_a_hit_with_the_query_s_own_id_is_dropped() -> None:
    run = {"5": {"5": 2.0, "7": 1.0}, "6": {"5": 1.0}}
    assert dropping_self(run) == {"5": {"7": 1.0}, "6": {"5": 1.0}}
