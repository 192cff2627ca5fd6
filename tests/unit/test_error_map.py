"""The error boundary: library and OS exceptions become one cause line and one fix line."""

from __future__ import annotations

import ssl

import pytest
from opensearchpy import exceptions as os_exc

from opensearch_sparse.error_map import ClusterRequestError, LocalFileError, explain
from opensearch_sparse.errors import (
    AuthenticationError,
    AuthorizationError,
    ClusterUnreachableError,
    TlsError,
)


def _transport(status: int, kind: str, reason: str) -> os_exc.TransportError:
    info = {"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind}}
    cls = os_exc.HTTP_EXCEPTIONS.get(status, os_exc.TransportError)
    return cls(status, kind, info)


@pytest.mark.parametrize(
    ("exc", "kind", "cause", "fix"),
    [
        (_transport(401, "security", "bad creds"), AuthenticationError, "401", "password"),
        (_transport(403, "security", "no perm"), AuthorizationError, "403", "role"),
        (_transport(413, "too_large", "body too big"), ClusterRequestError, "413", "--batch-size"),
        (_transport(429, "rejected", "queue full"), ClusterRequestError, "429", "rerun"),
        (_transport(503, "unavailable", "no master"), ClusterRequestError, "503", "cluster"),
        (
            _transport(404, "index_not_found_exception", "no such index [x]"),
            ClusterRequestError,
            "no such index [x]",
            "index create",
        ),
        (_transport(400, "parsing", "field [a] of type [b]"), ClusterRequestError, "[b]", "DEBUG"),
        (
            os_exc.ConnectionError("N/A", "refused", None),
            ClusterUnreachableError,
            "refused",
            "rerun",
        ),
        (
            os_exc.ConnectionTimeout("TIMEOUT", "timed out", None),
            ClusterUnreachableError,
            "time",
            "",
        ),
        (os_exc.SSLError("N/A", "CERTIFICATE_VERIFY_FAILED", None), TlsError, "TLS", "--ca-certs"),
        (ssl.SSLError(1, "wrong version number"), TlsError, "handshake", "https"),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            ClusterUnreachableError,
            "reset",
            "",
        ),
        (
            PermissionError(13, "Permission denied", "/x/idf.json"),
            LocalFileError,
            "/x/idf.json",
            "path",
        ),
        (IsADirectoryError(21, "Is a directory", "/tmp"), LocalFileError, "Is a directory", "path"),
    ],
)
def test_known_failures_map_to_one_cause_and_one_fix(
    exc: BaseException, kind: type, cause: str, fix: str
) -> None:
    mapped = explain(exc)
    assert isinstance(mapped, kind)
    assert cause in mapped.cause and "\n" not in mapped.cause
    assert mapped.fix is not None and fix in mapped.fix


def test_a_bug_is_not_mapped() -> None:
    assert explain(ValueError("a bug")) is None
    assert explain(KeyError("x")) is None


def test_cli_prints_a_mapped_error_in_two_lines_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: pytest.TempPathFactory
) -> None:
    import sys
    from unittest import mock

    from opensearch_sparse.cli import main

    # An unreadable IDF table: the OS error surfaces through the CLI's one boundary.
    with (
        mock.patch.object(sys, "argv", ["opensearch-sparse", "search", "ix", "q", "--idf", "/"]),
        pytest.raises(SystemExit) as done,
    ):
        main()
    assert done.value.code not in (0, None)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err
