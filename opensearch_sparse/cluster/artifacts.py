"""Resolve, download, verify and cache the Maven artifacts that make up a node.

Maven itself does the fetching (``mvn dependency:get`` with strict checksums), into a local
repository inside the product's home, so that proxies and mirrors configured for Maven apply
and the files are fetched once. Each file is then checked against the SHA-1 Maven stored beside
it (or, where Central publishes none, the CRC-32 of every archive member); a file that fails
is deleted and fetched again once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from opensearch_sparse import config
from opensearch_sparse.errors import ArtifactError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Artifact:
    """Maven coordinates of one file."""

    group: str
    artifact: str
    version: str
    packaging: str = "jar"
    classifier: str | None = None

    @property
    def coordinates(self) -> str:
        parts = [self.group, self.artifact, self.version, self.packaging]
        if self.classifier:
            parts.append(self.classifier)
        return ":".join(parts)

    @property
    def filename(self) -> str:
        suffix = f"-{self.classifier}" if self.classifier else ""
        return f"{self.artifact}-{self.version}{suffix}.{self.packaging}"

    def path_in(self, repository: Path) -> Path:
        return (
            repository.joinpath(*self.group.split("."), self.artifact, self.version) / self.filename
        )


def node_artifacts(version: str) -> dict[str, Artifact]:
    """Everything one node of ``version`` needs, keyed by a short name."""
    plugin_version = f"{version}.0"
    arts = {
        "opensearch": Artifact(
            "org.opensearch.distribution.integ-test-zip", "opensearch", version, "zip"
        ),
    }
    for name in config.PLUGINS:
        arts[name] = Artifact("org.opensearch.plugin", name, plugin_version, "zip")
    arts["pytorch-native"] = Artifact(
        "ai.djl.pytorch", "pytorch-native-cpu", config.PYTORCH_VERSION, "jar", "linux-x86_64"
    )
    arts["pytorch-jni"] = Artifact("ai.djl.pytorch", "pytorch-jni", config.PYTORCH_JNI_VERSION)
    return arts


def archive_intact(path: Path) -> bool:
    """Check every member's CRC-32 of a zip or jar."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False


def sha1_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha1").hexdigest()


class MavenRepository:
    """A Maven local repository under the product's home, filled by the ``mvn`` client."""

    def __init__(self, root: Path, mvn: str | None = None) -> None:
        self.root = root
        self._mvn = mvn

    @property
    def mvn(self) -> str:
        found = self._mvn or shutil.which("mvn")
        if not found:
            raise ArtifactError(
                "Maven (mvn) is not installed; the embedded node is assembled from Maven Central",
                "install Maven (e.g. `apt-get install maven`) or point at a running cluster "
                "with --url",
            )
        return found

    def verified(self, art: Artifact) -> bool:
        """True when the cached file is whole.

        Whole means: equal to the SHA-1 Maven Central publishes (Maven saves it beside the
        file), or, for the plugin zips Central publishes without any checksum, every entry's
        CRC-32 inside the archive checks out.
        """
        path = art.path_in(self.root)
        if not path.is_file():
            return False
        checksum = path.with_name(path.name + ".sha1")
        if checksum.is_file():
            words = checksum.read_text().split()
            return bool(words) and sha1_of(path) == words[0].lower()
        return archive_intact(path)

    def fetch(self, art: Artifact) -> Path:
        """Return the verified local file, downloading (or re-downloading) it as needed."""
        path = art.path_in(self.root)
        if self.verified(art):
            return path
        for attempt in (1, 2):
            if path.parent.exists():
                # Corrupt or partial: drop the whole version folder, including Maven's
                # cached "not found" markers, so the next try asks the registry again.
                shutil.rmtree(path.parent)
            self._download(art)
            if self.verified(art):
                return path
            logger.warning("%s failed verification (attempt %d)", art.coordinates, attempt)
        raise ArtifactError(
            f"{art.coordinates} does not match its published SHA-1 after two downloads",
            f"delete {self.root} and retry; if it persists, the Maven mirror serves a bad file",
        )

    def _download(self, art: Artifact) -> None:
        output = self._run_mvn(art, strict=True)
        if output and "no checksums available" in output:
            # Central publishes some plugin zips without any checksum file: fetch them
            # without Maven's check; verified() then checks the archive's own CRCs.
            output = self._run_mvn(art, strict=False)
        if output is not None:
            raise classify_maven_failure(art, output)

    def _run_mvn(self, art: Artifact, *, strict: bool) -> str | None:
        """Run ``mvn dependency:get``; None on success, else Maven's output."""
        cmd = [
            self.mvn,
            "-B",
            *(["--strict-checksums"] if strict else []),
            "dependency:get",
            f"-Dartifact={art.coordinates}",
            "-Dtransitive=false",
            f"-Dmaven.repo.local={self.root}",
        ]
        logger.info("fetching %s", art.coordinates)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ArtifactError(
                f"downloading {art.coordinates} took more than 30 minutes",
                "check the network connection to Maven Central and retry",
            ) from exc
        return None if proc.returncode == 0 else proc.stdout + proc.stderr


_NETWORK_PATTERNS = re.compile(
    r"UnknownHost|Connection refused|Connect to .* failed|timed out|"
    r"Could not transfer|No route to host|Network is unreachable|PKIX path",
    re.IGNORECASE,
)


def classify_maven_failure(art: Artifact, output: str) -> ArtifactError:
    """Turn Maven's long error output into one cause and one fix."""
    if "checksum" in output.lower():
        return ArtifactError(
            f"{art.coordinates} failed Maven's checksum verification",
            "retry; if it persists, the Maven mirror serves a bad file",
        )
    if "Could not find artifact" in output or "was not found in" in output:
        return ArtifactError(
            f"{art.coordinates} is not published on Maven Central",
            "choose another OpenSearch version with --version (see README: version choice)",
        )
    if _NETWORK_PATTERNS.search(output):
        return ArtifactError(
            f"cannot reach Maven Central to fetch {art.coordinates}",
            "check network access (or Maven's proxy/mirror settings in ~/.m2/settings.xml)",
        )
    tail = " | ".join(line for line in output.splitlines() if "[ERROR]" in line)[:400]
    return ArtifactError(
        f"Maven failed to fetch {art.coordinates}: {tail or 'no error text'}",
        "run the same `mvn dependency:get` by hand to see the full output",
    )
