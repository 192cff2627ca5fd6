"""One factory for opensearch-py clients, so every command reaches a cluster the same way."""

from __future__ import annotations

from urllib.parse import urlparse

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import TransportError

from opensearch_sparse.config import ClusterConfig
from opensearch_sparse.errors import ClusterUnreachableError


def make_client(cfg: ClusterConfig | None = None) -> OpenSearch:
    """A client for the configured URL, with basic auth and TLS options when given."""
    cfg = cfg or ClusterConfig()
    parsed = urlparse(cfg.url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ClusterUnreachableError(
            f"{cfg.url!r} is not an http(s) URL", "pass e.g. --url https://host:9200"
        )
    auth = (cfg.username, cfg.password or "") if cfg.username else None
    return OpenSearch(
        hosts=[cfg.url],
        http_auth=auth,
        use_ssl=parsed.scheme == "https",
        verify_certs=cfg.verify_certs,
        ssl_show_warn=cfg.verify_certs,
        ca_certs=cfg.ca_certs,
        timeout=cfg.timeout_s,
        max_retries=3,
        # Enough connections for benchmarks and bulk helpers running many threads.
        pool_maxsize=32,
        retry_on_timeout=True,
    )


def check_reachable(client: OpenSearch, url: str) -> dict:
    """The cluster's root document, or a one-line error that says how to get a cluster."""
    try:
        return client.info()
    except OSConnectionError as exc:
        raise ClusterUnreachableError(
            f"no OpenSearch answers at {url}",
            "start the local node with `opensearch-sparse cluster start` or pass --url",
        ) from exc


def server_reason(exc: TransportError) -> str:
    """The server's own one-line reason from an error response (root cause first)."""
    info = exc.info if isinstance(exc.info, dict) else {}
    error = info.get("error", {})
    if isinstance(error, dict):
        causes = error.get("root_cause") or [error]
        return str(causes[0].get("reason") or error.get("reason") or error.get("type") or exc)
    return str(error or exc.error)
