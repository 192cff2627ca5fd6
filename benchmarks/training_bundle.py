"""Prepare what training runs read, once: the general IDF table and the mined training set.

General IDF = every non-evaluation text at hand (Debian descriptions, PyPI summaries, MedQuAD
answers), tokenized with the student's tokenizer. The training set = MedQuAD pairs (minus a
held-out slice) + Debian title -> description pairs, BM25 negatives. With ``--device-copy`` it
also writes fp16 copies of the two models and trimmed evaluation sets, so one folder (ignored
by git) can travel to a GPU machine that has no ../shared.

    python benchmarks/training_bundle.py --out .train_bundle [--device-copy]
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

from opensearch_sparse.corpus import read_corpus
from opensearch_sparse.idf import IdfTable
from opensearch_sparse.query_encoder import load_tokenizer
from opensearch_sparse.training.config import DataConfig
from opensearch_sparse.training.data import read_pairs
from opensearch_sparse.training.prepare import prepare_training_set

SHARED = Path(__file__).resolve().parents[2] / "shared"
EVAL_SETS = ("cranfield", "nfcorpus", "dbpedia-5k", "msmarco-dl19-5k")
#: Evaluation documents are encoded at 256 tokens; 2,000 characters always covers that.
EVAL_MAX_CHARS = 2000


def general_texts(shared: Path) -> Iterator[str]:
    for name in ("debian-descriptions", "pypi-summaries"):
        for doc in read_corpus(shared / "data" / "scale" / f"{name}.jsonl.gz"):
            yield doc.content
    for pair in read_pairs(shared / "data" / "train" / "medquad-pairs.jsonl.gz"):
        yield pair.positive


def data_config(out: Path, shared: Path) -> DataConfig:
    return DataConfig(
        set_dir=str(out / "set"),
        pairs=[str(shared / "data" / "train" / "medquad-pairs.jsonl.gz")],
        corpora=[str(shared / "data" / "scale" / "debian-descriptions.jsonl.gz")],
        source_limit=20000,
        heldout=500,
        negatives=7,
        depth=30,
        max_chars=800,
    )


def copy_models(out: Path, shared: Path) -> None:
    """fp16 weights halve the bytes that travel; the GPU side loads them back as float32."""
    import torch
    from safetensors.torch import load_file, save_file

    for name in ("splade-tiny", "all-MiniLM-L6-v2"):
        source, target = shared / "models" / name, out / "models" / name
        shutil.copytree(source, target, dirs_exist_ok=True)
        weights = load_file(source / "model.safetensors")
        half = {k: v.to(torch.float16).contiguous() for k, v in weights.items()}
        save_file(half, target / "model.safetensors", metadata={"format": "pt"})


def copy_eval_sets(out: Path, shared: Path) -> None:
    for name in EVAL_SETS:
        source, target = shared / "data" / name, out / "eval" / name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / "queries.jsonl", target / "queries.jsonl")
        with gzip.open(target / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
            for doc in read_corpus(source):
                row = {"_id": doc.doc_id, "title": doc.title, "text": doc.text[:EVAL_MAX_CHARS]}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".train_bundle"))
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--device-copy", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    out: Path = args.out
    idf_path = out / "idf-general.json"
    if not idf_path.is_file():
        tokenizer = load_tokenizer(args.shared / "models" / "splade-tiny")
        IdfTable.build(general_texts(args.shared), tokenizer).save(idf_path)
    prepare_training_set(data_config(out, args.shared), seed=13)
    if args.device_copy:
        copy_models(out, args.shared)
        copy_eval_sets(out, args.shared)


if __name__ == "__main__":
    main()
