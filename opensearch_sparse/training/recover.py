"""A masked-LM checkpoint recovered from an exported ONNX package, so a model that exists only
as its deployable package (the shipped default) can be trained further.

The exporter keeps the PyTorch parameter names as ONNX initializers (``mlm.`` + the
``BertForMaskedLM`` name); the architecture comes from the checkpoint the package was trained
from (``--base``, e.g. splade-tiny), whose shapes must match. The tied decoder weight and bias
are the word embeddings and the prediction bias, as in the original.

    python -m opensearch_sparse.training.recover opensearch_sparse/models/default \\
        ../shared/models/splade-tiny .train_bundle/shipped-mlm
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from opensearch_sparse.errors import SparseError

PREFIX = "mlm."
#: Tokenizer files copied from the base checkpoint (the package's tokenizer.json is the same).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


def save_masked_lm(model: Any, tokenizer_from: Path, out: Path) -> Path:
    """Save ``model`` (a ``BertForMaskedLM``) with ``tokenizer_from``'s tokenizer files: a
    checkpoint built here (recovered, interpolated) must load and train like the one it came
    from, and ``save_pretrained`` writes weights and config only."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    for name in TOKENIZER_FILES:
        if (tokenizer_from / name).is_file():
            shutil.copy(tokenizer_from / name, out / name)
    return out


class RecoverError(SparseError):
    """The package's weights do not fit the base checkpoint's architecture."""


def recover_checkpoint(package: Path, base: Path, out: Path) -> Path:
    """Write ``out`` (config, weights, tokenizer) holding ``package``'s trained weights."""
    import onnx
    import torch
    from onnx import numpy_helper
    from transformers import BertForMaskedLM

    graph = onnx.load(str(package / "model.onnx")).graph
    state = {
        i.name[len(PREFIX) :]: torch.from_numpy(numpy_helper.to_array(i).copy())
        for i in graph.initializer
        if i.name.startswith(PREFIX)
    }
    model = BertForMaskedLM.from_pretrained(str(base))
    expected = model.state_dict()
    wrong = [n for n, t in state.items() if n not in expected or expected[n].shape != t.shape]
    if wrong or not state:
        raise RecoverError(
            f"{package / 'model.onnx'} does not fit {base}: "
            + (f"{len(wrong)} tensors differ (first: {wrong[0]})" if wrong else "no weights"),
            "pass the checkpoint the package was exported from as the base",
        )
    missing, _ = model.load_state_dict(state, strict=False)
    tied = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
    if set(missing) - tied:
        raise RecoverError(
            f"{package / 'model.onnx'} lacks {sorted(set(missing) - tied)[:3]}",
            "export the package again with opensearch-sparse export",
        )
    return save_masked_lm(model, base, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="an exported package folder (model.onnx)")
    parser.add_argument("base", type=Path, help="the masked-LM checkpoint it was trained from")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    print(recover_checkpoint(args.package, args.base, args.out))


if __name__ == "__main__":
    from opensearch_sparse.cli.output import known_failures

    with known_failures():  # a package that does not fit: one cause, one fix, exit 1
        main()
