"""Find a Java runtime the pinned OpenSearch can run on.

OpenSearch 3.x needs Java 21 or newer, while many machines default to 17: look at the usual
places before giving up, and say exactly what was found when nothing fits.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from opensearch_sparse.errors import JavaNotFoundError

_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')
_JVM_DIRS = (Path("/usr/lib/jvm"), Path("/usr/java"), Path("/opt/java"), Path("/Library/Java"))


@dataclass(frozen=True)
class JavaHome:
    path: Path
    major: int


def required_java(opensearch_version: str) -> int:
    """Lowest Java major version the given OpenSearch release runs on."""
    return 21 if int(opensearch_version.split(".")[0]) >= 3 else 11


def java_major(home: Path) -> int | None:
    """Major version of the JDK at ``home``, or None when it is not a working JDK."""
    binary = home / "bin" / "java"
    if not binary.is_file():
        return None
    try:
        out = subprocess.run(
            [str(binary), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    # Java 8 and older report "1.8.0_x".
    return int(match.group(2) or 0) if major == 1 else major


def _candidates(explicit: Path | None) -> Iterator[Path]:
    if explicit:
        yield explicit
        return
    for var in ("OPENSEARCH_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(var):
            yield Path(os.environ[var])
    for root in _JVM_DIRS:
        if root.is_dir():
            # Newest first by name is good enough to prefer e.g. temurin-25 over java-17.
            yield from sorted((p for p in root.iterdir() if p.is_dir()), reverse=True)


def find_java(opensearch_version: str, explicit: Path | None = None) -> JavaHome:
    """The first suitable JDK: the explicit one, then $OPENSEARCH_JAVA_HOME, $JAVA_HOME, and
    the standard install folders."""
    need = required_java(opensearch_version)
    seen: list[str] = []
    for home in _candidates(explicit):
        major = java_major(home)
        if major is None:
            continue
        if major >= need:
            return JavaHome(home, major)
        seen.append(f"Java {major} at {home}")
    found = "; found only " + ", ".join(seen) if seen else "; none found"
    where = f" at {explicit}" if explicit else ""
    raise JavaNotFoundError(
        f"OpenSearch {opensearch_version} needs Java {need}+{where}{found}",
        f"install a JDK {need} or newer (e.g. `apt-get install openjdk-{need}-jdk-headless`) "
        "and/or set OPENSEARCH_SPARSE_JAVA_HOME to it",
    )
