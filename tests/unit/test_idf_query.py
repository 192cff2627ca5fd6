"""IDF formula, streaming build, file format, and inference-free query encoding, checked on
hand-computed examples with the real bert-base-uncased WordPiece tokenizer of the shipped model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from opensearch_sparse.idf import IdfError, IdfTable, idf_value
from opensearch_sparse.model_package import ModelPackageError, load_tokenizer
from opensearch_sparse.query_encoder import ENGLISH_STOP_WORDS, MAX_QUERY_WEIGHT, QueryEncoder


@pytest.fixture(scope="module")
def tokenizer(shipped_model: Path):  # type: ignore[no-untyped-def]
    return load_tokenizer(shipped_model)


DOCS = ["The wing stalls.", "Wing flutter at Mach two", "the café"]


def test_idf_formula_by_hand() -> None:
    # N = 3, df = 1: ln(1 + 2.5 / 1.5)
    assert idf_value(3, 1) == pytest.approx(math.log(1 + 2.5 / 1.5))
    # A token in every document still weighs more than zero.
    assert idf_value(3, 3) == pytest.approx(math.log(1 + 0.5 / 3.5))


def test_build_counts_each_token_once_per_document(tokenizer) -> None:  # type: ignore[no-untyped-def]
    table = IdfTable.build([*DOCS, "wing wing wing"], tokenizer, batch_size=2)
    n = 4
    assert table["wing"] == pytest.approx(idf_value(n, 3))  # 3 documents, repeats count once
    assert table["the"] == pytest.approx(idf_value(n, 2))  # "The" is lowercased
    assert table["cafe"] == pytest.approx(idf_value(n, 1))  # accents stripped as the tokenizer does
    assert "[CLS]" not in table.weights and "[SEP]" not in table.weights
    assert table["zeppelin"] == 1.0  # never seen


def test_build_matches_in_memory_count_for_word_pieces(tokenizer) -> None:  # type: ignore[no-untyped-def]
    docs = ["flutteringly", "fluttering"]
    table = IdfTable.build(docs, tokenizer)
    pieces = tokenizer.encode("flutteringly", add_special_tokens=False).tokens
    assert any(p.startswith("##") for p in pieces)
    for piece in pieces:
        df = sum(piece in tokenizer.encode(d, add_special_tokens=False).tokens for d in docs)
        assert table[piece] == pytest.approx(idf_value(2, df))


def test_save_load_round_trip_in_opensearch_format(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    table = IdfTable.build(DOCS, tokenizer)
    path = tmp_path / "idf.json"
    table.save(path)
    raw = json.loads(path.read_text())
    assert isinstance(raw, dict) and all(isinstance(v, float) for v in raw.values())
    assert IdfTable.load(path) == table


def test_bad_idf_files_are_explained(tmp_path: Path) -> None:
    with pytest.raises(IdfError, match="not found"):
        IdfTable.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"a": "x"}')
    with pytest.raises(IdfError, match="token: weight"):
        IdfTable.load(tmp_path / "bad.json")


def test_query_encoding_by_hand(tokenizer) -> None:  # type: ignore[no-untyped-def]
    idf = IdfTable({"wing": 2.5, "the": 0.3, "hyper": 100.0, "##sonic": 0.7})
    encoder = QueryEncoder(tokenizer, idf)
    q = encoder.encode("The WING hypersonic, the wing!")
    # Binary presence: "the" and "wing" once; "hypersonic" -> hyper + ##sonic; punctuation
    # is unseen in this table so weighs 1.0; the weight of "hyper" is clipped to 64.
    assert q.weights == {
        "the": 0.3,
        "wing": 2.5,
        "hyper": MAX_QUERY_WEIGHT,
        "##sonic": 0.7,
        ",": 1.0,
        "!": 1.0,
    }


def test_queries_without_tokens_are_empty(tokenizer) -> None:  # type: ignore[no-untyped-def]
    encoder = QueryEncoder(tokenizer, IdfTable({}))
    assert encoder.encode("").empty
    assert encoder.encode("   \t\n ").empty
    assert encoder.encode("\x00\x01\x02").empty


def test_huge_query_keeps_the_heaviest_tokens(tokenizer) -> None:  # type: ignore[no-untyped-def]
    idf = IdfTable({"aircraft": 9.0})
    encoder = QueryEncoder(tokenizer, idf, max_tokens=5)
    text = " ".join(f"word{i}" for i in range(2000)) + " aircraft"
    q = encoder.encode(text)
    assert len(q.weights) == 5
    assert q.weights["aircraft"] == 9.0
    assert q.dropped_tokens > 0


def test_common_tokens_are_dropped_unless_nothing_else_is_left(tokenizer) -> None:  # type: ignore[no-untyped-def]
    idf = IdfTable({"the": 0.3, "of": 0.5, "wing": 2.5, "who": 0.9})
    encoder = QueryEncoder(tokenizer, idf, min_idf=1.0)
    q = encoder.encode("the wing of the")
    assert q.weights == {"wing": 2.5}
    assert q.dropped_tokens == 2
    # Only common tokens: searching with them beats searching with nothing.
    assert encoder.encode("the who").weights == {"the": 0.3, "who": 0.9}
    assert QueryEncoder(tokenizer, idf).encode("the wing").weights == {"the": 0.3, "wing": 2.5}


def test_stop_words_are_dropped_whatever_their_idf(tokenizer) -> None:  # type: ignore[no-untyped-def]
    """On short texts "for" can be rare enough to pass an IDF floor: the stop list drops it."""
    idf = IdfTable({"python": 1.5, "for": 3.0, "the": 2.0, "library": 2.5, "who": 4.0})
    encoder = QueryEncoder(tokenizer, idf, min_idf=0.5, stop_words=ENGLISH_STOP_WORDS)
    q = encoder.encode("the library for python")
    assert q.weights == {"library": 2.5, "python": 1.5}
    assert q.dropped_tokens == 2
    assert encoder.encode("for the").weights == {"for": 3.0, "the": 2.0}  # nothing else left
    assert encoder.encode("the who").weights == {"who": 4.0}  # "who" is not an english stop word


def test_missing_tokenizer_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ModelPackageError, match=r"no readable tokenizer\.json"):
        load_tokenizer(tmp_path)


def test_build_without_tokenizer_keeps_the_shipped_table(
    tmp_path: Path,
    shipped_model: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    corpus = tmp_path / "notes.jsonl"
    corpus.write_text(
        "".join(json.dumps({"_id": str(i), "text": t}) + "\n" for i, t in enumerate(DOCS))
    )
    shipped = (shipped_model / "idf.json").read_bytes()
    proc = cli("idf", "build", str(corpus), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = IdfTable.load(tmp_path / "idf-notes.json")
    assert table["wing"] == pytest.approx(idf_value(3, 2))  # the shipped model's tokenizer
    assert (shipped_model / "idf.json").read_bytes() == shipped
