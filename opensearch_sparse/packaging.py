"""ml-commons zips that need no torch: an already exported model folder (model.onnx +
tokenizer.json, e.g. the shipped default model), and the server-side query tokenizer
(tokenizer.json + idf.json as a SPARSE_TOKENIZE model, so ``neural_sparse`` can take
``query_text`` + ``model_id`` and weight tokens exactly as the client encoder does).

Zips are written with fixed timestamps: the same inputs give the same bytes, so ml-commons
registration (content-addressed by sha256) reuses the model instead of adding a copy.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from opensearch_sparse.errors import SparseError
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.query_encoder import load_tokenizer_json

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def write_zip(out: Path, members: dict[str, bytes]) -> Path:
    """A zip whose bytes depend only on ``members`` (fixed dates and modes)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def package_tokenizer_model(model: Path, idf: Path, out: Path) -> Path:
    """``out``: tokenizer.json and idf.json, for a SPARSE_TOKENIZE model."""
    tokenizer_json = load_tokenizer_json(model)
    table = IdfTable.load(idf)  # validates the file before it reaches the server
    idf_json = json.dumps(table.weights, ensure_ascii=False, sort_keys=True)
    return write_zip(
        out, {"tokenizer.json": tokenizer_json.encode(), "idf.json": idf_json.encode()}
    )


def package_exported_folder(folder: Path, out: Path) -> Path:
    """``out``: the folder's model.onnx (or model.pt) and tokenizer.json, for SPARSE_ENCODING."""
    model = next((folder / n for n in ("model.onnx", "model.pt") if (folder / n).is_file()), None)
    if model is None:
        raise SparseError(
            f"{folder} holds no model.onnx or model.pt",
            "pass an exported model folder or zip, or export a checkpoint with `export`",
        )
    members = {
        model.name: model.read_bytes(),
        "tokenizer.json": load_tokenizer_json(folder).encode(),
    }
    return write_zip(out, members)
