"""The export's own error: what went wrong with the user's model or paths, and how to fix it.

It subclasses the product's ``SparseError`` so the CLI prints ``error:`` and ``fix:`` lines for it
without a traceback, like every other failure a user can act on.
"""

from __future__ import annotations

from opensearch_sparse.errors import SparseError


class ExportError(SparseError):
    """A checkpoint, tokenizer or output path that cannot give a deployable sparse model."""

    def __init__(self, cause: str, fix: str) -> None:
        super().__init__(cause, fix)
