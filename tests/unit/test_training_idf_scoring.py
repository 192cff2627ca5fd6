"""IDF-aware scoring: the ranking gradient on a document token scales with the token's IDF,
while FLOPS pushes every token alike; and the student's query side carries the IDF table."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from sentence_transformers.sparse_encoder.losses import FlopsLoss  # noqa: E402

from opensearch_sparse.idf import IdfTable  # noqa: E402
from opensearch_sparse.training.losses import ListwiseKLLoss  # noqa: E402
from opensearch_sparse.training.student import (  # noqa: E402
    SparseScorer,
    build_student,
    document_transformer,
    listwise_scores,
)


def test_ranking_gradient_on_a_token_is_proportional_to_its_idf() -> None:
    idf = torch.tensor([0.5, 2.0, 6.0, 1.0])
    query = idf * torch.tensor([1.0, 1.0, 1.0, 0.0])  # binary presence x IDF
    docs = torch.tensor([[[1.0, 1.0, 1.0, 1.0], [0.5, 0.2, 0.1, 0.0]]], requires_grad=True)
    loss = ListwiseKLLoss()(listwise_scores(query.unsqueeze(0), docs), torch.tensor([[5.0, 0.0]]))
    loss.backward()
    grad = docs.grad[0, 0]
    assert grad[3].item() == 0.0  # absent from the query: no ranking signal
    torch.testing.assert_close(grad[:3] / grad[0], idf[:3] / idf[0])


def test_flops_gradient_does_not_depend_on_idf() -> None:
    docs = torch.ones(2, 4, requires_grad=True)
    FlopsLoss(model=None).compute_loss_from_embeddings(docs).backward()  # type: ignore[arg-type]
    assert torch.all(docs.grad == docs.grad[0, 0])


def test_student_query_vectors_are_idf_weighted_binary_presence(tiny_mlm: Path) -> None:
    model = build_student(tiny_mlm, idf=IdfTable({"cat": 3.5}), max_len=32)
    scorer = SparseScorer(model)
    vocab = document_transformer(model).tokenizer.get_vocab()
    q = scorer.queries(["cat cat dog"])[0]
    cat, dog = vocab["cat"], vocab["dog"]
    assert q[cat].item() == pytest.approx(3.5)  # repeated token counts once
    assert q[dog].item() == 1.0  # unseen in the IDF table -> 1.0
    assert int((q > 0).sum()) == 2
    docs = scorer.documents(["the cat sat on the mat"])
    specials = [101, 102, 0]
    assert torch.all(docs[0, specials] == 0)
