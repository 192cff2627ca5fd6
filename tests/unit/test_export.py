"""Export of a masked-LM checkpoint to the ml-commons SPARSE_ENCODING contract, in ONNX and
TorchScript, on the seeded tiny BERT of ``tests/conftest.py`` (the real 30,522-token vocabulary,
random weights: the contract is about shapes, names and parity, not relevance).

Each format is packaged once per module; the tests then read the zip, the graph and the outputs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="model export needs torch (the train extra)")
pytest.importorskip("transformers", reason="model export needs transformers (the train extra)")
onnx = pytest.importorskip("onnx", reason="model export needs onnx (the train extra)")

import onnxruntime as ort  # noqa: E402

from model_export import (  # noqa: E402
    ExportError,
    PackageResult,
    check_parity,
    export_onnx,
    package,
)
from model_export.parity import PARITY_TEXTS  # noqa: E402
from model_export.source import encode_batch, inspect_source, serving_tokenizer  # noqa: E402

VOCAB = 30522
TEXTS = [
    "what is sparse retrieval?",
    "Learned sparse encoders expand a document with related terms before it is indexed.",
]


@pytest.fixture(scope="module")
def splade_dir(tiny_mlm: Path) -> Path:
    return tiny_mlm


@pytest.fixture(scope="module")
def onnx_package(splade_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> PackageResult:
    return package(splade_dir, tmp_path_factory.mktemp("onnx"), fmt="onnx")


@pytest.fixture(scope="module")
def torchscript_package(
    splade_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> PackageResult:
    return package(splade_dir, tmp_path_factory.mktemp("torchscript"), fmt="torchscript")


def _extract(result: PackageResult, name: str) -> Path:
    target = result.zip_path.parent / "unzipped"
    with zipfile.ZipFile(result.zip_path) as archive:
        archive.extract(name, target)
    return target / name


@pytest.fixture(scope="module")
def onnx_path(onnx_package: PackageResult) -> Path:
    return _extract(onnx_package, "model.onnx")


@pytest.fixture(scope="module")
def session(onnx_path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def tokenizer(splade_dir: Path):
    return serving_tokenizer(inspect_source(splade_dir))


def _run(session: ort.InferenceSession, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    feeds = {"input1.input_ids": input_ids, "input1.attention_mask": mask}
    return session.run(["output"], feeds)[0]


def test_onnx_graph_has_exactly_the_server_inputs_and_one_output(onnx_path: Path) -> None:
    graph = onnx.load(str(onnx_path)).graph
    assert [i.name for i in graph.input] == ["input1.input_ids", "input1.attention_mask"]
    for graph_input in graph.input:
        tensor = graph_input.type.tensor_type
        assert tensor.elem_type == onnx.TensorProto.INT64
        assert [d.dim_param for d in tensor.shape.dim] == ["batch", "sequence"]
    assert len(graph.output) == 1
    output = graph.output[0].type.tensor_type
    assert graph.output[0].name == "output"
    assert output.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param or d.dim_value for d in output.shape.dim] == ["batch", VOCAB]


def test_onnx_fits_onnx_runtime_1_16(onnx_path: Path) -> None:
    model = onnx.load(str(onnx_path))
    opsets = {o.domain: o.version for o in model.opset_import}
    assert opsets.get("", opsets.get("ai.onnx")) <= 17
    assert model.ir_version <= 9


def test_weights_are_non_negative_and_special_tokens_zero(
    session: ort.InferenceSession, tokenizer, splade_dir: Path
) -> None:
    weights = _run(session, *encode_batch(tokenizer, TEXTS))
    assert weights.shape == (len(TEXTS), VOCAB) and weights.dtype == np.float32
    assert (weights >= 0).all()
    special = list(inspect_source(splade_dir).special_ids)
    assert special and not weights[:, special].any()
    assert (np.count_nonzero(weights, axis=1) > 0).all()


def test_padding_does_not_change_a_documents_vector(
    session: ort.InferenceSession, tokenizer
) -> None:
    input_ids, mask = encode_batch(tokenizer, TEXTS)
    assert mask[0].sum() < mask.shape[1], "the short text must be padded in the batch"
    batched = _run(session, input_ids, mask)
    for row, text in enumerate(TEXTS):
        alone = _run(session, *encode_batch(tokenizer, [text]))[0]
        np.testing.assert_allclose(batched[row], alone, atol=1e-5)
        assert np.array_equal(np.flatnonzero(batched[row]), np.flatnonzero(alone))


def test_pruning_keeps_only_weights_above_ratio_times_max(
    splade_dir: Path, tmp_path: Path, session: ort.InferenceSession, tokenizer
) -> None:
    ratio = 0.3
    pruned_path = export_onnx(splade_dir, tmp_path / "pruned.onnx", prune_ratio=ratio)
    pruned_session = ort.InferenceSession(str(pruned_path), providers=["CPUExecutionProvider"])
    batch = encode_batch(tokenizer, TEXTS)
    full, pruned = _run(session, *batch), _run(pruned_session, *batch)
    threshold = ratio * full.max(axis=1, keepdims=True)
    expected = np.where(full > threshold, full, 0.0)
    assert np.array_equal(np.flatnonzero(pruned), np.flatnonzero(expected))
    np.testing.assert_allclose(pruned, expected, atol=1e-5)
    assert 0 < np.count_nonzero(pruned) < np.count_nonzero(full)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_parity_with_pytorch_on_every_built_in_text(fmt: str, request) -> None:
    result: PackageResult = request.getfixturevalue(f"{fmt}_package")
    assert result.parity.ok, result.parity.summary()
    assert result.parity.fmt == fmt
    assert [t.label for t in result.parity.texts] == [label for label, _ in PARITY_TEXTS]
    by_label = {t.label: t for t in result.parity.texts}
    assert by_label["long"].n_tokens == 512
    assert by_label["empty"].n_tokens == 2


def test_check_parity_runs_a_torchscript_file_with_one_dict_input(
    torchscript_package: PackageResult, splade_dir: Path
) -> None:
    model_path = _extract(torchscript_package, "model.pt")
    module = torch.jit.load(str(model_path))
    features = {
        "input_ids": torch.tensor([[101, 7592, 102]]),
        "attention_mask": torch.ones(1, 3, dtype=torch.int64),
    }
    assert module(features)["output"].shape == (1, VOCAB)
    result = check_parity(splade_dir, model_path, texts=PARITY_TEXTS[:2])
    assert result.ok, result.summary()


@pytest.mark.parametrize(
    ("fmt", "model_file"), [("onnx", "model.onnx"), ("torchscript", "model.pt")]
)
def test_zip_holds_exactly_model_tokenizer_and_manifest(
    fmt: str, model_file: str, request, splade_dir: Path
) -> None:
    result: PackageResult = request.getfixturevalue(f"{fmt}_package")
    assert result.zip_path.name == f"{splade_dir.name}-{fmt}.zip"
    zip_bytes = result.zip_path.read_bytes()
    assert result.sha256 == hashlib.sha256(zip_bytes).hexdigest()
    assert result.size_bytes == len(zip_bytes)
    with zipfile.ZipFile(result.zip_path) as archive:
        assert sorted(archive.namelist()) == sorted([model_file, "tokenizer.json", "manifest.json"])
        manifest = json.loads(archive.read("manifest.json"))
        tokenizer_json = json.loads(archive.read("tokenizer.json"))
        model_sha = hashlib.sha256(archive.read(model_file)).hexdigest()
    assert manifest["model_sha256"] == model_sha
    assert manifest["format"] == fmt and manifest["vocab_size"] == VOCAB
    assert manifest["source_model"] == str(splade_dir.resolve())
    assert manifest["prune_ratio"] == 0.0 and manifest["parity"] == result.parity.summary()
    assert ("opset" in manifest) == (fmt == "onnx")
    assert tokenizer_json["truncation"] == {
        "direction": "Right",
        "max_length": 512,
        "strategy": "LongestFirst",
        "stride": 0,
    }
    assert tokenizer_json["padding"] is None


def test_checkpoint_without_mlm_head_is_refused(tiny_bert, tmp_path: Path) -> None:
    dense = tiny_bert(tmp_path / "dense", masked_lm=False)  # like a sentence encoder
    with pytest.raises(ExportError, match="masked-LM head") as caught:
        export_onnx(dense, tmp_path / "model.onnx")
    assert caught.value.fix
    assert not (tmp_path / "model.onnx").exists()


def test_missing_tokenizer_is_refused(splade_dir: Path, tmp_path: Path) -> None:
    shutil.copy(splade_dir / "config.json", tmp_path / "config.json")
    with pytest.raises(ExportError, match=r"no tokenizer\.json") as caught:
        package(tmp_path, tmp_path / "out")
    assert "save_pretrained" in (caught.value.fix or "")


def test_unwritable_output_dir_is_refused(splade_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ExportError, match="cannot write"):
        export_onnx(splade_dir, blocker / "model.onnx")


def test_opset_newer_than_the_server_runtime_is_refused(splade_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="opset 18"):
        export_onnx(splade_dir, tmp_path / "model.onnx", opset=18)
