"""Document encoding in Python with onnxruntime: the same exported graph ml-commons runs, for
bulk loads that should not wait on one predict call per document inside the cluster.

The graph already does max-pooling, ``log(1 + relu)`` and special-token zeroing, so this module
only tokenizes, batches, prunes (``opensearch_sparse.pruning``, the processor's semantics) and
turns non-zero columns into ``{token: weight}``.

Batches hold texts of exactly one token length: no padding position is ever projected onto the
30,522-entry vocabulary (the costly part), and every row's weights are the ones a batch of one
(what the server runs) gives.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from opensearch_sparse.model_package import load_onnx, load_tokenizer_json
from opensearch_sparse.pruning import Pruning

MAX_LENGTH = 512
#: Tokens per ONNX call. The head materialises ``tokens x 30522`` float32 logits (122 KB per
#: token), so larger calls stop paying off once that leaves the caches.
MAX_BATCH_TOKENS = 1024
#: Texts tokenized and grouped by length at once: the more texts, the fuller each
#: same-length batch.
WINDOW = 2048

SparseRow = tuple[np.ndarray, np.ndarray]  # (vocabulary ids int32, weights float32)


class DocumentEncoder:
    """Batched ONNX document encoder producing the token weights the index stores."""

    def __init__(
        self,
        path: Path,
        *,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
        threads: int | None = None,
        prune: Pruning | None = None,
    ) -> None:
        model = load_onnx(Path(path))
        self.tokenizer = Tokenizer.from_str(load_tokenizer_json(Path(path)))
        # Same limit as the server, whatever the tokenizer file says.
        self.tokenizer.enable_truncation(MAX_LENGTH)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # Idle workers sleep instead of spinning: on a shared machine, spinning threads burn the
        # cores the other thread (and the node) need; measured in benchmarks/ingest.py.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        names = [i.name for i in self.session.get_inputs()]
        self._ids_name = next(n for n in names if n.endswith("input_ids"))
        self._mask_name = next(n for n in names if n.endswith("attention_mask"))
        self.max_batch_tokens = max_batch_tokens
        self.prune = prune
        #: How many texts a caller should hand over at once (see ``WINDOW``).
        self.window = WINDOW
        self.vocab = [""] * self.tokenizer.get_vocab_size()
        for token, index in self.tokenizer.get_vocab().items():
            self.vocab[index] = token

    def encode_sparse(self, texts: Sequence[str]) -> list[SparseRow]:
        """(vocabulary ids, weights) per text, in input order, pruned when asked."""
        encodings = self.tokenizer.encode_batch(list(texts))
        results: list[SparseRow] = [_EMPTY] * len(texts)
        for rows, ids in self._batches([e.ids for e in encodings]):
            (weights,) = self.session.run(
                None, {self._ids_name: ids, self._mask_name: np.ones_like(ids)}
            )
            for row, i in enumerate(rows):
                cols = np.flatnonzero(weights[row] > 0)
                values = weights[row, cols]
                if self.prune is not None:
                    kept = self.prune.keep(values, cols)
                    cols, values = cols[kept], values[kept]
                results[i] = (cols.astype(np.int32), values.astype(np.float32))
        return results

    def encode(self, texts: Sequence[str], *, by_id: bool = False) -> list[dict[str, float]]:
        """Weights per text, in input order, keyed by token (``rank_features``) or, with
        ``by_id``, by vocabulary id as a string (what a SEISMIC ``sparse_vector`` stores)."""
        rows = self.encode_sparse(texts)
        return [self.to_ids(row) if by_id else self.to_tokens(row) for row in rows]

    def to_tokens(self, row: SparseRow) -> dict[str, float]:
        cols, values = row
        pairs = zip(cols.tolist(), values.tolist(), strict=True)
        return {self.vocab[c]: float(v) for c, v in pairs}

    @staticmethod
    def to_ids(row: SparseRow) -> dict[str, float]:
        cols, values = row
        return {str(c): float(v) for c, v in zip(cols.tolist(), values.tolist(), strict=True)}

    def _batches(self, token_ids: list[list[int]]) -> Iterator[tuple[list[int], np.ndarray]]:
        """(row indices, ids ``[n, length]``) with one length per batch and at most
        ``max_batch_tokens`` tokens (at least one text)."""
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, ids in enumerate(token_ids):
            by_length[len(ids)].append(i)
        for length, rows in sorted(by_length.items()):
            per_batch = max(1, self.max_batch_tokens // max(length, 1))
            for start in range(0, len(rows), per_batch):
                chunk = rows[start : start + per_batch]
                yield chunk, np.array([token_ids[i] for i in chunk], dtype=np.int64)


_EMPTY: SparseRow = (np.zeros(0, np.int32), np.zeros(0, np.float32))
