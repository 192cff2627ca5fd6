"""Inference-free query encoding: tokenize, keep each token once, weight it by its IDF.

No model runs here (and no torch): the tokenizer is the document encoder's own, so query
tokens are spelled exactly as the index stores them (``##`` pieces, lowercased, accents
handled by the tokenizer's normalizer, no special tokens).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from opensearch_sparse.idf import IdfTable
from opensearch_sparse.model_package import load_tokenizer

#: neural_sparse accepts query weights in (0, 64].
MAX_QUERY_WEIGHT = 64.0
#: Queries longer than this many distinct tokens keep the highest-weighted ones, so a pasted
#: page of text cannot turn into thousands of clauses. A search's cost grows with its clauses
#: (``search --max-query-tokens`` sets a lower cap: ``benchmarks/levers.py`` measures it).
MAX_QUERY_TOKENS = 256
#: The ``english`` analyzer's stop words (Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET), which
#: the BM25 comparator never searches; ``QueryEncoder(stop_words=...)`` can drop them too.
# fmt: off
ENGLISH_STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
})
# fmt: on
#: Distinct words whose word pieces a query encoder remembers (see ``AsciiWordPieces``).
WORD_CACHE_SIZE = 65536
#: Printable ASCII, tab, newline, carriage return: all a BERT-uncased tokenizer does to such text
#: is lowercase it and split it at whitespace and punctuation.
_PLAIN_ASCII = re.compile(r"[\x20-\x7e\t\n\r]*")
#: Its words: runs of letters and digits, and each other visible character alone (every
#: printable ASCII character that is neither a letter, a digit nor a space is punctuation).
_ASCII_WORDS = re.compile(r"[a-z0-9]+|[^a-z0-9\s]")


class AsciiWordPieces:
    """A query's word pieces without the tokenizers binding's fixed cost per call (~20 us,
    which measured 7% of a 1 ms search at one client): plain-ASCII text under a BERT-uncased
    tokenizer is lowercased and split in Python, and the tokenizer's own WordPiece model is
    asked once per distinct word. Anything else (other characters, another tokenizer, text
    holding an added token such as ``[CLS]``) gets None: the caller runs the full tokenizer.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        spec = json.loads(tokenizer.to_str())
        normalizer = spec.get("normalizer") or {}
        self.usable = bool(
            normalizer.get("type") == "BertNormalizer"
            and normalizer.get("lowercase")
            and normalizer.get("clean_text")
            and (spec.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer"
            and spec.get("model", {}).get("type") == "WordPiece"
        )
        self.added = [str(t["content"]).lower() for t in spec.get("added_tokens", [])]
        model = tokenizer.model
        self.word_pieces = functools.lru_cache(maxsize=WORD_CACHE_SIZE)(
            lambda word: tuple(t.value for t in model.tokenize(word))
        )

    def __call__(self, text: str) -> list[str] | None:
        if not self.usable or not _PLAIN_ASCII.fullmatch(text):
            return None
        lowered = text.lower()
        if any(token in lowered for token in self.added):
            return None
        return [p for word in _ASCII_WORDS.findall(lowered) for p in self.word_pieces(word)]


@dataclass(frozen=True)
class EncodedQuery:
    """Token weights to send, and what was dropped and why (for empty-result explanations)."""

    weights: dict[str, float]
    dropped_tokens: int = 0

    @property
    def empty(self) -> bool:
        return not self.weights


class QueryEncoder:
    """Text -> ``{token: idf}`` for ``neural_sparse.query_tokens``."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        idf: IdfTable,
        *,
        max_tokens: int = MAX_QUERY_TOKENS,
        min_idf: float = 0.0,
        stop_words: frozenset[str] = frozenset(),
    ) -> None:
        """``min_idf`` drops query tokens at or below that IDF: near-stop-words whose posting
        lists are the longest in an expanded index but which add almost nothing to a score
        (the sparse counterpart of the ``english`` analyzer's stop list). ``stop_words``
        (e.g. ``ENGLISH_STOP_WORDS``) drops those tokens whatever their IDF: on short texts
        such as package summaries "the" or "for" are rare enough to pass any floor that keeps
        relevance, yet their posting lists are among the longest. Either rule keeps a query
        made only of such tokens whole."""
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.idf = idf
        self.max_tokens = max_tokens
        self.min_idf = min_idf
        self.stop_words = stop_words
        self._special = {
            str(t.content) for t in self.tokenizer.get_added_tokens_decoder().values() if t.special
        }
        self._ascii = AsciiWordPieces(self.tokenizer)

    @classmethod
    def from_paths(
        cls,
        model: Path,
        idf: Path,
        *,
        max_tokens: int = MAX_QUERY_TOKENS,
        min_idf: float = 0.0,
        stop_words: frozenset[str] = frozenset(),
    ) -> QueryEncoder:
        return cls(
            load_tokenizer(model),
            IdfTable.load(idf),
            max_tokens=max_tokens,
            min_idf=min_idf,
            stop_words=stop_words,
        )

    def vocabulary_weights(self) -> np.ndarray:
        """The weight a query gives each vocabulary id (0 for special tokens, which queries
        never hold): what ``contribution`` pruning multiplies document weights by."""
        weights = np.zeros(self.tokenizer.get_vocab_size(), dtype=np.float32)
        for token, i in self.tokenizer.get_vocab().items():
            if token not in self._special:
                weights[i] = min(self.idf[token], MAX_QUERY_WEIGHT)
        return weights

    def tokens(self, text: str) -> list[str]:
        """Distinct tokens of ``text`` as the index spells them, in first-seen order."""
        pieces = self._ascii(text)
        if pieces is None:
            pieces = self.tokenizer.encode(text, add_special_tokens=False).tokens
        return list(dict.fromkeys(p for p in pieces if p not in self._special))

    def ids(self, weights: dict[str, float]) -> dict[str, float]:
        """The same weights keyed by vocabulary id, as ``sparse_vector`` fields store them."""
        return {str(self.tokenizer.token_to_id(t)): w for t, w in weights.items()}

    def encode(self, text: str) -> EncodedQuery:
        weights = {}
        for token in self.tokens(text):
            weight = min(self.idf[token], MAX_QUERY_WEIGHT)
            if weight > 0:
                weights[token] = weight
        # A query made only of common tokens ("the who") still searches with all of them.
        common = {t for t, w in weights.items() if w <= self.min_idf or t in self.stop_words}
        dropped = len(common) if len(common) < len(weights) else 0
        if dropped:
            weights = {t: w for t, w in weights.items() if t not in common}
        if len(weights) > self.max_tokens:
            dropped += len(weights) - self.max_tokens
            kept = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[: self.max_tokens]
            weights = dict(kept)
        return EncodedQuery(weights, dropped)
