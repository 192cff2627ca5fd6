"""The product's own errors: each carries a one-line cause and the fix a user should try.

The CLI prints ``error: <cause>`` and ``fix: <fix>`` and exits 1 for any of these, without a
traceback (set ``OPENSEARCH_SPARSE_DEBUG=1`` to see one).
"""

from __future__ import annotations


class SparseError(Exception):
    """Base class: a failure the user can act on."""

    def __init__(self, cause: str, fix: str | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.fix = fix

    def __str__(self) -> str:
        return self.cause if not self.fix else f"{self.cause} (fix: {self.fix})"


class JavaNotFoundError(SparseError):
    """No Java runtime of a version the pinned OpenSearch supports."""


class ArtifactError(SparseError):
    """A Maven artifact could not be fetched, is missing upstream, or failed verification."""


class PortInUseError(SparseError):
    """The HTTP port the node should bind is already taken by another process."""


class NodeStartError(SparseError):
    """The node exited or never became ready; the message carries the tail of its log."""


class ClusterUnreachableError(SparseError):
    """Nothing answers at the configured cluster URL."""


class TlsError(ClusterUnreachableError):
    """The TLS handshake failed (wrong scheme, unknown CA, bad certificate)."""


class AuthenticationError(SparseError):
    """The cluster refused the credentials (401)."""


class AuthorizationError(SparseError):
    """The user is known but lacks the permission for the request (403)."""
