"""The document encoder shipped with the package (ONNX + tokenizer.json + idf.json + card)."""

from __future__ import annotations

from pathlib import Path

from opensearch_sparse.errors import SparseError

DEFAULT_DIR = Path(__file__).resolve().parent / "default"


def default_model_dir() -> Path:
    """The shipped model folder; a clear error while this install has none."""
    if not (DEFAULT_DIR / "model.onnx").is_file():
        raise SparseError(
            "this install ships no default document encoder",
            "pass --model with an exported model or a checkpoint "
            "(e.g. --model ../shared/models/splade-tiny)",
        )
    return DEFAULT_DIR
