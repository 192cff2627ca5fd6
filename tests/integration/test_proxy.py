"""The TLS proxy's own start-up, with a real nginx and no OpenSearch node behind it: a start
that fails says why from *this* start (not an older run's log lines), and a failed or
mis-tracked start never leaves an nginx behind holding the port (CI once saw a start reported
as "exited" whose nginx then kept running)."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from opensearch_sparse.cluster import install
from opensearch_sparse.cluster.pki import Pki, server_names
from opensearch_sparse.cluster.process import pid_alive
from opensearch_sparse.cluster.proxy import NginxProxy, ProxyError, ensure_nginx
from opensearch_sparse.progress import quiet

AUTH = ("admin", "a-password-for-this-test")


@pytest.fixture
def proxy() -> Iterator[NginxProxy]:
    """A proxy folder nginx runs from as the CLI runs it: as root, as the service user (so
    outside pytest's owner-only temporary folders)."""
    base = Path(tempfile.mkdtemp(prefix="opensearch-sparse-proxy-"))
    try:
        folder = base / "secure"
        folder.mkdir()
        Pki(folder).issue(server_names("127.0.0.1"), label="test-proxy")
        yield NginxProxy(folder, base / "logs")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def prepare(proxy: NginxProxy, port: int) -> tuple[int, int] | None:
    """Write nginx's files for ``port`` and hand them to the user nginx will run as."""
    proxy.write_files("127.0.0.1", port, free_port(), {AUTH[0]: AUTH[1]})
    owner = install.service_user()
    if owner:
        install.chown_tree(proxy.folder.parent, *owner)
    return owner


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_failed_start_reports_its_exit_and_only_its_own_log_lines(
    proxy: NginxProxy, taken_port: int
) -> None:
    proxy.logs.mkdir()
    proxy.error_log.write_text("2026/01/01 00:00:00 [error] 1#1: an older run's line\n")
    owner = prepare(proxy, taken_port)
    proc = proxy.start(ensure_nginx(), owner)
    with pytest.raises(ProxyError) as info:
        proxy.wait_ready(
            proc, f"https://127.0.0.1:{taken_port}/", AUTH, Pki(proxy.folder).ca, 30, quiet
        )
    message = str(info.value)
    assert "exited with status 1 during start-up" in message
    assert "Address already in use" in message
    assert "older run" not in message
    assert not proxy.state_path.exists()
    assert proxy.running_pid() is None


def test_a_started_proxy_is_tracked_by_identity_and_always_stopped(proxy: NginxProxy) -> None:
    port = free_port()
    proc = proxy.start(ensure_nginx(), prepare(proxy, port))
    try:
        assert proxy.running_pid() == proc.pid
        state = json.loads(proxy.state_path.read_text())
        assert state["pid"] == proc.pid and isinstance(state["start_ticks"], int)
        # A state file naming the same pid with another start time is another process.
        proxy.state_path.write_text(json.dumps({**state, "start_ticks": state["start_ticks"] + 1}))
        assert proxy.running_pid() is None
        # Even untracked, the handle from start() stops it: the port is free again.
        assert proxy.stop(started=proc)
        assert proc.poll() is not None and not pid_alive(proc.pid)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
    finally:
        if proc.poll() is None:
            proc.kill()
