"""Build the zip that ml-commons registers as a SPARSE_ENCODING model, and prove it first.

The zip holds, at its root, the model file, the tokenizer.json the server will run (truncation
explicit, padding off) and a manifest.json recording where the model came from. It is written
only after the exported file matched the eager reference, so a broken export never ships.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import transformers

from model_export.errors import ExportError
from model_export.export import MAX_OPSET, write_onnx, write_torchscript
from model_export.parity import ParityResult, compare_with_reference
from model_export.source import MAX_LENGTH, ensure_writable_dir, serving_tokenizer_json
from model_export.wrapper import build_encoder, check_prune_ratio
from opensearch_sparse.model_package import file_sha256, write_zip

Format = Literal["onnx", "torchscript"]
MODEL_FILES: dict[str, str] = {"onnx": "model.onnx", "torchscript": "model.pt"}
ML_COMMONS_FORMATS: dict[str, str] = {"onnx": "ONNX", "torchscript": "TORCH_SCRIPT"}


@dataclass(frozen=True)
class PackageResult:
    """What the deploy step needs (path, sha256, size) and what the user should see."""

    zip_path: Path
    sha256: str
    size_bytes: int
    export_seconds: float
    parity: ParityResult
    manifest: dict[str, Any]

    def summary(self) -> str:
        return (
            f"{self.zip_path} ({self.size_bytes / 1e6:.1f} MB, sha256 {self.sha256}); "
            f"export {self.export_seconds:.1f}s; {self.parity.summary()}"
        )


def package(
    model_dir: str | Path, out_dir: str | Path, fmt: Format = "onnx", prune_ratio: float = 0.0
) -> PackageResult:
    """Export ``model_dir`` as ``fmt``, check parity, and write ``<out_dir>/<name>-<fmt>.zip``."""
    if fmt not in MODEL_FILES:
        raise ExportError(
            f"unknown model format {fmt!r}", f"use one of: {', '.join(sorted(MODEL_FILES))}"
        )
    check_prune_ratio(prune_ratio)
    out = Path(out_dir).expanduser().resolve()
    ensure_writable_dir(out)
    encoder, source = build_encoder(model_dir, prune_ratio)
    zip_path = out / f"{source.model_dir.name}-{fmt}.zip"

    with tempfile.TemporaryDirectory(dir=out) as work:
        model_path = Path(work) / MODEL_FILES[fmt]
        started = time.perf_counter()
        format_facts: dict[str, Any] = {}
        if fmt == "onnx":
            ir_version = write_onnx(encoder, source, model_path, MAX_OPSET)
            format_facts = {"opset": MAX_OPSET, "onnx_ir_version": ir_version}
        else:
            write_torchscript(encoder, source, model_path)
        export_seconds = time.perf_counter() - started

        parity = compare_with_reference(encoder, source, model_path)
        if not parity.ok:
            raise ExportError(
                f"the exported model does not match PyTorch: {parity.summary()}",
                "try the other format, or report the model and this line as a bug",
            )
        manifest = {
            "function_name": "SPARSE_ENCODING",
            "format": fmt,
            "model_format": ML_COMMONS_FORMATS[fmt],
            "model_file": model_path.name,
            "model_sha256": file_sha256(model_path),
            "source_model": str(source.model_dir),
            "vocab_size": source.vocab_size,
            "special_token_ids": list(source.special_ids),
            "max_length": MAX_LENGTH,
            "prune_ratio": encoder.prune_ratio,
            "parity": parity.summary(),
            "torch_version": torch.__version__,
            "transformers_version": transformers.__version__,
            **format_facts,
        }
        partial = Path(work) / zip_path.name
        write_zip(
            partial,
            {
                model_path.name: model_path.read_bytes(),
                "tokenizer.json": serving_tokenizer_json(source).encode("utf-8"),
                "manifest.json": json.dumps(manifest, indent=2).encode("utf-8"),
            },
        )
        os.replace(partial, zip_path)

    return PackageResult(
        zip_path=zip_path,
        sha256=file_sha256(zip_path),
        size_bytes=zip_path.stat().st_size,
        export_seconds=export_seconds,
        parity=parity,
        manifest=manifest,
    )
