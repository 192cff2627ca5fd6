"""What training needs that is not in the repo, made once: the general IDF table, and the folder
that carries a prepared run to the GPU machine (which has no ../shared and no network).

``idf``: the general IDF table = every non-evaluation text at hand (Debian descriptions, PyPI
summaries, MedQuAD answers), tokenized with the student's tokenizer (the shipped ``idf.json``).

``device CONFIG``: the training set CONFIG prepared and the raw teacher scores it cached (run
the config on the CPU first, even for one step: scoring is its slow part), the starting model in
fp16 (half the bytes; loaded back as float32), and the evaluation sets with documents cut at
2,000 characters (256 tokens never need more). Of the judgements only the dev set's travel, so
nothing on the GPU machine can choose on a set the report shows.

Everything that travels to the GPU machine, the repo included, must fit in 64 MiB. A start
larger than splade-tiny (the MiniLM graft: 45 MB in fp16) only fits with ``--int8-embeddings``:
its word-embedding matrix (half its weights, tied to the MLM decoder) travels as int8 with one
scale per row, 0.4% relative error at most, and ``unpack_models`` restores float32 there before
anything loads it.

    python benchmarks/training_bundle.py idf --out .train_bundle/idf-general.json
    python benchmarks/training_bundle.py device configs/train-cpu.yaml --out .train_bundle/device
    python benchmarks/training_bundle.py device configs/train-large-minilm.yaml \
        --out .train_bundle/device-minilm --int8-embeddings
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


#: The tensor ``--int8-embeddings`` packs, and the suffix of its per-row scales.
EMBEDDINGS = "bert.embeddings.word_embeddings.weight"
SCALE = ".int8_scale"


def copy_student(model: Path, out: Path, *, int8_embeddings: bool = False) -> None:
    """The starting checkpoint in fp16 (word embeddings in int8 if asked); the GPU side trains
    it in float32."""
    import torch
    from safetensors.torch import load_file, save_file

    target = out / "models" / model.name
    shutil.copytree(model, target, dirs_exist_ok=True)
    weights = load_file(model / "model.safetensors")
    packed = {k: v.to(torch.float16).contiguous() for k, v in weights.items()}
    if int8_embeddings:
        rows = weights[EMBEDDINGS].float()
        scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
        packed[EMBEDDINGS] = torch.round(rows / scale).to(torch.int8).contiguous()
        packed[EMBEDDINGS + SCALE] = scale.contiguous()
    save_file(packed, target / "model.safetensors", metadata={"format": "pt"})


def unpack_models(bundle: Path) -> list[Path]:
    """Restore every packed start under ``bundle/models`` to float32 in place (the GPU machine
    runs this before loading one); returns the folders it changed."""
    import torch
    from safetensors.torch import load_file, save_file

    changed = []
    for weights_file in sorted((bundle / "models").glob("*/model.safetensors")):
        weights = load_file(weights_file)
        if EMBEDDINGS + SCALE not in weights:
            continue
        scale = weights.pop(EMBEDDINGS + SCALE)
        weights[EMBEDDINGS] = weights[EMBEDDINGS].float() * scale
        full = {k: v.to(torch.float32).contiguous() for k, v in weights.items()}
        save_file(full, weights_file, metadata={"format": "pt"})
        changed.append(weights_file.parent)
    return changed


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
    parser.add_argument(
        "--int8-embeddings",
        action="store_true",
        help="device: the start's word embeddings as int8 (a start larger than splade-tiny)",
    )
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
    copy_student(Path(config.model).expanduser(), args.out, int8_embeddings=args.int8_embeddings)
    copy_eval_sets(args.out, args.shared)


if __name__ == "__main__":
    main()
