"""`opensearch-sparse model register | deploy | list | undeploy | delete`, and `export`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import click

from opensearch_sparse.cli import output
from opensearch_sparse.cli.common import connect, connection_options
from opensearch_sparse.errors import SparseError
from opensearch_sparse.mlcommons import MLCommons, ModelPackage
from opensearch_sparse.models import default_model_dir
from opensearch_sparse.packaging import package_exported_folder, package_tokenizer_model


def _ml(**conn: Any) -> MLCommons:
    ml = MLCommons(connect(**conn))
    changed = ml.apply_settings()
    for key, value in changed.items():
        output.info(f"cluster setting {key} = {value}")
    return ml


@click.group("model")
def model() -> None:
    """Register and deploy sparse encoders in ml-commons."""


@model.command()
@click.argument("package", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Model name (default: from the package)")
@click.option("--group", default="opensearch-sparse", show_default=True, help="Model group")
@click.option("--deploy/--no-deploy", default=True, show_default=True)
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Deploy timeout (s)")
@connection_options
def register(
    package: Path, name: str | None, group: str, deploy: bool, timeout: float, **conn: Any
) -> None:
    """Register an exported zip (reused when the same zip is already registered)."""
    ml = _ml(**conn)
    pkg = ModelPackage.open(package)
    with output.spinner(f"registering {package.name}") as progress:
        model_id, reused = ml.register(pkg, group=group, name=name, progress=progress)
    output.info(("reusing" if reused else "registered") + f" model {model_id} ({pkg.model_format})")
    if deploy:
        with output.spinner(f"deploying {model_id}") as progress:
            ml.deploy(model_id, timeout_s=timeout, progress=progress)
        output.info(f"deployed {model_id}")
    click.echo(model_id)


@model.command("register-tokenizer")
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Exported zip or model folder whose tokenizer.json to use",
)
@click.option("--idf", "idf_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("query-tokenizer.zip"),
    show_default=True,
    help="Where to write the SPARSE_TOKENIZE zip",
)
@connection_options
def register_tokenizer(model_path: Path, idf_path: Path, out: Path, **conn: Any) -> None:
    """Package tokenizer.json + idf.json as a SPARSE_TOKENIZE model, register and deploy it,
    so `neural_sparse` can take query_text + model_id (see `search --server-encode`)."""
    ml = _ml(**conn)
    pkg = ModelPackage.open(package_tokenizer_model(model_path, idf_path, out))
    model_id, reused = ml.register(pkg, name=f"{out.stem}-sparse-tokenize")
    ml.deploy(model_id)
    output.info(("reusing" if reused else "registered") + f" and deployed tokenizer {model_id}")
    click.echo(model_id)


@model.command()
@click.argument("model_id")
@click.option("--timeout", type=float, default=600.0, show_default=True)
@connection_options
def deploy(model_id: str, timeout: float, **conn: Any) -> None:
    """Deploy a registered model and wait for it."""
    ml = _ml(**conn)
    with output.spinner(f"deploying {model_id}") as progress:
        ml.deploy(model_id, timeout_s=timeout, progress=progress)
    output.info(f"deployed {model_id}")


@model.command("list")
@click.option("--json", "as_json", is_flag=True)
@connection_options
def list_models(as_json: bool, **conn: Any) -> None:
    """Registered models with their state."""
    models = MLCommons(connect(**conn)).list()
    if as_json:
        output.emit_json([m.__dict__ for m in models])
        return
    for m in models:
        click.echo(f"{m.model_id}  {m.state:<12} {m.model_format:<12} {m.name}")
    if not models:
        output.info("no models registered")


@model.command()
@click.argument("model_id")
@connection_options
def undeploy(model_id: str, **conn: Any) -> None:
    """Free the model's memory on the nodes; it stays registered."""
    MLCommons(connect(**conn)).undeploy(model_id)
    output.info(f"undeployed {model_id}")


@model.command()
@click.argument("model_id")
@connection_options
def delete(model_id: str, **conn: Any) -> None:
    """Undeploy if needed, then delete the model."""
    MLCommons(connect(**conn)).delete(model_id)
    output.info(f"deleted {model_id}")


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
    click.echo(str(export_checkpoint(model_dir, out_dir, fmt, prune_ratio)))


def export_checkpoint(model_dir: Path, out_dir: Path, fmt: str, prune_ratio: float = 0.0) -> Path:
    """Export with a spinner and the parity summary; a clear error when torch is missing."""
    try:
        from model_export import package
        from model_export.package import Format
    except ImportError as exc:
        raise SparseError(
            f"exporting {model_dir} needs torch and transformers ({exc.name} is missing)",
            "pip install 'opensearch-sparse[train]', or pass an exported model",
        ) from exc
    with output.spinner(f"exporting {model_dir} to {fmt}"):
        result = package(model_dir, out_dir, fmt=cast(Format, fmt), prune_ratio=prune_ratio)
    output.info(result.summary())
    return result.zip_path


def model_zip(model: Path, workdir: Path) -> Path:
    """An ml-commons zip from an exported zip, an exported folder, or a checkpoint folder
    (exported to ONNX in ``workdir``)."""
    if model.is_file() and model.suffix == ".zip":
        return model
    if (model / "model.onnx").is_file() or (model / "model.pt").is_file():
        return package_exported_folder(model, workdir / f"{model.name}.zip")
    if (model / "config.json").is_file():
        return export_checkpoint(model, workdir, "onnx")
    raise SparseError(f"{model} is not a model", "pass an exported zip or model folder")
