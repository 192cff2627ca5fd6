"""The demo corpus: real docstrings read statically, stable ids, nothing imported."""

from __future__ import annotations

import sys
from pathlib import Path

from opensearch_sparse.demo.corpus import MIN_WORDS, stdlib_docs


def test_stdlib_docstrings_are_a_real_corpus() -> None:
    docs = list(stdlib_docs(limit=300))
    assert len(docs) == 300
    assert len({d.doc_id for d in docs}) == 300
    assert all(len(d.text.split()) >= MIN_WORDS for d in docs)
    assert all(d.title == d.doc_id for d in docs)
    assert [d.doc_id for d in stdlib_docs(limit=300)] == [d.doc_id for d in docs]  # stable


def test_reads_without_importing(tmp_path: Path) -> None:
    pkg = tmp_path / "boom"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        '"""A package whose import would fail loudly, so it is documented at length here."""\n'
        "raise SystemExit('imported!')\n"
        "def helper():\n"
        '    """Return the answer to everything after a long, slow and careful computation."""\n'
    )
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "t.py").write_text('"""Tests are skipped even with a long docstring."""')
    docs = {d.doc_id: d for d in stdlib_docs(root=tmp_path)}
    assert set(docs) == {"boom", "boom.helper"}
    assert "boom" not in sys.modules
