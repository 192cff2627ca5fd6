"""Issue 10's evidence from one GPU session: NDCG@10 against document length for IDF-aware and
plain training, the teacher ablation and the seeds, beside BM25 and splade-tiny as-is.

Reads what ``training_device.py`` brought back (one or more ``--device`` folders, e.g. a second
call that finished a run the first could not fit) and scores every run here with ranx, so the
metrics never depend on the machine that encoded. The lambda was chosen on the device from the
dev split (nfcorpus + held-out training queries); the report sets are scored once, here.
BM25 is bm25s with English stemming and stop words (the "english analyzer" comparator).

    python benchmarks/training_report.py --device /path/to/out [--device /path/to/out2]

Writes benchmarks/results/training_sweep.{md,json,png} and prints the markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from ranx import Qrels, evaluate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEV_SET, REPORT_SETS, RESULTS, SHARED
from training_eval import BeirSet, bm25_run, judged_run, load_runs, ndcg_at_10, paired_p_value

from opensearch_sparse.corpus import read_qrels

SETS = (DEV_SET, *REPORT_SETS)
#: Query sides: the user's own index (the default), the shipped general table.
IDF_KINDS = ("corpus", "general")


def merge(folders: list[Path]) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Models and run records of every folder; the largest difference between repeated models'
    dev runs is returned as a reproducibility check (the baseline is encoded in every call)."""
    models: dict[str, Any] = {}
    records: dict[str, Any] = {}
    drift = 0.0
    chosen = None
    for folder in folders:
        payload = load_runs(folder / "runs.json.gz")["models"]
        log = json.loads((folder / "device_log.json").read_text())
        chosen = log.get("chosen_lambda", chosen)
        for name, model in payload.items():
            if name in models:
                drift = max(drift, _run_drift(models[name], model))
            models[name] = model
        records |= {n: r for n, r in log["runs"].items() if "dev_ndcg@10" in r}
    records["_chosen_lambda"] = chosen
    return models, records, drift


def _run_drift(a: dict[str, Any], b: dict[str, Any]) -> float:
    return abs(a["doc_length"][DEV_SET] - b["doc_length"][DEV_SET])


class Scores:
    """ranx NDCG@10 (per query and mean) of every model, set and query side, and BM25."""

    def __init__(self, models: dict[str, Any], shared: Path) -> None:
        self.qrels = {s: read_qrels(shared / "data" / s) for s in SETS}
        self.runs: dict[tuple[str, str, str], Any] = {}
        self.mean: dict[tuple[str, str, str], float] = {}
        for name, model in models.items():
            for set_name in SETS:
                for kind, run in model["runs"][set_name].items():
                    self._add((name, set_name, kind), run)
        for set_name in SETS:
            # BM25 has no query side: evaluated once, found under every side's key.
            bm25 = bm25_run(BeirSet.load(shared / "data" / set_name))
            self._add(("bm25", set_name, "binary"), bm25)
            for kind in IDF_KINDS:
                self.runs[("bm25", set_name, kind)] = self.runs[("bm25", set_name, "binary")]
                self.mean[("bm25", set_name, kind)] = self.mean[("bm25", set_name, "binary")]
        self.lengths = {
            n: float(np.mean([m["doc_length"][s] for s in SETS])) for n, m in models.items()
        }

    def _add(self, key: tuple[str, str, str], run: dict) -> None:
        qrels = self.qrels[key[1]]
        self.runs[key] = judged_run(qrels, run, key[0])
        self.mean[key] = float(evaluate(Qrels(qrels), self.runs[key], "ndcg@10"))

    def report_avg(self, name: str, kind: str) -> float:
        return float(np.mean([self.mean[(name, s, kind)] for s in REPORT_SETS]))

    def significance(self, name: str, other: str, kind: str) -> dict[str, float]:
        """Paired t-test p-value per report set (ranx ``compare``), ``name`` against ``other``."""
        return {
            set_name: paired_p_value(
                self.qrels[set_name],
                self.runs[(name, set_name, kind)],
                self.runs[(other, set_name, kind)],
            )
            for set_name in REPORT_SETS
        }


def sweep_table(scores: Scores, records: dict[str, Any]) -> list[str]:
    lines = [
        "| run | lambda | avg doc length | dev: nfcorpus (own IDF) | dev: held-out queries "
        "| report avg, own IDF | report avg, general IDF |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, record in records.items():
        if name.startswith("_"):
            continue
        lambda_ = record["overrides"]["flops_lambda"]
        heldout = record["heldout_ndcg@10"][-1] if record["heldout_ndcg@10"] else float("nan")
        lines.append(
            f"| {name} | {lambda_:g} | {scores.lengths[name]:.0f} "
            f"| {scores.mean[(name, DEV_SET, 'corpus')]:.3f} | {heldout:.3f} "
            f"| {scores.report_avg(name, 'corpus'):.3f} "
            f"| {scores.report_avg(name, 'general'):.3f} |"
        )
    return lines


def final_table(scores: Scores, rows: list[str], kind: str) -> list[str]:
    head = "| system | " + " | ".join(SETS) + " | report avg | avg doc length |"
    lines = [head, "|---" * (len(SETS) + 3) + "|"]
    for name in rows:
        cells = " | ".join(f"{scores.mean[(name, s, kind)]:.3f}" for s in SETS)
        length = f"{scores.lengths[name]:.0f}" if name in scores.lengths else "-"
        lines.append(f"| {name} | {cells} | {scores.report_avg(name, kind):.3f} | {length} |")
    return lines


def plot(scores: Scores, records: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for axis, kind in zip(axes, IDF_KINDS, strict=True):
        for side, style in (("idf", "o-"), ("plain", "s--")):
            points = sorted(
                (scores.lengths[n], scores.report_avg(n, kind))
                for n, r in records.items()
                if n.startswith(f"{side}-l")
            )
            if points:
                axis.plot(*zip(*points, strict=True), style, label=f"{side} training")
        for name, marker in (("idf-seed29", "^"), ("idf-bge-only", "v"), ("idf-splade-only", "D")):
            for n in records:
                if n.startswith(f"{name}-l"):
                    axis.plot(scores.lengths[n], scores.report_avg(n, kind), marker, label=n)
        base = scores.report_avg("splade-tiny", kind)
        axis.axhline(base, color="grey", lw=0.8)
        length = scores.lengths["splade-tiny"]
        axis.plot(length, base, "*", color="grey", ms=10, label="splade-tiny as-is")
        axis.axhline(scores.report_avg("bm25", kind), color="black", ls=":", label="BM25 (english)")
        axis.set_title("query IDF: " + ("each set's own" if kind == "corpus" else "general table"))
        axis.set_xlabel("average document length (non-zero tokens)")
    axes[0].set_ylabel(f"NDCG@10, mean of the {len(REPORT_SETS)} report sets")
    axes[1].legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", type=Path, action="append", required=True)
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    models, records, drift = merge(args.device)
    chosen = records.pop("_chosen_lambda")
    scores = Scores(models, args.shared)
    # The device chose on its own NDCG code; it must agree with ranx on the same runs.
    disagreement = max(
        abs(
            ndcg_at_10(scores.qrels[DEV_SET], models[n]["runs"][DEV_SET]["corpus"])
            - scores.mean[(n, DEV_SET, "corpus")]
        )
        for n in models
    )
    suffix = f"-l{chosen:g}"
    final = ["bm25", "splade-tiny"] + [
        f"{n}{suffix}"
        for n in ("idf", "idf-seed29", "plain", "idf-bge-only", "idf-splade-only")
        if f"{n}{suffix}" in models
    ]
    tests = {
        f"{row} vs {other} ({kind})": scores.significance(row, other, kind)
        for row in final[2:]
        for other in ("splade-tiny", "bm25")
        for kind in IDF_KINDS
    }
    lines = [
        f"# Issue 10 sweep: lambda chosen on the dev split = {chosen:g}",
        "",
        "## Every run (dev columns chose lambda; report columns are the held-out sets)",
        "",
        *sweep_table(scores, records),
    ]
    for kind in IDF_KINDS:
        lines += [
            "",
            f"## At the chosen lambda, query IDF: {kind}",
            "",
            *final_table(scores, final, kind),
        ]
    lines += ["", "## Paired t-test p-values (NDCG@10 per query), per report set", ""]
    lines += ["| comparison | " + " | ".join(REPORT_SETS) + " |", "|---" * 4 + "|"]
    lines += [
        f"| {k} | " + " | ".join(f"{v[s]:.3f}" for s in REPORT_SETS) + " |"
        for k, v in tests.items()
    ]
    lines += [
        "",
        f"Checks: device NDCG@10 vs ranx on the dev runs, max difference {disagreement:.2e}; "
        f"baseline document length across device calls differs by {drift:.2e} tokens.",
    ]
    markdown = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "training_sweep.md").write_text(markdown)
    report = {
        "chosen_lambda": chosen,
        "ndcg@10": {"|".join(k): v for k, v in scores.mean.items()},
        "avg_doc_length": scores.lengths,
        "p_values": tests,
        "runs": records,
    }
    (args.out / "training_sweep.json").write_text(json.dumps(report, indent=1))
    plot(scores, records, args.out / "training_sweep.png")
    print(markdown)


if __name__ == "__main__":
    main()
