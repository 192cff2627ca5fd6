"""The model package: the one zip ml-commons registers, and everything that reads or writes it.

A model reaches the product as a path: an exported zip, an exported folder (``model.onnx`` or
``model.pt`` beside ``tokenizer.json``, such as the shipped default model), or a training
checkpoint. ``resolve_zip`` turns any of them into a zip; ``ModelPackage.open`` reads a zip's
format, name and sha256; the encoders read the model and tokenizer from it.

Zips are written with fixed timestamps: the same inputs give the same bytes, so ml-commons
registration (content-addressed by sha256) reuses a model instead of adding a copy.

Exporting a checkpoint needs torch, which the runtime never imports: the exporter is a plugin
found through the ``opensearch_sparse.exporters`` entry point (``model_export`` provides it), so
this package never imports ``model_export``; it only asks for "an exporter" when a checkpoint
has to be turned into a zip.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

from tokenizers import Tokenizer

from opensearch_sparse.errors import SparseError
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.models import default_model_dir

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
MODEL_FILES = ("model.onnx", "model.pt")
EXPORTER_GROUP = "opensearch_sparse.exporters"


class ModelPackageError(SparseError):
    """The path is not a model package (zip or folder) this tool can use."""


class ExportResult(Protocol):
    """What an exporter returns: the zip it wrote and a line for the user."""

    @property
    def zip_path(self) -> Path: ...

    def summary(self) -> str: ...


class Exporter(Protocol):
    def __call__(
        self, model_dir: Path, out_dir: Path, *, fmt: str = "onnx", prune_ratio: float = 0.0
    ) -> ExportResult: ...


# --- writing ---------------------------------------------------------------------------------


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


def package_exported_folder(folder: Path, out: Path) -> Path:
    """``out``: the folder's model.onnx (or model.pt) and tokenizer.json, for SPARSE_ENCODING."""
    model = next((folder / n for n in MODEL_FILES if (folder / n).is_file()), None)
    if model is None:
        raise ModelPackageError(
            f"{folder} holds no model.onnx or model.pt",
            "pass an exported model folder or zip, or export a checkpoint with `export`",
        )
    return write_zip(
        out,
        {model.name: model.read_bytes(), "tokenizer.json": load_tokenizer_json(folder).encode()},
    )


def package_tokenizer_model(model: Path, idf: Path, out: Path) -> Path:
    """``out``: tokenizer.json and idf.json, for a SPARSE_TOKENIZE model (the query side run
    by the cluster: ``neural_sparse`` with ``query_text`` + ``model_id``)."""
    tokenizer_json = load_tokenizer_json(model)
    table = IdfTable.load(idf)  # validates the file before it reaches the server
    idf_json = json.dumps(table.weights, ensure_ascii=False, sort_keys=True)
    return write_zip(
        out, {"tokenizer.json": tokenizer_json.encode(), "idf.json": idf_json.encode()}
    )


# --- reading ---------------------------------------------------------------------------------


def load_tokenizer_json(path: Path) -> str:
    """tokenizer.json text from an exported zip, a model folder, or the file itself."""
    path = Path(path)
    try:
        if path.is_file() and path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                return archive.read("tokenizer.json").decode()
        file = path / "tokenizer.json" if path.is_dir() else path
        return file.read_text(encoding="utf-8")
    except (KeyError, FileNotFoundError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ModelPackageError(
            f"no readable tokenizer.json in {path}",
            "pass the exported model zip or the model folder with --tokenizer / --model",
        ) from exc


def load_tokenizer(path: Path) -> Tokenizer:
    text = load_tokenizer_json(path)
    try:
        return Tokenizer.from_str(text)
    except Exception as exc:  # the tokenizers library raises a bare Exception
        raise ModelPackageError(
            f"the tokenizer.json in {path} cannot be read: {exc}", "re-export the model"
        ) from exc


def general_idf(model: Path) -> Path:
    """The general IDF table shipped beside a model folder (``idf.json``): the fallback when
    no table was built from the index being searched."""
    table = Path(model) / "idf.json"
    if not table.is_file():
        raise ModelPackageError(
            f"{model} has no idf.json to weight query tokens with",
            "build one from your index: `opensearch-sparse idf build --index NAME "
            "--tokenizer MODEL`, then pass --idf",
        )
    return table


def load_onnx(path: Path) -> bytes:
    """The ONNX graph of a zip, a folder or a ``.onnx`` file (local encoding runs ONNX only)."""
    if path.is_file() and path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(".onnx")]
            if names:
                return archive.read(names[0])
    else:
        folder = path if path.is_dir() else path.parent
        model = path if path.suffix == ".onnx" else folder / "model.onnx"
        if model.is_file():
            return model.read_bytes()
    raise ModelPackageError(
        f"{path} holds no .onnx model (local encoding runs ONNX only)",
        "export one with `opensearch-sparse export MODEL --out DIR` (ONNX is the default)",
    )


@dataclass(frozen=True)
class ModelPackage:
    """A zip ready for ml-commons: the file, its sha256 and what its manifest says."""

    path: Path
    sha256: str
    size: int
    model_format: str
    name: str
    function_name: str = "SPARSE_ENCODING"

    @classmethod
    def open(cls, path: Path) -> ModelPackage:
        if not path.is_file():
            raise ModelPackageError(
                f"{path} is not a zip file" if path.exists() else f"{path} does not exist",
                "pass the zip `opensearch-sparse export` wrote",
            )
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                manifest = (
                    json.loads(archive.read("manifest.json")) if "manifest.json" in names else {}
                )
        except zipfile.BadZipFile as exc:
            raise ModelPackageError(f"{path} is not a zip file", "re-export the model") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelPackageError(
                f"the manifest.json in {path} is not JSON", "re-export the model"
            ) from exc
        function = "SPARSE_ENCODING"
        if any(n.endswith(".onnx") for n in names):
            fmt = "ONNX"
        elif any(n.endswith(".pt") for n in names):
            fmt = "TORCH_SCRIPT"
        elif "idf.json" in names:
            # Tokenizer + IDF only: ml-commons registers these as TORCH_SCRIPT format.
            fmt, function = "TORCH_SCRIPT", "SPARSE_TOKENIZE"
        else:
            raise ModelPackageError(
                f"{path} holds neither a .onnx nor a .pt model nor an idf.json at its root",
                "export it with `opensearch-sparse export`",
            )
        if "tokenizer.json" not in names:
            raise ModelPackageError(f"{path} has no tokenizer.json", "re-export the model")
        name = str(manifest.get("name") or path.stem)
        return cls(path, file_sha256(path), path.stat().st_size, fmt, name, function)


# --- resolving any model path to a zip -------------------------------------------------------


def resolve_zip(model: Path | None, workdir: Path, exporter: Exporter | None = None) -> Path:
    """An ml-commons zip for ``model``: the shipped encoder when None, a zip as is, an
    exported folder zipped into ``workdir``, a checkpoint exported to ONNX in ``workdir``."""
    model = default_model_dir() if model is None else Path(model)
    if model.is_file() and model.suffix == ".zip":
        return model
    if any((model / name).is_file() for name in MODEL_FILES):
        return package_exported_folder(model, workdir / f"{model.name}.zip")
    if (model / "config.json").is_file():
        return (exporter or find_exporter())(model, workdir).zip_path
    raise ModelPackageError(
        f"{model} is not a model (no zip, model.onnx, model.pt or config.json)",
        "pass an exported zip or folder, or a masked-LM checkpoint folder",
    )


def find_exporter() -> Exporter:
    """The checkpoint exporter plugin (``model_export``, with the ``train`` extra)."""
    found = entry_points(group=EXPORTER_GROUP)
    plugin = next(iter(found), None)
    try:
        if plugin is None:
            raise ImportError("no exporter registered")
        exporter: Exporter = plugin.load()
    except ImportError as exc:
        raise ModelPackageError(
            f"exporting a checkpoint needs torch and transformers ({exc})",
            "pip install 'opensearch-sparse[train]', or pass an exported model",
        ) from exc
    return exporter
