"""Recovering a trainable checkpoint from an exported ONNX package (issue 10, item 3: the
shipped model exists only as its package)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="recovery needs torch (the train extra)")
pytest.importorskip("onnx", reason="recovery needs onnx (the train extra)")

from model_export import package  # noqa: E402
from opensearch_sparse.encoders import DocumentEncoder  # noqa: E402
from opensearch_sparse.training.recover import RecoverError, recover_checkpoint  # noqa: E402
from opensearch_sparse.training.student import SparseScorer, build_student  # noqa: E402

TEXTS = ["what is sparse retrieval?", "Aspirin lowers the risk of a heart attack in adults."]


@pytest.fixture(scope="module")
def trained(tiny_bert: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT whose every parameter differs from its initial value, as after training:
    the ONNX exporter folds away initializers that are still all zeros or all ones (fresh
    biases and LayerNorms), which a trained model's are not."""
    from transformers import BertForMaskedLM

    folder = tiny_bert(tmp_path_factory.mktemp("trained"), seed=1)
    model = BertForMaskedLM.from_pretrained(str(folder))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.02 * torch.randn(parameter.shape, generator=generator))
    model.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def exported(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package exported from ``trained``, unzipped (the shipped model's layout)."""
    result = package(trained, tmp_path_factory.mktemp("onnx"), fmt="onnx")
    folder = tmp_path_factory.mktemp("package")
    with zipfile.ZipFile(result.zip_path) as archive:
        archive.extractall(folder)
    return folder


def test_recovered_weights_are_the_packages_not_the_bases(
    exported: Path, trained: Path, tiny_bert: Callable[..., Path], tmp_path: Path
) -> None:
    base = tiny_bert(tmp_path / "base", seed=0)
    out = recover_checkpoint(exported, base, tmp_path / "recovered")
    from transformers import BertForMaskedLM

    recovered = BertForMaskedLM.from_pretrained(str(out)).state_dict()
    original = BertForMaskedLM.from_pretrained(str(trained))
    base_weights = BertForMaskedLM.from_pretrained(str(base)).state_dict()
    for name, tensor in original.state_dict().items():
        assert torch.equal(recovered[name], tensor), name
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(recovered[name], base_weights[name])
    # the tied head still points at the word embeddings
    assert torch.equal(
        recovered["cls.predictions.decoder.weight"],
        recovered["bert.embeddings.word_embeddings.weight"],
    )


def test_recovered_checkpoint_encodes_like_the_package(
    exported: Path, tiny_mlm: Path, tmp_path: Path
) -> None:
    out = recover_checkpoint(exported, tiny_mlm, tmp_path / "recovered")
    scorer = SparseScorer(build_student(out, idf=None, max_len=128))
    scorer.eval()
    with torch.no_grad():
        dense = scorer.documents(TEXTS).float().numpy()
    for (ids, values), row in zip(
        DocumentEncoder(exported).encode_sparse(TEXTS), dense, strict=True
    ):
        assert set(ids.tolist()) == set(np.nonzero(row)[0].tolist())
        np.testing.assert_allclose(row[ids], values, atol=1e-4)


def test_a_package_without_masked_lm_weights_is_refused(tiny_mlm: Path, tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "empty",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    (tmp_path / "pkg").mkdir()
    onnx.save(helper.make_model(graph), str(tmp_path / "pkg" / "model.onnx"))
    with pytest.raises(RecoverError, match="no weights"):
        recover_checkpoint(tmp_path / "pkg", tiny_mlm, tmp_path / "out")
    command = [sys.executable, "-m", "opensearch_sparse.training.recover"]
    proc = subprocess.run(
        [*command, str(tmp_path / "pkg"), str(tiny_mlm), str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "no weights" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
