"""Faster graphs for an exported ONNX encoder: an exact rewrite of the vocabulary head, and int8
dynamic quantisation. Both keep the ml-commons contract (inputs, one ``[batch, vocab]`` output,
opset <= 17, IR <= 9), so the same zip serves local encoding and the ingest pipeline.

Why the head: the masked-LM head projects every position onto all 30,522 vocabulary entries,
``[batch, seq, vocab]`` float32, and the exported graph then walks that tensor three more times
(bias ``Add``, mask ``Mul``, ``ReduceMax``); profiled on 2 cores that is ~40% of the time beside
the projection's ~47%. The rewrite adds the bias after the max (``max(x + b) == max(x) + b``,
exactly, because float rounding is monotonic) and masks padded positions with ``-1e9`` on the
``[batch, seq, 1]`` side instead of multiplying the big tensor, so only ``MatMul`` and
``ReduceMax`` touch it. Outputs are bit-identical to the original graph (checked here).

Why int8: the projection is a matrix multiply; onnxruntime's dynamic quantisation (weights int8
per output column, activations uint8 per call) runs it on integer kernels. Weights change, so
tokens near zero can flip: its relevance cost is measured (``benchmarks/ingest.py``), not
assumed.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from model_export.errors import ExportError
from model_export.export import MAX_IR_VERSION, MAX_OPSET, ONNX_INPUT_NAMES
from opensearch_sparse.model_package import file_sha256, load_onnx, write_zip

Variant = Literal["fast", "int8"]
VARIANTS: tuple[str, ...] = ("fast", "int8")
#: Added to padded positions' logits before the max: far below any real logit.
PAD_LOGIT = -1e9
_PREFIX = "opensearch_sparse_head"


def rewrite_head(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace ``ReduceMax(Mul(Add(MatMul(h, Transpose(E)), b), mask))`` (what
    ``model_export.wrapper`` exports) with ``Add(ReduceMax(Add(MatMul(h, E^T), padmask)), b)``."""
    g = model.graph
    producer = {out: node for node in g.node for out in node.output}
    inits = {i.name: i for i in g.initializer}
    try:
        rmax = next(n for n in g.node if n.op_type == "ReduceMax")
        mul = producer[rmax.input[0]]
        add = producer[mul.input[0]]
        cast = producer[mul.input[1]]
        bias = next(i for i in add.input if i in inits)
        matmul = producer[next(i for i in add.input if i in producer)]
        transpose = producer[matmul.input[1]]
        embedding = inits[transpose.input[0]]
    except (StopIteration, KeyError) as exc:
        raise ExportError(
            "the ONNX graph does not end in the masked-LM head this exporter writes",
            "export the checkpoint with `opensearch-sparse export` first",
        ) from exc
    if (mul.op_type, add.op_type, matmul.op_type, transpose.op_type) != (
        "Mul",
        "Add",
        "MatMul",
        "Transpose",
    ):
        raise ExportError("unexpected masked-LM head layout", "re-export the checkpoint")
    weight = np.ascontiguousarray(numpy_helper.to_array(embedding).T)  # [hidden, vocab]
    p = _PREFIX
    new_inits = [
        numpy_helper.from_array(weight, f"{p}.weight"),
        numpy_helper.from_array(numpy_helper.to_array(inits[bias]), f"{p}.bias"),
        numpy_helper.from_array(np.array(1.0, np.float32), f"{p}.one"),
        numpy_helper.from_array(np.array(-PAD_LOGIT, np.float32), f"{p}.pad"),
    ]
    new_nodes = [
        # (mask - 1) * 1e9: 0 on real positions, -1e9 on padding; shape [batch, seq, 1]
        helper.make_node("Sub", [cast.output[0], f"{p}.one"], [f"{p}.mask_m1"]),
        helper.make_node("Mul", [f"{p}.mask_m1", f"{p}.pad"], [f"{p}.padmask"]),
        helper.make_node("MatMul", [matmul.input[0], f"{p}.weight"], [f"{p}.logits"]),
        helper.make_node("Add", [f"{p}.logits", f"{p}.padmask"], [f"{p}.masked"]),
        helper.make_node(
            "ReduceMax", [f"{p}.masked"], [f"{p}.max"], axes=[1], keepdims=0, name=f"{p}.reduce"
        ),
        helper.make_node("Add", [f"{p}.max", f"{p}.bias"], [rmax.output[0]]),
    ]
    dropped = {id(n) for n in (rmax, mul, add, matmul, transpose)}
    kept = [n for n in g.node if id(n) not in dropped]
    at = next(i for i, n in enumerate(kept) if rmax.output[0] in n.input)
    g.ClearField("node")
    g.node.extend([*kept[:at], *new_nodes, *kept[at:]])
    g.initializer.extend(new_inits)
    # The embedding stays (the input Gather reads it); the old bias is now unused.
    used = {i for n in g.node for i in n.input}
    unused = [i for i in g.initializer if i.name not in used]
    for init in unused:
        g.initializer.remove(init)
    onnx.checker.check_model(model)
    return model


def quantize_int8(model: onnx.ModelProto) -> onnx.ModelProto:
    """Dynamic int8 quantisation of every MatMul with a constant weight (per-channel weights,
    7-bit range: AVX2 without VNNI saturates full-range int8 products)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "out.onnx"
        onnx.save(model, str(src))
        quantize_dynamic(
            src,
            dst,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            reduce_range=True,
            weight_type=QuantType.QInt8,
        )
        quantized = onnx.load(str(dst))
    quantized.ir_version = min(quantized.ir_version, MAX_IR_VERSION)
    onnx.checker.check_model(quantized)
    return quantized


def optimize(model: onnx.ModelProto, variant: Variant) -> onnx.ModelProto:
    """``fast``: the exact head rewrite; ``int8``: the rewrite, then int8 quantisation."""
    if variant not in VARIANTS:
        raise ExportError(f"unknown variant {variant!r}", f"use one of {', '.join(VARIANTS)}")
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset > MAX_OPSET:
        raise ExportError(f"opset {opset} > {MAX_OPSET}", "re-export with opset 17")
    fast = rewrite_head(model)
    return quantize_int8(fast) if variant == "int8" else fast


@dataclass(frozen=True)
class HeadParity:
    """Original vs optimised graph on padded batches of random token ids."""

    max_abs_diff: float
    flipped: int
    nonzero: int


def compare(original: bytes, optimised: bytes, vocab: int, seed: int = 0) -> HeadParity:
    """Run both graphs on two padded batches (lengths 1..300); differences and sign flips."""
    rng = np.random.default_rng(seed)
    original_s = ort.InferenceSession(original, providers=["CPUExecutionProvider"])
    optimised_s = ort.InferenceSession(optimised, providers=["CPUExecutionProvider"])
    diff, flipped, nonzero = 0.0, 0, 0
    for lengths in ([1, 7, 40], [300, 120, 5, 64]):
        ids = np.zeros((len(lengths), max(lengths)), np.int64)
        mask = np.zeros_like(ids)
        for row, n in enumerate(lengths):
            ids[row, :n] = rng.integers(1000, vocab, n)
            ids[row, 0], ids[row, n - 1] = 101, 102
            mask[row, :n] = 1
        feed = {ONNX_INPUT_NAMES[0]: ids, ONNX_INPUT_NAMES[1]: mask}
        a = original_s.run(None, feed)[0]
        b = optimised_s.run(None, feed)[0]
        diff = max(diff, float(np.abs(a - b).max()))
        flipped += int(((a > 0) != (b > 0)).sum())
        nonzero += int((a > 0).sum())
    return HeadParity(diff, flipped, nonzero)


def optimize_package(source: Path, out_dir: Path, variant: Variant) -> Path:
    """``<out_dir>/<name>-<variant>.zip``: the source zip or folder's graph optimised, with its
    tokenizer and a manifest that records the source's sha256 and the parity measured."""
    raw = load_onnx(source)
    optimised = optimize(onnx.load_from_string(raw), variant).SerializeToString()
    vocab = int(onnx.load_from_string(raw).graph.output[0].type.tensor_type.shape.dim[1].dim_value)
    parity = compare(raw, optimised, vocab or 30522)
    if variant == "fast" and (parity.max_abs_diff > 1e-5 or parity.flipped):
        raise ExportError(
            f"the rewritten head does not match the original graph ({parity})",
            "report this model as a bug; use the original zip meanwhile",
        )
    manifest = _source_manifest(source)
    manifest.update(
        {
            "variant": variant,
            "source_sha256": _sha256_of(source),
            "head_parity": {
                "max_abs_diff": parity.max_abs_diff,
                "flipped_tokens": parity.flipped,
                "nonzero_tokens": parity.nonzero,
            },
        }
    )
    from opensearch_sparse.model_package import load_tokenizer_json

    name = source.stem if source.suffix == ".zip" else source.name
    out = Path(out_dir) / f"{name}-{variant}.zip"
    return write_zip(
        out,
        {
            "model.onnx": optimised,
            "tokenizer.json": load_tokenizer_json(source).encode(),
            "manifest.json": json.dumps(manifest, indent=2).encode(),
        },
    )


def _source_manifest(source: Path) -> dict[str, object]:
    try:
        if source.suffix == ".zip":
            with zipfile.ZipFile(source) as archive:
                return dict(json.loads(archive.read("manifest.json")))
        path = source / "manifest.json"
        return dict(json.loads(path.read_text())) if path.is_file() else {}
    except (KeyError, json.JSONDecodeError):
        return {}


def _sha256_of(source: Path) -> str:
    model = source if source.suffix == ".zip" else source / "model.onnx"
    return file_sha256(model)
