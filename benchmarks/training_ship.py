"""Package a trained model as the package's default: model.onnx + tokenizer.json + idf.json.

Takes either the document masked-LM weights a GPU run brought back (fp16, tied decoder
dropped; restored onto the base checkpoint in float32) or a model a training run saved (its
document masked-LM folder is used as it is), exports through the index-time path
(``model_export.package``, which checks ONNX/PyTorch parity before writing) and copies the
zip's model and tokenizer next to the IDF table in ``opensearch_sparse/models/default``.

    python benchmarks/training_ship.py WEIGHTS.safetensors --idf .train_bundle/idf-general.json
    python benchmarks/training_ship.py model-idf-l0.01.part*.safetensors \
        --base .train_bundle/minilm-mlm --idf opensearch_sparse/models/default/idf.json
    python benchmarks/training_ship.py RUN/checkpoints/step-0000160/model \
        --idf opensearch_sparse/models/default/idf.json
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModelForMaskedLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, SHIPPED
from training_device import join_rows

from model_export import package
from opensearch_sparse.training.student import document_model_dir


def restore(weights: list[Path], base: Path, out: Path) -> Path:
    """A float32 transformers folder (with tokenizer.json) holding ``weights`` (one file, or the
    parts a large model came back in) on ``base``."""
    model = AutoModelForMaskedLM.from_pretrained(base, dtype=torch.float32)
    pieces = {k: v for part in weights for k, v in load_file(part).items()}
    state = {k: v.float() for k, v in join_rows(pieces).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any("decoder" not in key and "predictions.bias" not in key for key in missing):
        raise SystemExit(f"weights do not fit {base}: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(base / name, out / name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source",
        type=Path,
        nargs="+",
        help="WEIGHTS.safetensors (or all its .partN files) or a saved model folder",
    )
    parser.add_argument(
        "--base",
        type=Path,
        default=SHARED / "models" / "splade-tiny",
        help="the checkpoint the run started from (its architecture), e.g. a MiniLM graft",
    )
    parser.add_argument("--idf", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=SHIPPED)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder = (
            document_model_dir(args.source[0])
            if args.source[0].is_dir()
            else restore(args.source, args.base, Path(work) / "opensearch-sparse-default")
        )
        result = package(folder, Path(work) / "zip", fmt="onnx")
        print(result.summary())
        args.out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(result.zip_path) as archive:
            for name in ("model.onnx", "tokenizer.json", "manifest.json"):
                (args.out / name).write_bytes(archive.read(name))
    if args.idf.resolve() != (args.out / "idf.json").resolve():
        shutil.copy(args.idf, args.out / "idf.json")


if __name__ == "__main__":
    main()
