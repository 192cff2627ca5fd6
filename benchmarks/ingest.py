"""Ingest throughput on one node: the ml-commons sparse_encoding pipeline vs local onnxruntime
encoding (and BM25-only indexing as the floor), same documents, into fresh indices.

    python benchmarks/ingest.py --corpus ../shared/data/cranfield
    python benchmarks/ingest.py --limit 5000 \
        --corpus ../shared/data/scale/debian-descriptions.jsonl.gz
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from itertools import islice
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, base_parser, connect, markdown_table, write_report

from opensearch_sparse.corpus import read_corpus
from opensearch_sparse.encoders import DocumentEncoder
from opensearch_sparse.ingest import create_index, ingest
from opensearch_sparse.mlcommons import MLCommons
from opensearch_sparse.model_package import ModelPackage, resolve_zip
from opensearch_sparse.schema import ingest_pipeline_name

PATHS = ("bm25-only", "pipeline", "local")


def run_path(client: Any, path: str, docs: list[Any], package: ModelPackage) -> dict[str, float]:
    name = f"bench-ingest-{path}-{uuid.uuid4().hex[:6]}"
    encoder = None
    if path == "pipeline":
        ml = MLCommons(client)
        ml.apply_settings()
        model_id, _ = ml.register(package)
        ml.deploy(model_id)
        create_index(client, name, model_id=model_id)
    else:
        create_index(client, name)
        if path == "local":
            encoder = DocumentEncoder(package.path)
    try:
        report = ingest(client, name, docs, encoder=encoder)
        stats = client.indices.stats(index=name, metric="store")
        size = stats["indices"][name]["primaries"]["store"]["size_in_bytes"]
    finally:
        client.indices.delete(index=name, ignore_unavailable=True)
        client.ingest.delete_pipeline(id=ingest_pipeline_name(name), ignore=[404])
    return {
        "docs_per_s": report.rate,
        "seconds": report.seconds,
        "stored": report.stored,
        "failed": len(report.failed),
        "index_mb": size / 1e6,
    }


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--corpus", type=Path, default=SHARED / "data" / "cranfield")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    args = parser.parse_args()
    client = connect(args.url)
    docs = list(islice(read_corpus(args.corpus), args.limit))
    with tempfile.TemporaryDirectory() as tmp:
        package = ModelPackage.open(resolve_zip(args.model, Path(tmp)))
        results = {}
        for path in args.paths:
            results[path] = run_path(client, path, docs, package)
            r = results[path]
            print(
                f"{path:>9}: {r['docs_per_s']:.1f} docs/s, {r['stored']} stored, "
                f"{r['failed']} failed, index {r['index_mb']:.1f} MB"
            )
    rows = [
        [p, r["docs_per_s"], r["seconds"], r["stored"], r["failed"], r["index_mb"]]
        for p, r in results.items()
    ]
    markdown = (
        f"# Ingest: {len(docs)} documents of {args.corpus.name} ({package.name})\n\n"
        + markdown_table(["path", "docs/s", "seconds", "stored", "failed", "index MB"], rows)
    )
    stem = "ingest-" + args.corpus.name.split(".")[0]
    write_report(
        args.out,
        stem,
        {
            "corpus": str(args.corpus),
            "documents": len(docs),
            "model": package.name,
            "results": results,
        },
        markdown,
    )


if __name__ == "__main__":
    main()
