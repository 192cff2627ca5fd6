"""Choosing a Java runtime, and explaining when none fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from opensearch_sparse.cluster.java import find_java, java_major, required_java
from opensearch_sparse.errors import JavaNotFoundError


def _fake_jdk(root: Path, version_line: str) -> Path:
    home = root / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(0o755)
    return home


def test_required_java_by_release() -> None:
    assert required_java("3.6.0") == 21
    assert required_java("2.19.4") == 11


@pytest.mark.parametrize(
    ("line", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "25" 2025-09-16', 25),
        ('java version "1.8.0_381"', 8),
    ],
)
def test_java_major_parses_version_banner(tmp_path: Path, line: str, major: int) -> None:
    assert java_major(_fake_jdk(tmp_path, line)) == major


def test_too_old_java_is_explained(tmp_path: Path) -> None:
    home = _fake_jdk(tmp_path, 'openjdk version "17.0.15" 2025-04-15')
    with pytest.raises(JavaNotFoundError) as info:
        find_java("3.6.0", explicit=home)
    assert "needs Java 21+" in info.value.cause
    assert "Java 17" in info.value.cause
    assert info.value.fix and "OPENSEARCH_SPARSE_JAVA_HOME" in info.value.fix


def test_missing_java_is_explained(tmp_path: Path) -> None:
    with pytest.raises(JavaNotFoundError) as info:
        find_java("3.6.0", explicit=tmp_path / "nowhere")
    assert "none found" in info.value.cause


def test_suitable_java_is_chosen(tmp_path: Path) -> None:
    home = _fake_jdk(tmp_path, 'openjdk version "21.0.2" 2024-01-16')
    found = find_java("3.6.0", explicit=home)
    assert (found.path, found.major) == (home, 21)
