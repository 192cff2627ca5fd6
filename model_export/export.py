"""Export the encoder to the two formats ml-commons deploys: ONNX and TorchScript.

Both are traced, never scripted, from a padded batch of two, so the graph keeps batch and
sequence length dynamic and never specialises on an all-ones attention mask.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnx
import torch

from model_export.errors import ExportError
from model_export.source import (
    ModelSource,
    encode_batch,
    ensure_writable_dir,
    serving_tokenizer,
)
from model_export.wrapper import DictInputEncoder, SparseDocumentEncoder, build_encoder

# ml-commons bundles ONNX Runtime 1.16.3, which reads at most opset 17 and IR version 9.
MAX_OPSET = 17
MAX_IR_VERSION = 9
#: Keys of the one dict argument a TorchScript model receives from ml-commons.
INPUT_NAMES = ("input_ids", "attention_mask")
#: ONNX graph input names: ml-commons names its tensors after the TorchScript dict argument
#: ("input1") and DJL's ONNX engine looks graph inputs up by those exact names; a graph with
#: plain "input_ids" fails to deploy with "Invalid input tensor name: input1.input_ids".
ONNX_INPUT_NAMES = tuple(f"input1.{name}" for name in INPUT_NAMES)
OUTPUT_NAME = "output"
_EXAMPLE_TEXTS = (
    "sparse retrieval",
    "Learned sparse retrieval expands each document with related vocabulary terms.",
)


def export_onnx(
    model_dir: str | Path, out_path: str | Path, prune_ratio: float = 0.0, opset: int = MAX_OPSET
) -> Path:
    """Write the encoder as ONNX with inputs input1.input_ids/input1.attention_mask and one
    output, ``output``."""
    if opset > MAX_OPSET:
        raise ExportError(
            f"opset {opset} is newer than ONNX Runtime 1.16.3 in ml-commons can run",
            f"export with opset {MAX_OPSET} or lower",
        )
    out = _checked_out_path(out_path)
    encoder, source = build_encoder(model_dir, prune_ratio)
    write_onnx(encoder, source, out, opset)
    return out


def export_torchscript(
    model_dir: str | Path, out_path: str | Path, prune_ratio: float = 0.0
) -> Path:
    """Write the encoder as a traced TorchScript module taking one dict of the two inputs."""
    out = _checked_out_path(out_path)
    encoder, source = build_encoder(model_dir, prune_ratio)
    write_torchscript(encoder, source, out)
    return out


def write_onnx(encoder: SparseDocumentEncoder, source: ModelSource, out: Path, opset: int) -> int:
    """Trace ``encoder`` to ``out`` as ONNX, cap its IR version for the server; return that."""
    example = _example_inputs(source)
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), _quiet_tracer():
        torch.onnx.export(
            encoder,
            example,
            str(out),
            input_names=list(ONNX_INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={**{n: axes for n in ONNX_INPUT_NAMES}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
            # Folding would store the tied decoder weight a second time, transposed (doubling
            # the file); ONNX Runtime folds it in memory when the session loads anyway.
            do_constant_folding=False,
            **_legacy_exporter(),
        )
    model = onnx.load(str(out))
    if model.ir_version > MAX_IR_VERSION:
        model.ir_version = MAX_IR_VERSION
        onnx.save(model, str(out))
    onnx.checker.check_model(model)
    return model.ir_version


def write_torchscript(encoder: SparseDocumentEncoder, source: ModelSource, out: Path) -> None:
    """Trace the dict-input face of ``encoder`` to ``out`` with torch.jit."""
    input_ids, attention_mask = _example_inputs(source)
    features = {INPUT_NAMES[0]: input_ids, INPUT_NAMES[1]: attention_mask}
    with torch.no_grad(), _quiet_tracer():
        # strict=False allows the dict output; the parity check replaces trace checking.
        traced = torch.jit.trace(
            DictInputEncoder(encoder), (features,), strict=False, check_trace=False
        )
    traced.save(str(out))


def _checked_out_path(out_path: str | Path) -> Path:
    out = Path(out_path).expanduser().resolve()
    ensure_writable_dir(out.parent)
    return out


def _example_inputs(source: ModelSource) -> tuple[torch.Tensor, torch.Tensor]:
    input_ids, attention_mask = encode_batch(serving_tokenizer(source), _EXAMPLE_TEXTS)
    return torch.from_numpy(input_ids), torch.from_numpy(attention_mask)


def _legacy_exporter() -> dict[str, Any]:
    """Ask for the TorchScript-based exporter where torch defaults to dynamo (opset >= 18)."""
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        return {"dynamo": False}
    return {}


@contextlib.contextmanager
def _quiet_tracer() -> Iterator[None]:
    """Hide TracerWarnings from transformers internals; parity on many lengths is the real check."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield
