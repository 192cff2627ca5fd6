"""Run an exported file the way the server does and compare it with the eager PyTorch reference.

The server encodes one document per call (batch 1, no padding) after truncating at 512 tokens,
so parity does the same, over texts chosen to hit the edges: very long, punctuation-only,
non-Latin scripts, and input that normalises to nothing but special tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from model_export.errors import ExportError
from model_export.export import INPUT_NAMES, ONNX_INPUT_NAMES, OUTPUT_NAME
from model_export.source import ModelSource, encode_batch, serving_tokenizer
from model_export.wrapper import SparseDocumentEncoder, build_encoder, reference_encode

TOLERANCE = 1e-4
PARITY_TEXTS: tuple[tuple[str, str], ...] = (
    ("short", "what is sparse retrieval?"),
    (
        "sentence",
        "OpenSearch stores each learned token weight as a Lucene feature in a rank_features field.",
    ),
    (
        "long",
        " ".join(
            f"Paragraph {i}: the encoder expands documents with related terms, and the index "
            "keeps nine significant bits of each weight."
            for i in range(40)
        ),
    ),
    ("punctuation", "?!... ;;; --- ((( ))) ### $%& ..."),
    ("german", "Die Größe der Straßenbahnen in München überrascht viele Besucher."),
    ("chinese", "北京是中华人民共和国的首都\uff0c也是世界著名古都。"),
    ("russian", "Москва — столица России и крупнейший город страны."),
    ("whitespace", " \t\n  \u00a0 "),
    ("emoji", "🙂🚀🎉"),
    ("empty", ""),
)

Runner = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TextParity:
    """One text: how many tokens went in, and how the exported vector compared."""

    label: str
    n_tokens: int
    n_nonzero: int
    same_tokens: bool
    max_abs_diff: float


@dataclass(frozen=True)
class ParityResult:
    """Per-format verdict: identical non-zero token sets and weights within ``tolerance``."""

    fmt: str
    texts: tuple[TextParity, ...]
    tolerance: float = TOLERANCE

    @property
    def max_abs_diff(self) -> float:
        return max(t.max_abs_diff for t in self.texts)

    @property
    def mismatched(self) -> tuple[str, ...]:
        return tuple(t.label for t in self.texts if not t.same_tokens)

    @property
    def ok(self) -> bool:
        return not self.mismatched and self.max_abs_diff <= self.tolerance

    def summary(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        tokens = (
            "identical non-zero tokens"
            if not self.mismatched
            else f"non-zero tokens differ for {', '.join(self.mismatched)}"
        )
        return (
            f"{self.fmt} parity {verdict}: {len(self.texts)} texts, {tokens}, "
            f"max |diff| {self.max_abs_diff:.2e} (tolerance {self.tolerance:.0e})"
        )


def check_parity(
    model_dir: str | Path,
    exported_path: str | Path,
    prune_ratio: float = 0.0,
    texts: Sequence[tuple[str, str]] = PARITY_TEXTS,
) -> ParityResult:
    """Compare an exported ``.onnx`` or ``.pt`` file with the checkpoint it came from."""
    encoder, source = build_encoder(model_dir, prune_ratio)
    return compare_with_reference(encoder, source, Path(exported_path), texts)


def compare_with_reference(
    encoder: SparseDocumentEncoder,
    source: ModelSource,
    exported_path: Path,
    texts: Sequence[tuple[str, str]] = PARITY_TEXTS,
) -> ParityResult:
    """Parity for an encoder already in memory (the packager avoids loading the model twice)."""
    fmt, run = _runner(exported_path)
    tokenizer = serving_tokenizer(source)
    results = []
    for label, text in texts:
        input_ids, attention_mask = encode_batch(tokenizer, [text])
        expected = reference_encode(
            encoder.mlm,
            torch.from_numpy(input_ids),
            torch.from_numpy(attention_mask),
            source.special_ids,
            encoder.prune_ratio,
        )[0].numpy()
        actual = run(input_ids, attention_mask)[0]
        results.append(
            TextParity(
                label=label,
                n_tokens=input_ids.shape[1],
                n_nonzero=int(np.count_nonzero(actual)),
                same_tokens=np.array_equal(np.flatnonzero(expected), np.flatnonzero(actual)),
                max_abs_diff=float(np.max(np.abs(expected - actual))),
            )
        )
    return ParityResult(fmt, tuple(results))


def _runner(path: Path) -> tuple[str, Runner]:
    """Load the file with the runtime the server uses for its format."""
    if path.suffix == ".onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def run_onnx(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
            feeds = {ONNX_INPUT_NAMES[0]: input_ids, ONNX_INPUT_NAMES[1]: attention_mask}
            return session.run([OUTPUT_NAME], feeds)[0]

        return "onnx", run_onnx
    if path.suffix == ".pt":
        module = torch.jit.load(str(path), map_location="cpu")

        def run_torchscript(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
            features = {
                INPUT_NAMES[0]: torch.from_numpy(input_ids),
                INPUT_NAMES[1]: torch.from_numpy(attention_mask),
            }
            with torch.no_grad():
                return module(features)[OUTPUT_NAME].numpy()

        return "torchscript", run_torchscript
    raise ExportError(
        f"{path} is neither .onnx nor .pt, so its runtime is unknown",
        "pass the model.onnx or model.pt file that export wrote",
    )
