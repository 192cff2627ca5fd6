"""Teachers behind one interface: embed texts once, score each query against its documents.

Two kinds, as in the method's heterogeneous ensemble: a dense siamese bi-encoder (cosine of
mean-pooled, normalised embeddings; all-MiniLM-L6-v2 here) and a sparse siamese SPLADE-style
encoder (dot product of masked-LM max-pooled vectors; splade-tiny here, queries through the
model too). Both come straight from sentence-transformers; this module only gives them one
``score`` so the ensemble and the cache need not know which is which.

Documents shared by several examples are embedded once (``score`` takes unique texts plus an
index matrix), which is what makes teacher scoring a one-off cost.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from scipy import sparse
from sentence_transformers import SentenceTransformer, SparseEncoder
from sentence_transformers.base.modules import Transformer
from sentence_transformers.sparse_encoder.modules import SpladePooling

from opensearch_sparse.training.config import TeacherConfig

logger = logging.getLogger(__name__)

Task = Literal["query", "document"]
Embeddings = Any  # np.ndarray (dense) or scipy.sparse.csr_matrix (sparse)


class Teacher(ABC):
    """Scores (query, document) pairs; higher is more relevant, on the teacher's own scale."""

    name: str

    @abstractmethod
    def __init__(self, path: str | Path, *, max_len: int, batch_size: int, device: str) -> None: ...

    @abstractmethod
    def embed(self, texts: list[str], task: Task) -> Embeddings: ...

    def score(self, queries: list[str], documents: list[str], groups: np.ndarray) -> np.ndarray:
        """``groups[i]`` holds indices into ``documents`` for query i; returns ``[n, k]``."""
        q = self.embed(queries, "query")
        d = self.embed(documents, "document")
        n, k = groups.shape
        rows_q = q[np.repeat(np.arange(n), k)]
        rows_d = d[groups.reshape(-1)]
        if isinstance(rows_q, np.ndarray):
            products = np.einsum("ij,ij->i", rows_q, rows_d)
        else:
            products = np.asarray(rows_q.multiply(rows_d).sum(axis=1)).ravel()
        return products.reshape(n, k).astype(np.float32)


class DenseTeacher(Teacher):
    """Cosine similarity of a sentence-transformers bi-encoder's normalised embeddings."""

    def __init__(self, path: str | Path, *, max_len: int, batch_size: int, device: str) -> None:
        self.name = f"dense:{Path(path).name}"
        self.model = SentenceTransformer(str(path), device=device)
        self.model.max_seq_length = max_len
        self.batch_size = batch_size

    def embed(self, texts: list[str], task: Task) -> np.ndarray:
        return self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )


class SparseTeacher(Teacher):
    """Dot product of SPLADE vectors, the same masked-LM encoder for queries and documents."""

    def __init__(self, path: str | Path, *, max_len: int, batch_size: int, device: str) -> None:
        self.name = f"sparse:{Path(path).name}"
        mlm = Transformer(str(path), transformer_task="fill-mask", max_seq_length=max_len)
        self.model = SparseEncoder(modules=[mlm, SpladePooling("max")], device=device)
        self.special = sorted(mlm.tokenizer.all_special_ids)
        self.batch_size = batch_size

    def embed(self, texts: list[str], task: Task) -> sparse.csr_matrix:
        encoded = (
            self.model.encode(texts, batch_size=self.batch_size, convert_to_sparse_tensor=True)
            .coalesce()
            .cpu()
        )
        indices = encoded.indices().numpy()
        matrix = sparse.csr_matrix(
            (encoded.values().float().numpy(), (indices[0], indices[1])), shape=encoded.shape
        )
        keep = np.ones(matrix.shape[1], dtype=np.float32)
        keep[self.special] = 0.0  # special tokens carry no lexical match
        return (matrix @ sparse.diags(keep)).tocsr()


def build_teacher(config: TeacherConfig, *, max_len: int, batch_size: int, device: str) -> Teacher:
    kinds: dict[str, type[Teacher]] = {"dense": DenseTeacher, "sparse": SparseTeacher}
    return kinds[config.kind](config.path, max_len=max_len, batch_size=batch_size, device=device)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
