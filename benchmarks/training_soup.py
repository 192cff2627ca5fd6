"""Issue 10: interpolating a fine-tuned model with the model it started from (WiSE-FT), scored
on the dev split only, so ``alpha`` is chosen where nothing is reported.

For each start and ``alpha`` the checkpoint ``(1 - alpha) * start + alpha * end`` is built
(``opensearch_sparse.training.soup``) and given the dev score every training decision here
uses: the mean of the dev set's NDCG@10 with its own IDF (nfcorpus, 256 tokens, as
``training_compare.py`` scores it) and the held-out training queries' NDCG@10 (the training
loop's check, with the config's IDF). ``alpha`` 1 is ``end`` itself (scored once), so its row
reproduces the figure its run was chosen by, and the highest dev score over every row, ``end``
included, is the choice: an interpolation is only chosen when it beats ``end`` on dev. The
chosen checkpoint is written with ``--save``; the report sets are then scored once, on the
node (``benchmarks/relevance.py``).

    PYTHONPATH=$PWD python3 benchmarks/training_soup.py \\
        --starts ../shared/models/splade-tiny stage2=.train_bundle/stage2-mlm \\
        --end .train_bundle/stage3-mlm --config configs/train-cpu-positive-margin.yaml \\
        --alphas 0 0.5 0.75 1 --out docs/results --name stage3 --save .train_bundle/soup

Writes ``training_soup_NAME.{md,json,png}`` under ``--out`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEV_SET, SHARED, markdown_table, named_paths, write_report
from training_eval import (
    EVAL_MAX_LEN,
    BeirSet,
    counting_tokenizer,
    doc_length,
    encode_documents,
    idf_sides,
    ndcg_at_10,
    query_side_runs,
    query_weights_vector,
)

from opensearch_sparse.corpus import read_qrels
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.training.config import TrainConfig
from opensearch_sparse.training.evaluation import evaluate_heldout
from opensearch_sparse.training.prepare import prepare_training_set, read_heldout
from opensearch_sparse.training.soup import interpolate_checkpoints
from opensearch_sparse.training.student import SparseScorer, build_student


def score(
    checkpoint: Path, config: TrainConfig, dev: BeirSet, qrels: dict, heldout: list
) -> dict[str, float]:
    """The dev score of one checkpoint, with its parts and the dev set's document length."""
    idf = IdfTable.load(Path(config.idf)) if config.idf else None
    scorer = SparseScorer(build_student(checkpoint, idf=idf, max_len=EVAL_MAX_LEN))
    scorer.eval()
    held = evaluate_heldout(scorer, heldout)
    tokenizer = counting_tokenizer(checkpoint)
    docs = encode_documents(scorer, dev.texts, batch_size=64)
    sides = idf_sides(tokenizer, dev.texts, query_weights_vector(tokenizer, idf))
    dev_ndcg = ndcg_at_10(qrels, query_side_runs(dev, tokenizer, docs, sides)["corpus"])
    return {
        "dev_ndcg@10": dev_ndcg,
        "heldout_ndcg@10": held["ndcg@10"],
        "dev_score": float(np.mean([dev_ndcg, held["ndcg@10"]])),
        "dev_doc_length": doc_length(docs),
    }


def plot(path: Path, rows: list[dict[str, Any]], chosen: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for start in dict.fromkeys(r["start"] for r in rows if r["alpha"] < 1):
        path_rows = [r for r in rows if r["start"] in (start, "end")]
        alphas = [r["alpha"] for r in path_rows]
        label = f"from {start}"
        left.plot(alphas, [r["dev_score"] for r in path_rows], marker="o", label=label)
        right.plot(alphas, [r["dev_doc_length"] for r in path_rows], marker="o", label=label)
    left.scatter(
        [chosen["alpha"]],
        [chosen["dev_score"]],
        s=120,
        facecolors="none",
        edgecolors="black",
        label="chosen (highest dev score)",
    )
    left.set_xlabel("alpha (0: start, 1: the fine-tuned end)")
    left.set_ylabel("dev score (nfcorpus own IDF + held-out, mean)")
    right.set_xlabel("alpha")
    right.set_ylabel("tokens per nfcorpus document")
    for ax in (left, right):
        ax.legend(fontsize=7)
    fig.suptitle("Weight-space interpolation, dev split only")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--starts",
        nargs="+",
        required=True,
        metavar="[NAME=]PATH",
        help="masked-LM checkpoints, each labelled NAME (default: its folder's name)",
    )
    parser.add_argument("--end", type=Path, required=True, help="a fine-tuned descendant of each")
    parser.add_argument("--config", type=Path, required=True, help="the end's training config")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.5, 0.75, 1.0])
    parser.add_argument("--dev-set", default=DEV_SET)
    parser.add_argument("--data", type=Path, default=SHARED / "data", help="holds the dev set")
    parser.add_argument("--out", type=Path, default=Path(".train_bundle") / "soup")
    parser.add_argument("--name", default="soup")
    parser.add_argument("--save", type=Path, help="write the chosen checkpoint here")
    args = parser.parse_args()
    starts = named_paths(parser, "--starts", args.starts, reserved=("end",))

    config = TrainConfig.load(args.config)
    heldout = read_heldout(prepare_training_set(config.data, config.data_seed))
    dev = BeirSet.load(args.data / args.dev_set)
    qrels = read_qrels(args.data / args.dev_set)
    paths = [(name, a) for name in starts for a in sorted(args.alphas) if a < 1]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for start, alpha in [*paths, ("end", 1.0)]:
            began = time.perf_counter()
            checkpoint = (
                args.end
                if start == "end"
                else interpolate_checkpoints(starts[start], args.end, alpha, Path(tmp) / "m")
            )
            row = {"start": start, "alpha": alpha, **score(checkpoint, config, dev, qrels, heldout)}
            rows.append({**row, "seconds": time.perf_counter() - began})
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()})
    best = max(rows, key=lambda r: r["dev_score"])
    if args.save:
        source = starts[best["start"]] if best["start"] != "end" else args.end
        interpolate_checkpoints(source, args.end, best["alpha"], args.save)
    header = ["start", "alpha", "dev score", f"{args.dev_set} (own IDF)", "held-out", "tokens/doc"]
    table = [
        [
            r["start"],
            f"**{r['alpha']}**" if r is best else r["alpha"],
            r["dev_score"],
            r["dev_ndcg@10"],
            r["heldout_ndcg@10"],
            f"{r['dev_doc_length']:.0f}",
        ]
        for r in rows
    ]
    markdown = (
        f"# Weight-space interpolation towards {args.end} (alpha 1)\n\n"
        f"Dev split only: {args.dev_set} NDCG@10 with its own IDF and the {len(heldout)} "
        f"held-out training queries of {args.config}; dev score = their mean. Chosen: the "
        f"highest dev score ({best['start']}, alpha {best['alpha']}).\n\n"
        + markdown_table(header, table)
    )
    data = {
        "end": str(args.end),
        "config": str(args.config),
        "starts": {name: str(path) for name, path in starts.items()},
        "chosen": best,
        "rows": rows,
    }
    write_report(args.out, f"training_soup_{args.name}", data, markdown)
    plot(args.out / f"training_soup_{args.name}.png", rows, best)


if __name__ == "__main__":
    main()
