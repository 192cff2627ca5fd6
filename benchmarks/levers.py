"""Every cost lever of sparse search, for relevance and latency on one node: document pruning
(the ``sparse_encoding`` processor's four prune types and local encoding's ``contribution``,
applied to the same cached vectors), a query-side token cap, dropping common query tokens (IDF
at or below a floor, or the ``english`` analyzer's stop words; latency also has the chosen
settings with stop words), the two-phase search processor, and a SEISMIC ``sparse_vector``
index, beside BM25 (``english`` analyzer) on a BM25-only index.

Relevance: NDCG@10 on each BEIR set under ``--data``; SEISMIC also gets recall@10 against exact
search; two-phase gets how often its top 10 (ids and scores) equal exact search's. Each index
also gets the postings its queries' tokens hold, the work an exhaustive query walks. The chosen
pruning (for ingest pipelines) is the processor type with the fewest tokens per document whose
average NDCG@10 stays within 1% of unpruned (chosen on these sets; say so when quoting it); then
the highest IDF floor that, searched on that pruning, keeps the same margin. The local choice
is any type, ``contribution`` included, whose queries walk the fewest postings within the same
1%; the capped local choice is the lowest query-token cap at which some pruning, with the floor
and the stop words, keeps that 1% (the cap moves the node's time more than pruning does).
Latency: the same levers, both choices with the floor, on ``--corpus`` (default: the 64k
Debian descriptions), modes interleaved in rounds.

    python benchmarks/levers.py                  # four dev sets + 64k latency
    python benchmarks/levers.py --sets cranfield --latency-limit 5000 --rounds 3
"""

from __future__ import annotations

import functools
import sys
import tempfile
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import numpy as np
from ranx import Qrels, Run, evaluate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    EVAL_SETS,
    GRADED_K,
    SHARED,
    LoadMonitor,
    base_parser,
    connect,
    fill_index,
    graded_run,
    markdown_table,
    model_facts,
    recall,
    weighed,
    write_report,
)
from encoded import encoded_corpus, read_docs
from loadgen import Mode, interleaved, ratio_cell

from opensearch_sparse.cli.output import known_failures
from opensearch_sparse.corpus import read_qrels, read_queries
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.model_package import ModelPackage, load_tokenizer, resolve_zip
from opensearch_sparse.pruning import Pruning
from opensearch_sparse.query_encoder import ENGLISH_STOP_WORDS, MAX_QUERY_TOKENS, QueryEncoder
from opensearch_sparse.schema import SparseIndex
from opensearch_sparse.search import AnnParams, SparseSearch

PRUNES = (
    "max_ratio:0.05",
    "max_ratio:0.1",
    "max_ratio:0.2",
    "top_k:32",
    "top_k:64",
    "top_k:96",
    "alpha_mass:0.8",
    "alpha_mass:0.9",
    "alpha_mass:0.95",
    "abs_value:0.1",
    "abs_value:0.2",
    "abs_value:0.4",
    "contribution:0.8",
    "contribution:1",
    "contribution:1.2",
    "contribution:1.5",
)
CAPS = (4, 8, 12, 16)
MIN_IDFS = (0.5, 1.0, 2.0)
SEISMIC = SparseIndex(kind="seismic", approximate_threshold=0)
ANN = AnnParams(top_n=10, heap_factor=1.0)
WITHIN = 0.99  # pruning may cost at most 1% of unpruned NDCG@10


def searchers(
    client: Any,
    indices: dict[str, str],
    tokenizer: Any,
    idf: IdfTable,
    chosen: tuple[str, float] | None = None,
    chosen_local: str | None = None,
) -> dict:
    """Every (index, query-side setting) this benchmark compares, by name; ``chosen`` adds the
    chosen pruned index searched with the chosen IDF floor, ``chosen_local`` the local choice's
    index with the same floor."""
    full = QueryEncoder(tokenizer, idf)
    out = {
        "bm25": (SparseSearch(client, indices["bm25"], full), "bm25", False),
        "sparse": (SparseSearch(client, indices["exact"], full), "sparse", False),
        "two-phase": (SparseSearch(client, indices["exact"], full), "sparse", True),
        "seismic": (SparseSearch(client, indices["seismic"], full, ann=ANN), "sparse", False),
    }
    for cap in CAPS:
        capped = QueryEncoder(tokenizer, idf, max_tokens=cap)
        out[f"cap-{cap}"] = (SparseSearch(client, indices["exact"], capped), "sparse", False)
    for floor in MIN_IDFS:
        common = QueryEncoder(tokenizer, idf, min_idf=floor)
        out[f"min-idf-{floor:g}"] = (
            SparseSearch(client, indices["exact"], common),
            "sparse",
            False,
        )
    stopped = QueryEncoder(tokenizer, idf, stop_words=ENGLISH_STOP_WORDS)
    out["stop-words"] = (SparseSearch(client, indices["exact"], stopped), "sparse", False)
    if chosen is not None:
        index, floor = chosen
        both = QueryEncoder(tokenizer, idf, min_idf=floor)
        out["chosen"] = (SparseSearch(client, indices[index], both), "sparse", False)
        all_three = QueryEncoder(tokenizer, idf, min_idf=floor, stop_words=ENGLISH_STOP_WORDS)
        out["chosen+stop-words"] = (
            SparseSearch(client, indices[index], all_three),
            "sparse",
            False,
        )
        if chosen_local is not None:
            local = indices[chosen_local]
            out["chosen-local"] = (SparseSearch(client, local, both), "sparse", False)
            out["chosen-local+stop-words"] = (
                SparseSearch(client, local, all_three),
                "sparse",
                False,
            )
    for name, index in indices.items():
        if name.startswith("prune "):
            out[name] = (SparseSearch(client, index, full), "sparse", False)
    return out


def relevance_set(
    client: Any, folder: Path, package: ModelPackage, prunes: list[Pruning]
) -> dict[str, Any]:
    docs = read_docs(folder, None)
    vectors = encoded_corpus(docs, package, folder)
    tokenizer = load_tokenizer(package.path)
    vocab = _vocab(tokenizer)
    tag = _tag(folder, package)
    idf = _set_idf(folder, package.path)
    full = QueryEncoder(tokenizer, idf)
    prunes = [weighed(p, full) for p in prunes]
    qrels = read_qrels(folder)
    queries = {q: t for q, t in read_queries(folder).items() if q in qrels}
    indices = {"bm25": f"{tag}-bm25", "exact": f"{tag}-exact", "seismic": f"{tag}-seismic"}
    sizes = {
        "bm25": fill_index(client, indices["bm25"], docs, None, vocab),
        "exact": fill_index(client, indices["exact"], docs, vectors, vocab),
        "seismic": fill_index(client, indices["seismic"], docs, vectors, vocab, sparse=SEISMIC),
        "exact, weights not in _source": fill_index(
            client, f"{tag}-nosource", docs, vectors, vocab, sparse=SparseIndex(store_source=False)
        ),
    }
    sizes["exact"]["postings_per_query"] = postings_per_query(vectors, None, full, queries)
    for prune in prunes:
        name = f"prune {prune.label}"
        indices[name] = _pruned_index(tag, prune)
        sizes[name] = fill_index(client, indices[name], docs, vectors, vocab, prune=prune)
        sizes[name]["postings_per_query"] = postings_per_query(vectors, prune, full, queries)
    print(f"{folder.name}: {len(sizes)} indices built", flush=True)
    ndcg: dict[str, float] = {}
    raw: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for name, (searcher, mode, two_phase) in searchers(client, indices, tokenizer, idf).items():
        ndcg[name], raw[name] = _evaluate(searcher, mode, two_phase, queries, qrels)
        print(f"{folder.name}: {name} searched", flush=True)
    return {
        "documents": len(docs),
        "queries": len(queries),
        "ndcg@10": ndcg,
        "indices": sizes,
        "seismic_recall@10": recall(raw["sparse"], raw["seismic"]),
        "two_phase": _two_phase(raw["sparse"], raw["two-phase"]),
    }


def postings_per_query(
    vectors: Any, prune: Pruning | None, encoder: QueryEncoder, queries: dict[str, str]
) -> float:
    """How many postings a query's tokens hold, on average, in an index of ``vectors`` pruned
    by ``prune``: what an exhaustive disjunction walks. Lucene's dynamic pruning skips part of
    it, most of all in common tokens' lists, so it overstates what pruning those saves."""
    ids, weights = vectors.ids, vectors.weights
    if prune is not None:
        keep = np.zeros(len(ids), dtype=bool)
        for i in range(len(vectors)):
            a, b = vectors.indptr[i], vectors.indptr[i + 1]
            keep[a:b] = prune.keep(weights[a:b], ids[a:b])
        ids = ids[keep]
    df = np.bincount(ids, minlength=encoder.tokenizer.get_vocab_size())
    vocab = encoder.tokenizer.get_vocab()
    walked = [
        sum(int(df[vocab[t]]) for t in encoder.encode(text).weights) for text in queries.values()
    ]
    return sum(walked) / max(len(walked), 1)


def chosen_ndcg(
    client: Any,
    folder: Path,
    package: ModelPackage,
    prune: Pruning | None,
    floor: float,
    stop_words: frozenset[str] = frozenset(),
    max_tokens: int = MAX_QUERY_TOKENS,
) -> float:
    """NDCG@10 of the chosen pruning and IDF floor together (and ``stop_words`` dropped from
    the queries, at most ``max_tokens`` kept), on the indices ``relevance_set`` built for
    ``folder``."""
    tag = _tag(folder, package)
    tokenizer = load_tokenizer(package.path)
    encoder = QueryEncoder(
        tokenizer,
        _set_idf(folder, package.path),
        max_tokens=max_tokens,
        min_idf=floor,
        stop_words=stop_words,
    )
    index = _pruned_index(tag, prune) if prune else f"{tag}-exact"
    qrels = read_qrels(folder)
    queries = {q: t for q, t in read_queries(folder).items() if q in qrels}
    return _evaluate(SparseSearch(client, index, encoder), "sparse", False, queries, qrels)[0]


@functools.cache
def _set_idf(folder: Path, model: Path) -> IdfTable:
    """A dev set's own IDF table, built once per run: every row and choice of that set reads it."""
    tokenizer = load_tokenizer(model)
    return IdfTable.build((d.content for d in read_docs(folder, None)), tokenizer)


def _tag(folder: Path, package: ModelPackage) -> str:
    return f"lev-{folder.name}-{package.sha256[:8]}"


def _pruned_index(tag: str, prune: Pruning) -> str:
    return f"{tag}-{prune.type}-{prune.ratio:g}"


def _evaluate(
    searcher: SparseSearch,
    mode: str,
    two_phase: bool,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
) -> tuple[float, dict[str, list[tuple[str, float]]]]:
    """NDCG@10 of one setting, and its top 10 (id, score) per query."""
    hits = {
        qid: searcher.search(text, mode, k=GRADED_K, two_phase=two_phase).hits
        for qid, text in queries.items()
    }
    raw = {qid: [(h.doc_id, h.score) for h in found[:10]] for qid, found in hits.items()}
    ndcg = float(evaluate(Qrels(qrels), Run(graded_run(hits)), "ndcg@10", make_comparable=True))
    return ndcg, raw


def _two_phase(exact: dict[str, list], two: dict[str, list]) -> dict[str, float]:
    """How two-phase top 10s compare with exact ones: same ids in the same order, and the
    largest relative score shortfall of a returned document."""
    same, shortfall, n = 0, 0.0, 0
    for qid, hits in exact.items():
        other = two.get(qid, [])
        n += 1
        same += [d for d, _ in hits] == [d for d, _ in other]
        truth = dict(hits)
        for doc, score in other:
            if doc in truth and truth[doc] > 0:
                shortfall = max(shortfall, (truth[doc] - score) / truth[doc])
    return {"same_top10": same / max(n, 1), "max_score_shortfall": shortfall}


def _average(results: dict[str, Any], name: str) -> float:
    return sum(r["ndcg@10"][name] for r in results.values()) / len(results)


def choose_min_idf(
    client: Any, args: Any, package: ModelPackage, results: dict[str, Any], prune: Pruning | None
) -> tuple[float, dict[str, float]]:
    """The highest IDF floor that, searched on the chosen pruning, keeps average NDCG@10
    within 1% of unpruned full queries (0: none), with its NDCG@10 per set. Chosen on top of
    the pruning because the two costs add up: each alone can pass while both together fail."""
    base = _average(results, "sparse")
    for floor in (*sorted(MIN_IDFS, reverse=True), 0.0):  # 0 (no floor) when none passes
        together = {
            name: chosen_ndcg(client, args.data / name, package, prune, floor) for name in results
        }
        if sum(together.values()) / len(together) >= WITHIN * base:
            break
    return floor, together


def choose_capped_local(
    client: Any,
    args: Any,
    package: ModelPackage,
    results: dict[str, Any],
    prunes: list[Pruning],
    floor: float,
) -> dict[str, Any]:
    """The lowest query-token cap (of ``CAPS``) at which some pruning, searched with the floor
    and the stop words, keeps average NDCG@10 within 1% of unpruned; of those prunings the one
    whose queries walk the fewest postings. The cap comes first because it is what moves the
    node's time: on 785k summaries capping queries at 12 tokens cut the node's mean time per
    search from 1.28x to 1.04x BM25, where pruning documents harder (1.80x to 1.65x the index)
    left it at 1.23-1.26x. All None when no combination keeps the margin."""
    base = _average(results, "sparse")
    candidates = sorted(
        (p for p in prunes if _average(results, f"prune {p.label}") >= WITHIN * base),
        key=lambda p: _walked_ratio(results, f"prune {p.label}"),
    )
    for cap in sorted(CAPS):
        for prune in candidates:
            ndcg = {
                name: chosen_ndcg(
                    client, args.data / name, package, prune, floor, ENGLISH_STOP_WORDS, cap
                )
                for name in results
            }
            if sum(ndcg.values()) / len(ndcg) >= WITHIN * base:
                return {"cap": cap, "prune": f"prune {prune.label}", "ndcg@10": ndcg}
    return {"cap": None, "prune": None, "ndcg@10": None}


def choose_pruning(results: dict[str, Any], prunes: list[Pruning]) -> dict[str, Any]:
    """Among settings whose average NDCG@10 is within 1%: the processor type with the fewest
    tokens per document (``chosen``, for pipelines), and any type whose queries walk the fewest
    postings relative to exact search's (``chosen_local``)."""
    sets = list(results)
    base = _average(results, "sparse")
    rows = []
    for prune in prunes:
        name = f"prune {prune.label}"
        facts = [results[s]["indices"] for s in sets]
        tokens = sum(f[name]["tokens_per_doc"] for f in facts) / len(sets)
        rows.append((name, _average(results, name), tokens, _walked_ratio(results, name), prune))
    ok = [r for r in rows if r[1] >= WITHIN * base]
    best = min((r for r in ok if not r[4].needs_query_weights), key=lambda r: r[2], default=None)
    local = min(ok, key=lambda r: r[3], default=None)
    return {
        "unpruned_ndcg@10": base,
        "chosen": best[0] if best else None,
        "chosen_ndcg@10": best[1] if best else None,
        "chosen_tokens_per_doc": best[2] if best else None,
        "chosen_local": local[0] if local else None,
        "chosen_local_ndcg@10": local[1] if local else None,
        "chosen_local_postings_vs_exact": local[3] if local else None,
    }


def latency(
    client: Any,
    args: Any,
    package: ModelPackage,
    chosen: Pruning | None,
    floor: float,
    chosen_local: Pruning | None = None,
) -> dict[str, Any]:
    docs = read_docs(args.corpus, args.latency_limit)
    vectors = encoded_corpus(docs, package, args.corpus)
    tokenizer = load_tokenizer(package.path)
    vocab = _vocab(tokenizer)
    idf = IdfTable.build((d.content for d in docs), tokenizer)
    stem = args.corpus.name.split(".")[0]
    tag = f"lev-{stem}-{len(docs)}-{package.sha256[:8]}"
    indices = {"bm25": f"{tag}-bm25", "exact": f"{tag}-exact", "seismic": f"{tag}-seismic"}
    sizes = {
        "bm25": fill_index(client, indices["bm25"], docs, None, vocab),
        "exact": fill_index(client, indices["exact"], docs, vectors, vocab),
        "seismic": fill_index(client, indices["seismic"], docs, vectors, vocab, sparse=SEISMIC),
    }
    if chosen is not None:
        name = f"prune {chosen.label}"
        indices[name] = f"{tag}-pruned"
        sizes[name] = fill_index(client, indices[name], docs, vectors, vocab, prune=chosen)
        # The smallest exact index: chosen pruning, weights left out of _source.
        sizes[f"{name}, weights not in _source"] = fill_index(
            client,
            f"{tag}-pruned-nosource",
            docs,
            vectors,
            vocab,
            prune=chosen,
            sparse=SparseIndex(store_source=False),
        )
    local = None
    if chosen_local is not None and chosen_local != chosen:
        local = f"prune {chosen_local.label}"
        indices[local] = f"{tag}-pruned-local"
        sizes[local] = fill_index(
            client,
            indices[local],
            docs,
            vectors,
            vocab,
            prune=weighed(chosen_local, QueryEncoder(tokenizer, idf)),
        )
    both = (f"prune {chosen.label}" if chosen else "exact", floor)
    modes: dict[str, Mode] = {}
    pairs = searchers(client, indices, tokenizer, idf, chosen=both, chosen_local=local)
    for name, (searcher, mode, two_phase) in pairs.items():
        modes[name] = _mode(searcher, mode, two_phase, args.k)
    replay = list(islice(cycle(_queries(args.data, args.sets)), args.queries))
    with LoadMonitor() as load:
        results = interleaved(
            modes,
            replay,
            clients=args.clients,
            rounds=args.rounds,
            warmup=args.warmup,
            baseline="bm25",
        )
    return {"documents": len(docs), "indices": sizes, "results": results, "load": load}


def _mode(searcher: SparseSearch, mode: str, two_phase: bool, k: int) -> Mode:
    def one(text: str) -> tuple[float, float]:
        result = searcher.search(text, mode, k=k, two_phase=two_phase)
        return result.client_ms, float(result.took_ms)

    return one


def _queries(data: Path, sets: list[str]) -> list[str]:
    """The dev sets' queries, replayed against the latency corpus."""
    out: list[str] = []
    for name in sets:
        if (data / name / "queries.jsonl").is_file():
            out.extend(read_queries(data / name).values())
    return out


def _vocab(tokenizer: Any) -> list[str]:
    vocab = [""] * tokenizer.get_vocab_size()
    for token, index in tokenizer.get_vocab().items():
        vocab[index] = token
    return vocab


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--data", type=Path, default=SHARED / "data")
    parser.add_argument("--sets", nargs="+", default=list(EVAL_SETS))
    parser.add_argument("--prunes", nargs="+", default=list(PRUNES), metavar="TYPE:VALUE")
    parser.add_argument(
        "--corpus", type=Path, default=SHARED / "data" / "scale" / "debian-descriptions.jsonl.gz"
    )
    parser.add_argument("--latency-limit", type=int, default=None)
    parser.add_argument("--queries", type=int, default=300, help="queries per mode per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    prunes = [Pruning.parse(p) for p in args.prunes]
    client = connect(args.url)
    with tempfile.TemporaryDirectory() as tmp:
        package = ModelPackage.open(resolve_zip(args.model, Path(tmp)))
        with LoadMonitor() as rel_load:
            relevance = {
                name: relevance_set(client, args.data / name, package, prunes) for name in args.sets
            }
        choice = choose_pruning(relevance, prunes)
        chosen = Pruning.parse(choice["chosen"].split(" ", 1)[1]) if choice["chosen"] else None
        choice["min_idf"], choice["together_ndcg@10"] = choose_min_idf(
            client, args, package, relevance, chosen
        )
        choice["with_stop_words_ndcg@10"] = {
            name: chosen_ndcg(
                client, args.data / name, package, chosen, choice["min_idf"], ENGLISH_STOP_WORDS
            )
            for name in args.sets
        }
        local = (
            Pruning.parse(choice["chosen_local"].split(" ", 1)[1])
            if choice["chosen_local"]
            else None
        )
        for key, stop in (
            ("local_together", frozenset()),
            ("local_with_stop_words", ENGLISH_STOP_WORDS),
        ):
            choice[f"{key}_ndcg@10"] = {
                name: chosen_ndcg(client, args.data / name, package, local, choice["min_idf"], stop)
                for name in args.sets
            }
        choice["capped_local"] = choose_capped_local(
            client, args, package, relevance, prunes, choice["min_idf"]
        )
        lat = latency(client, args, package, chosen, choice["min_idf"], local)
    markdown = render(relevance, choice, lat, args, package) + rel_load.markdown()
    args.out.mkdir(parents=True, exist_ok=True)
    plot(relevance, lat, args.out / "levers.png")
    write_report(
        args.out,
        "levers",
        {
            **model_facts(package),
            "relevance": relevance,
            "pruning_choice": choice,
            "relevance_load": rel_load.report(),
            "latency": {**lat, "load": lat["load"].report()},
            "corpus": str(args.corpus),
        },
        markdown,
    )


def render(
    relevance: dict[str, Any],
    choice: dict[str, Any],
    lat: dict[str, Any],
    args: Any,
    package: ModelPackage,
) -> str:
    sets = list(relevance)
    names = list(relevance[sets[0]]["ndcg@10"])
    base = {s: relevance[s]["ndcg@10"]["sparse"] for s in sets}
    rows = []
    for name in names:
        values = [relevance[s]["ndcg@10"][name] for s in sets]
        avg = sum(values) / len(values)
        index_name = name if name.startswith("prune ") else None
        tokens = (
            sum(relevance[s]["indices"][index_name]["tokens_per_doc"] for s in sets) / len(sets)
            if index_name
            else None
        )
        rel = avg / (sum(base.values()) / len(sets))
        walked_index = index_name or ("exact" if name == "sparse" else None)
        walked = f"{_walked_ratio(relevance, walked_index):.2f}" if walked_index else ""
        rows.append([name, *values, avg, f"{rel:.3f}", f"{tokens:.0f}" if tokens else "", walked])
    md = (
        f"# Cost levers ({package.name} {package.sha256[:12]})\n\n"
        "## NDCG@10 on the dev sets (same node, vectors encoded once)\n\n"
        + markdown_table(
            ["setting", *sets, "average", "/ unpruned", "tokens/doc", "postings/query vs exact"],
            rows,
        )
    )
    md += (
        f"\nChosen pruning (fewest tokens with average NDCG@10 >= {WITHIN:.2f} x unpruned, "
        f"chosen on these sets): **{choice['chosen']}**; chosen IDF floor (the highest that keeps "
        f"the same margin on top of that pruning): **{choice['min_idf']:g}**. Latency mode "
        "`chosen` uses both.\n"
    )
    unpruned = sum(base.values()) / len(sets)

    def line(values: dict[str, float], what: str) -> str:
        avg = sum(values.values()) / len(values)
        per_set = ", ".join(f"{s} {v:.3f}" for s, v in values.items())
        return f"{what}: NDCG@10 {per_set}; average {avg:.3f} ({avg / unpruned:.3f} x unpruned).\n"

    md += line(choice["together_ndcg@10"], "Both together")
    md += line(
        choice["with_stop_words_ndcg@10"],
        "With the english stop words dropped from the queries as well (latency mode "
        "`chosen+stop-words`)",
    )
    md += line(
        choice["local_together_ndcg@10"],
        f"Local-encoding choice (any type, fewest postings per query with average NDCG@10 >= "
        f"{WITHIN:.2f} x unpruned, on these sets): **{choice['chosen_local']}**; with the same "
        "IDF floor (latency mode `chosen-local`)",
    )
    md += line(
        choice["local_with_stop_words_ndcg@10"],
        "The local choice with the stop words dropped as well (`chosen-local+stop-words`)",
    )
    capped = choice["capped_local"]
    caps = ", ".join(map(str, sorted(CAPS)))
    if capped["cap"] is None:
        md += f"No pruning keeps the margin with the floor, the stop words and a cap of {caps}.\n"
    else:
        md += line(
            capped["ndcg@10"],
            f"Local encoding with a query cap (`search --max-query-tokens`; the lowest cap of "
            f"{caps} at which a pruning keeps the margin with the floor and the stop words, "
            f"then the fewest postings per query): **{capped['prune']}**, at most "
            f"**{capped['cap']}** query tokens",
        )
    size_rows = []
    for s in sets:
        idx = relevance[s]["indices"]
        bm25 = idx["bm25"]["index_mb"]
        for name, facts in idx.items():
            size_rows.append(
                [s, name, facts["index_mb"], f"{facts['index_mb'] / bm25:.2f}", facts["documents"]]
            )
    md += "\n## Index size (force-merged to one segment)\n\n" + markdown_table(
        ["set", "index", "MB", "/ BM25-only", "docs"], size_rows
    )
    md += "\n## SEISMIC and two-phase against exact search (top 10)\n\n" + markdown_table(
        ["set", "SEISMIC recall@10", "two-phase same top 10", "two-phase max score shortfall"],
        [
            [
                s,
                relevance[s]["seismic_recall@10"],
                relevance[s]["two_phase"]["same_top10"],
                relevance[s]["two_phase"]["max_score_shortfall"],
            ]
            for s in sets
        ],
    )
    md += (
        f"\n## Latency on {lat['documents']} documents of {args.corpus.name} "
        f"({args.rounds} interleaved rounds x {args.queries} queries per mode)\n\n"
    )
    lat_rows = []
    for clients, per_mode in lat["results"].items():
        for name, r in per_mode.items():
            lat_rows.append(
                [
                    clients,
                    name,
                    r["median"]["p50_ms"],
                    r["median"]["p99_ms"],
                    r["median"]["took_p50_ms"],
                    ratio_cell(r["ratio"]["p50_ms"]),
                    ratio_cell(r["ratio"]["p99_ms"]),
                    ratio_cell(r["ratio"]["qps"]),
                ]
            )
    md += markdown_table(
        [
            "clients",
            "mode",
            "p50 ms",
            "p99 ms",
            "took p50 ms",
            "p50 / BM25",
            "p99 / BM25",
            "QPS / BM25",
        ],
        lat_rows,
    )
    sizes = lat["indices"]
    md += "\n" + markdown_table(
        ["index", "MB", "/ BM25-only", "tokens/doc"],
        [
            [
                n,
                f["index_mb"],
                f"{f['index_mb'] / sizes['bm25']['index_mb']:.2f}",
                f["tokens_per_doc"],
            ]
            for n, f in sizes.items()
        ],
    )
    md += lat["load"].markdown()
    md += f"\nDefault query cap: {MAX_QUERY_TOKENS} tokens; BM25 uses the english analyzer.\n"
    return md


def _walked_ratio(relevance: dict[str, Any], index: str) -> float:
    """Postings per query on ``index`` relative to exact search's, averaged over the sets."""
    facts = [relevance[s]["indices"] for s in relevance]
    ratios = [f[index]["postings_per_query"] / f["exact"]["postings_per_query"] for f in facts]
    return sum(ratios) / len(ratios)


def plot(relevance: dict[str, Any], lat: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(relevance)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = list(relevance[sets[0]]["ndcg@10"])
    for i, name in enumerate(names):
        avg = sum(relevance[s]["ndcg@10"][name] for s in sets) / len(sets)
        left.barh(i, avg, color="C0" if name.startswith("prune") else "C1")
    left.set_yticks(range(len(names)), names, fontsize=7)
    left.set_xlabel("average NDCG@10")
    left.set_xlim(left=0.0)
    first = next(iter(lat["results"]))
    per_mode = lat["results"][first]
    modes = list(per_mode)
    right.barh(range(len(modes)), [per_mode[m]["ratio"]["p50_ms"]["median"] for m in modes])
    right.axvline(1.0, color="k", lw=0.8)
    right.set_yticks(range(len(modes)), modes, fontsize=7)
    right.set_xlabel(f"p50 latency / BM25 ({first} client(s), median of rounds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    with known_failures():  # no cluster, a refused request: one cause, one fix
        main()
