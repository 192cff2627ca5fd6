"""Shared helpers (no tests): a tiny training set and config, seconds on two CPU cores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opensearch_sparse.training.data import Example, TrainingSet, write_jsonl
from opensearch_sparse.training.prepare import HELDOUT_FILE

TEXTS = [
    "aspirin relieves headache and reduces fever",
    "the debian package provides a command line text editor",
    "insulin regulates blood sugar in diabetes",
    "a python library for parsing json files quickly",
    "vitamin d deficiency weakens bones",
    "the kernel module drives the wireless network card",
]
EXAMPLES = [
    Example("what relieves a headache", (0, 1, 3)),
    Example("text editor package", (1, 0, 5)),
    Example("how is blood sugar controlled", (2, 4, 3)),
    Example("parse json in python", (3, 1, 2)),
]


def make_config(model: Path, tmp: Path, **overrides: Any) -> dict[str, Any]:
    """A config training ``model`` (the tiny test checkpoint) with itself as the sparse teacher."""
    set_dir = tmp / "set"
    if not (set_dir / HELDOUT_FILE).is_file():
        TrainingSet(TEXTS, EXAMPLES).save(set_dir)
        rows = [
            {"query": "weak bones vitamin", "positive": TEXTS[4]},
            {"query": "wireless network driver", "positive": TEXTS[5]},
        ]
        write_jsonl(set_dir / HELDOUT_FILE, rows)
    config: dict[str, Any] = {
        "model": str(model),
        "output_dir": str(tmp / "run"),
        "cache_dir": str(tmp / "cache"),
        "idf": None,
        "idf_aware": False,
        "data": {"set_dir": str(set_dir)},
        "teachers": [{"kind": "sparse", "path": str(model)}],
        "scale": 10.0,
        "flops_lambda": 0.01,
        "flops_warmup_steps": 4,
        "max_steps": 8,
        "batch_size": 2,
        "lr": 3e-4,
        "warmup_steps": 0,
        "max_len": 24,
        "eval_every": 0,
        "save_every": 0,
        "log_every": 1,
        "device": "cpu",
    }
    config.update(overrides)
    return config
