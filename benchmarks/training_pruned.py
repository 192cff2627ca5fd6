"""Issue 10's equal-sparsity baseline: untrained models pruned at ingest to the trained models'
document lengths, NDCG@10 against average document length beside the GPU sweep's points.

The sweep (``docs/results/training_sweep.json``) found trained models matching splade-tiny's
NDCG@10 with fewer tokens per document. That is only a gain of training if splade-tiny cut to
the same length does worse: a user gets the cut for free from the ``sparse_encoding``
processor's prune types. So every model here is encoded once (256 tokens, as in the sweep) and
pruned with the product's ``Pruning`` (the processor's semantics) at every setting listed; each
setting is reported on every set, nothing is chosen, and each trained run is set against the
pruned curves read at its own length (linear interpolation between neighbouring settings).

    PYTHONPATH=$PWD python3 benchmarks/training_pruned.py

Models default to splade-tiny as-is and the shipped model (``--model NAME=SPEC``, SPEC as in
``training_compare.py``); ``--compare NAME OTHER`` adds paired t-tests between two unpruned
models. The tracked results also hold the default before the current one (``git show
47eaa76:opensearch_sparse/models/default/model.onnx``, with its tokenizer.json, in a folder):

    PYTHONPATH=$PWD python3 benchmarks/training_pruned.py --out docs/results \
        --model splade-tiny=mlm:../shared/models/splade-tiny \
        --model shipped=onnx:opensearch_sparse/models/default \
        --model previous=onnx:.train_bundle/previous-default --compare shipped previous

Encoded vectors are cached in ``.train_bundle/pruned``. Writes ``training_pruned.{md,json,png}``
under ``--out`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from ranx import Qrels, evaluate
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEV_SET, REPO, REPORT_SETS, RESULTS, SHARED, SHIPPED, named_paths
from training_compare import encoder
from training_eval import (
    BeirSet,
    bm25_run,
    counting_tokenizer,
    doc_length,
    idf_sides,
    judged_run,
    paired_p_value,
    query_side_runs,
    query_weights_vector,
)

from opensearch_sparse.corpus import read_qrels
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.pruning import Pruning

CACHE = Path(".train_bundle") / "pruned"
DEFAULT_MODELS = (
    f"splade-tiny=mlm:{SHARED / 'models' / 'splade-tiny'}",
    f"shipped=onnx:{SHIPPED}",
)
#: Two prune families spanning the sweep's 74-188 tokens: a fixed count and a share of the mass.
SETTINGS = (
    *(f"top_k:{k}" for k in (24, 32, 48, 64, 96, 128, 160)),
    *(f"alpha_mass:{a}" for a in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)),
)
SIDES = ("corpus", "general")


def fingerprint(spec: str) -> str:
    """The spec and its files' names, sizes and mtimes: a model replaced in place (a new
    default package) must not be read from the old one's cache."""
    kind, _, location = spec.partition(":")
    path = Path(location).resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.exists()]
    return f"{kind}:{path}|{stats}"


def prune_matrix(docs: sparse.csr_matrix, pruning: Pruning) -> sparse.csr_matrix:
    """Each row (one document's positive weights) pruned exactly as the ingest processor would."""
    docs = docs.tocsr()
    keep = np.zeros(docs.nnz, dtype=bool)
    for row in range(docs.shape[0]):
        start, end = docs.indptr[row], docs.indptr[row + 1]
        keep[start:end] = pruning.keep(docs.data[start:end])
    rows = np.repeat(np.arange(docs.shape[0]), np.diff(docs.indptr))
    return sparse.csr_matrix((docs.data[keep], (rows[keep], docs.indices[keep])), shape=docs.shape)


def interpolate(points: list[tuple[float, float]], length: float) -> float | None:
    """The curve's NDCG at ``length`` (points are (length, ndcg)); None outside its range."""
    xs, ys = zip(*sorted(points), strict=True)
    if not xs[0] <= length <= xs[-1]:
        return None
    return float(np.interp(length, xs, ys))


class Evaluation:
    """Every (model, setting) row: per-set NDCG@10 per query side and average document length."""

    def __init__(self, data: Path, sets: list[str], general_idf: Path) -> None:
        self.sets = {name: BeirSet.load(data / name) for name in sets}
        self.qrels = {name: read_qrels(data / name) for name in sets}
        tokenizer = counting_tokenizer(SHIPPED)
        self.tokenizer = tokenizer
        general = query_weights_vector(tokenizer, IdfTable.load(general_idf))
        self.weights = {
            name: idf_sides(tokenizer, s.texts, general) for name, s in self.sets.items()
        }
        self.rows: dict[str, dict[str, Any]] = {}
        self.runs: dict[tuple[str, str, str], Any] = {}  # (row, set, side) -> ranx Run

    def encoded(self, model: str, spec: str) -> dict[str, sparse.csr_matrix]:
        encode = None
        out = {}
        model_files = fingerprint(spec)
        for name, beir in self.sets.items():
            key = hashlib.sha1(f"{model_files}|{beir.texts}".encode()).hexdigest()[:12]
            cache = CACHE / f"{model}-{name}-{key}.npz"
            if not cache.is_file():
                encode = encode or encoder(spec)
                started = time.perf_counter()
                cache.parent.mkdir(parents=True, exist_ok=True)
                sparse.save_npz(cache, sparse.csr_matrix(encode(beir.texts)))
                seconds = time.perf_counter() - started
                print(f"encoded {model} on {name}: {len(beir.texts)} docs in {seconds:.0f} s")
            out[name] = sparse.load_npz(cache).tocsr()
        return out

    def score(self, row: str, docs: dict[str, sparse.csr_matrix]) -> None:
        ndcg: dict[str, dict[str, float]] = {side: {} for side in SIDES}
        lengths = {}
        for name, beir in self.sets.items():
            runs = query_side_runs(beir, self.tokenizer, docs[name], self.weights[name])
            for side in SIDES:
                run = judged_run(self.qrels[name], runs[side], row)
                self.runs[(row, name, side)] = run
                ndcg[side][name] = float(evaluate(Qrels(self.qrels[name]), run, "ndcg@10"))
            lengths[name] = doc_length(docs[name])
        self.rows[row] = {"ndcg@10": ndcg, "doc_length": lengths}

    def length(self, row: str) -> float:
        return float(np.mean(list(self.rows[row]["doc_length"].values())))

    def average(self, row: str, side: str, sets: list[str]) -> float:
        return float(np.mean([self.rows[row]["ndcg@10"][side][s] for s in sets]))


def bm25_scores(evaluation: Evaluation) -> dict[str, float]:
    return {
        name: float(
            evaluate(
                Qrels(evaluation.qrels[name]),
                judged_run(evaluation.qrels[name], bm25_run(beir), "bm25"),
                "ndcg@10",
            )
        )
        for name, beir in evaluation.sets.items()
    }


def sweep_points(sweep: dict[str, Any], report_sets: list[str], side: str) -> dict[str, Any]:
    """Each trained run's (avg length, report average) from the sweep report, when it has every
    report set; its avg length is over the sweep's own four sets, as here by default."""
    scores = sweep["ndcg@10"]
    points = {}
    for name, length in sweep["avg_doc_length"].items():
        keys = [f"{name}|{s}|{side}" for s in report_sets]
        if name != "splade-tiny" and all(k in scores for k in keys):
            points[name] = (length, float(np.mean([scores[k] for k in keys])))
    return points


def curve(evaluation: Evaluation, model: str, family: str, side: str, sets: list[str]):
    """(length, report average) for the unpruned model and each setting of one prune family."""
    rows = [model] + [r for r in evaluation.rows if r.startswith(f"{model} {family}:")]
    return [(evaluation.length(r), evaluation.average(r, side, sets)) for r in rows]


def p_values(
    evaluation: Evaluation, row: str, other: str, side: str, sets: list[str]
) -> list[float]:
    """Paired t-test p-value per set, NDCG@10 per query (ranx ``compare``)."""
    return [
        paired_p_value(
            evaluation.qrels[s], evaluation.runs[(row, s, side)], evaluation.runs[(other, s, side)]
        )
        for s in sets
    ]


def model_tests(evaluation: Evaluation, pairs: list[list[str]], sets: list[str]) -> list[str]:
    """Unpruned models against each other on every set, both query sides."""
    lines = [
        "",
        "## Models against each other, unpruned (paired t-test)",
        "",
        "| model | other | side | NDCG@10 per set (model / other) | "
        + " | ".join(f"p {s}" for s in sets)
        + " |",
        "|---" * (4 + len(sets)) + "|",
    ]
    for row, other in pairs:
        for side in SIDES:
            scores = ", ".join(
                f"{evaluation.rows[row]['ndcg@10'][side][s]:.3f} / "
                f"{evaluation.rows[other]['ndcg@10'][side][s]:.3f}"
                for s in sets
            )
            cells = " | ".join(f"{p:.3f}" for p in p_values(evaluation, row, other, side, sets))
            lines.append(f"| {row} | {other} | {side} | {scores} | {cells} |")
    return lines


def equal_length_tests(
    evaluation: Evaluation, first: str, second: str, report_sets: list[str]
) -> list[str]:
    """``first`` at each of its settings against the ``second`` row nearest in length (within
    10%), own IDF: report-set means and paired t-test p-values per set (ranx ``compare``)."""
    rows = [r for r in evaluation.rows if r.split(" ")[0] == first]
    others = [r for r in evaluation.rows if r.split(" ")[0] == second]
    lines = [
        "",
        f"## {first} against {second} at about the same length (own IDF, paired t-test)",
        "",
        f"| {first} | {second} | lengths | report avg | "
        + " | ".join(f"p {s}" for s in report_sets)
        + " |",
        "|---" * (4 + len(report_sets)) + "|",
    ]
    for row in rows:
        other = min(others, key=lambda o: abs(evaluation.length(o) - evaluation.length(row)))
        if abs(evaluation.length(other) / evaluation.length(row) - 1) > 0.1:
            continue
        tests = p_values(evaluation, row, other, "corpus", report_sets)
        lines.append(
            f"| {row} | {other} | {evaluation.length(row):.0f} / {evaluation.length(other):.0f} "
            f"| {evaluation.average(row, 'corpus', report_sets):.3f} / "
            f"{evaluation.average(other, 'corpus', report_sets):.3f} | "
            + " | ".join(f"{p:.3f}" for p in tests)
            + " |"
        )
    return lines


def tables(
    evaluation: Evaluation,
    models: list[str],
    report_sets: list[str],
    bm25: dict[str, float],
    sweep: dict[str, Any] | None,
) -> tuple[list[str], dict[str, Any]]:
    sets = list(evaluation.sets)
    lines = ["## Every setting, NDCG@10 with each set's own IDF (report avg also with general IDF)"]
    lines += [
        "",
        "| model, pruning | avg doc length | " + " | ".join(sets) + " | report avg, own IDF "
        "| report avg, general IDF |",
        "|---" * (len(sets) + 4) + "|",
        "| BM25 (english) | - | "
        + " | ".join(f"{bm25[s]:.3f}" for s in sets)
        + f" | {np.mean([bm25[s] for s in report_sets]):.3f} "
        + f"| {np.mean([bm25[s] for s in report_sets]):.3f} (no query side) |",
    ]
    for row in evaluation.rows:
        cells = " | ".join(f"{evaluation.rows[row]['ndcg@10']['corpus'][s]:.3f}" for s in sets)
        lines.append(
            f"| {row} | {evaluation.length(row):.0f} | {cells} "
            f"| {evaluation.average(row, 'corpus', report_sets):.3f} "
            f"| {evaluation.average(row, 'general', report_sets):.3f} |"
        )
    comparison: dict[str, Any] = {}
    if sweep is None:
        return lines, comparison
    lines += [
        "",
        "## Each trained run against untrained models pruned to its length (report avg)",
        "",
        "Difference = trained minus the pruned curve read at the trained run's length; "
        "'-' where the curve does not reach that length.",
        "",
        "| trained run | avg doc length | side | trained | "
        + " | ".join(f"{m} {f}" for m in models for f in ("top_k", "alpha_mass"))
        + " |",
        "|---" * (4 + 2 * len(models)) + "|",
    ]
    for side in SIDES:
        for name, (length, value) in sweep_points(sweep, report_sets, side).items():
            gaps: list[str] = []
            for model in models:
                for family in ("top_k", "alpha_mass"):
                    pruned = interpolate(
                        curve(evaluation, model, family, side, report_sets), length
                    )
                    comparison[f"{name}|{side}|{model} {family}"] = pruned
                    gaps.append("-" if pruned is None else f"{value - pruned:+.3f}")
            lines.append(
                f"| {name} | {length:.0f} | {side} | {value:.3f} | " + " | ".join(gaps) + " |"
            )
    return lines, comparison


def plot(
    evaluation: Evaluation,
    models: list[str],
    report_sets: list[str],
    bm25: float,
    sweep: dict[str, Any] | None,
    out: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for axis, side in zip(axes, SIDES, strict=True):
        for model, colour in zip(models, ("tab:grey", "tab:green", "tab:purple"), strict=False):
            for family, style in (("top_k", "x:"), ("alpha_mass", "+-")):
                points = sorted(curve(evaluation, model, family, side, report_sets))
                axis.plot(
                    *zip(*points, strict=True), style, color=colour, label=f"{model} {family}"
                )
        if sweep is not None:
            trained = sweep_points(sweep, report_sets, side)
            for prefix, marker, colour in (
                ("idf-l", "o", "tab:blue"),
                ("plain-l", "s", "tab:orange"),
            ):
                points = sorted(p for n, p in trained.items() if n.startswith(prefix))
                if points:
                    axis.plot(
                        *zip(*points, strict=True),
                        marker,
                        color=colour,
                        label=f"trained, {prefix[:-2]} (sweep)",
                    )
        axis.axhline(bm25, color="black", ls=":", label="BM25 (english)")
        axis.set_title("query IDF: " + ("each set's own" if side == "corpus" else "general table"))
        axis.set_xlabel("average document length (non-zero tokens)")
    axes[0].set_ylabel("NDCG@10, mean of the report sets")
    figure.suptitle(f"Report sets: {', '.join(report_sets)}", fontsize=9)
    axes[1].legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(out, dpi=120)


def prune_all(evaluation: Evaluation, specs: dict[str, str], prunings: list[Pruning]) -> None:
    """Score each model unpruned and at every setting, from one encoding per model and set."""
    for model, spec in specs.items():
        docs = evaluation.encoded(model, spec)
        evaluation.score(model, docs)
        for pruning in prunings:
            evaluation.score(
                f"{model} {pruning.label}",
                {name: prune_matrix(matrix, pruning) for name, matrix in docs.items()},
            )
        print(f"scored {model}: unpruned and {len(prunings)} settings")


def encoding_check(evaluation: Evaluation, sweep: dict[str, Any] | None) -> list[str]:
    """Unpruned splade-tiny encoded here (CPU, fp32) against the GPU sweep's encoding of it:
    the trained points and these curves are only comparable if the two agree."""
    if sweep is None or "splade-tiny" not in evaluation.rows:
        return []
    theirs = sweep["ndcg@10"]
    gap = max(
        abs(evaluation.rows["splade-tiny"]["ndcg@10"][side][s] - theirs[f"splade-tiny|{s}|{side}"])
        for side in SIDES
        for s in evaluation.sets
        if f"splade-tiny|{s}|{side}" in theirs
    )
    return [
        f"Check: unpruned splade-tiny here vs the sweep's GPU encoding, largest NDCG@10 "
        f"difference {gap:.4f}; avg doc length {evaluation.length('splade-tiny'):.1f} here vs "
        f"{sweep['avg_doc_length']['splade-tiny']:.1f}."
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        action="append",
        metavar="NAME=SPEC",
        help="a model to prune (repeatable); default splade-tiny and the shipped one",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        action="append",
        metavar=("NAME", "OTHER"),
        help="paired t-tests between two unpruned models on every set (repeatable)",
    )
    parser.add_argument("--data", type=Path, default=SHARED / "data")
    parser.add_argument("--dev-sets", nargs="*", default=[DEV_SET])
    parser.add_argument("--report-sets", nargs="+", default=list(REPORT_SETS))
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS))
    parser.add_argument("--general-idf", type=Path, default=SHIPPED / "idf.json")
    parser.add_argument(
        "--sweep", type=Path, default=REPO / "docs" / "results" / "training_sweep.json"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    named = named_paths(parser, "--model", args.model or DEFAULT_MODELS, require_name=True)
    specs = {name: str(spec) for name, spec in named.items()}
    evaluation = Evaluation(args.data, [*args.dev_sets, *args.report_sets], args.general_idf)
    prune_all(evaluation, specs, [Pruning.parse(s) for s in args.settings])
    bm25 = bm25_scores(evaluation)
    sweep = json.loads(args.sweep.read_text()) if args.sweep.is_file() else None
    if sweep is not None and not sweep_points(sweep, args.report_sets, "corpus"):
        sweep = None  # the sweep was not scored on these sets: nothing to set against
    lines, comparison = tables(evaluation, list(specs), args.report_sets, bm25, sweep)
    if {"shipped", "splade-tiny"} <= set(specs):
        lines += equal_length_tests(evaluation, "shipped", "splade-tiny", args.report_sets)
    lines += model_tests(evaluation, args.compare or [], list(evaluation.sets))
    header = [
        "# Equal sparsity: pruned untrained models vs the trained sweep (issue 10)",
        "",
        f"Dev sets: {', '.join(args.dev_sets) or 'none'}; report sets: "
        f"{', '.join(args.report_sets)}. Documents at 256 tokens; pruning is the "
        "sparse_encoding processor's, applied to the encoded vectors.",
        "",
    ]
    markdown = "\n".join([*header, *lines, "", *encoding_check(evaluation, sweep)]) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "training_pruned.md").write_text(markdown)
    report = {
        "rows": evaluation.rows,
        "bm25": bm25,
        "report_sets": args.report_sets,
        "pruned_at_trained_length": comparison,
    }
    (args.out / "training_pruned.json").write_text(json.dumps(report, indent=1))
    bm25_avg = float(np.mean([bm25[s] for s in args.report_sets]))
    plot(
        evaluation, list(specs), args.report_sets, bm25_avg, sweep, args.out / "training_pruned.png"
    )
    print(markdown)


if __name__ == "__main__":
    main()
