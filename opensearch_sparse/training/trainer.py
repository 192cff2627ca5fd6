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
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from opensearch_sparse.idf import IdfTable
from opensearch_sparse.training.config import ConfigError, TeacherConfig, TrainConfig
from opensearch_sparse.training.data import TrainingSet, fingerprint
from opensearch_sparse.training.distributed import DistContext, setup, teardown
from opensearch_sparse.training.ensemble import aggregate
from opensearch_sparse.training.evaluation import evaluate_heldout
from opensearch_sparse.training.losses import RANKING_LOSSES, DistillationLoss
from opensearch_sparse.training.prepare import prepare_training_set, read_heldout
from opensearch_sparse.training.schedule import FlopsWarmupCallback, QuadraticWarmup
from opensearch_sparse.training.student import SparseScorer, build_student, load_student
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


def _train(config: TrainConfig, ctx: DistContext) -> TrainResult:
    seed_everything(config.seed)
    output = Path(config.output_dir)
    if ctx.is_main:
        prepare_training_set(config.data, config.seed)
    ctx.barrier()
    set_dir = Path(config.data.set_dir)
    train_set = TrainingSet.load(set_dir)
    labels = torch.from_numpy(_labels(config, train_set, set_dir, ctx))
    heldout = read_heldout(set_dir)

    checkpoint = _latest_checkpoint(output)
    idf = _idf(config)
    if checkpoint is not None:
        model = load_student(checkpoint / "model", max_len=config.max_len, device=ctx.device)
    else:
        model = build_student(config.model, idf=idf, max_len=config.max_len, device=ctx.device)
    scorer = SparseScorer(model).to(ctx.device)
    loss = DistillationLoss(scorer, RANKING_LOSSES[config.loss](), flops_weight=0.0)
    callback = FlopsWarmupCallback(
        loss, QuadraticWarmup(config.flops_lambda, config.flops_warmup_steps)
    )
    runner: torch.nn.Module = DistributedDataParallel(loss) if ctx.distributed else loss
    params = [p for p in scorer.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps)

    step, history = 0, []
    if checkpoint is not None:
        state = torch.load(checkpoint / STATE_FILE, weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        step, history = state["step"], state["history"]
        logger.info("resumed from %s at step %d", checkpoint, step)

    use_bf16 = config.bf16 and ctx.device.startswith("cuda")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16)
    order = _Order(len(train_set.examples), config.seed)
    per_step = config.batch_size * ctx.world_size * config.grad_accum
    bar = tqdm(total=config.max_steps, initial=step, disable=not ctx.is_main, desc="train")
    started = time.perf_counter()
    while step < config.max_steps:
        scorer.train()  # evaluation and saving may leave modules in eval mode
        callback.on_step_begin(step)
        parts = {"ranking": 0.0, "flops": 0.0}
        for micro in range(config.grad_accum):
            first = step * per_step + (micro * ctx.world_size + ctx.rank) * config.batch_size
            batch = [order[i] for i in range(first, first + config.batch_size)]
            examples = [train_set.examples[i] for i in batch]
            sync = micro == config.grad_accum - 1 or not ctx.distributed
            with contextlib.nullcontext() if sync else runner.no_sync(), autocast:
                terms = runner(
                    [e.query for e in examples],
                    [train_set.documents(e) for e in examples],
                    labels[batch],
                )
                (sum(terms.values()) / config.grad_accum).backward()
            for name, value in terms.items():
                parts[name] += float(value.detach()) / config.grad_accum
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        record = {
            "step": step,
            **parts,
            "doc_length": loss.last_doc_length,
            "flops_weight": loss.flops_weight,
            "lr": scheduler.get_last_lr()[0],
        }
        if ctx.is_main and step % config.log_every == 0:
            bar.set_postfix(
                rank=f"{parts['ranking']:.3f}",
                flops=f"{parts['flops']:.3f}",
                doc_len=f"{loss.last_doc_length:.0f}",
            )
        bar.update(1)
        if ctx.is_main and heldout and config.eval_every and step % config.eval_every == 0:
            record.update({f"eval_{k}": v for k, v in evaluate_heldout(scorer, heldout).items()})
            logger.info("step %d: %s", step, record)
        history.append(record)
        if config.save_every and step % config.save_every == 0 and step < config.max_steps:
            if ctx.is_main:
                _save_checkpoint(
                    output, step, model, optimizer, scheduler, history, config.keep_checkpoints
                )
            ctx.barrier()
    bar.close()
    seconds = time.perf_counter() - started
    final = output / "model"
    if ctx.is_main:
        model.save(str(final))
        log = {
            "config": config.to_dict(),
            "steps": step,
            "train_seconds": seconds,
            "world_size": ctx.world_size,
            "device": ctx.device,
            "history": history,
        }
        (output / "train_log.json").write_text(json.dumps(log, indent=1))
    ctx.barrier()
    return TrainResult(final, step, seconds, history)


def _labels(
    config: TrainConfig, train_set: TrainingSet, set_dir: Path, ctx: DistContext
) -> np.ndarray:
    """Aggregated teacher targets; the main process fills the cache, the others read it."""
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
    return aggregate(raw, weights, scale=config.scale, normalise=config.normalise)


def _idf(config: TrainConfig) -> IdfTable | None:
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


def _save_checkpoint(output, step, model, optimizer, scheduler, history, keep) -> None:
    folder = output / "checkpoints" / f"step-{step:07d}"
    model.save(str(folder / "model"))
    state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "step": step,
        "history": history,
    }
    torch.save(state, folder / STATE_FILE)  # written last: its presence marks a complete one
    for old in sorted((output / "checkpoints").glob("step-*"))[:-keep]:
        shutil.rmtree(old)
