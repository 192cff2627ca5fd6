"""Retrieval evaluation without OpenSearch, shared by the training report and the GPU script.

Inference-free scoring in Python: a query is its distinct tokens (no special tokens) weighted
by an IDF table (or 1), dotted with document vectors from the encoder (max length 256). Runs
keep each query's top 20 (NDCG@10 needs 10). BM25 is ``bm25s`` (k1 0.9, b 0.4, English
stemming, title + text), as in ../shared/data/README.md's reference figures.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from tokenizers import Tokenizer

from opensearch_sparse.corpus import dropping_self, read_corpus, read_queries
from opensearch_sparse.idf import IdfTable

TOP = 20
#: Documents are read at the training length (256 tokens) by every offline evaluation, so
#: rows from the GPU script, the comparisons and the soups line up.
EVAL_MAX_LEN = 256
Run = dict[str, dict[str, float]]


@dataclass(frozen=True)
class BeirSet:
    name: str
    doc_ids: list[str]
    texts: list[str]
    queries: dict[str, str]

    @classmethod
    def load(cls, folder: Path) -> BeirSet:
        docs = list(read_corpus(folder))
        return cls(
            folder.name, [d.doc_id for d in docs], [d.content for d in docs], read_queries(folder)
        )


def query_weights_vector(tokenizer: Tokenizer, idf: IdfTable | None) -> np.ndarray:
    vocab = tokenizer.get_vocab()
    weights = np.ones(len(vocab), dtype=np.float32)
    if idf is not None:
        for token, index in vocab.items():
            weights[index] = idf[token]
    specials = [i for i, t in tokenizer.get_added_tokens_decoder().items() if t.special]
    weights[specials] = 0.0
    return weights


def query_matrix(tokenizer: Tokenizer, texts: list[str], weights: np.ndarray) -> sparse.csr_matrix:
    """Binary presence of each query's tokens, times their weight (the inference-free query)."""
    rows, cols = [], []
    for row, encoding in enumerate(tokenizer.encode_batch(texts, add_special_tokens=False)):
        ids = sorted(set(encoding.ids))
        rows.extend([row] * len(ids))
        cols.extend(ids)
    values = weights[cols]
    return sparse.csr_matrix((values, (rows, cols)), shape=(len(texts), len(weights)))


def counting_tokenizer(path: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def sparse_run(beir: BeirSet, queries: sparse.csr_matrix, docs: sparse.csr_matrix) -> Run:
    """Each query's top hits with a positive score, its own id dropped (BEIR convention)."""
    scores = (queries @ docs.T).toarray()
    top = np.argsort(-scores, axis=1)[:, : TOP + 1]
    return dropping_self(
        {
            qid: {beir.doc_ids[j]: float(scores[i, j]) for j in top[i] if scores[i, j] > 0}
            for i, qid in enumerate(beir.queries)
        }
    )


def ndcg_at_10(qrels: dict[str, dict[str, int]], run: Run) -> float:
    """Mean NDCG@10 with linear gains over the judged queries (ranx's ``ndcg@10``).

    For the GPU machine, which has no ranx: its dev-set choice must not wait for the trip home.
    Reported figures are always ranx's, computed here afterwards from the same runs.
    """
    values = []
    for qid, judged in qrels.items():
        hits = sorted(run.get(qid, {}).items(), key=lambda hit: -hit[1])[:10]
        dcg = sum(judged.get(doc, 0) / np.log2(rank + 2) for rank, (doc, _) in enumerate(hits))
        ideal = sorted(judged.values(), reverse=True)[:10]
        best = sum(grade / np.log2(rank + 2) for rank, grade in enumerate(ideal))
        values.append(dcg / best if best > 0 else 0.0)
    return float(np.mean(values)) if values else 0.0


def doc_length(docs: sparse.csr_matrix) -> float:
    return float(np.diff(docs.indptr).mean())


def query_side_runs(
    beir: BeirSet,
    tokenizer: Tokenizer,
    docs: sparse.csr_matrix,
    weights_by_side: dict[str, np.ndarray],
) -> dict[str, Run]:
    """One run per query side (e.g. ``general``, ``corpus``, ``binary`` weights) over ``docs``."""
    texts = list(beir.queries.values())
    return {
        side: sparse_run(beir, query_matrix(tokenizer, texts, weights), docs)
        for side, weights in weights_by_side.items()
    }


def idf_sides(tokenizer: Tokenizer, texts: list[str], general: np.ndarray) -> dict[str, np.ndarray]:
    """The two IDF query sides every comparison scores: the general table (``general``, already
    a weights vector) and an IDF built from the set's own corpus (``texts``)."""
    return {
        "general": general,
        "corpus": query_weights_vector(tokenizer, IdfTable.build(texts, tokenizer)),
    }


def judged_run(qrels: dict[str, dict[str, int]], run: Run, name: str):
    """A ranx ``Run`` holding every judged query (an empty result where ``run`` has none), as
    ranx's ``evaluate`` and ``compare`` require; ranx is imported here, not on the GPU machine."""
    from ranx import Run as RanxRun

    return RanxRun({q: run.get(q, {}) for q in qrels}, name=name)


def paired_p_value(qrels: dict[str, dict[str, int]], run, other) -> float:
    """Paired t-test p-value of NDCG@10 per query between two ``judged_run`` results (ranx
    ``compare``)."""
    from ranx import Qrels, compare

    report = compare(Qrels(qrels), [run, other], ["ndcg@10"], stat_test="student")
    return float(report.to_dict()[run.name]["comparisons"][other.name]["ndcg@10"])


def bm25_run(beir: BeirSet) -> Run:
    """The stemmed-English BM25 comparator's top hits, its own id dropped like ``sparse_run``."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25(k1=0.9, b=0.4)
    corpus = bm25s.tokenize(beir.texts, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever.index(corpus, show_progress=False)
    tokens = bm25s.tokenize(
        list(beir.queries.values()), stopwords="en", stemmer=stemmer, show_progress=False
    )
    hits, scores = retriever.retrieve(tokens, k=TOP, show_progress=False)
    return dropping_self(
        {
            qid: {beir.doc_ids[int(d)]: float(s) for d, s in zip(hits[i], scores[i], strict=True)}
            for i, qid in enumerate(beir.queries)
        }
    )


def encode_documents(scorer, texts: list[str], batch_size: int = 32) -> sparse.csr_matrix:
    """Document vectors as CSR, batches sorted by length so little padding is projected."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    blocks: list[sparse.csr_matrix] = []
    scorer.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = [texts[i] for i in order[start : start + batch_size]]
            blocks.append(sparse.csr_matrix(scorer.documents(batch).float().cpu().numpy()))
    stacked = sparse.vstack(blocks).tocsr()
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.arange(len(order))
    return stacked[inverse]


def save_runs(path: Path, payload: dict) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(payload, handle)


def load_runs(path: Path) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)
