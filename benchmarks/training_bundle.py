"""What training needs that is not in the repo, made once: the general IDF table, and the folder
that carries a prepared run to the GPU machine (which has no ../shared and no network).

``idf``: the general IDF table = every non-evaluation text at hand (Debian descriptions, PyPI
summaries, MedQuAD answers), tokenized with the student's tokenizer (the shipped ``idf.json``).

``device CONFIG``: the training set CONFIG prepared and the raw teacher scores it cached (run
the config on the CPU first, even for one step: scoring is its slow part), splade-tiny in fp16
(half the bytes; loaded back as float32), and the evaluation sets with documents cut at 2,000
characters (256 tokens never need more). Of the judgements only the dev set's travel, so
nothing on the GPU machine can choose on a set the report shows.

    python benchmarks/training_bundle.py idf --out .train_bundle/idf-general.json
    python benchmarks/training_bundle.py device configs/train-cpu.yaml --out .train_bundle/device
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEV_SET, EVAL_SETS, SHARED

from opensearch_sparse.corpus import read_corpus
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.query_encoder import load_tokenizer
from opensearch_sparse.training.config import TrainConfig
from opensearch_sparse.training.data import fingerprint, read_pairs
from opensearch_sparse.training.teacher_cache import cache_path

#: Evaluation documents are encoded at 256 tokens; 2,000 characters always covers that.
EVAL_MAX_CHARS = 2000


def general_texts(shared: Path) -> Iterator[str]:
    for name in ("debian-descriptions", "pypi-summaries"):
        for doc in read_corpus(shared / "data" / "scale" / f"{name}.jsonl.gz"):
            yield doc.content
    for pair in read_pairs(shared / "data" / "train" / "medquad-pairs.jsonl.gz"):
        yield pair.positive


def copy_training_set(config: TrainConfig, out: Path) -> None:
    """The prepared set byte for byte (teacher caches are keyed by its digest) and its scores."""
    set_dir, cache_dir = Path(config.data.set_dir), Path(config.cache_dir)
    if not (set_dir / "examples.jsonl.gz").is_file():
        raise SystemExit(f"{set_dir} holds no prepared set: run the config once on this machine")
    shutil.copytree(set_dir, out / "set", dirs_exist_ok=True)
    digest = fingerprint(set_dir)
    for teacher in config.teachers:
        scores = cache_path(cache_dir, digest, teacher, config.teacher_max_len)
        if not scores.is_file():
            raise SystemExit(f"no cached {teacher.kind} teacher scores for {set_dir}: {scores}")
        (out / "cache").mkdir(parents=True, exist_ok=True)
        shutil.copy(scores, out / "cache" / scores.name)


def copy_student(model: Path, out: Path) -> None:
    """The starting checkpoint in fp16; the GPU side trains it in float32."""
    import torch
    from safetensors.torch import load_file, save_file

    target = out / "models" / model.name
    shutil.copytree(model, target, dirs_exist_ok=True)
    weights = load_file(model / "model.safetensors")
    half = {k: v.to(torch.float16).contiguous() for k, v in weights.items()}
    save_file(half, target / "model.safetensors", metadata={"format": "pt"})


def copy_eval_sets(out: Path, shared: Path) -> None:
    for name in EVAL_SETS:
        source, target = shared / "data" / name, out / "eval" / name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / "queries.jsonl", target / "queries.jsonl")
        if name == DEV_SET:
            shutil.copytree(source / "qrels", target / "qrels", dirs_exist_ok=True)
        with gzip.open(target / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
            for doc in read_corpus(source):
                row = {"_id": doc.doc_id, "title": doc.title, "text": doc.text[:EVAL_MAX_CHARS]}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["idf", "device"])
    parser.add_argument("config", type=Path, nargs="?", help="device: the prepared CPU config")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shared", type=Path, default=SHARED)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.what == "idf":
        tokenizer = load_tokenizer(args.shared / "models" / "splade-tiny")
        IdfTable.build(general_texts(args.shared), tokenizer).save(args.out)
        return
    if args.config is None:
        parser.error("device needs the CONFIG whose prepared set travels")
    config = TrainConfig.load(args.config)
    copy_training_set(config, args.out)
    copy_student(Path(config.model).expanduser(), args.out)
    copy_eval_sets(args.out, args.shared)


if __name__ == "__main__":
    main()
