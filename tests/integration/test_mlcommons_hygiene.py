"""ml-commons hygiene on the real node: an upload cut off half way is never reused, and
``model register`` changes cluster settings only when asked, printing each change."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from opensearch_sparse.cluster import install
from opensearch_sparse.mlcommons import CHUNK_BYTES, MLCommons, ModelNotFoundError
from opensearch_sparse.model_package import ModelPackage


def _variant(zip_path: Path, tmp_path: Path) -> ModelPackage:
    """The same model with other bytes (a random zip comment), so its hash is new to the
    cluster: the test node's data outlives a test run, and ``tmp_path``'s name repeats."""
    copy = tmp_path / "variant.zip"
    shutil.copy(zip_path, copy)
    with zipfile.ZipFile(copy, "a") as archive:
        archive.comment = uuid.uuid4().hex.encode()
    return ModelPackage.open(copy)


def test_a_cut_off_upload_is_deleted_not_reused(
    ml: MLCommons, onnx_zip: Path, tmp_path: Path
) -> None:
    package = _variant(onnx_zip, tmp_path)
    assert package.size > CHUNK_BYTES  # at least two chunks, so one can be missing
    meta = ml.ml.register_model_meta(
        body={
            "name": "cut-off",
            "version": "1",
            "model_group_id": ml.model_group("opensearch-sparse"),
            "function_name": package.function_name,
            "model_format": package.model_format,
            "model_content_size_in_bytes": package.size,
            "model_content_hash_value": package.sha256,
            "total_chunks": 2,
        }
    )
    stale = str(meta["model_id"])
    with package.path.open("rb") as handle:  # chunk 0 only: the client died here
        ml.ml.upload_chunk(
            model_id=stale,
            chunk_number=0,
            body=handle.read(CHUNK_BYTES),
            headers={"Content-Type": "application/json"},
        )
    assert ml.get(stale).state == "REGISTERING"
    assert ml.stale_by_hash(package.sha256) == [stale]
    model_id, reused = ml.register(package)
    try:
        assert (reused, model_id != stale) == (False, True)
        with pytest.raises(ModelNotFoundError):
            ml.get(stale)
        # ml-commons completes a registration after the last chunk, asynchronously:
        # register returns only once it has, so a second run reuses it at once.
        assert ml.get(model_id).state == "REGISTERED"
        assert ml.register(package) == (model_id, True)
    finally:
        for leftover in {model_id, *ml.stale_by_hash(package.sha256)}:
            ml.delete(leftover)


def test_register_changes_no_cluster_setting_unless_asked(
    local_cluster: Any, onnx_zip: Path
) -> None:
    client = local_cluster.client()
    key = "plugins.ml_commons.jvm_heap_memory_threshold"
    client.cluster.put_settings(body={"persistent": {key: "90"}})
    try:
        base = [sys.executable, "-m", "opensearch_sparse", "model", "register", str(onnx_zip)]
        conn = ["--no-deploy", "--url", local_cluster.url]
        plain = subprocess.run([*base, *conn], capture_output=True, text=True, timeout=600)
        assert plain.returncode == 0, plain.stderr
        settings = client.cluster.get_settings(flat_settings=True)["persistent"]
        assert settings[key] == "90"
        asked = subprocess.run(
            [*base, *conn, "--apply-test-settings"], capture_output=True, text=True, timeout=600
        )
        assert asked.returncode == 0, asked.stderr
        assert f"changed cluster setting {key}: 90 -> 100" in asked.stderr
        assert client.cluster.get_settings(flat_settings=True)["persistent"][key] == "100"
    finally:
        client.cluster.put_settings(body={"persistent": {key: None}})


def test_a_stale_download_on_the_node_does_not_fail_the_deploy(
    local_cluster: Any, ml: MLCommons, onnx_zip: Path, tmp_path: Path
) -> None:
    """ml-commons appends a model's chunks to ``deploy/<id>/<name>.zip``: a zip left there by a
    deploy that a node stop cut off made the next deploy fail with "model content changed"
    (the 3-node test cluster in CI). The deploy now asks again, and the node deletes its copy
    on that failure, so the second download is clean."""
    if local_cluster.local is None:
        pytest.skip("needs the embedded node's data folder")
    package = _variant(onnx_zip, tmp_path)
    model_id, _ = ml.register(package)
    try:
        scratch = install.deploy_scratch(local_cluster.local.node_dir)
        stale = scratch / model_id / f"{package.name}.zip"
        stale.parent.mkdir(parents=True)
        stale.write_bytes(b"the first half of an earlier download")
        owner = install.service_user()
        if owner:  # the node runs as this user and must be able to delete the file
            install.chown_tree(scratch.parent, *owner)  # models_cache: mkdir may have made it
        messages: list[str] = []
        ml.deploy(model_id, progress=messages.append)
        assert any("stale download" in m for m in messages), messages  # the bug was hit
        assert ml.get(model_id).state == "DEPLOYED"
        assert ml.predict_sparse(model_id, ["stale downloads"])[0]
    finally:
        ml.delete(model_id)


def test_a_deploy_beside_another_ends_with_the_model_deployed(
    ml: MLCommons, onnx_zip: Path, tmp_path: Path
) -> None:
    """ml-commons redeploys models by itself; on the 3-node test cluster such a redeploy lost
    the race to the product's deploy and marked the model DEPLOY_FAILED after the product's
    task had completed on every node. A deploy now returns only once no other deploy of the
    model runs and the model says DEPLOYED (it asks again otherwise)."""
    package = _variant(onnx_zip, tmp_path)
    model_id, _ = ml.register(package)
    try:
        for _ in range(3):  # the order in which the two deploys end varies
            other = str(ml.ml.deploy_model(model_id=model_id)["task_id"])
            ml.deploy(model_id)
            assert ml.ml.get_task(task_id=other)["state"] not in ("CREATED", "RUNNING")
            assert ml.get(model_id).state == "DEPLOYED"
            ml.undeploy(model_id)
        assert ml.get(model_id).state == "UNDEPLOYED"
    finally:
        ml.delete(model_id)


def _stuck_task(client: Any, model_id: str, function_name: str, created_ms: int) -> str:
    """A deploy task left RUNNING, written straight into ml-commons' task index as a node
    killed under it leaves it; returns its id."""
    doc = client.index(
        index=".plugins-ml-task",
        body={
            "model_id": model_id,
            "task_type": "DEPLOY_MODEL",
            "function_name": function_name,
            "state": "RUNNING",
            "is_async": True,
            "create_time": created_ms,
            "last_update_time": created_ms,
        },
        params={"refresh": "true"},
    )
    return str(doc["_id"])


@pytest.mark.parametrize("age_s", [3600, 0])
def test_a_deploy_task_left_running_does_not_hold_a_deploy_up(
    local_cluster: Any, ml: MLCommons, onnx_zip: Path, tmp_path: Path, age_s: int
) -> None:
    """ml-commons leaves a deploy task CREATED or RUNNING for good when a node dies under it
    (the 3-node test cluster kept such tasks from earlier runs; the crash-recovery node one
    from seconds before), and a deploy that waited for every running task of its model sat out
    its whole timeout. One from long before is not waited for at all; a recent one (it could
    be racing) for SETTLE_S at most."""
    package = _variant(onnx_zip, tmp_path)
    model_id, _ = ml.register(package)
    client = local_cluster.client()
    created = int(time.time() * 1000) - age_s * 1000
    stuck = _stuck_task(client, model_id, package.function_name, created)
    try:
        messages: list[str] = []
        started = time.monotonic()
        ml.deploy(model_id, progress=messages.append)
        assert ml.get(model_id).state == "DEPLOYED"
        waited = any("other deploys" in m for m in messages)
        assert waited == (age_s == 0), messages
        assert time.monotonic() - started < 120  # not the 600 s deploy timeout
    finally:
        client.delete(index=".plugins-ml-task", id=stuck, params={"refresh": "true"})
        ml.delete(model_id)
