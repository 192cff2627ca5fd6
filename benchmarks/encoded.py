"""Encode a corpus once per model and keep the weights on disk, so every index variant the
benchmarks build (pruned, ``sparse_vector``, ...) is filled from the same vectors at bulk speed.

Vectors are stored as CSR shards (``indptr``, vocabulary ``ids``, float32 ``weights``, doc ids)
of ``SHARD`` documents in corpus order under ``~/.cache/opensearch-sparse/bench/<model
sha256[:16]>/<corpus>/``; a run that stops keeps its finished shards and the next one resumes
after them, and a run over the first N documents reuses the shards that cover them. The model's
sha256 is the source package's: the ``fast`` head rewrite gives bit-identical weights, so it
encodes for the original (``model_export.optimize`` checks that on every rewrite).

    nice python benchmarks/encoded.py --corpus ../shared/data/scale/pypi-summaries.jsonl.gz
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, base_parser

from opensearch_sparse.batching import batched
from opensearch_sparse.cli.output import known_failures
from opensearch_sparse.corpus import Document, read_corpus
from opensearch_sparse.encoders import DocumentEncoder
from opensearch_sparse.model_package import ModelPackage, resolve_zip

SHARD = 16384
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "opensearch-sparse"


@dataclass(frozen=True)
class Encoded:
    """A corpus's vectors: row i is document ``doc_ids[i]``."""

    doc_ids: np.ndarray
    indptr: np.ndarray
    ids: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.doc_ids)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.indptr[i], self.indptr[i + 1]
        return self.ids[a:b], self.weights[a:b]

    @property
    def mean_tokens(self) -> float:
        return float(len(self.ids) / max(len(self), 1))


def cache_dir(sha256: str, corpus: Path) -> Path:
    stem = corpus.name.split(".")[0] if corpus.is_file() else corpus.name
    return CACHE / "bench" / sha256[:16] / stem


def encode_shards(
    docs: Sequence[Document], encoder: DocumentEncoder, folder: Path, *, label: str = ""
) -> Encoded:
    """Encode ``docs`` shard by shard into ``folder`` (keeping shards that already hold at least
    the documents asked for); the vectors of exactly ``docs``."""
    folder.mkdir(parents=True, exist_ok=True)
    started, done = time.monotonic(), 0
    paths = []
    for number, shard in enumerate(batched(docs, SHARD)):
        path = folder / f"shard-{number:05d}.npz"
        paths.append(path)
        if _shard_size(path) >= len(shard):
            continue
        ids, weights, lengths = [], [], []
        for window in batched(shard, encoder.window):
            for cols, values in encoder.encode_sparse([d.content for d in window]):
                ids.append(cols)
                weights.append(values)
                lengths.append(len(cols))
        done += len(shard)
        _save(path, [d.doc_id for d in shard], lengths, ids, weights)
        rate = done / (time.monotonic() - started)
        print(f"{label} shard {number}: {done} documents encoded, {rate:.1f} docs/s", flush=True)
    return load(paths, len(docs))


def _shard_size(path: Path) -> int:
    if not path.is_file():
        return 0
    with np.load(path) as shard:
        return len(shard["doc_ids"])


def _save(
    path: Path,
    doc_ids: list[str],
    lengths: list[int],
    ids: list[np.ndarray],
    weights: list[np.ndarray],
) -> None:
    partial = path.with_suffix(".partial.npz")
    np.savez(
        partial,
        doc_ids=np.array(doc_ids),
        indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        ids=np.concatenate(ids) if ids else np.zeros(0, np.int32),
        weights=np.concatenate(weights) if weights else np.zeros(0, np.float32),
    )
    partial.replace(path)


def load(paths: Sequence[Path], n_docs: int) -> Encoded:
    """The first ``n_docs`` rows of the shards at ``paths``."""
    parts = [dict(np.load(p)) for p in paths]
    offsets = np.cumsum([0] + [len(p["ids"]) for p in parts])
    indptr = np.concatenate(
        [[0]] + [p["indptr"][1:] + off for p, off in zip(parts, offsets, strict=False)]
    ).astype(np.int64)[: n_docs + 1]
    end = int(indptr[-1])
    return Encoded(
        doc_ids=np.concatenate([p["doc_ids"] for p in parts])[:n_docs],
        indptr=indptr,
        ids=np.concatenate([p["ids"] for p in parts])[:end],
        weights=np.concatenate([p["weights"] for p in parts])[:end],
    )


def encoded_corpus(
    docs: Sequence[Document],
    package: ModelPackage,
    corpus: Path,
    *,
    threads: int | None = None,
) -> Encoded:
    """The cached vectors of ``docs`` (the first documents of ``corpus``) for ``package``,
    encoding what is missing (with the exact ``fast`` head when the exporter is installed,
    else the package's own graph)."""
    folder = cache_dir(package.sha256, corpus)
    paths = [folder / f"shard-{n:05d}.npz" for n in range((len(docs) + SHARD - 1) // SHARD)]
    sizes = [min(SHARD, len(docs) - n * SHARD) for n in range(len(paths))]
    if all(_shard_size(p) >= size for p, size in zip(paths, sizes, strict=True)):
        return load(paths, len(docs))
    with tempfile.TemporaryDirectory() as tmp:
        graph = fast_graph(package.path, Path(tmp))
        encoder = DocumentEncoder(graph, threads=threads)
        return encode_shards(docs, encoder, folder, label=corpus.name)


def fast_graph(path: Path, workdir: Path) -> Path:
    """The exact ``fast`` rewrite of ``path``'s graph, or the graph itself (same weights) when
    the exporter is not installed or the graph is already a rewritten or quantised variant."""
    try:
        from model_export.errors import ExportError
        from model_export.optimize import optimize_package
    except ImportError:
        return path
    try:
        return optimize_package(path, workdir, "fast")
    except ExportError:
        return path


def read_docs(corpus: Path, limit: int | None) -> list[Document]:
    return list(islice(read_corpus(corpus), limit))


def iter_rows(encoded: Encoded) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    for i in range(len(encoded)):
        yield str(encoded.doc_ids[i]), *encoded.row(i)


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument(
        "--corpus", type=Path, default=SHARED / "data" / "scale" / "debian-descriptions.jsonl.gz"
    )
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    docs = read_docs(args.corpus, args.limit)
    with tempfile.TemporaryDirectory() as tmp:
        package = ModelPackage.open(resolve_zip(args.model, Path(tmp)))
        encoded = encoded_corpus(docs, package, args.corpus, threads=args.threads)
    print(f"{len(encoded)} documents, {encoded.mean_tokens:.1f} tokens each")


if __name__ == "__main__":
    with known_failures():  # no cluster, a refused request: one cause, one fix
        main()
