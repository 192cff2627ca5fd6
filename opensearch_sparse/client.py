"""One factory for opensearch-py clients, so every command reaches a cluster the same way.

Authentication is basic (a user name, and a password from the environment or a file, never a
flag) or AWS SigV4 for managed clusters. TLS certificates are verified by default: turning that
off, or sending a password in clear text off this machine, raises an
``InsecureConnectionWarning`` every time a client is made (the CLI prints it). The first
request (``check_reachable``) turns the usual connection mistakes (http against a TLS port, a CA
that did not sign the server's certificate, a wrong password) into one cause and one fix.
No password appears in a message, a repr or a log line.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import stat
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    SSLError,
    TransportError,
)
from opensearchpy.exceptions import ConnectionError as OSConnectionError

from opensearch_sparse.config import AWS_SERVICES, ClusterConfig
from opensearch_sparse.errors import (
    AuthenticationError,
    AuthorizationError,
    ClusterUnreachableError,
    SparseError,
    TlsError,
)

_LOCAL_SECURE = (
    'for a node from `cluster start --secure`: eval "$(opensearch-sparse cluster env --port PORT)"'
)


class InsecureConnectionWarning(UserWarning):
    """Anyone on the network path can read or change this connection's traffic."""


def read_password_file(path: str) -> str:
    """The password in ``path`` (its first line), with a warning when others can read it."""
    file = Path(path).expanduser()
    try:
        text = file.read_text()
        mode = file.stat().st_mode
    except OSError as exc:
        raise SparseError(
            f"cannot read the password file {file}: {exc.strerror}",
            "check --password-file / OPENSEARCH_SPARSE_PASSWORD_FILE",
        ) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(
            f"the password file {file} is readable by other users: chmod 600 {file}",
            InsecureConnectionWarning,
            stacklevel=2,
        )
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise SparseError(f"the password file {file} is empty", "write the password into it")
    return lines[0]


def resolve_password(cfg: ClusterConfig) -> str | None:
    """The password from ``cfg.password`` or ``cfg.password_file`` (only one may be set)."""
    if cfg.password and cfg.password_file:
        raise SparseError(
            "both a password and a password file are set",
            "keep one of OPENSEARCH_SPARSE_PASSWORD and OPENSEARCH_SPARSE_PASSWORD_FILE "
            "(--password-file)",
        )
    return read_password_file(cfg.password_file) if cfg.password_file else cfg.password


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _auth(cfg: ClusterConfig, host: str, use_ssl: bool) -> Any:
    """Basic-auth credentials, an AWS SigV4 signer, or None."""
    password = resolve_password(cfg)
    if cfg.aws_region:
        if cfg.username or password:
            raise SparseError(
                "both AWS signing (--aws-region) and a user name / password are set",
                "use one: a managed cluster with IAM takes SigV4, one with an internal user "
                "database takes a user name and password",
            )
        return _aws_signer(cfg.aws_region, cfg.aws_service)
    if password and not cfg.username:
        raise SparseError(
            "a password is set but no user name",
            "set --username / OPENSEARCH_SPARSE_USERNAME too",
        )
    if not cfg.username:
        return None
    if password is None:
        raise SparseError(
            f"user {cfg.username} has no password",
            "set OPENSEARCH_SPARSE_PASSWORD_FILE (--password-file) or OPENSEARCH_SPARSE_PASSWORD",
        )
    if not use_ssl and not _is_loopback(host):
        warnings.warn(
            f"the password of {cfg.username} goes to {host} in clear text (http://): use https://",
            InsecureConnectionWarning,
            stacklevel=3,
        )
    return (cfg.username, password)


def _aws_signer(region: str, service: str) -> Any:
    """opensearch-py's SigV4 signer with boto3's credential chain (environment, profile,
    instance or task role). The urllib3 variant keeps the default connection class, so pool
    sizes and retries stay the same as with basic auth."""
    if service not in AWS_SERVICES:
        raise SparseError(
            f"unknown AWS service {service!r}",
            "use --aws-service es (OpenSearch Service) or aoss (OpenSearch Serverless)",
        )
    try:
        import boto3
        from opensearchpy import Urllib3AWSV4SignerAuth
    except ImportError as exc:
        raise SparseError(
            "AWS signing needs boto3, which is not installed",
            'install the aws extra: pip install "opensearch-sparse[aws]"',
        ) from exc
    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise SparseError(
            "no AWS credentials found to sign requests with",
            "set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role",
        )
    return Urllib3AWSV4SignerAuth(credentials, region, service)


def make_client(cfg: ClusterConfig | None = None) -> OpenSearch:
    """A client for the configured URL, with basic auth or SigV4 and TLS options."""
    cfg = cfg or ClusterConfig()
    # Several nodes of one cluster, comma-separated: requests fail over between them.
    hosts = [url.strip() for url in cfg.url.split(",") if url.strip()]
    for url in hosts or [cfg.url]:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ClusterUnreachableError(
                f"{url!r} is not an http(s) URL",
                "pass e.g. --url https://host:9200 (several nodes: comma-separated)",
            )
        if parsed.username or parsed.password:
            # URLs end up in messages and logs; a password inside one would too.
            raise SparseError(
                "the cluster URL contains credentials",
                "remove them from the URL; set OPENSEARCH_SPARSE_USERNAME and "
                "OPENSEARCH_SPARSE_PASSWORD_FILE (or _PASSWORD) instead",
            )
        if urlparse(hosts[0]).scheme != parsed.scheme:
            raise ClusterUnreachableError(
                f"{cfg.url!r} mixes http and https", "use one scheme for every node"
            )
    parsed = urlparse(hosts[0])
    use_ssl = parsed.scheme == "https"
    if use_ssl and cfg.ca_certs and not Path(cfg.ca_certs).expanduser().is_file():
        raise TlsError(
            f"the CA file {cfg.ca_certs} does not exist",
            "pass the cluster's CA certificate (PEM) with --ca-certs / OPENSEARCH_SPARSE_CA_CERTS",
        )
    if use_ssl and not cfg.verify_certs:
        warnings.warn(
            f"TLS certificates of {cfg.url} are not verified (--insecure): anyone on the "
            "network path can read and change the traffic, passwords included",
            InsecureConnectionWarning,
            stacklevel=2,
        )
    return OpenSearch(
        hosts=hosts,
        http_auth=_auth(cfg, parsed.hostname or "", use_ssl),
        use_ssl=use_ssl,
        verify_certs=cfg.verify_certs,
        # One warning per client (above), not urllib3's one per request.
        ssl_show_warn=False,
        ca_certs=str(Path(cfg.ca_certs).expanduser()) if cfg.ca_certs else None,
        timeout=cfg.timeout_s,
        max_retries=3,
        # Enough connections for benchmarks and bulk helpers running many threads.
        pool_maxsize=32,
        retry_on_timeout=True,
    )


def check_reachable(client: OpenSearch, cfg: ClusterConfig) -> dict:
    """The cluster's root document, or one cause and one fix for why it cannot be had."""
    if cfg.aws_region and cfg.aws_service == "aoss":
        return {}  # Serverless has no root endpoint; the first real request tells
    try:
        return client.info()
    except SSLError as exc:
        raise tls_error(cfg, str(exc.info)) from exc
    except OSConnectionError as exc:
        if _plain_to_tls(cfg.url):
            raise _plain_to_tls_error(cfg.url) from exc
        raise ClusterUnreachableError(
            f"no OpenSearch answers at {cfg.url}",
            "start the local node with `opensearch-sparse cluster start` or pass --url",
        ) from exc
    except AuthenticationException as exc:
        raise authentication_error(cfg, exc) from exc
    except AuthorizationException as exc:
        raise access_error(exc, aws=bool(cfg.aws_region)) from exc
    except TransportError as exc:
        if exc.status_code == 400 and _plain_to_tls(cfg.url):
            raise _plain_to_tls_error(cfg.url) from exc
        raise


def tls_error(cfg: ClusterConfig, detail: str) -> TlsError:
    """Why the TLS handshake failed, in the user's terms: which CA, which name, which scheme."""
    if "CERTIFICATE_VERIFY_FAILED" in detail and "mismatch" in detail:
        host = urlparse(cfg.url.split(",")[0]).hostname
        return TlsError(
            f"the certificate of {cfg.url} is not issued for the name {host}",
            "connect with a name the certificate lists (for a local secure node: 127.0.0.1 "
            "or localhost)",
        )
    if "CERTIFICATE_VERIFY_FAILED" in detail:
        signer = f"the CA in {cfg.ca_certs}" if cfg.ca_certs else "a CA this machine trusts"
        return TlsError(
            f"the certificate of {cfg.url} is not signed by {signer}",
            "pass the CA that signed the cluster's certificate with --ca-certs / "
            f"OPENSEARCH_SPARSE_CA_CERTS ({_LOCAL_SECURE})",
        )
    if any(s in detail for s in ("WRONG_VERSION_NUMBER", "wrong version number", "record layer")):
        return TlsError(f"{cfg.url} does not speak TLS", "use http:// for this cluster")
    return TlsError(
        f"the TLS handshake with {cfg.url} failed: {detail.splitlines()[0] if detail else '?'}",
        "check --url and --ca-certs",
    )


def authentication_error(cfg: ClusterConfig, exc: TransportError) -> AuthenticationError:
    """401: no credentials, or wrong ones; names the user, never the password."""
    reason = server_reason(exc)
    if cfg.username:
        return AuthenticationError(
            f"{cfg.url} refused the credentials of user {cfg.username} (401): {reason}",
            "check the user name and the password (OPENSEARCH_SPARSE_PASSWORD_FILE / "
            "--password-file, or OPENSEARCH_SPARSE_PASSWORD)",
        )
    return AuthenticationError(
        f"{cfg.url} needs a user name and password (401): {reason}",
        "set OPENSEARCH_SPARSE_USERNAME and OPENSEARCH_SPARSE_PASSWORD_FILE (or _PASSWORD); "
        + _LOCAL_SECURE,
    )


def access_error(exc: TransportError, *, aws: bool = False) -> AuthorizationError:
    """403: the user is known and may not make this request."""
    if aws:
        return AuthorizationError(
            f"AWS refused the signed request (403): {server_reason(exc)}",
            "check the AWS credentials, --aws-region and --aws-service (es: OpenSearch "
            "Service, aoss: Serverless) and the domain's access policy",
        )
    # A refused HEAD (e.g. "does this index exist?") has no body to give a reason in.
    reason = f": {server_reason(exc)}" if exc.info else ""
    return AuthorizationError(
        f"the cluster refused the request (403, not allowed for this user){reason}",
        "use a user whose role allows it (local secure node: `cluster env --user ingest` or "
        "`--user model-admin`), or ask the cluster's administrator for the permission",
    )


def explain_refusal(exc: BaseException) -> SparseError | None:
    """The product's error for a 401 or 403 raised by any request after connecting (the CLI
    shows it as one line); None for anything else."""
    if isinstance(exc, AuthenticationException):
        return AuthenticationError(
            f"the cluster refused the credentials (401): {server_reason(exc)}",
            "check the user name and password, and run the command again",
        )
    if isinstance(exc, AuthorizationException):
        return access_error(exc)
    return None


def _plain_to_tls(url: str) -> bool:
    """True when ``url`` (the first, when several) says http:// but answers a TLS handshake."""
    parsed = urlparse(url.split(",")[0].strip())
    if parsed.scheme != "http" or not parsed.hostname:
        return False
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only asking "is this TLS?", nothing is sent
    try:
        with (
            socket.create_connection((parsed.hostname, parsed.port or 80), timeout=5) as sock,
            context.wrap_socket(sock, server_hostname=parsed.hostname),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


def _plain_to_tls_error(url: str) -> TlsError:
    secure = "https" + url[len("http") :]
    return TlsError(f"{url} speaks TLS only; plain HTTP was refused", f"use {secure}")


#: Answers worth another try: the cluster is busy (429, a circuit breaker that says its
#: durability is TRANSIENT) or a node, or a proxy in front of one, is (re)starting (502-504).
TRANSIENT_STATUS = frozenset({429, 502, 503, 504})


def is_transient(exc: TransportError) -> bool:
    """Whether asking the same thing again later may succeed (see ``TRANSIENT_STATUS``)."""
    return exc.status_code in TRANSIENT_STATUS


T = TypeVar("T")


def ask_again_when_busy(
    request: Callable[[], T],
    pauses: Iterable[float],
    on_busy: Callable[[TransportError], None] = lambda _: None,
) -> T:
    """``request()``, asked again after each of ``pauses`` while the node refuses it as busy
    (``is_transient``); once the pauses run out, the next answer, an error included, is the
    caller's. Any other error is raised at once.

    A 1 GB node trips its real-memory circuit breaker for a moment under load (CI saw it at
    search and at a deploy's first request); the same request a little later succeeds. Search
    waits fractions of a second, ml-commons commands up to their deadline: only the pauses
    differ.
    """
    for pause in pauses:
        try:
            return request()
        except TransportError as exc:
            if not is_transient(exc):
                raise
            on_busy(exc)
        time.sleep(pause)
    return request()


def server_reason(exc: TransportError) -> str:
    """The server's own one-line reason from an error response (root cause first)."""
    info = exc.info if isinstance(exc.info, dict) else {}
    error = info.get("error", {})
    if isinstance(error, dict):
        causes = error.get("root_cause") or [error]
        return str(causes[0].get("reason") or error.get("reason") or error.get("type") or exc)
    return str(error or exc.error)
