"""The client's security behaviour without a cluster: where passwords come from and where they
never go, the insecure-connection warnings, and AWS SigV4 signing checked against an
independent computation of the signature over the bytes a real request carried."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from opensearch_sparse.client import (
    InsecureConnectionWarning,
    check_reachable,
    make_client,
    read_password_file,
)
from opensearch_sparse.config import CONNECTION_VARIABLES, ENV_PREFIX, ClusterConfig
from opensearch_sparse.errors import ClusterUnreachableError, SparseError

SECRET = "S3cret-sentinel-Pw"


@pytest.fixture(autouse=True)
def _no_connection_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shell that ran `eval "$(opensearch-sparse cluster env)"` must not change results."""
    for name in CONNECTION_VARIABLES:
        monkeypatch.delenv(ENV_PREFIX + name, raising=False)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_password_is_in_no_repr_and_no_error() -> None:
    cfg = ClusterConfig(url=f"http://127.0.0.1:{_closed_port()}", username="admin", password=SECRET)
    assert SECRET not in repr(cfg)
    client = make_client(cfg)
    assert SECRET not in repr(client)
    assert SECRET not in repr(client.transport.connection_pool.connections)
    with pytest.raises(ClusterUnreachableError) as info:
        check_reachable(client, cfg)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


def test_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(SparseError, match="URL contains credentials") as info:
        make_client(ClusterConfig(url=f"https://admin:{SECRET}@search.example:9200"))
    assert SECRET not in str(info.value)


def test_password_file_first_line_and_owner_only_warning(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(f"{SECRET}\nignored second line\n")
    path.chmod(0o600)
    assert read_password_file(str(path)) == SECRET
    path.chmod(0o644)
    with pytest.warns(InsecureConnectionWarning, match="readable by other users"):
        assert read_password_file(str(path)) == SECRET


@pytest.mark.parametrize(
    ("content", "message"), [(None, "cannot read the password file"), ("", "is empty")]
)
def test_unusable_password_file_names_the_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "pw"
    if content is not None:
        path.write_text(content)
        path.chmod(0o600)
    with pytest.raises(SparseError, match=message) as info:
        make_client(ClusterConfig(url="https://h:9200", username="u", password_file=str(path)))
    assert str(path) in str(info.value)


def test_password_sources_must_be_unambiguous(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("x\n")
    path.chmod(0o600)
    url = "https://search.example:9200"
    with pytest.raises(SparseError, match="both a password and a password file"):
        make_client(ClusterConfig(url=url, username="u", password="y", password_file=str(path)))
    with pytest.raises(SparseError, match="no user name"):
        make_client(ClusterConfig(url=url, username=None, password="y"))
    with pytest.raises(SparseError, match="has no password"):
        make_client(ClusterConfig(url=url, username="u", password=None, password_file=None))


def test_password_file_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "pw"
    path.write_text(f"{SECRET}\n")
    path.chmod(0o600)
    monkeypatch.setenv("OPENSEARCH_SPARSE_URL", "https://search.example:9200")
    monkeypatch.setenv("OPENSEARCH_SPARSE_USERNAME", "ingest")
    monkeypatch.setenv("OPENSEARCH_SPARSE_PASSWORD_FILE", str(path))
    monkeypatch.delenv("OPENSEARCH_SPARSE_PASSWORD", raising=False)
    (conn,) = make_client().transport.connection_pool.connections
    import base64

    assert (
        conn.headers["authorization"]
        == "Basic " + base64.b64encode(f"ingest:{SECRET}".encode()).decode()
    )


def test_insecure_warns_on_every_client() -> None:
    cfg = ClusterConfig(url="https://search.example:9200", verify_certs=False)
    for _ in range(2):
        with pytest.warns(InsecureConnectionWarning, match="not verified"):
            make_client(cfg)


def test_clear_text_password_off_this_machine_warns(recwarn: pytest.WarningsRecorder) -> None:
    with pytest.warns(InsecureConnectionWarning, match="clear text"):
        make_client(ClusterConfig(url="http://search.example:9200", username="u", password="p"))
    recwarn.clear()
    make_client(ClusterConfig(url="http://127.0.0.1:9200", username="u", password="p"))
    assert not [w for w in recwarn if issubclass(w.category, InsecureConnectionWarning)]


def test_a_missing_ca_file_is_named() -> None:
    with pytest.raises(SparseError, match=r"the CA file /nonexistent/ca\.pem does not exist"):
        make_client(ClusterConfig(url="https://h:9200", ca_certs="/nonexistent/ca.pem"))


# --- AWS SigV4 ---------------------------------------------------------------------------------

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
FROZEN = dt.datetime(2025, 1, 2, 3, 4, 5)


class _Recorder(BaseHTTPRequestHandler):
    """Answers like OpenSearch and keeps what each request carried."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
        reply = {"version": {"number": "3.6.0"}, "hits": {"hits": []}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture()
def recorder() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.seen
    finally:
        server.shutdown()
        server.server_close()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(seen: dict[str, Any], signed: list[str], region: str, service: str) -> str:
    """SigV4 as the AWS documentation defines it, written out independently of botocore."""
    stamp = seen["headers"]["x-amz-date"]
    path, _, query = seen["path"].partition("?")
    canonical = "\n".join(
        [
            seen["method"],
            path,
            query,
            "".join(f"{h}:{' '.join(seen['headers'][h].split())}\n" for h in signed),
            ";".join(signed),
            hashlib.sha256(seen["body"]).hexdigest(),
        ]
    )
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (stamp[:8], region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("service", ["es", "aoss"])
def test_sigv4_signs_requests_from_fixed_credentials(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    recorder: tuple[str, list[dict[str, Any]]],
    service: str,
) -> None:
    import botocore.auth

    url, seen = recorder
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: FROZEN)

    cfg = ClusterConfig(url=url, username=None, password=None, aws_region="eu-west-1")
    client = make_client(ClusterConfig(**{**cfg.__dict__, "aws_service": service}))
    client.search(index="docs", body={"query": {"match": {"text": "heat transfer"}}})

    request = seen[-1]
    assert (request["method"], request["path"]) == ("POST", "/docs/_search")
    headers = request["headers"]
    assert headers["x-amz-date"] == "20250102T030405Z"
    assert headers["x-amz-content-sha256"] == hashlib.sha256(request["body"]).hexdigest()
    signed = ["host", "x-amz-content-sha256", "x-amz-date"]
    signature = expected_signature(request, signed, "eu-west-1", service)
    assert headers["authorization"] == (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20250102/eu-west-1/{service}/aws4_request, "
        f"SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    assert SECRET_KEY not in repr(client) and SECRET_KEY not in json.dumps(headers)


def test_sigv4_and_a_password_do_not_mix() -> None:
    with pytest.raises(SparseError, match="both AWS signing"):
        make_client(
            ClusterConfig(url="https://h:443", username="u", password="p", aws_region="us-east-1")
        )
