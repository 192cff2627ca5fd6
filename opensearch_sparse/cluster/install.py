"""Assemble an OpenSearch home with the product's plugins, and lay out one node's files.

The distribution (shared by every local node of one version) lives in
``<home>/dist/opensearch-<version>``; each node has its own folder (config, data, logs) so that
several ports can run side by side and data survives reinstalls.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from opensearch_sparse import config
from opensearch_sparse.cluster.artifacts import MavenRepository, node_artifacts
from opensearch_sparse.cluster.java import JavaHome
from opensearch_sparse.cluster.layout import ClusterLayout
from opensearch_sparse.errors import ArtifactError, NodeStartError
from opensearch_sparse.progress import Status, quiet

logger = logging.getLogger(__name__)

MARKER = ".opensearch-sparse.json"


def dist_dir(home: Path, version: str) -> Path:
    return home / "dist" / f"opensearch-{version}"


def pytorch_dir_name() -> str:
    """The folder name DJL looks in: ml-commons forces the pre-cxx11 flavour on Linux."""
    return f"{config.PYTORCH_VERSION}-cpu-precxx11-linux-x86_64"


def is_installed(home: Path, version: str) -> bool:
    marker = dist_dir(home, version) / MARKER
    if not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text())
    except json.JSONDecodeError:
        return False
    return recorded.get("version") == version and recorded.get("plugins") == list(config.PLUGINS)


def install(home: Path, version: str, java: JavaHome, progress: Status = quiet) -> Path:
    """Download (once) and assemble the distribution; a no-op when it is already complete."""
    target = dist_dir(home, version)
    if is_installed(home, version):
        return target
    repo = MavenRepository(home / "m2")
    arts = node_artifacts(version)
    files: dict[str, Path] = {}
    for i, (name, art) in enumerate(arts.items(), 1):
        progress(f"artifact {i}/{len(arts)}: {art.coordinates}")
        files[name] = repo.fetch(art)

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".install-", dir=target.parent))
    try:
        progress(f"unpacking OpenSearch {version}")
        with zipfile.ZipFile(files["opensearch"]) as archive:
            archive.extractall(work)
        extracted = work / f"opensearch-{version}"
        _restore_modes(extracted)
        missing = [m for m in config.REQUIRED_MODULES if not (extracted / "modules" / m).is_dir()]
        if missing:
            raise ArtifactError(
                f"the OpenSearch {version} distribution lacks modules {', '.join(missing)}",
                "use OpenSearch 3.6.0 or newer, whose integ-test zip ships them",
            )
        for name in config.PLUGINS:
            progress(f"installing plugin {name}")
            _install_plugin(extracted, files[name], java)
        progress("staging PyTorch native libraries for ml-commons")
        _stage_pytorch(files["pytorch-native"], files["pytorch-jni"], extracted / "pytorch")
        (extracted / MARKER).write_text(
            json.dumps({"version": version, "plugins": list(config.PLUGINS)}, indent=2)
        )
        if target.exists():
            shutil.rmtree(target)
        extracted.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _restore_modes(home: Path) -> None:
    """zipfile drops the executable bit; the launch scripts need it back."""
    for script in (home / "bin").iterdir():
        script.chmod(0o755)


def _install_plugin(home: Path, archive: Path, java: JavaHome) -> None:
    env = dict(os.environ, OPENSEARCH_JAVA_HOME=str(java.path))
    env.pop("OPENSEARCH_PATH_CONF", None)
    proc = subprocess.run(
        [str(home / "bin" / "opensearch-plugin"), "install", "--batch", archive.as_uri()],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ArtifactError(
            f"installing {archive.name} failed: {last[0]}",
            "delete the node's dist folder and retry; the plugin zip may be for another version",
        )


def _stage_pytorch(native_jar: Path, jni_jar: Path, out: Path) -> None:
    """Lay out libtorch and the DJL JNI library exactly where DJL would have downloaded them."""
    lib_dir = out / pytorch_dir_name()
    lib_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(native_jar) as archive:
        prefix = "pytorch/cpu/linux-x86_64/"
        for member in archive.namelist():
            if member.startswith(prefix) and not member.endswith("/"):
                (lib_dir / member[len(prefix) :]).write_bytes(archive.read(member))
    with zipfile.ZipFile(jni_jar) as archive:
        jni = archive.read("jnilib/linux-x86_64/cpu/libdjl_torch.so")
    (lib_dir / f"{config.DJL_VERSION}-libdjl_torch.so").write_bytes(jni)


# --- one node ------------------------------------------------------------------------------


def service_user() -> tuple[int, int] | None:
    """The (uid, gid) the node runs as: None for a normal user, a dedicated account for root
    (OpenSearch refuses to run as root). The account is created on first use."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(config.SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                config.SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(config.SERVICE_USER)
    return entry.pw_uid, entry.pw_gid


def node_settings(
    node_dir: Path,
    port: int,
    layout: ClusterLayout | None = None,
    overrides: Mapping[str, object | None] | None = None,
) -> dict[str, object]:
    """opensearch.yml for one local node bound to loopback only (alone, or one of ``layout``).

    ``overrides`` replace settings (None drops one): a container node's HTTP binds every
    interface of its container (``cluster serve``); nothing else changes.
    """
    layout = layout or ClusterLayout(port)
    settings: dict[str, object] = {
        "node.name": layout.node_name(port),
        "path.data": str(node_dir / "data"),
        "path.logs": str(node_dir / "logs"),
        "network.host": "127.0.0.1",
        "http.port": str(port),
        **layout.settings(port),
        "cluster.routing.allocation.disk.threshold_enabled": "false",
    }
    settings.update(config.ML_COMMONS_SETTINGS)
    for key, value in (overrides or {}).items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    return settings


def prepare_node(
    dist: Path,
    node_dir: Path,
    port: int,
    heap: str,
    home: Path,
    layout: ClusterLayout | None = None,
    overrides: Mapping[str, object | None] | None = None,
) -> None:
    """Write the node's config and stage ml-commons' native cache inside its data path."""
    if not re.fullmatch(r"\d+[mMgG]", heap):
        raise NodeStartError(f"heap size {heap!r} is not like 512m or 2g", "pass e.g. --heap 1g")
    owner = service_user()
    if owner:
        check_handover(node_dir, home, owner[0])
    conf = node_dir / "config"
    for sub in ("data", "logs", "config/jvm.options.d", "tmp"):
        (node_dir / sub).mkdir(parents=True, exist_ok=True)
    for name in ("log4j2.properties", "fips_java.security"):
        if (dist / "config" / name).exists():
            shutil.copy2(dist / "config" / name, conf / name)
    # jvm.options writes heap dumps and GC logs relative to the working directory (the shared
    # distribution): point them into this node's own folders instead.
    jvm = (dist / "config" / "jvm.options").read_text()
    jvm = jvm.replace("-XX:HeapDumpPath=data", f"-XX:HeapDumpPath={node_dir / 'data'}")
    jvm = jvm.replace("logs/", f"{node_dir / 'logs'}/")
    # The heap comes from jvm.options.d/heap.options only.
    jvm = "\n".join(line for line in jvm.splitlines() if not line.startswith(("-Xms", "-Xmx")))
    (conf / "jvm.options").write_text(jvm)
    (conf / "jvm.options.d" / "heap.options").write_text(f"-Xms{heap}\n-Xmx{heap}\n")
    settings = node_settings(node_dir, port, layout, overrides)
    yml = "".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items())
    (conf / "opensearch.yml").write_text(
        "# written by opensearch-sparse; edits are replaced\n" + yml
    )

    _link_pytorch_cache(dist / "pytorch", node_dir / "data" / "ml_cache" / "pytorch")
    clear_deploy_scratch(node_dir)
    if owner:
        chown_tree(node_dir, *owner)
        _ensure_traversable(node_dir)


def deploy_scratch(node_dir: Path) -> Path:
    """ml-commons' download folder for model deploys: a model's zip is rebuilt in it by
    appending its chunks to ``<model id>/<name>.zip``."""
    return node_dir / "data" / "ml_cache" / "models_cache" / "deploy"


def clear_deploy_scratch(node_dir: Path) -> None:
    """Empty ``deploy_scratch`` before the node starts.

    A zip left there by a deploy that a stop or kill cut off makes the next deploy of that
    model fail with "model content changed" (seen on the 3-node test cluster, whose data
    outlives a run). Nothing in it is read after a restart.
    """
    shutil.rmtree(deploy_scratch(node_dir), ignore_errors=True)


def _link_pytorch_cache(source: Path, cache: Path) -> None:
    """Hard-link (or copy) the staged libraries into <path.data>/ml_cache/pytorch.

    ml-commons points DJL's cache at that folder; a symlink out of the data path would be
    refused by OpenSearch's file-access policy, a hard link costs no space.
    """
    for lib_dir in source.iterdir():
        dest = cache / lib_dir.name
        dest.mkdir(parents=True, exist_ok=True)
        for lib in lib_dir.iterdir():
            target = dest / lib.name
            if target.exists() and target.stat().st_size == lib.stat().st_size:
                continue
            target.unlink(missing_ok=True)
            try:
                os.link(lib, target)
            except OSError:
                shutil.copy2(lib, target)


def check_handover(node_dir: Path, home: Path, uid: int) -> None:
    """Refuse to hand a folder outside the product's home to the service user when it already
    holds files that are not the node's: root chowns the node folder recursively, and must not
    do that to a user's existing data (``--data-dir /home/me`` by mistake)."""
    if node_dir.resolve().is_relative_to(home.resolve()) or not node_dir.exists():
        return
    if node_dir.is_symlink():
        raise NodeStartError(
            f"{node_dir} is a symbolic link", "point --data-dir at a real folder, not a link"
        )
    foreign = [entry for entry in node_dir.iterdir() if entry.lstat().st_uid != uid]
    if foreign and not (node_dir / "config" / "opensearch.yml").is_file():
        raise NodeStartError(
            f"{node_dir} is outside {home} and already holds files ({foreign[0].name}, ...); "
            f"as root the node's folder is handed to the user {config.SERVICE_USER}",
            "pass a new or empty folder as --data-dir, or one under the product's home",
        )


def chown_tree(root: Path, uid: int, gid: int) -> None:
    """Hand ``root`` and everything under it to ``uid:gid`` without following a symlink: a
    link planted inside (the service user can write there) changes the link, not its target."""
    if root.is_symlink():
        raise NodeStartError(
            f"{root} is a symbolic link", "point --data-dir at a real folder, not a link"
        )
    for dirpath, dirnames, filenames in os.walk(root):  # never descends into linked folders
        os.lchown(dirpath, uid, gid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def _ensure_traversable(path: Path) -> None:
    """The service user must be able to reach the node folder through every parent."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            raise NodeStartError(
                f"{parent} is not traversable by the service user {config.SERVICE_USER}",
                "put the node elsewhere with --home / --data-dir "
                "(e.g. under /var/lib/opensearch-sparse), or open it with chmod o+x",
            )
