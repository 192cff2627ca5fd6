"""`opensearch-sparse index create` and `opensearch-sparse ingest`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from opensearch_sparse.cli import output
from opensearch_sparse.cli.common import connect, connection_options
from opensearch_sparse.corpus import ReadReport, count_lines, read_corpus
from opensearch_sparse.errors import SparseError
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.ingest import IngestError, create_index, ingest
from opensearch_sparse.model_package import load_tokenizer
from opensearch_sparse.pruning import Pruning
from opensearch_sparse.query_encoder import QueryEncoder
from opensearch_sparse.schema import SPARSE_KINDS, SparseIndex, SparseKind
from opensearch_sparse.search import ensure_search_pipelines


@click.group("index")
def index() -> None:
    """Create indices with a sparse field (exact or SEISMIC) and a sparse_encoding pipeline."""


@index.command("create")
@click.argument("name")
@click.option("--model-id", default=None, help="Deployed model for the ingest pipeline")
@click.option(
    "--prune",
    default=None,
    metavar="TYPE:VALUE",
    help="Pipeline pruning: max_ratio:0.1, top_k:64, alpha_mass:0.9 or abs_value:0.2",
)
@click.option("--batch-size", type=int, default=None, help="Documents per predict call")
@click.option("--replace", is_flag=True, help="Drop and recreate an existing index")
@click.option("--shards", type=click.IntRange(1), default=1, show_default=True)
@click.option(
    "--replicas",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Copies of each shard on other nodes (1 keeps a 3-node cluster answering without one)",
)
@click.option(
    "--source-weights/--no-source-weights",
    default=True,
    show_default=True,
    help="Keep the sparse weights in _source. Without them the index is several times "
    "smaller and searches the same, but the weights cannot be read back: reindex and partial "
    "updates must encode the text again (the pipeline does; --encode local must be rerun)",
)
@click.option(
    "--sparse-field",
    type=click.Choice(SPARSE_KINDS),
    default="rank_features",
    show_default=True,
    help="rank_features: exact scores. seismic: a sparse_vector field with the SEISMIC "
    "approximate index (faster on large indices, recall below 1; two-phase does not apply)",
)
@click.option(
    "--summary-prune-ratio",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=None,
    help="seismic: share of each cluster summary's weight kept (neural-search: 0.4); 1 keeps "
    "recall@10 at 0.96 instead of 0.80 on 785k short texts, with a larger index",
)
@click.option(
    "--n-postings",
    type=click.IntRange(1),
    default=None,
    help="seismic: documents kept per token posting list [neural-search's default]",
)
@connection_options
def create(
    name: str,
    model_id: str | None,
    prune: str | None,
    batch_size: int | None,
    replace: bool,
    shards: int,
    replicas: int,
    source_weights: bool,
    sparse_field: SparseKind,
    summary_prune_ratio: float | None,
    n_postings: int | None,
    **conn: Any,
) -> None:
    """Create NAME: text + title for BM25, text_sparse (rank_features, or SEISMIC
    sparse_vector) for sparse search."""
    if sparse_field != "seismic" and (summary_prune_ratio, n_postings) != (None, None):
        raise click.UsageError("--summary-prune-ratio and --n-postings need --sparse-field seismic")
    sparse = SparseIndex(
        kind=sparse_field,
        store_source=source_weights,
        n_postings=n_postings,
        summary_prune_ratio=summary_prune_ratio or SparseIndex.summary_prune_ratio,
    )
    client = connect(**conn)
    pipeline = create_index(
        client,
        name,
        model_id=model_id,
        prune=Pruning.parse(prune) if prune else None,
        batch_size=batch_size,
        replace=replace,
        shards=shards,
        replicas=replicas,
        sparse=sparse,
    )
    suffix = (
        f" with default pipeline {pipeline}" if pipeline else " (no pipeline: use --encode local)"
    )
    output.info(f"created index {name} ({sparse_field}){suffix}")
    # Set up here, by a user who may write, so search-only users just use them.
    output.info(f"search pipelines ready: {', '.join(ensure_search_pipelines(client))}")


@click.command("ingest")
@click.argument("index_name")
@click.argument("corpus", type=click.Path(path_type=Path))
@click.option(
    "--encode",
    type=click.Choice(["pipeline", "local"]),
    default="pipeline",
    show_default=True,
    help="pipeline: ml-commons encodes in the cluster; local: onnxruntime here",
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Exported zip or folder (needed for --encode local)",
)
@click.option(
    "--on-error",
    type=click.Choice(["skip", "fail"]),
    default="skip",
    show_default=True,
    help="A bad corpus line is reported and skipped, or stops the run",
)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option(
    "--prune",
    default=None,
    metavar="TYPE:VALUE",
    help="With --encode local: prune as the pipeline's processor would (e.g. abs_value:0.4), "
    "or contribution:T (keep a token if weight x its query IDF >= T; local only)",
)
@click.option(
    "--idf",
    "idf_path",
    type=click.Path(path_type=Path),
    default=None,
    help="contribution pruning: the IDF table searches will use [default: built from CORPUS, "
    "as `idf build --index` will]",
)
@connection_options
def ingest_cmd(
    index_name: str,
    corpus: Path,
    encode: str,
    model_path: Path | None,
    on_error: str,
    batch_size: int,
    prune: str | None,
    idf_path: Path | None,
    **conn: Any,
) -> None:
    """Stream a BEIR corpus.jsonl(.gz) into INDEX_NAME, idempotently (ids from the corpus)."""
    rule = Pruning.parse(prune) if prune else None
    if rule is not None and encode != "local":
        raise click.UsageError("--prune needs --encode local (a pipeline prunes as set at create)")
    if idf_path is not None and (rule is None or not rule.needs_query_weights):
        raise click.UsageError("--idf is for --prune contribution:T only")
    client = connect(**conn)
    if not client.indices.exists(index=index_name):
        raise SparseError(
            f"index {index_name} does not exist", "create it with `opensearch-sparse index create`"
        )
    encoder = None
    total = count_lines(corpus)
    if encode == "local":
        if model_path is None:
            raise SparseError("--encode local needs --model", "pass the exported zip: --model PATH")
        from opensearch_sparse.encoders import DocumentEncoder  # onnxruntime: only when used

        if rule is not None and rule.needs_query_weights:
            rule = rule.with_query_weights(_query_weights(model_path, corpus, idf_path, total))
        encoder = DocumentEncoder(model_path, prune=rule)
    read = ReadReport()
    with output.progress("ingest", total) as advance:
        report = ingest(
            client,
            index_name,
            read_corpus(corpus, on_error=on_error, report=read),
            encoder=encoder,
            chunk_size=batch_size,
            on_progress=advance,
        )
    for line_no, reason in read.bad:
        output.info(f"skipped line {line_no}: {reason}")
    for label, rejected_docs in (("duplicate", report.duplicates), ("failed", report.failed)):
        for rejected in rejected_docs[:20]:
            where = f"line {rejected.line} " if rejected.line else ""
            output.info(f"{label}: {where}(id {rejected.doc_id}): {rejected.reason}")
        if len(rejected_docs) > 20:
            output.info(f"... and {len(rejected_docs) - 20} more {label} documents")
    output.info(
        f"{read.lines} lines read, {len(read.bad)} bad lines skipped, "
        f"{len(report.duplicates)} with a duplicate _id, "
        f"{report.sent} documents sent, {len(report.failed)} failed, "
        f"{report.stored} of them stored in {index_name}; "
        f"{report.retries} retries; {report.rate:.1f} docs/s over {report.seconds:.0f}s"
    )
    missing = len(read.bad) + len(report.duplicates) + report.sent - report.stored
    if missing:
        raise IngestError(
            f"{missing} of {read.lines} corpus lines are not in {index_name} "
            f"({len(read.bad)} bad lines, {len(report.duplicates)} replaced by a later line "
            f"with the same _id, {len(report.failed)} refused, "
            f"{report.sent - report.stored - len(report.failed)} missing)",
            "fix the lines named above, then rerun the same command: ingest is idempotent",
        )


def _query_weights(model: Path, corpus: Path, idf_path: Path | None, total: int) -> np.ndarray:
    """What ``contribution`` pruning weighs document tokens by: the IDF table given, or one
    built from the corpus's own texts (what the index's table will hold once it is in)."""
    tokenizer = load_tokenizer(model)
    if idf_path is not None:
        idf = IdfTable.load(idf_path)
    else:
        with output.progress("idf from corpus", total) as advance:
            texts = (d.content for d in read_corpus(corpus, on_error="skip", report=ReadReport()))
            idf = IdfTable.build(texts, tokenizer, on_progress=advance)
    return QueryEncoder(tokenizer, idf).vocabulary_weights()
