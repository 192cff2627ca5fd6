"""Fixtures for the index-time path: an exported test model, registered and deployed once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from opensearch_sparse.mlcommons import MLCommons, ModelPackage
from opensearch_sparse.testing import ClusterHandle


@dataclass(frozen=True)
class DeployedModel:
    model_id: str
    package: ModelPackage


def _export(shared_dir: Path, out: Path, fmt: str) -> Path:
    pytest.importorskip("torch", reason="export needs the [train] extra (torch)")
    from model_export import package

    model = shared_dir / "models" / "splade-tiny"
    if not model.is_dir():
        pytest.skip(f"test model {model} not found")
    return package(model, out, fmt=fmt).zip_path  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def onnx_zip(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(shared_dir, tmp_path_factory.mktemp("export"), "onnx")


@pytest.fixture(scope="session")
def torchscript_zip(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(shared_dir, tmp_path_factory.mktemp("export-ts"), "torchscript")


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
