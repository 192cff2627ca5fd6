"""`opensearch-sparse export`: a checkpoint (or the shipped encoder) to an ml-commons zip."""

from __future__ import annotations

from pathlib import Path

import click

from opensearch_sparse.cli import output
from opensearch_sparse.model_package import find_exporter, package_exported_folder
from opensearch_sparse.models import default_model_dir


@click.command()
@click.argument("model_dir", type=click.Path(path_type=Path), required=False)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option(
    "--format", "fmt", type=click.Choice(["onnx", "torchscript"]), default="onnx", show_default=True
)
@click.option("--prune-ratio", type=float, default=0.0, show_default=True)
def export(model_dir: Path | None, out_dir: Path, fmt: str, prune_ratio: float) -> None:
    """Export a masked-LM checkpoint MODEL_DIR to an ml-commons-ready zip (needs the [train]
    extra). Without MODEL_DIR, the shipped default encoder (already ONNX) is packaged as is."""
    if model_dir is None:
        if fmt != "onnx" or prune_ratio:
            raise click.UsageError("the shipped model is ONNX without pruning; pass MODEL_DIR")
        folder = default_model_dir()
        zip_path = package_exported_folder(folder, out_dir / "opensearch-sparse-default-onnx.zip")
        output.info(f"packaged the shipped encoder ({folder}) without re-exporting")
        click.echo(str(zip_path))
        return
    exporter = find_exporter()
    with output.spinner(f"exporting {model_dir} to {fmt}"):
        result = exporter(model_dir, out_dir, fmt=fmt, prune_ratio=prune_ratio)
    output.info(result.summary())
    click.echo(str(result.zip_path))
