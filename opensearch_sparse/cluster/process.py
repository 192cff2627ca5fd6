"""Start, watch, stop and inspect one local OpenSearch node.

``LocalCluster`` is both the engine behind ``opensearch-sparse cluster ...`` and a context
manager for Python code and tests (``with LocalCluster() as c: c.client()``). A small state file
in the node folder records the running process, so separate CLI invocations can find it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import requests

from opensearch_sparse import config
from opensearch_sparse.cluster import install
from opensearch_sparse.cluster.identity import ProcessIdentity, has_exited, service_uid
from opensearch_sparse.cluster.java import JavaHome, find_java
from opensearch_sparse.cluster.layout import ClusterLayout
from opensearch_sparse.errors import NodeStartError, PortInUseError
from opensearch_sparse.progress import Status, quiet

logger = logging.getLogger(__name__)

STATE_FILE = "node.json"
#: How long start() waits for the HTTP port of a node that just died to be released.
PORT_RELEASE_WAIT_S = 30.0


@dataclass(frozen=True)
class NodeStatus:
    """What ``cluster status`` reports."""

    running: bool
    url: str
    pid: int | None = None
    version: str | None = None
    health: str | None = None
    plugins: tuple[str, ...] = ()
    node_dir: str | None = None


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0): reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    # Another process's zombie cannot be reaped here and would be waited for forever.
    return not has_exited(pid)


def recorded_pid(state_path: Path, folder: Path, what: str) -> int | None:
    """The pid a state file records (``ProcessIdentity.to_state``), while that process is
    alive and still the one started (``ProcessIdentity.is_current`` against ``folder``):
    the node's ``node.json`` and the TLS proxy's ``proxy.json`` are checked the same way."""
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return None
    identity = ProcessIdentity.from_state(state) if isinstance(state, dict) else None
    if identity is None or not pid_alive(identity.pid):
        return None
    if not identity.is_current(folder, service_uid()):
        logger.warning(
            "%s names pid %d, which is no longer %s: ignoring it", state_path, identity.pid, what
        )
        return None
    return identity.pid


def spawn_service(
    argv: list[str],
    cwd: Path,
    console_path: Path,
    owner: tuple[int, int] | None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running service (the node, its nginx front) in a session of its own, so
    stopping it can end the whole process group; its output is appended to ``console_path``;
    as ``owner`` (uid, gid) when the CLI runs as root, with no supplementary groups of root's.
    """
    with console_path.open("ab") as console:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=owner[0] if owner else None,
            group=owner[1] if owner else None,
            extra_groups=[] if owner else None,
        )


class LocalCluster:
    """One local OpenSearch node with ml-commons, neural-search, k-NN and job-scheduler."""

    def __init__(
        self,
        node: config.NodeConfig | None = None,
        *,
        port: int | None = None,
        heap: str | None = None,
        home: Path | None = None,
        data_dir: Path | None = None,
        version: str | None = None,
        start_timeout_s: float | None = None,
        keep_running: bool = False,
        layout: ClusterLayout | None = None,
    ) -> None:
        base = node or config.NodeConfig()
        overrides: dict[str, Any] = {
            k: v
            for k, v in {
                "port": port,
                "heap": heap,
                "home": home,
                "data_dir": data_dir,
                "version": version,
                "start_timeout_s": start_timeout_s,
            }.items()
            if v is not None
        }
        self.config = replace(base, **overrides)
        #: Leave the node running when the context manager exits (for reuse across runs).
        self.keep_running = keep_running
        #: The cluster this node belongs to (None: a single-node cluster of its own).
        self.layout = layout
        self._started_here = False

    # --- properties -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.config.url

    @property
    def node_dir(self) -> Path:
        return self.config.node_dir

    @property
    def state_path(self) -> Path:
        return self.node_dir / STATE_FILE

    @property
    def log_path(self) -> Path:
        return self.node_dir / "logs" / "opensearch-sparse.log"

    @property
    def console_path(self) -> Path:
        return self.node_dir / "logs" / "console.log"

    def client(self) -> Any:
        """An opensearch-py client for this node."""
        from opensearch_sparse.client import make_client

        return make_client(config.ClusterConfig(url=self.url))

    # --- lifecycle ------------------------------------------------------------------------

    def running_pid(self) -> int | None:
        """PID of this node's process when the state file names a live one."""
        return recorded_pid(self.state_path, self.node_dir, "this node")

    def is_running(self) -> bool:
        return self.running_pid() is not None

    def install(self, progress: Status = quiet) -> tuple[Path, JavaHome]:
        """Find Java and make sure the distribution is assembled (downloads on first use)."""
        java = find_java(self.config.version, self.config.java_home)
        dist = install.install(self.config.home, self.config.version, java, progress)
        return dist, java

    def start(self, progress: Status = quiet) -> bool:
        """Start the node and wait until it serves requests.

        Returns False when this node was already running (nothing is started twice).
        """
        if self.is_running():
            return False
        # A node of ours killed a moment ago (its state file is still here) may hold its
        # socket while the kernel tears it down; anyone else's port fails at once.
        wait = PORT_RELEASE_WAIT_S if self.state_path.exists() else 0.0
        deadline = time.monotonic() + wait
        while not port_free(self.config.port) and time.monotonic() < deadline:
            time.sleep(0.5)
        if not port_free(self.config.port):
            raise PortInUseError(
                f"port {self.config.port} on 127.0.0.1 is already in use by another process",
                "stop that process or pick another port with --port / OPENSEARCH_SPARSE_PORT",
            )
        dist, java = self.install(progress)
        progress("writing node configuration")
        self.spawn(dist, java)
        self._started_here = True
        self.wait_ready(progress)
        return True

    def spawn(self, dist: Path, java: JavaHome) -> None:
        """Write the node's configuration and start its process (without waiting)."""
        install.prepare_node(
            dist, self.node_dir, self.config.port, self.config.heap, self.config.home, self.layout
        )
        self._spawn(dist, java)

    def node_env(self, java: JavaHome) -> dict[str, str]:
        """The environment the node's process runs with (nothing else is inherited)."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "OPENSEARCH_JAVA_HOME": str(java.path),
            "OPENSEARCH_PATH_CONF": str(self.node_dir / "config"),
            "OPENSEARCH_TMPDIR": str(self.node_dir / "tmp"),
            "HOME": str(self.node_dir),
        }

    def _spawn(self, dist: Path, java: JavaHome) -> None:
        env = self.node_env(java)
        self.console_path.parent.mkdir(parents=True, exist_ok=True)
        # 3.x loads its java agent by a path relative to the working directory.
        proc = spawn_service(
            [str(dist / "bin" / "opensearch")], dist, self.console_path, install.service_user(), env
        )
        state = {
            **ProcessIdentity.of(proc.pid).to_state(),
            "port": self.config.port,
            "url": self.url,
            "version": self.config.version,
            "started_at": time.time(),
        }
        self.state_path.write_text(json.dumps(state, indent=2))

    def wait_ready(self, progress: Status = quiet) -> None:
        """Poll until cluster health is yellow or green; fail fast if the process dies."""
        deadline = time.monotonic() + self.config.start_timeout_s
        started = time.monotonic()
        while time.monotonic() < deadline:
            pid = self.running_pid()
            if pid is None:
                raise NodeStartError(
                    "the OpenSearch node exited during start-up. Last log lines:\n"
                    + self.log_tail(25),
                    f"read the full logs with `opensearch-sparse cluster logs` ({self.node_dir})",
                )
            try:
                resp = requests.get(
                    f"{self.url}/_cluster/health",
                    params={"wait_for_status": "yellow", "timeout": "2s"},
                    timeout=5,
                )
                if resp.status_code == 200 and resp.json().get("status") in ("yellow", "green"):
                    return
            except requests.RequestException:
                pass
            progress(f"waiting for the node ({time.monotonic() - started:.0f}s)")
            time.sleep(1)
        tail = self.log_tail(25)
        self.stop()
        raise NodeStartError(
            f"the node did not become ready within {self.config.start_timeout_s:.0f}s. "
            "Last log lines:\n" + tail,
            "raise --timeout / OPENSEARCH_SPARSE_START_TIMEOUT or read "
            "`opensearch-sparse cluster logs`",
        )

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Stop the node cleanly (SIGTERM, then SIGKILL after ``timeout_s``).

        Returns False when it was not running.
        """
        pid = self.running_pid()
        if pid is None:
            self.state_path.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            logger.warning("node %d ignored SIGTERM for %.0fs; killing it", pid, timeout_s)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.1)
        self.state_path.unlink(missing_ok=True)
        return True

    # --- inspection -----------------------------------------------------------------------

    def status(self) -> NodeStatus:
        pid = self.running_pid()
        if pid is None:
            return NodeStatus(False, self.url, node_dir=str(self.node_dir))
        try:
            root = requests.get(self.url, timeout=5).json()
            health = requests.get(f"{self.url}/_cluster/health", timeout=5).json()
            plugins = requests.get(
                f"{self.url}/_cat/plugins", params={"format": "json"}, timeout=5
            ).json()
        except (requests.RequestException, ValueError):
            return NodeStatus(True, self.url, pid, health="starting", node_dir=str(self.node_dir))
        return NodeStatus(
            running=True,
            url=self.url,
            pid=pid,
            version=root.get("version", {}).get("number"),
            health=health.get("status"),
            plugins=tuple(sorted({p["component"] for p in plugins})),
            node_dir=str(self.node_dir),
        )

    def log_tail(self, lines: int = 50) -> str:
        """Last lines of the server log, or of the console output when the log is not there
        yet (e.g. the JVM failed before logging started)."""
        for path in (self.log_path, self.console_path):
            if path.is_file() and path.stat().st_size:
                content = path.read_text(errors="replace").splitlines()
                return "\n".join(content[-lines:])
        return "(no log output)"

    # --- context manager ------------------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            if self._started_here:
                self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started_here and not self.keep_running:
            self.stop()
