"""Training inference-free sparse document encoders (torch only here).

The paper's method (``../shared/docs/method.md``): an IDF-aware ranking loss (the student
scores with frozen IDF query weights) plus FLOPS with a quadratic warm-up, distilled from a
min-max normalised ensemble of a dense and a sparse siamese teacher.
"""

from opensearch_sparse.training.config import DataConfig, TeacherConfig, TrainConfig
from opensearch_sparse.training.ensemble import aggregate, minmax_normalise
from opensearch_sparse.training.losses import (
    DistillationLoss,
    InfoNCELoss,
    ListwiseKLLoss,
    MarginMSELoss,
)
from opensearch_sparse.training.schedule import FlopsWarmupCallback, QuadraticWarmup
from opensearch_sparse.training.student import SparseScorer, build_student, load_student
from opensearch_sparse.training.trainer import TrainResult, train

__all__ = [
    "DataConfig",
    "DistillationLoss",
    "FlopsWarmupCallback",
    "InfoNCELoss",
    "ListwiseKLLoss",
    "MarginMSELoss",
    "QuadraticWarmup",
    "SparseScorer",
    "TeacherConfig",
    "TrainConfig",
    "TrainResult",
    "aggregate",
    "build_student",
    "load_student",
    "minmax_normalise",
    "train",
]
