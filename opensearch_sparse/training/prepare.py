"""Build the training set a config names: pairs + title->text pairs, held-out split, mining.

Held-out queries (and their positives) come out of the real pairs before mining, so the
periodic evaluation measures queries the student never saw. Evaluation collections (cranfield,
nfcorpus, dbpedia, msmarco) are never inputs here: only training pairs and plain corpora.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

from opensearch_sparse.training.config import DataConfig
from opensearch_sparse.training.data import (
    Pair,
    TrainingSet,
    merge,
    mine_hard_negatives,
    read_jsonl,
    read_pairs,
    split_heldout,
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
    for index, path in enumerate(config.pairs):
        pairs = read_pairs(Path(path))
        if index == 0 and config.heldout:
            pairs, heldout = split_heldout(pairs, config.heldout, seed)
        parts.append(_mine(pairs[: config.source_limit], config))
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


def _mine(pairs: list[Pair], config: DataConfig) -> TrainingSet:
    return mine_hard_negatives(
        pairs, negatives=config.negatives, depth=config.depth, max_chars=config.max_chars
    )
