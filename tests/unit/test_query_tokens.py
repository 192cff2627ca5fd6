"""The query encoder's plain-ASCII path (``AsciiWordPieces``) gives exactly the full
tokenizer's tokens: on the fixture's queries and documents, on random printable and control
text, on words at and past WordPiece's length limit, and on text that holds special tokens;
text it cannot handle, and tokenizers that are not BERT-uncased, go through the full
tokenizer."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest
from tokenizers import Tokenizer, normalizers

from opensearch_sparse.idf import IdfTable
from opensearch_sparse.model_package import load_tokenizer
from opensearch_sparse.query_encoder import AsciiWordPieces, QueryEncoder

SPECIAL = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}  # BERT's, never sent in a query
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dbpedia-mini"


@pytest.fixture(scope="module")
def encoder(shipped_model: Path) -> QueryEncoder:
    return QueryEncoder(load_tokenizer(shipped_model), IdfTable({}))


def full(encoder: QueryEncoder, text: str) -> list[str]:
    """What the tokenizer itself says, the way ``tokens`` reads it."""
    pieces = encoder.tokenizer.encode(text, add_special_tokens=False).tokens
    return list(dict.fromkeys(p for p in pieces if p not in SPECIAL))


def texts() -> list[str]:
    lines = [
        json.loads(line)
        for name in ("queries", "corpus")
        for line in (FIXTURE / f"{name}.jsonl").read_text().splitlines()
    ]
    rng = random.Random(7)
    alphabet = string.printable + "\x00\x0b\x0c\x1f\x7f" + "éÜ中" + "[CLS]"
    noise = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(3000)]
    edges = [
        "w" * 100,
        "w" * 101,
        f"a {'b' * 150} c",
        "[CLS] wing [SEP]",
        "[cls] wing",
        "x[MASK]y",
        "C++ & C#: 3.14-rc1 (beta)!",
        "tab\tnew\nline\rreturn",
        "",
        "   ",
    ]
    return [str(d.get("title", "")) + " " + str(d["text"]) for d in lines] + noise + edges


def test_the_ascii_path_gives_the_full_tokenizers_tokens(encoder: QueryEncoder) -> None:
    cases = texts()
    assert [encoder.tokens(t) for t in cases] == [full(encoder, t) for t in cases]


def test_plain_ascii_takes_the_fast_path_and_everything_else_does_not(
    encoder: QueryEncoder,
) -> None:
    pieces = AsciiWordPieces(encoder.tokenizer)
    assert pieces.usable
    assert pieces("Wing flutter, at MACH-2!") == [
        "wing",
        "flutter",
        ",",
        "at",
        "mach",
        "-",
        "2",
        "!",
    ]
    assert pieces("the café") is None  # accents: the normalizer's job
    assert pieces("a\x0bb") is None  # a control character the normalizer deletes
    assert pieces("hello [SEP] world") is None  # an added token


def test_a_tokenizer_that_is_not_bert_uncased_is_left_to_itself(encoder: QueryEncoder) -> None:
    cased = Tokenizer.from_str(encoder.tokenizer.to_str())
    cased.normalizer = normalizers.BertNormalizer(lowercase=False)
    assert not AsciiWordPieces(cased).usable
    query = QueryEncoder(cased, IdfTable({}))
    assert query.tokens("Paris Wing") == full(query, "Paris Wing")
    assert query.tokens("Paris Wing") != encoder.tokens("Paris Wing")


def test_vocabulary_weights_are_the_weights_queries_give(shipped_model: Path) -> None:
    tokenizer = load_tokenizer(shipped_model)
    idf = IdfTable({"wing": 3.5, "the": 0.2, "huge": 99.0})
    encoder = QueryEncoder(tokenizer, idf)
    weights = encoder.vocabulary_weights()
    assert weights.shape == (tokenizer.get_vocab_size(),)
    for text in ("the wing", "huge wing flutter", "[CLS] stall"):
        for token, weight in encoder.encode(text).weights.items():
            assert weights[tokenizer.token_to_id(token)] == pytest.approx(weight), token
    assert weights[tokenizer.token_to_id("huge")] == 64.0  # neural_sparse's cap
    assert weights[tokenizer.token_to_id("flutter")] == 1.0  # unseen: the table's default
    assert all(weights[tokenizer.token_to_id(t)] == 0 for t in SPECIAL)
