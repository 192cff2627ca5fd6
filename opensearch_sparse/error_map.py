"""The one error boundary: what opensearch-py, requests, ssl and the OS raise, as the product's
errors (one line saying what happened, one saying what to do).

The CLI's ``main`` asks ``explain`` about any exception that is not already a ``SparseError``;
library code that knows more (which index, which user, which file) raises its own message
first, and this map is the floor under it, so no user error ends in a traceback. Messages carry
the server's or the OS's words as plain text; the CLI prints them literally.
"""

from __future__ import annotations

import ssl

from opensearch_sparse.errors import ClusterUnreachableError, SparseError, TlsError

_DEBUG = "rerun with OPENSEARCH_SPARSE_DEBUG=1 for the full traceback"
_HEALTH = "check the cluster (`opensearch-sparse cluster status`, or its health API)"


class ClusterRequestError(SparseError):
    """The cluster answered with an error status the command could not act on."""


class LocalFileError(SparseError):
    """A file or folder on this machine could not be read or written."""


def explain(exc: BaseException) -> SparseError | None:
    """The product's error for ``exc``, or None when it is a bug (then show the traceback)."""
    for mapper in (_opensearch, _requests, _os):
        mapped = mapper(exc)
        if mapped is not None:
            return mapped
    return None


def _opensearch(exc: BaseException) -> SparseError | None:
    from opensearchpy import exceptions as os_exc  # only when something already failed

    from opensearch_sparse.client import explain_refusal, server_reason

    refusal = explain_refusal(exc)
    if refusal is not None:
        return refusal
    if isinstance(exc, os_exc.SSLError):
        return TlsError(f"the TLS connection to the cluster failed: {_detail(exc)}", _TLS_FIX)
    if isinstance(exc, os_exc.ConnectionTimeout):
        return ClusterUnreachableError(
            f"the cluster did not answer in time: {_detail(exc)}",
            f"{_HEALTH}; long requests take a larger --timeout where the command has one",
        )
    if isinstance(exc, os_exc.ConnectionError):
        return ClusterUnreachableError(
            f"the connection to the cluster failed: {_detail(exc)}",
            f"{_HEALTH}, then rerun: ingest and register are idempotent",
        )
    if not isinstance(exc, os_exc.TransportError) or not isinstance(exc.status_code, int):
        return None
    status, reason = exc.status_code, server_reason(exc)
    if status == 404 and _error_type(exc) == "index_not_found_exception":
        return ClusterRequestError(
            f"no such index: {reason}", "create it with `opensearch-sparse index create`"
        )
    if status == 413:
        return ClusterRequestError(
            f"the request is too large for the cluster (413): {reason}",
            "lower --batch-size, or raise the cluster's http.max_content_length",
        )
    if status == 429:
        return ClusterRequestError(
            f"the cluster is overloaded and refused the request (429): {reason}",
            "wait and rerun (ingest is idempotent), or send less at once (--batch-size)",
        )
    if status >= 500:
        return ClusterRequestError(f"the cluster failed the request ({status}): {reason}", _HEALTH)
    return ClusterRequestError(f"the cluster refused the request ({status}): {reason}", _DEBUG)


def _detail(exc: object) -> str:
    """opensearch-py's connection errors carry the message in ``error``, the cause in ``info``."""
    return str(getattr(exc, "error", "") or getattr(exc, "info", "") or exc)


def _error_type(exc: object) -> str:
    info = getattr(exc, "info", None)
    error = info.get("error") if isinstance(info, dict) else None
    return str(error.get("type", "")) if isinstance(error, dict) else ""


def _requests(exc: BaseException) -> SparseError | None:
    try:
        import requests
    except ImportError:  # pragma: no cover - requests comes with opensearch-py
        return None
    if isinstance(exc, requests.exceptions.SSLError):
        return TlsError(f"the TLS connection failed: {exc}", _TLS_FIX)
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return ClusterUnreachableError(f"the connection failed: {exc}", _HEALTH)
    if isinstance(exc, requests.exceptions.HTTPError):
        return ClusterRequestError(f"the request failed: {exc}", _DEBUG)
    return None


def _os(exc: BaseException) -> SparseError | None:
    if isinstance(exc, ssl.SSLError):
        return TlsError(f"the TLS handshake failed: {exc}", _TLS_FIX)
    if isinstance(exc, ConnectionError):  # the builtin: a socket reset or refused
        return ClusterUnreachableError(f"the connection failed: {exc}", _HEALTH)
    if isinstance(exc, OSError) and exc.filename is not None:
        what = exc.strerror or type(exc).__name__
        return LocalFileError(
            f"{exc.filename}: {what}", "check the path and that this user may read or write it"
        )
    if isinstance(exc, OSError) and exc.strerror:
        return LocalFileError(f"the operating system refused: {exc.strerror}", _DEBUG)
    return None


_TLS_FIX = (
    "check the URL's scheme (https:// for TLS), and pass the CA that signed the cluster's "
    "certificate with --ca-certs / OPENSEARCH_SPARSE_CA_CERTS"
)
