"""What every benchmark shares: argument defaults, the cluster, the model, prepared indices,
and writing reports (JSON + markdown) beside plots."""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch

from opensearch_sparse.client import check_reachable, make_client
from opensearch_sparse.config import ClusterConfig
from opensearch_sparse.corpus import Document
from opensearch_sparse.encoders import DocumentEncoder
from opensearch_sparse.ingest import create_index, ingest
from opensearch_sparse.mlcommons import MLCommons
from opensearch_sparse.model_package import ModelPackage

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RESULTS = REPO / "benchmarks" / "results"


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", default=None, help="cluster URL (default: the local node)")
    parser.add_argument(
        "--model", type=Path, default=None, help="exported zip or folder (default: shipped)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where reports go")
    return parser


def connect(url: str | None) -> OpenSearch:
    cfg = ClusterConfig(url=url) if url else ClusterConfig()
    client = make_client(cfg)
    check_reachable(client, cfg)
    return client


def prepared_index(
    client: OpenSearch,
    name: str,
    docs: Sequence[Document],
    *,
    encode: str,
    package: ModelPackage,
) -> tuple[str, float]:
    """Index ``docs`` unless an index of that name already holds them all; returns
    (index, ingest docs/s or 0.0 when reused). Names carry the model hash, so a different
    model never reuses another's index."""
    if client.indices.exists(index=name) and client.count(index=name)["count"] == len(docs):
        return name, 0.0
    if encode == "pipeline":
        ml = MLCommons(client)
        ml.apply_settings()
        model_id, _ = ml.register(package)
        ml.deploy(model_id)
        create_index(client, name, model_id=model_id, replace=True)
        report = ingest(client, name, docs)
    else:
        create_index(client, name, replace=True)
        report = ingest(client, name, docs, encoder=DocumentEncoder(package.path))
    if not report.complete:
        raise SystemExit(f"{name}: {len(report.failed)} documents failed to index")
    return name, report.rate


def write_report(out: Path, stem: str, data: dict[str, Any], markdown: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        **data,
    }
    (out / f"{stem}.json").write_text(json.dumps(data, indent=2))
    (out / f"{stem}.md").write_text(markdown)
    print(markdown)
    print(f"wrote {out / (stem + '.json')} and {out / (stem + '.md')}")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [f"{c:.3f}" if isinstance(c, float) else str(c) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
