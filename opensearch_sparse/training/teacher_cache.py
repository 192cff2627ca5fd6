"""Teacher scores are computed once per (training set bytes, teacher, length) and kept on disk.

Teacher inference is the most expensive step of a run on CPU, and every ablation (IDF on/off,
single teacher, no normalisation) reuses the same raw scores: only the aggregation differs.
So the raw scores of each teacher are cached separately, unnormalised.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from opensearch_sparse.training.config import TeacherConfig
from opensearch_sparse.training.data import TrainingSet
from opensearch_sparse.training.teachers import build_teacher

logger = logging.getLogger(__name__)


def cache_path(cache_dir: Path, set_fingerprint: str, teacher: TeacherConfig, max_len: int) -> Path:
    key = f"{set_fingerprint}|{teacher.kind}|{Path(teacher.path).name}|{max_len}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / f"teacher-{teacher.kind}-{digest}.npy"


def teacher_scores(
    train_set: TrainingSet,
    set_fingerprint: str,
    teacher: TeacherConfig,
    *,
    cache_dir: Path,
    max_len: int,
    batch_size: int,
    device: str,
) -> np.ndarray:
    """``[n_examples, docs_per_query]`` raw scores, from the cache when present."""
    path = cache_path(cache_dir, set_fingerprint, teacher, max_len)
    if path.is_file():
        return np.load(path)
    logger.info("scoring %d examples with the %s teacher", len(train_set.examples), teacher.kind)
    used = sorted({i for e in train_set.examples for i in e.doc_ids})
    position = {doc_id: row for row, doc_id in enumerate(used)}
    groups = np.array([[position[i] for i in e.doc_ids] for e in train_set.examples])
    model = build_teacher(teacher, max_len=max_len, batch_size=batch_size, device=device)
    scores = model.score(
        [e.query for e in train_set.examples], [train_set.texts[i] for i in used], groups
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(partial, scores)
    os.replace(partial, path)
    return scores
