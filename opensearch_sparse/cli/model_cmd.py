"""`opensearch-sparse model register | register-tokenizer | deploy | list | undeploy | delete`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click

from opensearch_sparse.cli import output
from opensearch_sparse.cli.common import connect, connection_options
from opensearch_sparse.mlcommons import MLCommons
from opensearch_sparse.model_package import ModelPackage, package_tokenizer_model, resolve_zip


def _ml(**conn: Any) -> MLCommons:
    return MLCommons(connect(**conn))


@click.group("model")
def model() -> None:
    """Register and deploy sparse encoders in ml-commons."""


@model.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Model name (default: from the package)")
@click.option("--group", default="opensearch-sparse", show_default=True, help="Model group")
@click.option("--deploy/--no-deploy", default=True, show_default=True)
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Deploy timeout (s)")
@click.option(
    "--apply-test-settings",
    is_flag=True,
    help="Persistently allow local-file models, ML on every node and lift ml-commons' memory "
    "and disk breakers (each change is printed). For test clusters only: the embedded node "
    "already has them, and a production cluster should keep its breakers",
)
@connection_options
def register(
    model_path: Path,
    name: str | None,
    group: str,
    deploy: bool,
    timeout: float,
    apply_test_settings: bool,
    **conn: Any,
) -> None:
    """Register MODEL: an exported zip or folder, or a checkpoint (exported on the fly).

    Reused when the same zip is already registered and healthy (matched by sha256)."""
    ml = _ml(**conn)
    if apply_test_settings:
        for key, (old, new) in ml.apply_settings().items():
            output.info(f"changed cluster setting {key}: {old} -> {new}")
    with (
        tempfile.TemporaryDirectory() as workdir,
        output.spinner(f"registering {model_path.name}") as progress,
    ):
        pkg = ModelPackage.open(resolve_zip(model_path, Path(workdir)))
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
    with output.spinner(f"deleting {model_id}") as progress:
        MLCommons(connect(**conn)).delete(model_id, progress=progress)
    output.info(f"deleted {model_id}")
