"""The training loop: AdamW, linear warm-up, accumulation, checkpoints, resume, DDP, eval.

A plain loop rather than ``SparseEncoderTrainer``: that trainer (a transformers ``Trainer``)
needs ``datasets`` and ``accelerate``, feeds losses tokenized text columns, and has no place for
precomputed teacher score matrices or the listwise ``[n, 1 + negatives]`` groups the method
uses; the loop below is the ~150 lines the method needs and runs unchanged on CPU, under
``torchrun`` (gloo or NCCL) and on the GPU machine whose library versions differ.

Examples are consumed in a fixed order derived from the seed (one permutation per epoch), so a
resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SparseEncoder
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from opensearch_sparse.idf import IdfTable
from opensearch_sparse.training.config import ConfigError, TeacherConfig, TrainConfig
from opensearch_sparse.training.data import Example, Pair, TrainingSet, fingerprint
from opensearch_sparse.training.distributed import DistContext, setup, teardown
from opensearch_sparse.training.ensemble import aggregate, drop_false_negatives, positive_on_top
from opensearch_sparse.training.evaluation import evaluate_heldout
from opensearch_sparse.training.losses import RANKING_LOSSES, DistillationLoss
from opensearch_sparse.training.prepare import prepare_training_set, read_heldout
from opensearch_sparse.training.schedule import FlopsWarmupCallback, QuadraticWarmup
from opensearch_sparse.training.student import (
    SparseScorer,
    build_student,
    listwise_scores,
    load_student,
)
from opensearch_sparse.training.teacher_cache import teacher_scores

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.pt"


@dataclass
class TrainResult:
    model_dir: Path
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(config: TrainConfig) -> TrainResult:
    """Run (or resume) the training ``config`` describes; returns where the model was saved."""
    context = setup(config.device)
    try:
        return _train(config, context)
    finally:
        teardown(context)


@dataclass
class _Run:
    """Everything one run holds between steps; built by ``_set_up``, advanced by ``_step``."""

    config: TrainConfig
    ctx: DistContext
    train_set: TrainingSet
    labels: torch.Tensor
    heldout: list[Pair]
    model: SparseEncoder
    scorer: SparseScorer
    loss: DistillationLoss
    runner: torch.nn.Module
    callback: FlopsWarmupCallback
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    order: _Order
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def _train(config: TrainConfig, ctx: DistContext) -> TrainResult:
    output = Path(config.output_dir)
    checkpoint = _latest_checkpoint(output)
    run = _set_up(config, ctx, checkpoint)
    if checkpoint is not None:
        _resume(run, checkpoint)
    bar = tqdm(total=config.max_steps, initial=run.step, disable=not ctx.is_main, desc="train")
    started = time.perf_counter()
    while run.step < config.max_steps:
        record = _step(run)
        if ctx.is_main and run.step % config.log_every == 0:
            bar.set_postfix(
                rank=f"{record['ranking']:.3f}",
                flops=f"{record['flops']:.3f}",
                doc_len=f"{record['doc_length']:.0f}",
            )
        bar.update(1)
        if ctx.is_main and run.heldout and config.eval_every and run.step % config.eval_every == 0:
            record.update(
                {f"eval_{k}": v for k, v in evaluate_heldout(run.scorer, run.heldout).items()}
            )
            logger.info("step %d: %s", run.step, record)
        run.history.append(record)
        if config.save_every and run.step % config.save_every == 0 and run.step < config.max_steps:
            if ctx.is_main:
                _save_checkpoint(output, run)
            ctx.barrier()
    bar.close()
    return _finish(run, output, time.perf_counter() - started)


def _set_up(config: TrainConfig, ctx: DistContext, checkpoint: Path | None) -> _Run:
    """Data, teacher targets, the student (fresh or from ``checkpoint``), loss and optimiser."""
    seed_everything(config.seed)
    if ctx.is_main:
        prepare_training_set(config.data, config.data_seed)
    ctx.barrier()
    set_dir = Path(config.data.set_dir)
    train_set = TrainingSet.load(set_dir)
    raw_labels, train_set = _labels(config, train_set, set_dir, ctx)
    labels = torch.from_numpy(raw_labels)
    if checkpoint is not None:
        model = load_student(checkpoint / "model", max_len=config.max_len, device=ctx.device)
    else:
        model = build_student(
            config.model, idf=student_idf(config), max_len=config.max_len, device=ctx.device
        )
    scorer = SparseScorer(model).to(ctx.device)
    auto = config.student_temperature == "auto"
    loss = DistillationLoss(
        scorer,
        RANKING_LOSSES[config.loss](),
        flops_weight=0.0,
        temperature=1.0 if auto else float(config.student_temperature),
    )
    if auto or ctx.is_main:
        _calibrate(loss, train_set, labels, config, auto=auto, log=ctx.is_main)
    params = [p for p in scorer.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return _Run(
        config=config,
        ctx=ctx,
        train_set=train_set,
        labels=labels,
        heldout=read_heldout(set_dir),
        model=model,
        scorer=scorer,
        loss=loss,
        runner=DistributedDataParallel(loss) if ctx.distributed else loss,
        callback=FlopsWarmupCallback(
            loss, QuadraticWarmup(config.flops_lambda, config.flops_warmup_steps)
        ),
        optimizer=optimizer,
        scheduler=get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps),
        order=_Order(len(train_set.examples), config.seed),
    )


def _calibrate(
    loss: DistillationLoss,
    train_set: TrainingSet,
    labels: torch.Tensor,
    config: TrainConfig,
    *,
    auto: bool,
    log: bool,
) -> None:
    """Measure the start-of-run spreads; set an ``auto`` temperature from them; log them.

    Every process measures the same first groups, so all ranks agree without a broadcast.
    """
    spreads = score_spreads(loss, train_set, labels, config.spread_examples)
    if auto:
        loss.temperature = calibrated_temperature(spreads)
        spreads["student"] = spreads["student_raw"] / loss.temperature
    if not log:
        return
    logger.info(
        "within-group score spread (max - min), mean over %d groups: student %.2f "
        "(raw %.2f, temperature %.2f%s), teacher %.2f",
        config.spread_examples,
        spreads["student"],
        spreads["student_raw"],
        loss.temperature,
        " auto" if auto else "",
        spreads["teacher"],
    )
    warning = calibration_warning(spreads)
    if warning:
        logger.warning(warning)


def _resume(run: _Run, checkpoint: Path) -> None:
    """Optimiser, schedule, RNG and history as saved: the next step is the one that was due."""
    state = torch.load(checkpoint / STATE_FILE, weights_only=False)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    run.step, run.history = state["step"], state["history"]
    # An "auto" temperature is the one measured on the starting model, not on the checkpoint.
    run.loss.temperature = state.get("temperature", run.loss.temperature)
    logger.info("resumed from %s at step %d", checkpoint, run.step)


def _step(run: _Run) -> dict[str, float]:
    """One optimiser step over ``grad_accum`` micro-batches; returns the step's record."""
    config, ctx = run.config, run.ctx
    use_bf16 = config.bf16 and ctx.device.startswith("cuda")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16)
    per_step = config.batch_size * ctx.world_size * config.grad_accum
    run.scorer.train()  # evaluation and saving may leave modules in eval mode
    run.callback.on_step_begin(run.step)
    parts = {"ranking": 0.0, "flops": 0.0}
    for micro in range(config.grad_accum):
        first = run.step * per_step + (micro * ctx.world_size + ctx.rank) * config.batch_size
        batch = [run.order[i] for i in range(first, first + config.batch_size)]
        examples = [run.train_set.examples[i] for i in batch]
        sync = micro == config.grad_accum - 1 or not ctx.distributed
        with contextlib.nullcontext() if sync else run.runner.no_sync(), autocast:
            terms = run.runner(
                [e.query for e in examples],
                [run.train_set.documents(e) for e in examples],
                run.labels[batch],
            )
            (sum(terms.values()) / config.grad_accum).backward()
        for name, value in terms.items():
            parts[name] += float(value.detach()) / config.grad_accum
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    return {
        "step": run.step,
        **parts,
        "doc_length": run.loss.last_doc_length,
        "flops_weight": run.loss.flops_weight,
        "lr": run.scheduler.get_last_lr()[0],
    }


def _finish(run: _Run, output: Path, seconds: float) -> TrainResult:
    """Save the final model and the run's log (config, steps, history) beside it."""
    final = output / "model"
    if run.ctx.is_main:
        run.model.save(str(final))
        log = {
            "config": run.config.to_dict(),
            "steps": run.step,
            "train_seconds": seconds,
            "world_size": run.ctx.world_size,
            "student_temperature": run.loss.temperature,
            "device": run.ctx.device,
            "history": run.history,
        }
        (output / "train_log.json").write_text(json.dumps(log, indent=1))
    run.ctx.barrier()
    return TrainResult(final, run.step, seconds, run.history)


@torch.no_grad()
def score_spreads(
    loss: DistillationLoss, train_set: TrainingSet, labels: torch.Tensor, n: int
) -> dict[str, float]:
    """Mean within-group ``max - min`` of student scores (as the loss sees them) and targets.

    The calibration check of the run: a student spread far above the teacher's makes the
    listwise KL shrink every document weight (the collapse the temperature prevents).
    """
    n = min(n, len(train_set.examples))
    if n == 0:
        return {"student": 0.0, "student_raw": 0.0, "teacher": 0.0}
    was_training = loss.scorer.training
    loss.scorer.eval()
    examples = train_set.examples[:n]
    raws = []
    for start in range(0, n, 4):
        chunk = examples[start : start + 4]
        docs = [t for e in chunk for t in train_set.documents(e)]
        vectors = loss.scorer.documents(docs).view(len(chunk), len(chunk[0].doc_ids), -1)
        raws.append(listwise_scores(loss.scorer.queries([e.query for e in chunk]), vectors))
    loss.scorer.train(was_training)
    raw = torch.cat(raws).cpu()
    spread = lambda s: float((s.max(dim=1).values - s.min(dim=1).values).mean())  # noqa: E731
    return {
        "student": spread(raw / loss.temperature),
        "student_raw": spread(raw),
        "teacher": spread(labels[:n].float()),
    }


def calibrated_temperature(spreads: dict[str, float]) -> float:
    """The temperature that puts the student's mean spread on the teacher's (1.0 if either is 0).

    Measured once, before the first step: the point is the scale the ranking loss starts from,
    not a moving target that would hide the document weights shrinking.
    """
    if spreads["student_raw"] <= 0 or spreads["teacher"] <= 0:
        return 1.0
    return spreads["student_raw"] / spreads["teacher"]


def calibration_warning(spreads: dict[str, float], factor: float = 3.0) -> str | None:
    """A message when student and teacher spreads differ by more than ``factor``."""
    student, teacher = spreads["student"], spreads["teacher"]
    if teacher <= 0 or student <= 0:
        return None
    if student > factor * teacher or teacher > factor * student:
        return (
            f"student score spread {student:.2f} vs teacher {teacher:.2f}: not on one scale; "
            "adjust student_temperature or scale"
        )
    return None


def _labels(
    config: TrainConfig, train_set: TrainingSet, set_dir: Path, ctx: DistContext
) -> tuple[np.ndarray, TrainingSet]:
    """Aggregated teacher targets and the set they belong to (false negatives dropped).

    The main process fills the cache, the others read it.
    """
    digest = fingerprint(set_dir)

    def scores(teacher: TeacherConfig) -> np.ndarray:
        return teacher_scores(
            train_set,
            digest,
            teacher,
            cache_dir=Path(config.cache_dir),
            max_len=config.teacher_max_len,
            batch_size=config.teacher_batch_size,
            device=ctx.device,
        )

    if ctx.is_main:
        for teacher in config.teachers:
            scores(teacher)
    ctx.barrier()
    raw = [scores(t) for t in config.teachers]
    weights = [t.weight for t in config.teachers]
    negatives = config.data.negatives
    if raw[0].shape[1] > 1 + negatives or config.data.false_negative_threshold < 1.0:
        columns, kept = drop_false_negatives(
            raw, weights, negatives=negatives, threshold=config.data.false_negative_threshold
        )
        rows = kept[:, None]
        raw = [s[rows, columns] for s in raw]
        examples = [
            Example(train_set.examples[i].query, tuple(train_set.examples[i].doc_ids[j] for j in c))
            for i, c in zip(kept.tolist(), columns.tolist(), strict=True)
        ]
        logger.info(
            "false negatives: kept %d of %d examples (threshold %.2f, %d negatives each)",
            len(examples),
            len(train_set.examples),
            config.data.false_negative_threshold,
            negatives,
        )
        train_set = TrainingSet(train_set.texts, examples)
    targets = aggregate(raw, weights, scale=config.scale, normalise=config.normalise)
    if config.positive_margin is not None:
        targets = positive_on_top(targets, config.positive_margin)
    return targets, train_set


def student_idf(config: TrainConfig) -> IdfTable | None:
    """The query side the student is trained and scored with: the IDF table, or None (all
    weights 1) for a run that is not IDF-aware."""
    if not config.idf_aware:
        return None
    if not config.idf:
        raise ConfigError("idf_aware is on but no idf table is configured", "set idf: PATH")
    return IdfTable.load(Path(config.idf))


class _Order:
    """Example index at a global position: epoch ``p // n`` uses its own seeded permutation."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed
        self._perms: dict[int, np.ndarray] = {}

    def __getitem__(self, position: int) -> int:
        epoch = position // self.n
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng(self.seed + epoch).permutation(self.n)}
        return int(self._perms[epoch][position % self.n])


def _latest_checkpoint(output: Path) -> Path | None:
    found = sorted((output / "checkpoints").glob("step-*"))
    complete = [c for c in found if (c / STATE_FILE).is_file()]
    return complete[-1] if complete else None


def _save_checkpoint(output: Path, run: _Run) -> None:
    folder = output / "checkpoints" / f"step-{run.step:07d}"
    run.model.save(str(folder / "model"))
    state = {
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "step": run.step,
        "history": run.history,
        "temperature": run.loss.temperature,
    }
    torch.save(state, folder / STATE_FILE)  # written last: its presence marks a complete one
    for old in sorted((output / "checkpoints").glob("step-*"))[: -run.config.keep_checkpoints]:
        shutil.rmtree(old)
