"""Build the training set a config names: pairs + title->text pairs, held-out split, mining.

Held-out queries (and their positives) come out of the real pairs before mining, so the
periodic evaluation measures queries the student never saw. Evaluation collections (cranfield,
nfcorpus, dbpedia, msmarco) are never inputs here: only training pairs and plain corpora.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

from opensearch_sparse.training.config import DataConfig
from opensearch_sparse.training.data import (
    Pair,
    TrainingSet,
    dedupe_pairs,
    merge,
    mine_hard_negatives,
    read_jsonl,
    read_pairs,
    split_heldout,
    split_heldout_by_positive,
    title_text_pairs,
    write_jsonl,
)

logger = logging.getLogger(__name__)

HELDOUT_FILE = "heldout.jsonl.gz"


def prepare_training_set(config: DataConfig, seed: int) -> Path:
    """Write ``config.set_dir`` (texts, examples, held-out pairs) unless it already exists."""
    folder = Path(config.set_dir)
    if (folder / HELDOUT_FILE).is_file():
        return folder
    parts: list[TrainingSet] = []
    heldout: list[Pair] = []
    for index, spec in enumerate(config.pairs):
        path, source, limit = _source(spec, config.source_limit)
        pairs = read_pairs(Path(path), source=source)
        if config.per_positive:
            random.Random(seed).shuffle(pairs)
            pairs = dedupe_pairs(pairs, per_positive=config.per_positive)
        if config.heldout_per_source:
            pairs, held = split_heldout_by_positive(pairs, config.heldout_per_source, seed)
            heldout.extend(held)
        elif index == 0 and config.heldout:
            pairs, heldout = split_heldout(pairs, config.heldout, seed)
        part = _mine(pairs[:limit], config)
        logger.info("%s%s: %d examples", path, f" [{source}]" if source else "", len(part.examples))
        parts.append(part)
    for path in config.corpora:
        pairs = title_text_pairs(Path(path))
        random.Random(seed).shuffle(pairs)
        parts.append(_mine(pairs[: config.source_limit], config))
    merged = merge(parts)
    merged.save(folder)
    rows = ({"query": p.query, "positive": p.positive[: config.max_chars]} for p in heldout)
    write_jsonl(folder / HELDOUT_FILE, rows)
    logger.info("training set: %d examples, %d texts", len(merged.examples), len(merged.texts))
    return folder


def read_heldout(folder: Path) -> list[Pair]:
    path = Path(folder) / HELDOUT_FILE
    if not path.is_file():
        return []
    return [Pair(r["query"], r["positive"]) for r in read_jsonl(path)]


def _source(spec: str | dict[str, Any], default_limit: int) -> tuple[str, str | None, int]:
    if isinstance(spec, str):
        return spec, None, default_limit
    return str(spec["path"]), spec.get("source"), int(spec.get("limit", default_limit))


def _mine(pairs: list[Pair], config: DataConfig) -> TrainingSet:
    return mine_hard_negatives(
        pairs,
        negatives=config.negatives + config.spare_negatives,
        depth=config.depth,
        max_chars=config.max_chars,
        positive_top_k=config.positive_top_k,
    )
