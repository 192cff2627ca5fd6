"""`opensearch-sparse train CONFIG`: one training run (or its resumption) from a YAML/JSON file.

Thin on purpose: the config says everything, the library does the work. torch is imported
only when the command runs, so the CLI stays usable without the ``train`` extra. The same
command runs under ``torchrun --nproc-per-node N -m opensearch_sparse train CONFIG``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from opensearch_sparse.cli import output


@click.command("train")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--max-steps", type=int, default=None, help="Override the config's max_steps")
@click.option(
    "--seed",
    type=int,
    default=None,
    help="A replicate with this training seed, saved beside the config's output_dir",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON")
def train(config: Path, max_steps: int | None, seed: int | None, as_json: bool) -> None:
    """Train an inference-free sparse document encoder (IDF-aware FLOPS, teacher ensemble).

    Resumes from the newest checkpoint in the config's output_dir when there is one.
    """
    import dataclasses

    from opensearch_sparse.training.config import TrainConfig
    from opensearch_sparse.training.trainer import train as run_training

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = TrainConfig.load(config)
    if max_steps is not None:
        settings = dataclasses.replace(settings, max_steps=max_steps)
    if seed is not None:
        settings = settings.replicate(seed)
        output.info(f"seed {seed}: output in {settings.output_dir}")
    result = run_training(settings)
    summary = {
        "model_dir": str(result.model_dir),
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "last": result.history[-1] if result.history else {},
    }
    if as_json:
        output.emit_json(summary)
    else:
        seconds = summary["train_seconds"]
        output.info(f"saved {summary['model_dir']} after {result.steps} steps ({seconds} s)")
