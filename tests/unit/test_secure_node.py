"""The pieces of ``cluster start --secure`` that need no running node: the role table, the
certificates (checked with real TLS handshakes), the password hashes nginx reads, the proxy's
config, and the shell exports of ``cluster env``."""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from opensearch_sparse.cluster import LocalCluster
from opensearch_sparse.cluster.pki import Pki
from opensearch_sparse.cluster.proxy import htpasswd_line, render_config
from opensearch_sparse.cluster.roles import ROLES, nginx_access_map
from opensearch_sparse.cluster.secure import SecureCluster

# (user, method, path, allowed): what each role may do, and the edges of what it may not.
RULES = [
    ("search", "POST", "/docs/_search", True),
    ("search", "GET", "/docs/_count", True),
    ("search", "HEAD", "/docs", True),
    ("search", "GET", "/docs/_mapping/field/text_sparse", True),  # which kind of sparse field
    ("search", "PUT", "/docs/_mapping", False),
    ("search", "GET", "/_search/pipeline/opensearch-sparse-hybrid", True),
    ("search", "DELETE", "/_search/scroll", True),
    ("search", "GET", "/", True),
    ("search", "POST", "/_bulk", False),
    ("search", "PUT", "/docs", False),
    ("search", "DELETE", "/docs", False),
    ("search", "PUT", "/_search/pipeline/opensearch-sparse-hybrid", False),
    ("search", "POST", "/_plugins/_ml/models/_register", False),
    ("search", "GET", "/.plugins-ml-model/_search", False),
    ("search", "GET", "/%2Eplugins-ml-model/_search", False),
    ("search", "GET", "/docs/_search/../../_bulk", False),
    ("search", "GET", "/_search", False),  # every index at once, hidden ones included
    ("ingest", "POST", "/_bulk", True),
    ("ingest", "PUT", "/docs", True),
    ("ingest", "PUT", "/_ingest/pipeline/docs-sparse", True),
    ("ingest", "PUT", "/_search/pipeline/opensearch-sparse-hybrid", True),
    ("ingest", "POST", "/docs/_search", True),
    ("ingest", "POST", "/_plugins/_ml/models/_register", False),
    ("ingest", "PUT", "/_cluster/settings", False),
    ("ingest", "POST", "/.plugins-ml-model/_bulk", False),
    ("model-admin", "POST", "/_plugins/_ml/models/_register", True),
    ("model-admin", "POST", "/_plugins/_ml/models/abc/_deploy", True),
    ("model-admin", "GET", "/_cluster/settings", True),
    ("model-admin", "PUT", "/_cluster/settings", False),
    ("model-admin", "POST", "/_bulk", False),
    ("model-admin", "POST", "/docs/_search", False),
    ("admin", "PUT", "/_cluster/settings", True),
    ("admin", "GET", "/.plugins-ml-model/_search", True),
]


@pytest.mark.parametrize(("user", "method", "path", "allowed"), RULES)
def test_role_table(user: str, method: str, path: str, allowed: bool) -> None:
    assert ROLES[user].allows(method, path) is allowed


def test_every_rule_reaches_the_nginx_map() -> None:
    rendered = nginx_access_map()
    for role in ROLES.values():
        for methods, pattern in role.rules:
            assert f"({methods}) {pattern}$" in rendered
    assert rendered.splitlines()[0] == "default 0;"  # anything unlisted is refused


def _serve_once(pki: Pki) -> tuple[int, threading.Thread]:
    """A one-connection TLS server presenting the node's certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert, pki.key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def accept() -> None:
        conn, _ = listener.accept()
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass
        finally:
            listener.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return int(listener.getsockname()[1]), thread


def _handshake(port: int, cafile: Path, host: str) -> None:
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=host) as tls,
    ):
        tls.sendall(b"x")


def test_certificates_verify_by_the_private_ca_only(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "secure")
    names = ["localhost", "127.0.0.1", "::1"]
    pki.issue(names, "test-node")
    assert pki.current(names) and not pki.current([*names, "elsewhere.example"])
    assert pki.key.stat().st_mode & 0o777 == 0o600
    assert pki.ca.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in pki.folder.iterdir()) == ["ca.pem", "server.key", "server.pem"]

    for host in ("127.0.0.1", "localhost"):
        port, thread = _serve_once(pki)
        _handshake(port, pki.ca, host)  # the node's CA vouches for the node's names
        thread.join(10)

    other = Pki(tmp_path / "other")
    other.issue(names, "another install")
    port, thread = _serve_once(pki)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _handshake(port, other.ca, "127.0.0.1")  # another install's CA does not
    thread.join(10)


def test_htpasswd_line_is_salted_sha1_nginx_can_check() -> None:
    user, _, hashed = htpasswd_line("search", "pw-123").partition(":")
    assert user == "search" and hashed.startswith("{SSHA}")
    raw = base64.b64decode(hashed.removeprefix("{SSHA}"))
    digest, salt = raw[:20], raw[20:]
    assert len(salt) == 16 and digest == hashlib.sha1(b"pw-123" + salt).digest()
    assert htpasswd_line("search", "pw-123") != htpasswd_line("search", "pw-123")  # salted


def test_proxy_config_listens_on_tls_and_forwards_to_the_private_port(tmp_path: Path) -> None:
    conf = render_config(tmp_path / "secure", tmp_path / "logs", "127.0.0.1", 9271, 40123)
    assert "listen 127.0.0.1:9271 ssl;" in conf
    assert "server 127.0.0.1:40123;" in conf
    assert "error_page 497 @plain_http;" in conf  # plain HTTP on the TLS port: a clear 400
    assert 'proxy_set_header Authorization "";' in conf  # the node never sees credentials
    assert conf.count("listen ") == 1


def test_without_nginx_a_normal_user_is_told_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opensearch_sparse.cluster import proxy

    monkeypatch.setattr(proxy, "find_nginx", lambda: None)
    monkeypatch.setattr(proxy.os, "geteuid", lambda: 1000)
    with pytest.raises(proxy.ProxyError, match="nginx is not installed") as info:
        proxy.ensure_nginx()
    assert info.value.fix and "apt-get install nginx" in info.value.fix


def _secured_folder(tmp_path: Path) -> SecureCluster:
    node = SecureCluster(LocalCluster(port=9999, data_dir=tmp_path / "node"))
    node.pki.issue(["127.0.0.1"], "test")
    node.ensure_passwords()
    return node


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSEARCH_SPARSE_")}
    return subprocess.run(
        [sys.executable, "-m", "opensearch_sparse", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_passwords_are_random_owner_only_and_kept(tmp_path: Path) -> None:
    node = _secured_folder(tmp_path)
    users = node.folder / "users"
    assert users.stat().st_mode & 0o777 == 0o700
    passwords = {u: node.password(u) for u in ROLES}
    assert len(set(passwords.values())) == len(ROLES)
    assert all(len(pw) >= 32 for pw in passwords.values())
    assert all((users / u).stat().st_mode & 0o777 == 0o600 for u in ROLES)
    (users / "search").unlink()  # rotate one: delete it, the next start makes a new one
    again = node.ensure_passwords()
    assert again["admin"] == passwords["admin"] and again["search"] != passwords["search"]


def test_cluster_env_exports_for_a_secured_folder(tmp_path: Path) -> None:
    node = _secured_folder(tmp_path)
    proc = _cli(
        "cluster", "env", "--port", "9999", "--data-dir", str(node.node_dir), "--user", "search"
    )
    assert proc.returncode == 0, proc.stderr
    # What `eval "$(...)"` leaves in the shell:
    shown = subprocess.run(
        ["bash", "-c", proc.stdout + "\nenv | grep ^OPENSEARCH_SPARSE_ | sort"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "OPENSEARCH_SPARSE_PASSWORD": "stale"},
        check=True,
    ).stdout.splitlines()
    assert shown == [
        f"OPENSEARCH_SPARSE_CA_CERTS={node.pki.ca}",
        f"OPENSEARCH_SPARSE_PASSWORD_FILE={node.folder / 'users' / 'search'}",
        "OPENSEARCH_SPARSE_URL=https://127.0.0.1:9999",
        "OPENSEARCH_SPARSE_USERNAME=search",
    ]
    assert node.password("search") not in proc.stdout  # a file name, never the password
    assert all(shlex.split(line) for line in proc.stdout.splitlines())


def test_cluster_env_refuses_unknown_users(tmp_path: Path) -> None:
    node = _secured_folder(tmp_path)
    proc = _cli(
        "cluster", "env", "--port", "9999", "--data-dir", str(node.node_dir), "--user", "root"
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == "error: there is no user 'root' on a secured local node"
    plain = _cli("cluster", "env", "--port", "9999", "--data-dir", str(tmp_path / "plain"))
    assert plain.returncode == 0
    assert "export OPENSEARCH_SPARSE_URL=http://127.0.0.1:9999" in plain.stdout
    assert "unset OPENSEARCH_SPARSE_PASSWORD_FILE" in plain.stdout
    with_user = _cli(
        "cluster",
        "env",
        "--port",
        "9999",
        "--data-dir",
        str(tmp_path / "plain"),
        "--user",
        "search",
    )
    assert with_user.returncode == 1 and "is not secured" in with_user.stderr
