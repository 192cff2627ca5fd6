"""What every benchmark shares: argument defaults, the cluster, the model, prepared indices,
indices filled from cached vectors, the machine's load, and writing reports (JSON + markdown)
beside plots."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from opensearchpy import OpenSearch
from opensearchpy.helpers import parallel_bulk

from opensearch_sparse.client import check_reachable, make_client
from opensearch_sparse.config import ClusterConfig
from opensearch_sparse.corpus import Document, dropping_self
from opensearch_sparse.encoders import DocumentEncoder
from opensearch_sparse.ingest import create_index, ingest
from opensearch_sparse.mlcommons import MLCommons
from opensearch_sparse.model_package import ModelPackage
from opensearch_sparse.pruning import Pruning
from opensearch_sparse.query_encoder import QueryEncoder
from opensearch_sparse.schema import (
    EXACT,
    SPARSE_FIELD,
    TEXT_FIELD,
    TITLE_FIELD,
    SparseIndex,
    index_body,
)
from opensearch_sparse.search import Hit

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RESULTS = REPO / "benchmarks" / "results"
#: The checkout's shipped model folder (not the installed package's): ``training_ship.py``
#: writes the new default here, and the training benchmarks compare against it.
SHIPPED = REPO / "opensearch_sparse" / "models" / "default"
#: The evaluation protocol (issue 10): hyperparameters and models are chosen on ``DEV_SET``
#: (with held-out training queries) and the ``REPORT_SETS`` are reported once; ``EVAL_SETS``
#: is all four in the order tables show them.
DEV_SET = "nfcorpus"
REPORT_SETS = ("cranfield", "dbpedia-5k", "msmarco-dl19-5k")
EVAL_SETS = ("cranfield", DEV_SET, "dbpedia-5k", "msmarco-dl19-5k")


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", default=None, help="cluster URL (default: the local node)")
    parser.add_argument(
        "--model", type=Path, default=None, help="exported zip or folder (default: shipped)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where reports go")
    return parser


def named_paths(
    parser: argparse.ArgumentParser,
    flag: str,
    specs: Sequence[str],
    *,
    require_name: bool = False,
    reserved: Sequence[str] = (),
) -> dict[str, Path]:
    """``NAME=PATH`` arguments as ``{name: path}``, in order. A bare ``PATH`` is named by its
    folder unless ``require_name`` (a checkpoint's inner folder is often
    ``document_0_Transformer``, which says nothing about the run). Names label report rows, so
    two that collide, or one a script uses for itself (``reserved``), would silently merge
    rows: that is a usage error instead."""
    named: list[tuple[str, Path]] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            if require_name:
                parser.error(f"{flag} {spec}: give it a name, as NAME=PATH")
            name, path = Path(spec).name, spec
        if not name or not path:
            parser.error(f"{flag} {spec}: both NAME and PATH are needed, as NAME=PATH")
        named.append((name, Path(path)))
    names = [name for name, _ in named]
    clashes = sorted({n for n in names if names.count(n) > 1 or n in reserved})
    if clashes:
        parser.error(
            f"{flag}: the name(s) {', '.join(clashes)} would label two rows the same; "
            "give each its own NAME=PATH" + (f" (not {', '.join(reserved)})" if reserved else "")
        )
    return dict(named)


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


#: Hits asked of the node per judged query: the 100 graded, and one for the query's own id.
GRADED_K = 101


def graded_run(
    hits_by_query: Mapping[str, Sequence[Hit]], k: int = GRADED_K - 1
) -> dict[str, dict[str, float]]:
    """Search hits as ranx grades them: each query's top ``k`` without its own id (BEIR), ties
    kept in the engine's order (ranx re-sorts by score), and a placeholder hit where nothing is
    left, since ranx needs one per query."""
    run = {
        qid: {h.doc_id: h.score - i * 1e-9 for i, h in enumerate(hits)}
        for qid, hits in hits_by_query.items()
    }
    return {
        qid: dict(list(hits.items())[:k]) or {"-": 0.0} for qid, hits in dropping_self(run).items()
    }


# --- indices filled from cached vectors ------------------------------------------------------


def weighed(prune: Pruning, encoder: QueryEncoder) -> Pruning:
    """``prune`` ready to apply: ``contribution`` gets the weights ``encoder``'s queries give
    (the collection's own IDF); the processor's types need nothing."""
    return (
        prune.with_query_weights(encoder.vocabulary_weights())
        if prune.needs_query_weights
        else prune
    )


def fill_index(
    client: OpenSearch,
    name: str,
    docs: Sequence[Document],
    vectors: Any | None,
    vocab: Sequence[str],
    *,
    sparse: SparseIndex | None = EXACT,
    prune: Pruning | None = None,
    merge: bool = True,
    reuse: bool = False,
) -> dict[str, float]:
    """(Re)create ``name`` and bulk-load ``docs`` with their cached vectors (``vectors`` is an
    ``encoded.Encoded`` in the same order; None for BM25 only), pruned as asked, then
    force-merge to one segment (every index the same way) and return its size and tokens.

    ``reuse``: keep an index this function built from the same inputs (recorded in the
    index's ``_meta``) instead of rebuilding it, so a rerun with more rounds or queries costs
    minutes instead of a 785k-document load."""
    key = _build_key(docs, vectors, sparse, prune, merge)
    if client.indices.exists(index=name):
        if reuse and (facts := _reusable_facts(client, name, key)) is not None:
            return facts
        client.indices.delete(index=name)
    client.indices.create(index=name, body=index_body(sparse=sparse if vectors else None))
    postings = 0

    def actions() -> Iterator[dict[str, Any]]:
        nonlocal postings
        for i, doc in enumerate(docs):
            source: dict[str, Any] = {TITLE_FIELD: doc.title, TEXT_FIELD: doc.content}
            if vectors is not None and sparse is not None:
                ids, weights = vectors.row(i)
                if prune is not None:
                    kept = prune.keep(weights, ids)
                    ids, weights = ids[kept], weights[kept]
                postings += len(ids)
                keys = (
                    (str(t) for t in ids.tolist())
                    if sparse.kind == "seismic"
                    else (vocab[t] for t in ids.tolist())
                )
                # A document pruned to nothing (alpha_mass drops a token that alone outweighs
                # alpha of the mass, as neural-search does) goes in without the field:
                # sparse_vector refuses an empty one.
                if len(ids):
                    source[SPARSE_FIELD] = dict(zip(keys, weights.tolist(), strict=True))
            yield {"_index": name, "_id": doc.doc_id, "_source": source}

    started = time.monotonic()
    for ok, item in parallel_bulk(
        client,
        actions(),
        thread_count=2,
        chunk_size=500,
        max_chunk_bytes=20 * 1024 * 1024,
        raise_on_error=False,
        request_timeout=600,
    ):
        if not ok:
            raise SystemExit(f"{name}: bulk failure {item}")
    client.indices.refresh(index=name, request_timeout=600)
    seconds = time.monotonic() - started
    if merge:
        force_merge(client, name)
    facts = {
        "documents": int(client.count(index=name)["count"]),
        "index_mb": index_mb(client, name),
        "tokens_per_doc": postings / max(len(docs), 1),
        "load_seconds": seconds,
    }
    client.indices.put_mapping(index=name, body={"_meta": {BUILD_META: {"key": key, **facts}}})
    return facts


#: Where ``fill_index`` records what an index was built from (its mapping's ``_meta``).
BUILD_META = "opensearch_sparse_benchmark"


def _build_key(
    docs: Sequence[Document],
    vectors: Any | None,
    sparse: SparseIndex | None,
    prune: Pruning | None,
    merge: bool,
) -> str:
    """A digest of everything an index's contents depend on: the documents (ids and text),
    the vectors, the index options, the pruning and whether it was merged."""
    digest = hashlib.sha256()
    for doc in docs:
        digest.update(f"{doc.doc_id}\x00{doc.title}\x00{doc.content}\x01".encode())
    if vectors is not None and sparse is not None:
        for array in (vectors.indptr, vectors.ids, vectors.weights):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(repr((sparse, prune)).encode())
    digest.update(repr(merge).encode())
    return digest.hexdigest()


def _reusable_facts(client: OpenSearch, name: str, key: str) -> dict[str, float] | None:
    """The recorded facts of an index built from the same inputs, re-measured on disk; None
    when it was built from other inputs, by something else, or not completely."""
    meta = client.indices.get_mapping(index=name)[name]["mappings"].get("_meta", {})
    built = meta.get(BUILD_META, {})
    if built.get("key") != key:
        return None
    facts = {k: float(v) for k, v in built.items() if k != "key"}
    if int(client.count(index=name)["count"]) != facts.get("documents"):
        return None
    print(f"{name}: reusing the index built from the same inputs", file=sys.stderr)
    return {**facts, "index_mb": index_mb(client, name)}


def force_merge(client: OpenSearch, name: str) -> None:
    """One segment, so no index variant is measured with more (or fewer) segments than another.

    An index whose ``_source`` leaves fields out also stores every document's full source as
    ``_recovery_source`` (for operation-based peer recovery); merges drop it only once the
    shard's retention leases have passed those operations, which OpenSearch renews every 30 s.
    Merging before that measured such an index at several times its settled size, so for
    those indices this flushes and waits for the leases first."""
    if _source_filtered(client, name):
        client.indices.flush(index=name, request_timeout=600)
        _wait_for_leases(client, name)
        # A commit counts as safe only once the global checkpoint persisted with it covers it:
        # a second, forced flush after the wait makes the last commit safe as well.
        client.indices.flush(index=name, params={"force": "true"}, request_timeout=600)
    client.indices.forcemerge(index=name, params={"max_num_segments": 1}, request_timeout=3600)
    client.indices.refresh(index=name)


def _source_filtered(client: OpenSearch, name: str) -> bool:
    source = client.indices.get_mapping(index=name)[name]["mappings"].get("_source", {})
    return bool(source.get("excludes") or source.get("includes")) or not source.get("enabled", True)


def _wait_for_leases(client: OpenSearch, name: str, timeout: float = 120.0) -> None:
    """Until every retention lease of every shard retains nothing older than its last op."""
    deadline = time.monotonic() + timeout
    while True:
        stats = client.indices.stats(index=name, metric="docs", params={"level": "shards"})
        caught_up = all(
            lease["retaining_seq_no"] > shard["seq_no"]["max_seq_no"]
            for copies in stats["indices"][name]["shards"].values()
            for shard in copies
            for lease in shard["retention_leases"]["leases"]
        )
        if caught_up:
            return
        if time.monotonic() > deadline:
            print(
                f"warning: {name}: retention leases still behind after {timeout:.0f} s; its "
                "size may include _recovery_source",
                file=sys.stderr,
            )
            return
        time.sleep(2)


def shard_clock(client: OpenSearch, name: str) -> Callable[[], float]:
    """A ``loadgen.ShardClock`` for index ``name``: the node's cumulative query + fetch phase
    milliseconds over its shards. OpenSearch sums each phase in nanoseconds, so the change over
    a few hundred searches resolves far below the one-millisecond steps of ``took``."""

    def read() -> float:
        stats = client.indices.stats(index=name, metric="search")["indices"][name]["total"]
        search = stats["search"]
        return float(search["query_time_in_millis"] + search["fetch_time_in_millis"])

    return read


def index_mb(client: OpenSearch, name: str) -> float:
    """The primaries' live segments, in MB. Not the store size: right after a force merge on
    785k documents that still counted the files of the commit before the merge (876 MB where
    the merged segment held 186), until the node let go of them minutes later."""
    shards = client.indices.segments(index=name)["indices"][name]["shards"]
    return (
        sum(
            segment["size_in_bytes"]
            for copies in shards.values()
            for copy in copies
            if copy["routing"]["primary"]
            for segment in copy["segments"].values()
        )
        / 1e6
    )


# --- the machine's load ----------------------------------------------------------------------


def _cpu_seconds() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of every process, by pid, with its command name."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        out[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


@dataclass
class LoadMonitor:
    """What else ran on the machine while a benchmark ran: load averages before and after, and
    the processes that used the most CPU meanwhile (ours included, marked)."""

    ours: set[int] = field(default_factory=set)
    before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _cpu: dict[int, tuple[str, float]] = field(default_factory=dict)
    _started: float = 0.0

    def __enter__(self) -> LoadMonitor:
        self.before = os.getloadavg()
        self._cpu = _cpu_seconds()
        self._started = time.monotonic()
        self.ours.add(os.getpid())
        return self

    def __exit__(self, *exc: object) -> None:
        self.after = os.getloadavg()
        wall = time.monotonic() - self._started
        now = _cpu_seconds()
        used = []
        for pid, (name, seconds) in now.items():
            delta = seconds - self._cpu.get(pid, (name, 0.0))[1]
            if delta > 0:
                used.append((delta, pid, name))
        used.sort(reverse=True)
        self.cores = os.cpu_count() or 1
        self.wall_s = wall
        self.busy_cores = sum(u[0] for u in used) / max(wall, 1e-9)
        self.top = [
            {
                "pid": pid,
                "name": name + (" (this benchmark)" if pid in self.ours else ""),
                "cores": round(delta / max(wall, 1e-9), 2),
            }
            for delta, pid, name in used[:6]
        ]

    def report(self) -> dict[str, Any]:
        return {
            "cores": self.cores,
            "loadavg_before": [round(x, 2) for x in self.before],
            "loadavg_after": [round(x, 2) for x in self.after],
            "busy_cores_mean": round(self.busy_cores, 2),
            "wall_s": round(self.wall_s, 1),
            "top_processes": self.top,
        }

    def markdown(self) -> str:
        top = ", ".join(f"{p['name']} {p['cores']:.2f}" for p in self.top)
        return (
            f"\nMachine load: {self.cores} cores; load average {self.before[0]:.1f} before, "
            f"{self.after[0]:.1f} after; {self.busy_cores:.2f} cores busy on average over "
            f"{self.wall_s:.0f} s (top: {top}).\n"
        )


def model_facts(package: ModelPackage) -> dict[str, str]:
    return {"model": package.name, "model_sha256": package.sha256}


def recall(exact: dict[str, list], approx: dict[str, list]) -> float:
    """Mean share of exact search's top 10 that the approximate search also returns."""
    shares = []
    for qid, hits in exact.items():
        if hits:
            found = {d for d, _ in approx.get(qid, [])}
            shares.append(sum(d in found for d, _ in hits) / len(hits))
    return sum(shares) / max(len(shares), 1)


def tie_aware_recall(exact_deep: dict[str, list], approx: dict[str, list], k: int) -> float:
    """Mean share of the approximate top ``k`` whose exact score reaches exact search's k-th.

    Plain recall counts a document as missed when the approximate index returned another one
    with the same exact score; on short texts many documents tie (ten-word summaries expand to
    identical vectors), so id overlap understates what it found. ``exact_deep`` is exact
    search's longer list with scores (e.g. its top 1000): a document absent from it scores
    below its last hit, so it is counted as a miss (conservative when ties run past the list).
    """
    shares = []
    for qid, hits in exact_deep.items():
        top = hits[:k]
        if not top:
            continue
        threshold = top[-1][1] * (1 - 1e-6)  # the same float sum, not a near miss
        exact_score = dict(hits)
        returned = [d for d, _ in approx.get(qid, [])[:k]]
        good = sum(exact_score.get(d, float("-inf")) >= threshold for d in returned)
        shares.append(min(good, len(top)) / len(top))
    return sum(shares) / max(len(shares), 1)


def median_range(values: Sequence[float]) -> dict[str, float]:
    """Median and min-max, ignoring NaN (a ratio whose baseline was 0 ms)."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"median": float(np.median(arr)), "min": float(arr.min()), "max": float(arr.max())}


def paired_ratio(per_mode: dict[str, Any], mode: str, baseline: str, metric: str) -> dict:
    """``mode`` over another ``baseline`` than the run's, round by round (one client count's
    results from ``loadgen.interleaved``): median and min-max, like the run's own ratios."""
    pairs = zip(per_mode[mode]["rounds"], per_mode[baseline]["rounds"], strict=True)
    return median_range(
        [x[metric] / b[metric] if b[metric] > 0 else float("nan") for x, b in pairs]
    )
