"""The one GPU session: train the five ablations, encode the evaluation sets, bring back runs.

Runs on the lent GPU machine over the bundle from ``training_bundle.py --device-copy`` (it has
no ../shared). Everything is written to ``--out`` as soon as it exists, and no new training
starts when the time budget would be overrun, so a cut-off session still returns results.
Metrics are computed afterwards on the CPU side (``training_report.py --runs``) with ranx.

    python benchmarks/training_device.py --bundle .train_bundle --out "$OUT" --budget-s 500
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import tarfile
import time
from pathlib import Path

import torch
import yaml
from safetensors.torch import save_file
from training_eval import (
    BeirSet,
    counting_tokenizer,
    doc_length,
    encode_documents,
    query_matrix,
    query_weights_vector,
    save_runs,
    sparse_run,
)

from opensearch_sparse.idf import IdfTable
from opensearch_sparse.training.config import TrainConfig
from opensearch_sparse.training.student import (
    SparseScorer,
    build_student,
    document_transformer,
    load_student,
)
from opensearch_sparse.training.trainer import train

logger = logging.getLogger("training_device")
ABLATIONS = ("full", "no_idf", "dense_only", "sparse_only", "no_norm")
EVAL_SETS = ("cranfield", "nfcorpus", "dbpedia-5k", "msmarco-dl19-5k")


class Evaluator:
    """Encodes each evaluation set once per model; scores with general / per-corpus / no IDF."""

    def __init__(self, bundle: Path) -> None:
        self.tokenizer = counting_tokenizer(bundle / "models" / "splade-tiny")
        self.sets = [BeirSet.load(bundle / "eval" / name) for name in EVAL_SETS]
        general = IdfTable.load(bundle / "idf-general.json")
        self.weights = {"general": query_weights_vector(self.tokenizer, general), "binary": None}
        self.corpus_weights = {
            s.name: query_weights_vector(self.tokenizer, IdfTable.build(s.texts, self.tokenizer))
            for s in self.sets
        }
        self.runs: dict[str, dict] = {}
        self.lengths: dict[str, dict[str, float]] = {}

    def evaluate(self, name: str, scorer: SparseScorer, idf_kinds: tuple[str, ...]) -> None:
        self.lengths[name] = {}
        for beir in self.sets:
            docs = encode_documents(scorer, beir.texts, batch_size=128)
            self.lengths[name][beir.name] = doc_length(docs)
            texts = list(beir.queries.values())
            for kind in idf_kinds:
                weights = {
                    "general": self.weights["general"],
                    "corpus": self.corpus_weights[beir.name],
                    "binary": query_weights_vector(self.tokenizer, None),
                }[kind]
                queries = query_matrix(self.tokenizer, texts, weights)
                self.runs.setdefault(f"{name}|{kind}", {})[beir.name] = sparse_run(
                    beir, queries, docs
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path(".train_bundle"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget-s", type=float, default=500.0)
    parser.add_argument("--only", nargs="*", default=list(ABLATIONS))
    parser.add_argument("--max-steps", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.backends.cuda.matmul.allow_tf32 = True
    started = time.perf_counter()
    bundle: Path = args.bundle
    if not (bundle / "models").is_dir():
        with tarfile.open(bundle / "models.tar.xz") as archive:
            archive.extractall(bundle, filter="data")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    log: dict = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "runs": {},
    }
    evaluator = Evaluator(bundle)
    baseline = build_student(
        bundle / "models" / "splade-tiny", idf=None, max_len=256, device=device
    )
    evaluator.evaluate(
        "splade-tiny", SparseScorer(baseline).to(device), ("general", "corpus", "binary")
    )
    _write(args.out, evaluator, log)
    last_cost = 0.0
    for name in args.only:
        elapsed = time.perf_counter() - started
        if last_cost and elapsed + last_cost > args.budget_s:
            logger.warning(
                "skipping %s: %.0f s used, a run costs about %.0f s", name, elapsed, last_cost
            )
            continue
        begun = time.perf_counter()
        config = _rebased(Path("configs/gpu") / f"{name}.yaml", bundle, args.max_steps)
        result = train(config)
        train_log = json.loads((Path(config.output_dir) / "train_log.json").read_text())
        model = load_student(result.model_dir, max_len=256, device=device)
        kinds = ("general", "corpus", "binary") if name in ("full", "no_idf") else ("general",)
        evaluator.evaluate(name, SparseScorer(model).to(device), kinds)
        mlm = document_transformer(model).auto_model
        half = _half_untied(mlm.state_dict())
        save_file(half, args.out / f"model-{name}.safetensors")
        log["runs"][name] = {
            "train_seconds": result.seconds,
            "steps": result.steps,
            "history": train_log["history"][-3:],
            "evals": [h for h in train_log["history"] if "eval_ndcg@10" in h],
        }
        last_cost = time.perf_counter() - begun
        log["runs"][name]["total_seconds"] = last_cost
        _write(args.out, evaluator, log)
    cache = bundle / "cache"
    if cache.is_dir():
        shutil.make_archive(str(args.out / "teacher-cache"), "tar", cache)
    log["total_seconds"] = time.perf_counter() - started
    _write(args.out, evaluator, log)


def _half_untied(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fp16 copy without the tied MLM decoder (it is the word embedding): half the bytes back."""
    seen: set[int] = set()
    kept = {}
    for key, value in state.items():
        if value.data_ptr() not in seen:
            seen.add(value.data_ptr())
            kept[key] = value.detach().half().contiguous().cpu()
    return kept


def _rebased(path: Path, bundle: Path, max_steps: int | None) -> TrainConfig:
    """The config with its ``.train_bundle/`` paths pointing at ``bundle`` (tests: a small one)."""
    text = path.read_text().replace(".train_bundle/", f"{bundle}/")
    config = TrainConfig.from_dict(yaml.safe_load(text))
    return dataclasses.replace(config, max_steps=max_steps) if max_steps else config


def _write(out: Path, evaluator: Evaluator, log: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    save_runs(out / "runs.json.gz", {"runs": evaluator.runs, "doc_length": evaluator.lengths})
    (out / "device_log.json").write_text(json.dumps(log, indent=1))


if __name__ == "__main__":
    main()
