"""The FLOPS weight warm-up: ``lambda(step) = lambda * min(1, (step / T) ** 2)``.

Starting the regulariser at full strength would zero most document weights before the ranking
loss has shaped them; the quadratic ramp lets ranking lead early and sparsity win late. Kept as
a callback that sets the loss's weight before each optimizer step, as sentence-transformers'
``SpladeRegularizerWeightSchedulerCallback`` does inside its Trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

from opensearch_sparse.training.losses import DistillationLoss


@dataclass(frozen=True)
class QuadraticWarmup:
    peak: float
    warmup_steps: int

    def __call__(self, step: int) -> float:
        if self.warmup_steps <= 0:
            return self.peak
        return self.peak * min(1.0, (step / self.warmup_steps) ** 2)


class FlopsWarmupCallback:
    """``on_step_begin(step)`` sets ``loss.flops_weight`` from the schedule."""

    def __init__(self, loss: DistillationLoss, schedule: QuadraticWarmup) -> None:
        self.loss = loss
        self.schedule = schedule

    def on_step_begin(self, step: int) -> None:
        self.loss.flops_weight = self.schedule(step)
