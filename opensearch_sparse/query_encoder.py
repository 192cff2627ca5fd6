"""Inference-free query encoding: tokenize, keep each token once, weight it by its IDF.

No model runs here (and no torch): the tokenizer is the document encoder's own, so query
tokens are spelled exactly as the index stores them (``##`` pieces, lowercased, accents
handled by the tokenizer's normalizer, no special tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from opensearch_sparse.idf import IdfTable
from opensearch_sparse.model_package import load_tokenizer

#: neural_sparse accepts query weights in (0, 64].
MAX_QUERY_WEIGHT = 64.0
#: Queries longer than this many distinct tokens keep the highest-weighted ones, so a pasted
#: page of text cannot turn into thousands of clauses.
MAX_QUERY_TOKENS = 256


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
    ) -> None:
        """``min_idf`` drops query tokens at or below that IDF: near-stop-words whose posting
        lists are the longest in an expanded index but which add almost nothing to a score
        (the sparse counterpart of the ``english`` analyzer's stop list)."""
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.idf = idf
        self.max_tokens = max_tokens
        self.min_idf = min_idf
        self._special = {
            int(i) for i, t in self.tokenizer.get_added_tokens_decoder().items() if t.special
        }

    @classmethod
    def from_paths(cls, model: Path, idf: Path, *, min_idf: float = 0.0) -> QueryEncoder:
        return cls(load_tokenizer(model), IdfTable.load(idf), min_idf=min_idf)

    def tokens(self, text: str) -> list[str]:
        """Distinct tokens of ``text`` as the index spells them, in first-seen order."""
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        seen: dict[str, None] = {}
        for token_id, token in zip(encoding.ids, encoding.tokens, strict=True):
            if token_id not in self._special:
                seen.setdefault(token, None)
        return list(seen)

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
        common = {t for t, w in weights.items() if w <= self.min_idf}
        dropped = len(common) if len(common) < len(weights) else 0
        if dropped:
            weights = {t: w for t, w in weights.items() if t not in common}
        if len(weights) > self.max_tokens:
            dropped += len(weights) - self.max_tokens
            kept = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[: self.max_tokens]
            weights = dict(kept)
        return EncodedQuery(weights, dropped)
