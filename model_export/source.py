"""Reading a local checkpoint folder: validate it before any slow work, then load it for export.

Everything here fails with an ``ExportError`` that names the folder and the fix, because the
usual mistakes (wrong folder, a dense encoder without an MLM head, a missing tokenizer.json)
would otherwise surface as a deep transformers traceback or, worse, as a silently random head.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from transformers import AutoModelForMaskedLM, PreTrainedModel

from model_export.errors import ExportError

# The server truncates at 512 tokens; the tokenizer shipped in the zip says so explicitly.
MAX_LENGTH = 512
SERVING_TRUNCATION = {
    "direction": "Right",
    "max_length": MAX_LENGTH,
    "strategy": "LongestFirst",
    "stride": 0,
}


@dataclass(frozen=True)
class ModelSource:
    """A checked checkpoint folder: where it is and the token facts the encoder needs."""

    model_dir: Path
    tokenizer_path: Path
    vocab_size: int
    special_ids: tuple[int, ...]


def inspect_source(model_dir: str | Path) -> ModelSource:
    """Check the folder and its tokenizer.json without loading any weights."""
    folder = Path(model_dir).expanduser().resolve()
    if not (folder / "config.json").is_file():
        raise ExportError(
            f"{folder} is not a transformers checkpoint (no config.json)",
            "point at the folder that holds config.json and the model weights",
        )
    tokenizer_path = folder / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise ExportError(
            f"{folder} has no tokenizer.json (the server tokenizes with it)",
            "save the fast tokenizer next to the weights: tokenizer.save_pretrained(model_dir)",
        )
    try:
        tokenizer_json = json.loads(tokenizer_path.read_text(encoding="utf-8"))
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
    except Exception as exc:  # the tokenizers library raises a bare Exception
        raise ExportError(
            f"{tokenizer_path} cannot be read by the tokenizers library: {exc}",
            "re-save it with a current transformers fast tokenizer (save_pretrained)",
        ) from exc
    special_ids = tuple(
        sorted(t["id"] for t in tokenizer_json.get("added_tokens", []) if t.get("special"))
    )
    return ModelSource(folder, tokenizer_path, tokenizer.get_vocab_size(), special_ids)


def load_masked_lm(source: ModelSource) -> PreTrainedModel:
    """Load the MLM in float32 with eager attention, refusing a head that was not trained."""
    try:
        mlm, info = AutoModelForMaskedLM.from_pretrained(
            source.model_dir, attn_implementation="eager", output_loading_info=True
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(
            f"{source.model_dir} cannot be loaded as a masked language model: {exc}",
            "export a *ForMaskedLM checkpoint (e.g. a SPLADE model) saved with save_pretrained",
        ) from exc
    missing = info.get("missing_keys", [])
    if missing:
        raise ExportError(
            f"{source.model_dir} has no trained masked-LM head (missing weights: "
            f"{', '.join(sorted(missing)[:4])}{', ...' if len(missing) > 4 else ''})",
            "export a checkpoint trained as a sparse MLM encoder; a dense or sentence-transformer "
            "encoder needs sparse training first",
        )
    if mlm.config.vocab_size != source.vocab_size:
        raise ExportError(
            f"model vocabulary ({mlm.config.vocab_size}) and tokenizer.json "
            f"({source.vocab_size}) differ, so output ids would decode to the wrong tokens",
            "ship the tokenizer the model was trained with",
        )
    return mlm.float().eval()


def serving_tokenizer_json(source: ModelSource) -> str:
    """tokenizer.json as the server should use it: explicit truncation at 512, no padding."""
    data = json.loads(source.tokenizer_path.read_text(encoding="utf-8"))
    data["truncation"] = dict(SERVING_TRUNCATION)
    data["padding"] = None
    return json.dumps(data, ensure_ascii=False, indent=2)


def serving_tokenizer(source: ModelSource) -> Tokenizer:
    """The tokenizer the server will run, built from the same JSON that goes into the zip."""
    return Tokenizer.from_str(serving_tokenizer_json(source))


def encode_batch(tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded int64 ``input_ids`` and ``attention_mask``, the server's input types."""
    encodings = [tokenizer.encode(text) for text in texts]
    width = max(len(encoding.ids) for encoding in encodings)
    input_ids = np.zeros((len(encodings), width), dtype=np.int64)
    attention_mask = np.zeros_like(input_ids)
    for row, encoding in enumerate(encodings):
        input_ids[row, : len(encoding.ids)] = encoding.ids
        attention_mask[row, : len(encoding.ids)] = 1
    return input_ids, attention_mask


def ensure_writable_dir(folder: Path) -> None:
    """Create ``folder`` and prove a file can be written there, before minutes of export work."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ExportError(
            f"cannot write to {folder}: {exc.strerror or exc}",
            "choose an output folder you can write to (or fix its permissions)",
        ) from exc
