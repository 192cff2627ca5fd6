"""Fixtures for the index- and query-time paths: the shipped model as a zip, registered and
deployed once; a TorchScript export of the tiny test model; the judged fixture corpus and its
query IDF table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from opensearch_sparse.corpus import Document, read_corpus
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.mlcommons import MLCommons
from opensearch_sparse.model_package import ModelPackage, load_tokenizer, package_exported_folder
from opensearch_sparse.testing import ClusterHandle


@dataclass(frozen=True)
class DeployedModel:
    model_id: str
    package: ModelPackage


@pytest.fixture(scope="session")
def onnx_zip(shipped_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped encoder as the zip ml-commons registers (no torch involved)."""
    return package_exported_folder(shipped_model, tmp_path_factory.mktemp("zip") / "default.zip")


@pytest.fixture(scope="session")
def tiny_exports(tiny_mlm: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny test model exported to both formats ml-commons deploys (needs torch)."""
    from model_export import package

    out = tmp_path_factory.mktemp("tiny-export")
    return {fmt: package(tiny_mlm, out, fmt=fmt).zip_path for fmt in ("onnx", "torchscript")}


@pytest.fixture(scope="session")
def corpus_docs(beir_mini: Path) -> list[Document]:
    docs = list(read_corpus(beir_mini))
    assert len(docs) == 300
    return docs


@pytest.fixture(scope="session")
def idf_file(
    onnx_zip: Path, corpus_docs: list[Document], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The query IDF table of the fixture corpus, as `idf build` would write it."""
    path = tmp_path_factory.mktemp("idf") / "idf.json"
    IdfTable.build((d.content for d in corpus_docs), load_tokenizer(onnx_zip)).save(path)
    return path


@pytest.fixture(scope="session")
def ml(local_cluster: ClusterHandle) -> MLCommons:
    ml = MLCommons(local_cluster.client())
    ml.apply_settings()
    return ml


@pytest.fixture(scope="session")
def onnx_model(ml: MLCommons, onnx_zip: Path) -> Iterator[DeployedModel]:
    pkg = ModelPackage.open(onnx_zip)
    model_id, _ = ml.register(pkg)
    ml.deploy(model_id)
    yield DeployedModel(model_id, pkg)
