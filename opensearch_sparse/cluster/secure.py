"""``cluster start --secure``: the embedded node behind a TLS proxy with users and roles.

The node itself runs exactly as ``LocalCluster`` runs it, but on a private loopback port; nginx
(``cluster/proxy.py``) listens on the public port with TLS only, checks a user name and
password, and lets each user do what its role allows (``cluster/roles.py``). Everything that
belongs to the security setup lives in the node folder's ``secure/``:

    ca.pem             the CA clients trust (public)
    server.pem/.key    the proxy's certificate and key (key: owner-only)
    users/<name>       one random password per user (owner-only; ``cluster env`` points here)
    htpasswd           their salted hashes for nginx (owner-only)
    nginx.conf         written on each start

A node folder that has been secured stays secured: later ``cluster start`` calls without
``--secure`` start it the same way, so its data is never served without authentication.
"""

from __future__ import annotations

import json
import secrets
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

from opensearch_sparse import config
from opensearch_sparse.cluster import install
from opensearch_sparse.cluster.pki import CA_FILE, Pki, server_names, write_private
from opensearch_sparse.cluster.process import LocalCluster, NodeStatus, port_free
from opensearch_sparse.cluster.proxy import NginxProxy, ensure_nginx
from opensearch_sparse.cluster.roles import ROLES
from opensearch_sparse.config import ClusterConfig
from opensearch_sparse.errors import PortInUseError, SparseError
from opensearch_sparse.progress import Status, quiet

SECURE_DIR = "secure"
ADMIN = "admin"


def is_secured(node_dir: Path) -> bool:
    """True when ``cluster start --secure`` set this node folder up."""
    return (node_dir / SECURE_DIR / CA_FILE).is_file()


def _free_loopback_port() -> int:
    """A port for the node's private HTTP endpoint, chosen by the OS (so it never collides
    with the public ports users pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SecureCluster:
    """A ``LocalCluster`` served only through TLS + basic auth + per-role rules.

    ``node`` (or ``LocalCluster(**settings)``) names the public port and the node folder; the
    OpenSearch process behind it gets a private loopback port of its own::

        with SecureCluster(port=9251) as node:
            node.client("search").count(index="docs")
    """

    def __init__(
        self, node: LocalCluster | None = None, *, bind: str | None = None, **settings: Any
    ) -> None:
        self.node = node or LocalCluster(**settings)
        self.bind = bind or config.env("BIND", config.DEFAULT_BIND) or config.DEFAULT_BIND
        self.keep_running = self.node.keep_running
        self._started_here = False

    # --- where things are ------------------------------------------------------------------

    @property
    def config(self) -> config.NodeConfig:
        return self.node.config

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.node.config.port}"

    @property
    def node_dir(self) -> Path:
        return self.node.node_dir

    @property
    def folder(self) -> Path:
        return self.node_dir / SECURE_DIR

    @property
    def pki(self) -> Pki:
        return Pki(self.folder)

    @property
    def proxy(self) -> NginxProxy:
        return NginxProxy(self.folder, self.node_dir / "logs")

    @property
    def log_path(self) -> Path:
        return self.node.log_path

    def log_tail(self, lines: int = 50) -> str:
        return self.node.log_tail(lines)

    def _backend(self, port: int) -> LocalCluster:
        """The OpenSearch process: same settings and folder, private port."""
        return LocalCluster(replace(self.node.config, port=port, data_dir=self.node_dir))

    def _running_backend(self) -> LocalCluster | None:
        """The node process, when running: its state file (one per folder) names its port."""
        probe = self._backend(self.node.config.port)
        if probe.running_pid() is None:
            return None
        return self._backend(int(json.loads(probe.state_path.read_text())["port"]))

    # --- users -------------------------------------------------------------------------------

    def password_file(self, user: str) -> Path:
        if user not in ROLES:
            raise SparseError(
                f"there is no user {user!r} on a secured local node",
                f"use one of {', '.join(ROLES)} (README: Users and roles)",
            )
        return self.folder / "users" / user

    def password(self, user: str) -> str:
        path = self.password_file(user)
        try:
            return path.read_text().strip()
        except FileNotFoundError as exc:
            raise SparseError(
                f"{self.node_dir} has no password for {user} yet",
                f"start the node once with `opensearch-sparse cluster start --secure "
                f"--port {self.node.config.port}`",
            ) from exc

    def ensure_passwords(self) -> dict[str, str]:
        """Every role's user with a random password; a missing file (deleted to rotate it)
        gets a new one, existing ones are kept."""
        users = self.folder / "users"
        users.mkdir(parents=True, exist_ok=True)
        users.chmod(0o700)
        for user in ROLES:
            if not (users / user).is_file():
                write_private(users / user, (secrets.token_urlsafe(24) + "\n").encode())
        return {user: self.password(user) for user in ROLES}

    def connection(self, user: str = ADMIN) -> ClusterConfig:
        """How a client reaches this node as ``user``: https, the node's CA, verified."""
        return ClusterConfig(
            url=self.url,
            username=user,
            password=self.password(user),
            ca_certs=str(self.pki.ca),
            verify_certs=True,
        )

    def client(self, user: str = ADMIN) -> Any:
        from opensearch_sparse.client import make_client

        return make_client(self.connection(user))

    def env(self, user: str = ADMIN) -> dict[str, str]:
        """The ``OPENSEARCH_SPARSE_*`` variables that point every command here as ``user``:
        the password by file, so it is in neither the environment nor shell history."""
        self.password(user)  # fail now, not on the first command, if it does not exist
        return {
            "URL": self.url,
            "USERNAME": user,
            "PASSWORD_FILE": str(self.password_file(user)),
            "CA_CERTS": str(self.pki.ca),
        }

    # --- lifecycle ---------------------------------------------------------------------------

    def running_pid(self) -> int | None:
        backend = self._running_backend()
        return backend.running_pid() if backend else None

    def is_running(self) -> bool:
        return self._running_backend() is not None and self.proxy.running_pid() is not None

    def start(self, progress: Status = quiet) -> bool:
        """Start (or complete) the secured node: certificates and users on first use, the
        node on a private port, then the proxy; False when both were already running."""
        if self.is_running():
            return False
        port = self.node.config.port
        listen = "0.0.0.0" if self.bind == "::" else self.bind
        if self.proxy.running_pid() is None and not port_free(port, listen):
            raise PortInUseError(
                f"port {port} on {self.bind} is already in use by another process",
                "stop that process or pick another port with --port / OPENSEARCH_SPARSE_PORT",
            )
        nginx = ensure_nginx(progress)  # before any download: fail fast without nginx
        names = server_names(self.bind)
        if not self.pki.current(names):
            progress("issuing a CA and a server certificate for this node")
            self.pki.issue(names, label=f"{socket.gethostname()} node-{port}")
        passwords = self.ensure_passwords()
        proxy = self.proxy
        nginx_proc = None
        try:
            proxy.stop()  # a proxy without its node, or pointing at an old port
            backend = self._running_backend() or self._backend(_free_loopback_port())
            proxy.write_files(self.bind, port, backend.config.port, passwords)
            if not backend.is_running():
                backend.start(progress)  # owns the node folder to the service user (root)
            _hand_over(self.folder, install.service_user())
            progress("starting the TLS proxy")
            nginx_proc = proxy.start(nginx, install.service_user())
            self._started_here = True
            proxy.wait_ready(
                nginx_proc,
                self.url + "/",
                (ADMIN, passwords[ADMIN]),
                self.pki.ca,
                min(self.node.config.start_timeout_s, 60.0),
                progress,
            )
        except BaseException:
            proxy.stop(started=nginx_proc)
            self.stop()
            raise
        return True

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Stop the proxy first (no request reaches a node that is going away), then the
        node. False when neither was running."""
        proxy_ran = self.proxy.stop()
        backend = self._running_backend()
        node_ran = backend.stop(timeout_s) if backend else False
        return proxy_ran or node_ran

    def status(self) -> NodeStatus:
        backend = self._running_backend()
        if backend is None:
            return NodeStatus(False, self.url, node_dir=str(self.node_dir))
        status = replace(backend.status(), url=self.url)
        if self.proxy.running_pid() is None:
            return replace(status, running=False, health="the TLS proxy is not running")
        return status

    # --- context manager ---------------------------------------------------------------------

    def __enter__(self) -> SecureCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started_here and not self.keep_running:
            self.stop()


def _hand_over(folder: Path, owner: tuple[int, int] | None) -> None:
    """When root runs the CLI, nginx runs as the node's service user and must read its files
    (they stay owner-only: the service user becomes the owner)."""
    if owner is not None:
        install.chown_tree(folder, *owner)
