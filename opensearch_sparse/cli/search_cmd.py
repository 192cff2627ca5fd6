"""`opensearch-sparse search` and `opensearch-sparse idf build`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from opensearch_sparse.cli import output
from opensearch_sparse.cli.common import connect, connection_options
from opensearch_sparse.config import env
from opensearch_sparse.corpus import count_lines, read_corpus
from opensearch_sparse.idf import IdfTable, index_texts
from opensearch_sparse.model_package import general_idf, load_tokenizer
from opensearch_sparse.models import default_model_dir
from opensearch_sparse.query_encoder import ENGLISH_STOP_WORDS, MAX_QUERY_TOKENS, QueryEncoder
from opensearch_sparse.search import MODES, AnnParams, SearchResult, SparseSearch


def model_options(func: Any) -> Any:
    func = click.option(
        "--idf",
        "idf_path",
        type=click.Path(path_type=Path),
        default=lambda: env("IDF"),
        help="IDF table (idf.json) [env IDF; default: the model's general table]",
    )(func)
    return click.option(
        "--model",
        "model_path",
        type=click.Path(path_type=Path),
        default=lambda: env("MODEL"),
        help="Exported model zip or folder: its tokenizer encodes queries "
        "[env MODEL; default: the shipped model]",
    )(func)


def _snippet(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def print_result(result: SearchResult) -> None:
    table = Table(title=Text(f"{result.mode}: {len(result.hits)} hits"), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("id")
    table.add_column("score", justify="right")
    table.add_column("title / text")
    for rank, hit in enumerate(result.hits, 1):
        table.add_row(
            str(rank), Text(hit.doc_id), f"{hit.score:.3f}", Text(_snippet(hit.title or hit.text))
        )
    output.out.print(table)
    output.out.print(
        f"client {result.client_ms:.1f} ms (query encoding {result.encode_ms:.2f} ms), "
        f"server took {result.took_ms} ms",
        highlight=False,
        markup=False,
    )
    if result.reason:
        output.out.print(f"note: {result.reason}", highlight=False, markup=False)


@click.command()
@click.argument("index_name")
@click.argument("query")
@click.option("--mode", type=click.Choice(MODES), default="sparse", show_default=True)
@click.option("-k", "k", type=int, default=10, show_default=True)
@click.option("--two-phase", is_flag=True, help="Use the neural_sparse two-phase processor")
@click.option(
    "--server-encode",
    "tokenizer_model_id",
    default=None,
    help="SPARSE_TOKENIZE model id: the cluster encodes the query (query_text)",
)
@click.option(
    "--min-idf",
    type=click.FloatRange(0.0),
    default=0.0,
    show_default=True,
    help="Drop query tokens with IDF at or below this (near-stop-words): 1 cost 0.3% of "
    "NDCG@10 on the dev sets and skips the longest posting lists",
)
@click.option(
    "--stop-words",
    is_flag=True,
    help="Drop the english analyzer's 33 stop words (the, of, for...) from the query, as the "
    "BM25 field does: their posting lists are among the longest on short texts; 0.2% of "
    "NDCG@10 on the dev sets",
)
@click.option(
    "--max-query-tokens",
    type=click.IntRange(1),
    default=MAX_QUERY_TOKENS,
    show_default=True,
    help="Keep at most this many query tokens, the highest-IDF ones: a search costs the node "
    "about one posting-list walk per token, and long questions are the slowest searches",
)
@click.option(
    "--top-n",
    type=click.IntRange(1),
    default=AnnParams.top_n,
    show_default=True,
    help="SEISMIC index: search the posting lists of this many highest-weighted query tokens",
)
@click.option(
    "--heap-factor",
    type=click.FloatRange(0.0, min_open=True),
    default=AnnParams.heap_factor,
    show_default=True,
    help="SEISMIC index: above 1 skips fewer clusters (higher recall, slower), below 1 more",
)
@click.option("--json", "as_json", is_flag=True)
@model_options
@connection_options
def search(
    index_name: str,
    query: str,
    mode: str,
    k: int,
    two_phase: bool,
    min_idf: float,
    stop_words: bool,
    max_query_tokens: int,
    top_n: int,
    heap_factor: float,
    as_json: bool,
    tokenizer_model_id: str | None,
    model_path: Path | None,
    idf_path: Path | None,
    **conn: Any,
) -> None:
    """Search INDEX_NAME for QUERY in sparse, BM25 or hybrid mode."""
    encoder = None
    if mode != "bm25" and not tokenizer_model_id:
        model_path = model_path or default_model_dir()
        if idf_path is None:
            idf_path = general_idf(model_path)
            output.info(
                "note: query tokens weighted by the model's general IDF table; one built from "
                f"your index fits it better: opensearch-sparse idf build --index {index_name} "
                f"--tokenizer {model_path}"
            )
        encoder = QueryEncoder.from_paths(
            model_path,
            idf_path,
            max_tokens=max_query_tokens,
            min_idf=min_idf,
            stop_words=ENGLISH_STOP_WORDS if stop_words else frozenset(),
        )
    searcher = SparseSearch(
        connect(**conn),
        index_name,
        encoder,
        tokenizer_model_id=tokenizer_model_id,
        ann=AnnParams(top_n=top_n, heap_factor=heap_factor),
    )
    result = searcher.search(query, mode, k, two_phase=two_phase)
    if as_json:
        output.emit_json(result.__dict__ | {"hits": [h.__dict__ for h in result.hits]})
    else:
        print_result(result)


@click.group("idf")
def idf() -> None:
    """Build the IDF table that weights query tokens."""


@idf.command("build")
@click.argument("corpus", type=click.Path(path_type=Path), required=False)
@click.option(
    "--tokenizer",
    "tokenizer_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Model folder or exported zip whose tokenizer.json to use [default: the shipped model]",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the table [default: idf.json beside the --tokenizer model; "
    "without --tokenizer, idf-NAME.json here]",
)
@click.option(
    "--index", "index_name", default=None, help="Count the documents of this index instead"
)
@connection_options
def build(
    corpus: Path | None,
    tokenizer_path: Path | None,
    out: Path | None,
    index_name: str | None,
    **conn: Any,
) -> None:
    """Stream CORPUS (or the documents of --index NAME, the default a search should use)
    once and write {token: idf} JSON to --out."""
    if (corpus is None) == (index_name is None):
        raise click.UsageError("give either CORPUS or --index NAME")
    if tokenizer_path is not None and out is None:
        # Kept with the model it belongs to: a folder gets it inside, a zip gets it next to it.
        out = (tokenizer_path if tokenizer_path.is_dir() else tokenizer_path.parent) / "idf.json"
    elif out is None:
        # Never beside the shipped model: that is the general fallback table, kept intact.
        name = index_name if corpus is None else corpus.name.split(".")[0]
        out = Path(f"idf-{name}.json")
    tokenizer = load_tokenizer(tokenizer_path or default_model_dir())
    texts: Iterable[str]
    if corpus is not None:
        total = count_lines(corpus)
        texts = (d.content for d in read_corpus(corpus))
    elif index_name is not None:
        client = connect(**conn)
        total = int(client.count(index=index_name)["count"])
        texts = index_texts(client, index_name)
    with output.progress("idf", total) as advance:
        table = IdfTable.build(texts, tokenizer, on_progress=advance)
    table.save(out)
    output.info(f"wrote {len(table)} token weights to {out}")
    click.echo(str(out))
