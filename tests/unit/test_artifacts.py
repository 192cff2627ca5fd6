"""Maven coordinates, cache verification, re-fetch of corrupt files, and error wording.

Maven itself is replaced by a small script that lays files into the local repository the way
`mvn dependency:get` does, so these tests run offline and fast.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from opensearch_sparse.cluster.artifacts import (
    Artifact,
    MavenRepository,
    classify_maven_failure,
    node_artifacts,
)
from opensearch_sparse.errors import ArtifactError

ART = Artifact("org.example", "thing", "1.0.0", "zip")


def _good_zip(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.txt", "hello " * 1000)
    return path.read_bytes()


def _fake_mvn(tmp_path: Path, source: Path, calls: Path) -> str:
    """A stand-in for mvn that copies ``source`` to the requested repository path."""
    script = tmp_path / "mvn"
    script.write_text(
        "#!/bin/sh\n"
        f"echo call >> {calls}\n"
        'for a in "$@"; do case "$a" in -Dmaven.repo.local=*) repo="${a#*=}";; esac; done\n'
        'dest="$repo/org/example/thing/1.0.0"; mkdir -p "$dest"\n'
        f'cp {source} "$dest/thing-1.0.0.zip"\n'
    )
    script.chmod(0o755)
    return str(script)


def test_coordinates_and_paths(tmp_path: Path) -> None:
    art = Artifact("ai.djl.pytorch", "pytorch-native-cpu", "2.5.1", "jar", "linux-x86_64")
    assert art.coordinates == "ai.djl.pytorch:pytorch-native-cpu:2.5.1:jar:linux-x86_64"
    assert art.path_in(tmp_path) == (
        tmp_path
        / "ai/djl/pytorch/pytorch-native-cpu/2.5.1/pytorch-native-cpu-2.5.1-linux-x86_64.jar"
    )


def test_node_artifacts_pin_plugin_versions() -> None:
    arts = node_artifacts("3.6.0")
    assert arts["opensearch"].version == "3.6.0"
    assert arts["opensearch-ml-plugin"].version == "3.6.0.0"
    assert arts["neural-search"].packaging == "zip"


def test_sha1_verification(tmp_path: Path) -> None:
    repo = MavenRepository(tmp_path)
    data = _good_zip(ART.path_in(tmp_path))
    checksum = ART.path_in(tmp_path).with_name("thing-1.0.0.zip.sha1")
    checksum.write_text(hashlib.sha1(data).hexdigest())
    assert repo.verified(ART)
    checksum.write_text("0" * 40)
    assert not repo.verified(ART)


def test_zip_without_published_checksum_is_checked_by_crc(tmp_path: Path) -> None:
    repo = MavenRepository(tmp_path)
    path = ART.path_in(tmp_path)
    data = _good_zip(path)
    assert repo.verified(ART)
    path.write_bytes(data[:-200])  # truncated download
    assert not repo.verified(ART)


def test_corrupt_cache_is_fetched_again(tmp_path: Path) -> None:
    good = tmp_path / "good.zip"
    _good_zip(good)
    calls = tmp_path / "calls"
    repo = MavenRepository(tmp_path / "m2", mvn=_fake_mvn(tmp_path, good, calls))
    cached = ART.path_in(repo.root)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not a zip")
    assert repo.fetch(ART) == cached
    assert cached.read_bytes() == good.read_bytes()
    assert calls.read_text().count("call") == 1
    repo.fetch(ART)  # now cached and whole: no second download
    assert calls.read_text().count("call") == 1


def test_persistently_bad_file_fails_after_two_tries(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"garbage")
    calls = tmp_path / "calls"
    repo = MavenRepository(tmp_path / "m2", mvn=_fake_mvn(tmp_path, bad, calls))
    with pytest.raises(ArtifactError, match="after two downloads"):
        repo.fetch(ART)
    assert calls.read_text().count("call") == 2


def test_missing_mvn_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ArtifactError, match="Maven"):
        MavenRepository(tmp_path).fetch(ART)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("[ERROR] Could not transfer artifact ... UnknownHostException", "cannot reach"),
        ("[ERROR] Could not find artifact org.example:thing:zip:1.0.0 in central", "not published"),
        ("[ERROR] Could not transfer artifact x: Checksum validation failed", "checksum"),
        ("[ERROR] something else entirely", "Maven failed"),
    ],
)
def test_maven_failures_become_one_line(output: str, expected: str) -> None:
    error = classify_maven_failure(ART, output)
    assert expected in error.cause
    assert "\n" not in error.cause
    assert error.fix
