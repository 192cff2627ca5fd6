"""`opensearch-sparse cluster start | stop | status | logs`: the embedded local node."""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from opensearch_sparse.cli import output
from opensearch_sparse.cluster import LocalCluster
from opensearch_sparse.cluster.layout import MAX_NODES, ClusterLayout
from opensearch_sparse.cluster.multinode import MultiNodeCluster
from opensearch_sparse.cluster.roles import ROLES
from opensearch_sparse.cluster.secure import ADMIN, SecureCluster, is_secured
from opensearch_sparse.cluster.serve import CONTAINER_BIND, container_settings
from opensearch_sparse.cluster.serve import serve as run_in_foreground
from opensearch_sparse.config import CONNECTION_VARIABLES, ENV_PREFIX, NodeConfig
from opensearch_sparse.errors import SparseError

F = TypeVar("F", bound=Callable[..., Any])


def node_options(func: F) -> F:
    """Flags shared by every cluster command; each falls back to OPENSEARCH_SPARSE_* env."""
    options = [
        click.option("--port", type=int, default=None, help="HTTP port [env PORT; 9200]"),
        click.option(
            "--home",
            type=click.Path(path_type=Path),
            default=None,
            help="Cache for downloads, the installed node and node folders [env HOME]",
        ),
        click.option(
            "--data-dir",
            type=click.Path(path_type=Path),
            default=None,
            help="This node's folder (config, data, logs) [env DATA_DIR; <home>/nodes/node-PORT]",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _cluster(
    port: int | None, home: Path | None, data_dir: Path | None, **kw: object
) -> LocalCluster:
    return LocalCluster(
        port=port,
        home=home.expanduser().resolve() if home else None,
        data_dir=data_dir.expanduser().resolve() if data_dir else None,
        **kw,  # type: ignore[arg-type]
    )


def _node(
    port: int | None,
    home: Path | None,
    data_dir: Path | None,
    *,
    secure: bool = False,
    bind: str | None = None,
    **kw: object,
) -> LocalCluster | SecureCluster:
    """The node on this port: behind the TLS proxy when asked to, or when its folder was
    secured before (a secured node is never served without authentication later)."""
    node = _cluster(port, home, data_dir, **kw)
    if secure or is_secured(node.node_dir):
        return SecureCluster(node, bind=bind)
    return node


@click.group("cluster")
def cluster() -> None:
    """Run a real local OpenSearch node (no Docker needed)."""


@cluster.command()
@node_options
@click.option("--heap", default=None, help="JVM heap, e.g. 1g [env HEAP; 1g]")
@click.option("--version", "version", default=None, help="OpenSearch version [env VERSION]")
@click.option("--timeout", type=float, default=None, help="Seconds to wait for readiness")
@click.option(
    "--secure",
    is_flag=True,
    help="TLS only, users and roles: nginx in front of the node (README: A secured node)",
)
@click.option(
    "--bind",
    default=None,
    help="Address the TLS proxy listens on, with --secure [env BIND; 127.0.0.1]",
)
@click.option(
    "--nodes",
    type=click.IntRange(1, MAX_NODES),
    default=1,
    show_default=True,
    help="Nodes in the cluster: HTTP on PORT, PORT+1, ... (README: A local multi-node cluster)",
)
def start(
    port: int | None,
    home: Path | None,
    data_dir: Path | None,
    heap: str | None,
    version: str | None,
    timeout: float | None,
    secure: bool,
    bind: str | None,
    nodes: int,
) -> None:
    """Download (first time only), install and start the node; wait until it is ready."""
    if nodes > 1:
        if secure or data_dir or version:
            raise SparseError(
                "--nodes cannot be combined with --secure, --data-dir or --version",
                "start a multi-node cluster with the defaults, or one node with those options",
            )
        _start_many(port, home, heap, timeout, nodes)
        return
    node = _node(
        port,
        home,
        data_dir,
        secure=secure,
        bind=bind,
        heap=heap,
        version=version,
        start_timeout_s=timeout,
    )
    if isinstance(node, SecureCluster) and not secure:
        output.info(f"{node.node_dir} was set up with --secure: starting it behind the TLS proxy")
    if node.is_running():
        output.info(f"already running at {node.url} (pid {node.running_pid()})")
        return
    began = time.monotonic()
    with output.spinner(f"starting OpenSearch {node.config.version}") as progress:
        node.start(progress)
    output.info(f"ready in {time.monotonic() - began:.0f}s; data in {node.node_dir}")
    if isinstance(node, SecureCluster):
        output.info(f"users (passwords in {node.folder / 'users'}, owner-only):")
        for role in ROLES.values():
            output.info(f"  {role.name:<12} {role.summary}")
        output.info(
            f'connect: eval "$(opensearch-sparse cluster env --port {node.config.port})" '
            "(add --user NAME for another user)"
        )
    click.echo(node.url)


def _start_many(
    port: int | None, home: Path | None, heap: str | None, timeout: float | None, nodes: int
) -> None:
    many = MultiNodeCluster.create(
        port or NodeConfig().port,
        nodes,
        home=home.expanduser().resolve() if home else None,
        heap=heap,
        start_timeout_s=timeout,
    )
    began = time.monotonic()
    with output.spinner(f"starting a {nodes}-node OpenSearch cluster") as progress:
        many.start(progress)
    output.info(f"{nodes} nodes ready in {time.monotonic() - began:.0f}s")
    output.info(f'every command fails over between them with --url "{many.url}"')
    click.echo(many.url)


def _many(port: int | None, home: Path | None) -> MultiNodeCluster | None:
    return MultiNodeCluster.find(
        port or NodeConfig().port, home.expanduser().resolve() if home else None
    )


@cluster.command("install")
@click.option(
    "--home",
    type=click.Path(path_type=Path),
    default=None,
    help="Cache for downloads and the installed node [env HOME]",
)
@click.option("--version", "version", default=None, help="OpenSearch version [env VERSION]")
@click.option(
    "--keep-downloads/--drop-downloads",
    default=True,
    show_default=True,
    help="Keep the Maven files in <home>/m2 (an image drops them once assembled)",
)
def install_cmd(home: Path | None, version: str | None, keep_downloads: bool) -> None:
    """Download and assemble the node without starting it (what `start` does first)."""
    node = _cluster(None, home, None, version=version)
    # One line per step, not a spinner: this runs in image builds and CI logs too.
    output.info(f"installing OpenSearch {node.config.version} in {node.config.home}")
    dist, java = node.install(output.info)
    if not keep_downloads:
        shutil.rmtree(node.config.home / "m2", ignore_errors=True)
    output.info(f"installed in {dist} (Java {java.major} at {java.path})")
    click.echo(dist)


@cluster.command()
@click.option("--port", type=int, default=None, help="HTTP port of the first node [env PORT; 9200]")
@click.option("--heap", default=None, help="JVM heap, e.g. 1g [env HEAP; 1g]")
@click.option("--bind", default=CONTAINER_BIND, show_default=True, help="Address HTTP listens on")
@click.option(
    "--nodes",
    type=click.IntRange(1, MAX_NODES),
    default=1,
    show_default=True,
    help="Nodes in the cluster, laid out as by `start --nodes` (one network namespace)",
)
@click.option(
    "--node",
    "member",
    type=click.IntRange(1, MAX_NODES),
    default=1,
    show_default=True,
    help="Which of them this one is: HTTP on PORT + NODE - 1",
)
@click.option(
    "--setting",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other opensearch.yml setting (repeatable)",
)
def serve(
    port: int | None,
    heap: str | None,
    bind: str,
    nodes: int,
    member: int,
    settings: tuple[str, ...],
) -> None:
    """Run the node in the foreground (a container's main process; see Dockerfile).

    The same node as `start` (artifacts, opensearch.yml, staged libtorch), with HTTP on
    --bind instead of 127.0.0.1; with --nodes N, node --node K of a cluster laid out as by
    `start --nodes N`.
    """
    if member > nodes:
        raise click.BadParameter(f"node {member} of {nodes}?", param_hint="--node")
    extra: dict[str, str] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--setting")
        extra[key.strip()] = value
    layout = ClusterLayout(port or NodeConfig().port, nodes)
    node = LocalCluster(port=layout.http_ports[member - 1], heap=heap, layout=layout)
    output.info(f"serving OpenSearch {node.config.version} from {node.node_dir}")
    run_in_foreground(node, container_settings(bind=bind, extra=extra), output.info)


@cluster.command()
@node_options
def stop(port: int | None, home: Path | None, data_dir: Path | None) -> None:
    """Stop the node (every node of a multi-node cluster started on PORT); data stays."""
    many = None if data_dir else _many(port, home)
    if many is not None:
        if many.stop():
            output.info(f"stopped the {many.layout.nodes} nodes at {many.url}")
        else:
            output.info(f"no node was running at {many.url}")
        return
    node = _node(port, home, data_dir)
    if node.stop():
        output.info(f"stopped the node at {node.url}")
    else:
        output.info(f"no node was running at {node.url}")


@cluster.command()
@node_options
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON")
def status(port: int | None, home: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """Version, plugins and health of the local node(s) (exit 3 when none is running)."""
    many = None if data_dir else _many(port, home)
    if many is not None:
        infos = many.status()
        if as_json:
            output.emit_json([asdict(i) for i in infos])
        for info in [] if as_json else infos:
            state = f"running (pid {info.pid}, health {info.health})" if info.running else "stopped"
            click.echo(f"{info.url:<24} {state}")
        if not any(i.running for i in infos):
            raise SystemExit(3)
        return
    node = _node(port, home, data_dir)
    info = node.status()
    if as_json:
        output.emit_json(asdict(info))
    elif info.running:
        click.echo(f"running   {info.url} (pid {info.pid})")
        click.echo(f"version   {info.version}")
        click.echo(f"health    {info.health}")
        click.echo(f"plugins   {', '.join(info.plugins) or '-'}")
        click.echo(f"data      {info.node_dir}")
    else:
        reason = f"; {info.health}" if info.health else ""  # e.g. a secured node's proxy
        click.echo(f"stopped   {info.url} (data in {info.node_dir}{reason})")
    if not info.running:
        raise SystemExit(3)


@cluster.command()
@node_options
@click.option("-n", "--lines", type=int, default=50, show_default=True)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines")
def logs(
    port: int | None, home: Path | None, data_dir: Path | None, lines: int, follow: bool
) -> None:
    """Show the tail of the node's log."""
    node = _node(port, home, data_dir)
    click.echo(node.log_tail(lines))
    if not follow:
        return
    path = node.log_path
    with path.open(errors="replace") as handle:
        handle.seek(0, 2)
        try:
            while True:
                line = handle.readline()
                if line:
                    click.echo(line, nl=False)
                else:
                    time.sleep(0.5)
        except KeyboardInterrupt:
            return


@cluster.command()
@node_options
@click.option(
    "--user",
    default=None,
    help=f"Whose credentials, on a secured node [{ADMIN}; or {', '.join(list(ROLES)[1:])}]",
)
def env(port: int | None, home: Path | None, data_dir: Path | None, user: str | None) -> None:
    """Shell exports that point every command at the node:
    eval "$(opensearch-sparse cluster env --port PORT)".

    On a secured node they name the user, the file holding its password (the password itself
    stays out of the environment and history) and the node's CA; variables that would
    contradict them are unset.
    """
    node = _node(port, home, data_dir)
    if isinstance(node, SecureCluster):
        values = node.env(user or ADMIN)
    elif user:
        raise SparseError(
            f"the node at {node.url} is not secured, so it has no users",
            f"start it with `opensearch-sparse cluster start --secure --port {node.config.port}`"
            " (a new node folder) or leave out --user",
        )
    else:
        values = {"URL": node.url}
    for name, value in values.items():
        click.echo(f"export {ENV_PREFIX}{name}={shlex.quote(value)}")
    for name in CONNECTION_VARIABLES:
        if name not in values:
            click.echo(f"unset {ENV_PREFIX}{name}")
