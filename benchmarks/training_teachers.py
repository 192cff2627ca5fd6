"""Issue 10: is there anything for distillation to teach? How often each teacher, their
ensemble (as training aggregates it) and the student at its start rank a training group's
positive first, on the training set's own groups.

Distillation can only move the student towards rankings better than its own. Every CPU and GPU
run so far ended at or below the untrained model's NDCG, and training lowered the held-out
training queries' NDCG too; this measures the targets directly. Groups are scored twice: as
mined (the positive and every negative, spares included) and after the false-negative drop
training applies (negatives the ensemble itself scores >= the threshold are replaced), which
favours the ensemble by construction, so the first view is the fair one.

    PYTHONPATH=$PWD python3 benchmarks/training_teachers.py configs/train-cpu-from-shipped.yaml \
        --student splade-tiny=../shared/models/splade-tiny

Teacher scores come from the run's cache (``cache_dir``; computed and cached when missing);
the student is the config's ``model`` with its IDF query side, and each ``--student
NAME=CHECKPOINT`` is scored the same way. Writes ``training_teachers.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, markdown_table, named_paths, write_report

#: The row of the targets training distils from.
ENSEMBLE_ROW = "ensemble (training's target)"


def positive_ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of column 0 (the positive) in each row; a tie counts against it, so a query that
    matches nothing (all scores 0) never counts as answered."""
    return 1 + (scores[:, 1:] >= scores[:, :1]).sum(axis=1)


def group_metrics(scores: np.ndarray) -> dict[str, float]:
    ranks = positive_ranks(scores)
    return {"p_at_1": float(np.mean(ranks == 1)), "mrr": float(np.mean(1.0 / ranks))}


def student_scores(model: str, config: Any, train_set: Any) -> np.ndarray:
    """IDF-aware inference-free scores of each group, as the training loss sees them."""
    import torch

    from opensearch_sparse.training.student import SparseScorer, build_student, listwise_scores
    from opensearch_sparse.training.trainer import student_idf

    student = build_student(model, idf=student_idf(config), max_len=config.max_len)
    scorer = SparseScorer(student).eval()
    texts, queries = train_set.texts, [e.query for e in train_set.examples]
    groups = torch.as_tensor([e.doc_ids for e in train_set.examples])
    with torch.no_grad():
        docs = torch.cat([scorer.documents(texts[i : i + 32]) for i in range(0, len(texts), 32)])
        query = torch.cat(
            [scorer.queries(queries[i : i + 256]) for i in range(0, len(queries), 256)]
        )
        scores: np.ndarray = listwise_scores(query, docs[groups]).numpy()
    return scores


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, view in zip(axes, ("mined", "after_drop"), strict=True):
        names = [r["name"] for r in rows]
        values = [r[view]["p_at_1"] for r in rows]
        ax.barh(names, values, color="tab:blue")
        for y, value in enumerate(values):
            ax.text(value + 0.005, y, f"{value:.3f}", va="center", fontsize=8)
        ax.set_xlim(0.5, 1.0)
        ax.set_title(f"positive ranked first ({view.replace('_', ' ')})")
    axes[0].invert_yaxis()  # shared: once puts the first row on top of both
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path, help="a training config (its set, teachers, IDF)")
    parser.add_argument("--student", action="append", default=[], metavar="NAME=CHECKPOINT")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from opensearch_sparse.training.config import TrainConfig
    from opensearch_sparse.training.data import TrainingSet, fingerprint
    from opensearch_sparse.training.ensemble import aggregate, drop_false_negatives
    from opensearch_sparse.training.teacher_cache import teacher_scores

    config = TrainConfig.load(args.config)
    # Rows are keyed by label: a --student named like one of the script's own rows would
    # replace it, so that is refused before minutes of scoring.
    teacher_rows = [f"teacher {Path(t.path).name} ({t.kind})" for t in config.teachers]
    start_row = f"student start: {Path(config.model).name} (IDF queries)"
    own_rows = [*teacher_rows, ENSEMBLE_ROW, start_row]
    extra = named_paths(parser, "--student", args.student, require_name=True, reserved=own_rows)
    set_dir = Path(config.data.set_dir)
    train_set = TrainingSet.load(set_dir)
    raw = {
        name: teacher_scores(
            train_set,
            fingerprint(set_dir),
            t,
            cache_dir=Path(config.cache_dir),
            max_len=config.teacher_max_len,
            batch_size=config.teacher_batch_size,
            device="cpu",
        )
        for name, t in zip(teacher_rows, config.teachers, strict=True)
    }
    weights = [t.weight for t in config.teachers]
    raw[ENSEMBLE_ROW] = aggregate(list(raw.values()), weights, scale=1.0)
    students = {start_row: config.model}
    students.update({name: str(checkpoint) for name, checkpoint in extra.items()})
    for name, checkpoint in students.items():
        raw[name] = student_scores(checkpoint, config, train_set)
    teachers_only = list(raw.values())[: len(config.teachers)]
    width = teachers_only[0].shape[1]
    # The same condition as training's: a set mined with exactly its negatives and no
    # threshold is trained as mined.
    if width > 1 + config.data.negatives or config.data.false_negative_threshold < 1.0:
        columns, kept = drop_false_negatives(
            teachers_only,
            weights,
            negatives=config.data.negatives,
            threshold=config.data.false_negative_threshold,
        )
    else:
        kept = np.arange(len(teachers_only[0]))
        columns = np.tile(np.arange(width), (len(kept), 1))
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "mined": group_metrics(scores),
            "after_drop": group_metrics(scores[kept[:, None], columns]),
        }
        for name, scores in raw.items()
    ]
    table = markdown_table(
        ["scorer", "P@1 mined", "MRR mined", "P@1 after drop", "MRR after drop"],
        [[r["name"], *r["mined"].values(), *r["after_drop"].values()] for r in rows],
    )
    first = next(iter(raw.values()))
    markdown = (
        f"# Training targets: {len(first)} groups of {first.shape[1]} mined documents "
        f"({args.config}), {len(kept)} after the false-negative drop (threshold "
        f"{config.data.false_negative_threshold}, {config.data.negatives} negatives)\n\n"
        "How often each scorer ranks the group's positive first (a tie counts against it).\n\n"
        + table
    )
    data = {"config": str(args.config), "groups": len(first), "kept": len(kept), "rows": rows}
    write_report(args.out, "training_teachers", data, markdown)
    plot(rows, args.out / "training_teachers.png")


if __name__ == "__main__":
    main()
