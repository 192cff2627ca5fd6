"""The student: an inference-free sparse encoder composed from sentence-transformers modules.

``Router.for_query_document`` routes documents through the masked-LM (``Transformer`` with
``transformer_task="fill-mask"``) and ``SpladePooling("max")`` (``log(1 + relu)`` of the
masked max over positions), and queries through a frozen ``SparseStaticEmbedding`` whose
weights are the IDF table: a query vector is ``idf(t)`` for every token present, once. So the
student's dot product *is* the method's IDF-aware score ``sum_t idf(t) q_t d_t``, and
``idf_aware=False`` is the same model with all query weights 1.

What the library lacks is added here: special tokens are zeroed in document vectors (as the
exported graph does), and unseen tokens weigh 1.0 as in the IDF table (``from_json`` would
give them 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SparseEncoder
from sentence_transformers.base.modules import Router, Transformer
from sentence_transformers.sparse_encoder.modules import SparseStaticEmbedding, SpladePooling
from transformers import PreTrainedTokenizerBase

from opensearch_sparse.idf import IdfTable

#: Folder of the document-side masked LM inside a saved student: a plain transformers
#: checkpoint with tokenizer.json, i.e. what ``model_export.package`` exports.
DOCUMENT_MODEL_DIR = "document_0_Transformer"


def query_weights(
    tokenizer_vocab: dict[str, int], special_ids: set[int], idf: IdfTable | None
) -> torch.Tensor:
    """Per-vocabulary-id query weights: IDF (unseen tokens 1.0), or all ones; specials 0."""
    weights = torch.ones(len(tokenizer_vocab), dtype=torch.float32)
    if idf is not None:
        for token, index in tokenizer_vocab.items():
            weights[index] = idf[token]
    weights[sorted(special_ids)] = 0.0
    return weights


def build_student(
    model_path: str | Path, *, idf: IdfTable | None, max_len: int, device: str = "cpu"
) -> SparseEncoder:
    """Start from a masked-LM checkpoint (e.g. splade-tiny) and attach the frozen query side."""
    document = Transformer(str(model_path), transformer_task="fill-mask", max_seq_length=max_len)
    tokenizer = _tokenizer(document)
    weights = query_weights(tokenizer.get_vocab(), set(tokenizer.all_special_ids), idf)
    # The module is typed for slow tokenizers; it only calls the shared __call__ interface.
    query = SparseStaticEmbedding(tokenizer=tokenizer, weight=weights, frozen=True)  # type: ignore[arg-type]
    router = Router.for_query_document(
        query_modules=[query], document_modules=[document, SpladePooling("max")]
    )
    model = SparseEncoder(modules=[router], similarity_fn_name="dot", device=device)
    return model.float()  # a checkpoint stored in half precision still trains in float32


def load_student(path: str | Path, *, max_len: int, device: str = "cpu") -> SparseEncoder:
    model = SparseEncoder(str(path), device=device)
    document_transformer(model).max_seq_length = max_len
    return model


def document_transformer(model: SparseEncoder) -> Transformer:
    """The masked-LM module of the document route (the only trained weights)."""
    return model[0].sub_modules["document"][0]


def document_model_dir(saved: str | Path) -> Path:
    return Path(saved) / DOCUMENT_MODEL_DIR


class SparseScorer(torch.nn.Module):
    """Text in, vectors and IDF-aware scores out, with gradients on the document side only."""

    def __init__(self, model: SparseEncoder) -> None:
        super().__init__()
        self.model = model
        tokenizer = _tokenizer(document_transformer(model))
        keep = torch.ones(len(tokenizer.get_vocab()), dtype=torch.float32)
        keep[sorted(tokenizer.all_special_ids)] = 0.0
        self.register_buffer("keep", keep)

    def documents(self, texts: list[str]) -> torch.Tensor:
        """``[len(texts), vocab]`` non-negative weights, special tokens 0."""
        features = self._features(texts, "document")
        return self.model(features)["sentence_embedding"] * self.keep

    @torch.no_grad()
    def queries(self, texts: list[str]) -> torch.Tensor:
        """``[len(texts), vocab]``: the query weight of each present token (IDF or 1)."""
        return self.model(self._features(texts, "query"))["sentence_embedding"].float()

    def _features(self, texts: list[str], task: str) -> dict[str, torch.Tensor]:
        features = self.model.preprocess(list[Any](texts), task=task)
        device = self.keep.device
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}


def _tokenizer(module: Transformer) -> PreTrainedTokenizerBase:
    if module.tokenizer is None:
        raise ValueError("the document model has no tokenizer")
    return module.tokenizer


def listwise_scores(queries: torch.Tensor, documents: torch.Tensor) -> torch.Tensor:
    """``[n, V] x [n, k, V] -> [n, k]``: each query against its own k documents."""
    return torch.einsum("nv,nkv->nk", queries, documents)
