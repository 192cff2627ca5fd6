"""A real corpus every machine has offline: the Python standard library's own docstrings.

Read statically with ``ast`` (nothing is imported, so no module runs), one document per
module, class and function docstring, titled by its dotted name.
"""

from __future__ import annotations

import ast
import logging
import sysconfig
import warnings
from collections.abc import Iterator
from pathlib import Path

from opensearch_sparse.corpus import Document

logger = logging.getLogger(__name__)

_SKIP_PARTS = {"test", "tests", "idlelib", "lib2to3", "site-packages", "__pycache__", "turtledemo"}
MIN_WORDS = 12


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _docstrings(tree: ast.Module, module: str) -> Iterator[tuple[str, str]]:
    doc = ast.get_docstring(tree)
    if doc:
        yield module, doc
    stack: list[tuple[str, ast.AST]] = [(module, tree)]
    while stack:
        prefix, node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                if child.name.startswith("_") and not child.name.startswith("__init__"):
                    continue
                name = f"{prefix}.{child.name}"
                doc = ast.get_docstring(child)
                if doc:
                    yield name, doc
                if isinstance(child, ast.ClassDef):
                    stack.append((name, child))


def stdlib_docs(limit: int | None = None, root: Path | None = None) -> Iterator[Document]:
    """Documents in a stable order (sorted paths), at most ``limit``."""
    root = root or stdlib_root()
    count = 0
    for path in sorted(root.rglob("*.py")):
        if _SKIP_PARTS & set(path.relative_to(root).parts):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError, OSError) as exc:
            logger.debug("skipping %s: %s", path, exc)
            continue
        for name, doc in _docstrings(tree, _module_name(root, path)):
            if len(doc.split()) < MIN_WORDS:
                continue
            yield Document(doc_id=name, title=name, text=doc)
            count += 1
            if limit is not None and count >= limit:
                return
