"""The GPU sessions of issue 10: each model of a sweep trained, then encoded on the evaluation
sets; the runs come home for ranx.

Runs over the folder from ``training_bundle.py device`` (no ../shared there, and only the dev
set's judgements). What it does is a sweep YAML on top of its base config. The first session's,
``configs/gpu/sweep.yaml``: every lambda with both query sides, then, at the IDF-aware lambda with
the best dev score, a second seed and each teacher alone; its tables, significance and plot are
made at home by ``training_report.py``. ``configs/gpu/large.yaml`` and ``large-sparse.yaml``:
the default's recipe on a larger set, seeds, and lambdas chosen under a density cap
(``max_dev_doc_length``). The starting model is scored first, the same way, as the row every run
is compared with. Everything is written to ``--out`` as soon as it exists, and no run starts
that the time budget cannot hold, so a session cut short still returns results.

    python benchmarks/training_device.py --out "$OUT" --budget-s 480
    python benchmarks/training_device.py --out "$OUT" --sweep configs/gpu/large-sparse.yaml
    python benchmarks/training_device.py --out /tmp/smoke --smoke --budget-s 1e9  # a few min on CPU
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training_bundle import unpack_models
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
    save_runs,
)

from opensearch_sparse.corpus import read_qrels
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.training.config import TrainConfig
from opensearch_sparse.training.evaluation import evaluate_heldout
from opensearch_sparse.training.prepare import read_heldout
from opensearch_sparse.training.student import (
    SparseScorer,
    build_student,
    document_transformer,
    load_student,
)
from opensearch_sparse.training.trainer import student_idf, train

logger = logging.getLogger("training_device")
SWEEP = Path("configs/gpu/sweep.yaml")
#: Files a GPU session returns are at most 16 MiB each (8 files, 64 MiB together).
RETURN_FILE_BYTES = 15 * 2**20


class Evaluator:
    """Encodes each evaluation set once per model and keeps its runs in training_compare's shape,
    scored with three query sides: the general table, the set's own IDF, all weights 1."""

    def __init__(
        self, bundle: Path, start: Path, general_idf: Path, dev_set: str, *, smoke: bool
    ) -> None:
        names = [dev_set] if smoke else sorted(p.name for p in (bundle / "eval").iterdir())
        self.sets = [BeirSet.load(bundle / "eval" / name) for name in names]
        if smoke:
            self.sets = [_first_docs(s, 300) for s in self.sets]
        self.dev_set = dev_set
        self.dev_qrels = read_qrels(bundle / "eval" / dev_set)
        tokenizer = counting_tokenizer(start)  # every student keeps its start's vocabulary
        self.tokenizer = tokenizer
        general = query_weights_vector(tokenizer, IdfTable.load(general_idf))
        binary = query_weights_vector(tokenizer, None)
        self.weights = {
            s.name: {**idf_sides(tokenizer, s.texts, general), "binary": binary} for s in self.sets
        }
        self.payloads: dict[str, dict[str, Any]] = {}

    def evaluate(self, name: str, scorer: SparseScorer) -> float:
        """Encode, score with every query side; returns dev NDCG@10 with the set's own IDF."""
        payload: dict[str, Any] = {"runs": {}, "doc_length": {}, "seconds": {}}
        for beir in self.sets:
            started = time.perf_counter()
            docs = encode_documents(scorer, beir.texts, batch_size=128)
            payload["runs"][beir.name] = query_side_runs(
                beir, self.tokenizer, docs, self.weights[beir.name]
            )
            payload["doc_length"][beir.name] = doc_length(docs)
            payload["seconds"][beir.name] = time.perf_counter() - started
        self.payloads[name] = payload
        return ndcg_at_10(self.dev_qrels, payload["runs"][self.dev_set]["corpus"])


def _first_docs(beir: BeirSet, n: int) -> BeirSet:
    return BeirSet(beir.name, beir.doc_ids[:n], beir.texts[:n], beir.queries)


class Session:
    """The sweep's state: what ran, what it scored, and the budget left."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = time.perf_counter()
        self.sweep = yaml.safe_load(args.sweep.read_text())
        self.base = yaml.safe_load(Path(self.sweep["base"]).read_text())
        self.evaluator = Evaluator(
            args.bundle,
            Path(self.base["model"]),
            Path(self.base["idf"]),
            self.sweep["dev_set"],
            smoke=args.smoke,
        )
        self.log: dict[str, Any] = {
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "torch": torch.__version__,
            "sweep": self.sweep,
            "base": self.base,
            "runs": {},
        }
        self.last_cost = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def evaluate_start(self) -> None:
        """The starting model scored like every run (dev set, held-out queries), under its
        folder's name: the row each trained model is compared with, on the same machine."""
        config = run_config(self.base, {}, self.args.bundle / "runs" / "start")
        start = Path(config.model)
        model = build_student(
            start, idf=student_idf(config), max_len=EVAL_MAX_LEN, device=_device()
        )
        scorer = SparseScorer(model).to(_device())
        dev = self.evaluator.evaluate(start.name, scorer)
        heldout = evaluate_heldout(scorer, read_heldout(Path(config.data.set_dir)))["ndcg@10"]
        self.log["start"] = {
            "name": start.name,
            "dev_ndcg@10": dev,
            "heldout_ndcg@10": heldout,
            "dev_score": dev_score(dev, heldout),
        }
        logger.info("start %s: %s", start.name, self.log["start"])
        self.write()

    def run(self, name: str, overrides: dict[str, Any]) -> dict[str, Any] | None:
        """Train ``base + overrides`` as ``name``, evaluate it; None when skipped or failed."""
        if self.last_cost and self.elapsed() + self.last_cost > self.args.budget_s:
            used = self.elapsed()
            logger.warning(
                "skipping %s: %.0f s used, a run costs ~%.0f s", name, used, self.last_cost
            )
            self.log["runs"][name] = {"skipped": "time budget"}
            return None
        begun = time.perf_counter()
        try:
            config = run_config(self.base, overrides, self.args.bundle / "runs" / name)
            if self.args.smoke:
                config = dataclasses.replace(
                    config, max_steps=1, batch_size=2, eval_every=1, spread_examples=4
                )
            result = train(config)
            train_log = json.loads((Path(config.output_dir) / "train_log.json").read_text())
            model = load_student(result.model_dir, max_len=EVAL_MAX_LEN, device=_device())
            dev = self.evaluator.evaluate(name, SparseScorer(model).to(_device()))
        except Exception:  # one broken run must not lose the session's others
            logger.error("run %s failed:\n%s", name, traceback.format_exc())
            self.log["runs"][name] = {"failed": traceback.format_exc(limit=3)}
            self.write()
            return None
        heldout = [h["eval_ndcg@10"] for h in train_log["history"] if "eval_ndcg@10" in h]
        record = {
            "overrides": overrides,
            "train_seconds": result.seconds,
            "steps": result.steps,
            "student_temperature": train_log["student_temperature"],
            "last": train_log["history"][-1],
            "heldout_ndcg@10": heldout,
            "dev_ndcg@10": dev,
            "dev_score": dev_score(dev, heldout[-1] if heldout else None),
            "doc_length": self.evaluator.payloads[name]["doc_length"],
        }
        self.last_cost = time.perf_counter() - begun
        record["total_seconds"] = self.last_cost
        self.log["runs"][name] = record
        logger.info(
            "%s: dev NDCG@10 %.4f, held-out %s, doc length %s, %.0f s",
            name,
            dev,
            heldout,
            {k: round(v) for k, v in record["doc_length"].items()},
            self.last_cost,
        )
        self.write()
        return record

    def bring_back(self, name: str) -> None:
        """The run's weights into ``--out``: one file, or parts when a file would exceed what a
        GPU session returns per file (a MiniLM student is ~45 MB in fp16)."""
        model = load_student(self.args.bundle / "runs" / name / "model", max_len=EVAL_MAX_LEN)
        weights = _half_untied(document_transformer(model).auto_model.state_dict())
        parts = shards(weights, RETURN_FILE_BYTES)
        for index, part in enumerate(parts, 1):
            suffix = "" if len(parts) == 1 else f".part{index}"
            save_file(part, self.args.out / f"model-{name}{suffix}.safetensors")

    def write(self) -> None:
        self.args.out.mkdir(parents=True, exist_ok=True)
        save_runs(self.args.out / "runs.json.gz", {"models": self.evaluator.payloads})
        self.log["seconds"] = self.elapsed()
        (self.args.out / "device_log.json").write_text(json.dumps(self.log, indent=1))


def run_config(base: dict[str, Any], overrides: dict[str, Any], output_dir: Path) -> TrainConfig:
    """``base.yaml`` with one run's settings on top (top-level keys replace whole values)."""
    return TrainConfig.from_dict({**base, **overrides, "output_dir": str(output_dir)})


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _half_untied(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fp16 copy without the tied MLM decoder (it is the word embedding): half the bytes back."""
    seen: set[int] = set()
    kept = {}
    for key, value in state.items():
        if value.data_ptr() not in seen:
            seen.add(value.data_ptr())
            kept[key] = value.detach().half().contiguous().cpu()
    return kept


#: How a tensor too large for one returned file is named in pieces: ``KEY::rows0``, ...
ROWS = "::rows"


def shards(state: dict[str, torch.Tensor], limit: int) -> list[dict[str, torch.Tensor]]:
    """``state`` split, in order, into parts of at most ``limit`` bytes each; a tensor larger
    than ``limit`` (MiniLM's word embeddings: 23 MB in fp16) is cut into row blocks first.
    ``join_rows`` (``training_ship.py``) puts the pieces back together."""
    pieces: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        row_bytes = value[0].numel() * value.element_size() if value.ndim else 0
        if value.ndim and value.numel() * value.element_size() > limit:
            for index, block in enumerate(value.split(max(1, limit // row_bytes))):
                pieces[f"{key}{ROWS}{index}"] = block.contiguous()
        else:
            pieces[key] = value
    parts: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, value in pieces.items():
        nbytes = value.numel() * value.element_size()
        if parts[-1] and size + nbytes > limit:
            parts.append({})
            size = 0
        parts[-1][key] = value
        size += nbytes
    return parts


def join_rows(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of the row blocks ``shards`` cuts: ``KEY::rowsN`` pieces concatenated in N
    order under ``KEY``; other tensors as they are."""
    blocks: dict[str, dict[int, torch.Tensor]] = {}
    joined = {}
    for key, value in state.items():
        name, cut, index = key.partition(ROWS)
        if cut:
            blocks.setdefault(name, {})[int(index)] = value
        else:
            joined[key] = value
    for name, pieces in blocks.items():
        joined[name] = torch.cat([pieces[i] for i in range(len(pieces))])
    return joined


def dev_score(dev_ndcg: float, heldout_ndcg: float | None) -> float:
    """What every choice here is made on: the dev set's NDCG@10 and the held-out training
    queries', averaged (the dev set's alone when the run evaluated no held-out queries)."""
    return dev_ndcg if heldout_ndcg is None else float(np.mean([dev_ndcg, heldout_ndcg]))


def _sparse_enough(sweep: dict[str, Any], record: dict[str, Any]) -> bool:
    """A sweep may cap the dev set's tokens per document (``max_dev_doc_length``), so that
    lambda is chosen among models no denser, hence no slower, than the one they would replace."""
    limit = sweep.get("max_dev_doc_length")
    return limit is None or record["doc_length"][sweep["dev_set"]] <= limit


def lambda_name(value: float) -> str:
    return f"l{value:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path(".train_bundle/device"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sweep", type=Path, default=SWEEP, help="what to train (a sweep YAML)")
    parser.add_argument("--budget-s", type=float, default=480.0)
    parser.add_argument(
        "--chosen-lambda",
        type=float,
        help="skip the sweep and train the at_chosen runs at this lambda (a session cut short)",
    )
    parser.add_argument("--only", nargs="*", help="with --chosen-lambda: these at_chosen runs")
    parser.add_argument(
        "--smoke", action="store_true", help="1 step, one lambda, 300 dev documents"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.backends.cuda.matmul.allow_tf32 = True
    for folder in unpack_models(args.bundle):  # a start that travelled with int8 embeddings
        logger.info("unpacked %s to float32", folder)
    session = Session(args)
    session.evaluate_start()
    best = args.chosen_lambda if args.chosen_lambda is not None else choose_lambda(session)
    for name, overrides in session.sweep["at_chosen"].items():
        if args.only and name not in args.only:
            continue
        run_name = f"{name}-{lambda_name(best)}"
        if (
            session.run(run_name, {**overrides, "flops_lambda": best})
            and name in session.sweep["bring_back"]
        ):
            session.bring_back(run_name)
    session.write()


def choose_lambda(session: Session) -> float:
    """Train the sweep; the IDF-aware lambda with the best dev score (its weights come back)."""
    lambdas = session.sweep["lambdas"][:1] if session.args.smoke else session.sweep["lambdas"]
    chosen: tuple[float, float] | None = None  # (dev score, lambda)
    for value in lambdas:
        for side, overrides in session.sweep["sides"].items():
            record = session.run(
                f"{side}-{lambda_name(value)}", {**overrides, "flops_lambda": value}
            )
            if (
                record
                and side == "idf"
                and _sparse_enough(session.sweep, record)
                and (chosen is None or record["dev_score"] > chosen[0])
            ):
                chosen = (record["dev_score"], value)
    if chosen is None:
        raise SystemExit("no IDF-aware run finished: nothing to choose a lambda from")
    best = chosen[1]
    session.log["chosen_lambda"] = best
    logger.info("chosen on dev: lambda %g (dev score %.4f)", best, chosen[0])
    for side in session.sweep["sides"]:
        if side in session.sweep["bring_back"]:
            session.bring_back(f"{side}-{lambda_name(best)}")
    return best


if __name__ == "__main__":
    main()
