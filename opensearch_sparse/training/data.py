"""Training examples: (query, positive) pairs in, BM25-mined hard negatives added, saved once.

The method needs no judged queries: real question/answer pairs (MedQuAD) and title -> text
pairs made from any plain corpus (the paper pre-trains on such pairs) both give a query and
its positive. Negatives come from BM25 (``bm25s``) over the same source's documents, so they
share the query's vocabulary and are hard for an inference-free (lexical) student.

A training set is stored as two gzipped JSON-lines files: the unique document texts, and the
examples as a query plus document ids (positive first). Storing ids keeps the set small enough
to travel (a GPU machine gets a copy) and lets the teacher cache key on the exact bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opensearch_sparse.corpus import read_corpus

logger = logging.getLogger(__name__)

TEXTS_FILE = "texts.jsonl.gz"
EXAMPLES_FILE = "examples.jsonl.gz"


@dataclass(frozen=True)
class Pair:
    query: str
    positive: str


@dataclass(frozen=True)
class Example:
    """One listwise group: a query and the ids of its documents, the positive first."""

    query: str
    doc_ids: tuple[int, ...]


@dataclass(frozen=True)
class TrainingSet:
    texts: list[str]
    examples: list[Example]

    def documents(self, example: Example) -> list[str]:
        return [self.texts[i] for i in example.doc_ids]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        write_jsonl(folder / TEXTS_FILE, ({"text": t} for t in self.texts))
        rows = ({"query": e.query, "doc_ids": list(e.doc_ids)} for e in self.examples)
        write_jsonl(folder / EXAMPLES_FILE, rows)

    @classmethod
    def load(cls, folder: Path) -> TrainingSet:
        texts = [row["text"] for row in read_jsonl(folder / TEXTS_FILE)]
        examples = [
            Example(row["query"], tuple(row["doc_ids"]))
            for row in read_jsonl(folder / EXAMPLES_FILE)
        ]
        return cls(texts, examples)


def fingerprint(folder: Path) -> str:
    """Digest of a saved set's bytes: cached teacher scores are valid for exactly these bytes."""
    digest = hashlib.sha256()
    for name in (TEXTS_FILE, EXAMPLES_FILE):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:16]


def read_pairs(path: Path, source: str | None = None) -> list[Pair]:
    """``{"query", "positive"}`` JSON lines (optionally gzipped); only ``source`` rows if set."""
    return [
        Pair(str(r["query"]), str(r["positive"]))
        for r in read_jsonl(path)
        if source is None or r.get("source") == source
    ]


def title_text_pairs(path: Path, *, min_title_words: int = 3) -> list[Pair]:
    """Title -> body pairs from a BEIR-style corpus; titles that are just ids are skipped."""
    pairs = []
    for doc in read_corpus(path):
        title, text = doc.title.strip(), doc.text.strip()
        if len(title.split()) >= min_title_words and text and title != doc.doc_id:
            pairs.append(Pair(title, text))
    return pairs


def split_heldout(pairs: Sequence[Pair], n: int, seed: int) -> tuple[list[Pair], list[Pair]]:
    """A seeded (train, held-out) split; held-out queries never reach training."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    held = {i for i in order[:n]}
    return [p for i, p in enumerate(pairs) if i not in held], [pairs[i] for i in order[:n]]


def dedupe_pairs(pairs: Sequence[Pair], *, per_positive: int) -> list[Pair]:
    """Drop repeated questions (case and spacing folded) and cap questions per positive.

    A question text seen twice is either a template ("What is (are) X ?" over many answers) or
    the same question with two answers: both make poor listwise targets, so every copy goes.
    """
    key = [" ".join(p.query.lower().split()) for p in pairs]
    seen: dict[str, int] = {}
    for k in key:
        seen[k] = seen.get(k, 0) + 1
    per: dict[str, int] = {}
    kept = []
    for pair, k in zip(pairs, key, strict=True):
        if seen[k] > 1 or not pair.query.strip() or not pair.positive.strip():
            continue
        if per_positive and per.get(pair.positive, 0) >= per_positive:
            continue
        per[pair.positive] = per.get(pair.positive, 0) + 1
        kept.append(pair)
    return kept


def split_heldout_by_positive(
    pairs: Sequence[Pair], n: int, seed: int
) -> tuple[list[Pair], list[Pair]]:
    """Hold out ``n`` queries with their whole paragraphs: no held-out positive is trained on."""
    positives = sorted({p.positive for p in pairs})
    random.Random(seed).shuffle(positives)
    held: set[str] = set()
    count = 0
    for positive in positives:
        if count >= n:
            break
        held.add(positive)
        count += sum(1 for p in pairs if p.positive == positive)
    train = [p for p in pairs if p.positive not in held]
    heldout = [p for p in pairs if p.positive in held][:n]
    return train, heldout


def mine_hard_negatives(
    pairs: Sequence[Pair],
    *,
    negatives: int,
    depth: int = 50,
    max_chars: int = 1000,
    positive_top_k: int = 0,
) -> TrainingSet:
    """BM25 over the pairs' own positives; keep the top ``negatives`` non-positive hits.

    Documents are the distinct positives (truncated to ``max_chars``, which is beyond what the
    student reads at 128-256 tokens). A query whose search returns too few other documents is
    dropped rather than padded with easy random negatives.
    """
    import bm25s  # optional dependency of training only

    texts = sorted({p.positive[:max_chars] for p in pairs})
    index_of = {t: i for i, t in enumerate(texts)}
    retriever = bm25s.BM25(k1=0.9, b=0.4)
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    queries = bm25s.tokenize([p.query for p in pairs], stopwords="en", show_progress=False)
    hits, _ = retriever.retrieve(queries, k=min(depth, len(texts)), show_progress=False)
    examples = []
    for pair, row in zip(pairs, hits, strict=True):
        positive = index_of[pair.positive[:max_chars]]
        if positive_top_k and positive not in [int(d) for d in row[:positive_top_k]]:
            continue
        negs = [int(d) for d in row if int(d) != positive][:negatives]
        if len(negs) == negatives:
            examples.append(Example(pair.query, (positive, *negs)))
    logger.info("mined %d of %d pairs (%d documents)", len(examples), len(pairs), len(texts))
    return TrainingSet(texts, examples)


def merge(sets: Iterable[TrainingSet]) -> TrainingSet:
    """Concatenate sets, shifting document ids; each set's negatives stay within its source."""
    texts: list[str] = []
    examples: list[Example] = []
    for part in sets:
        offset = len(texts)
        texts.extend(part.texts)
        examples.extend(
            Example(e.query, tuple(i + offset for i in e.doc_ids)) for e in part.examples
        )
    return TrainingSet(texts, examples)


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    # mtime=0 keeps the gzip bytes (and so the fingerprint) a function of the content alone.
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
