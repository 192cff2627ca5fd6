"""Streaming readers for BEIR-layout corpora (``corpus.jsonl`` or ``.jsonl.gz``).

Documents are yielded one at a time so a million-line corpus never sits in memory. Every bad
line is reported with its line number; the caller chooses whether it is skipped (and counted)
or stops the run.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from opensearch_sparse.config import MAX_ID_BYTES
from opensearch_sparse.errors import SparseError

logger = logging.getLogger(__name__)


class CorpusError(SparseError):
    """The corpus cannot be read, or a bad line was found with ``on_error="fail"``."""


#: What to do about a file that is not UTF-8 (every reader says the same).
REENCODE_FIX = "re-encode the file as UTF-8 (e.g. iconv -t UTF-8)"


def decode_utf8(data: bytes, source: object, error: type[SparseError] = CorpusError) -> str:
    """A whole file's text; a bad byte is reported as ``FILE:LINE`` with its byte in that line,
    as the line-by-line readers report it, so a user can find it in an editor."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1)
        raise error(f"{source}:{line}: not valid UTF-8 (byte {column})", REENCODE_FIX) from None


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str
    #: The corpus line it came from (0 when not read from a file): failures name it.
    line: int = field(default=0, compare=False)

    @property
    def content(self) -> str:
        """What is indexed and encoded: the title (when any) and the body."""
        return "\n".join(part for part in (self.title, self.text) if part)


@dataclass
class ReadReport:
    """What a pass over the corpus saw; filled while iterating."""

    lines: int = 0
    documents: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)


def corpus_file(path: Path) -> Path:
    """Accept a BEIR folder or a file; return the corpus file."""
    if path.is_dir():
        for name in ("corpus.jsonl", "corpus.jsonl.gz"):
            if (path / name).is_file():
                return path / name
        raise CorpusError(
            f"{path} has no corpus.jsonl or corpus.jsonl.gz",
            "pass a BEIR-layout folder or the corpus file itself",
        )
    if not path.is_file():
        raise CorpusError(f"{path} does not exist", "check the path")
    return path


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def count_lines(path: Path) -> int:
    """Number of non-empty lines (for progress totals); a cheap pass over the bytes."""
    with _open(corpus_file(path)) as handle:
        return sum(1 for line in handle if line.strip())


def parse_line(raw: bytes, line: int = 0) -> Document:
    """One JSON line to a Document, or ValueError with the reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 (byte {exc.start})") from exc
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    doc_id = obj.get("_id", obj.get("id"))
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)) or str(doc_id) == "":
        raise ValueError("missing or non-string _id")
    id_bytes = len(str(doc_id).encode("utf-8"))
    if id_bytes > MAX_ID_BYTES:
        # OpenSearch refuses the whole bulk request for one such id: stop it here, alone.
        raise ValueError(f"_id is {id_bytes} bytes long; OpenSearch allows at most {MAX_ID_BYTES}")
    title = obj.get("title") or ""
    body = obj.get("text")
    if not isinstance(title, str):
        raise ValueError("title is not a string")
    if body is not None and not isinstance(body, str):
        raise ValueError("text is not a string")
    body = body or ""
    if not (title.strip() or body.strip()):
        raise ValueError("no text (both title and text are empty)")
    return Document(str(doc_id), title.strip(), body.strip(), line)


def read_corpus(
    path: Path, *, on_error: str = "skip", report: ReadReport | None = None
) -> Iterator[Document]:
    """Yield documents; bad lines are logged and skipped, or raise with ``on_error="fail"``."""
    if on_error not in ("skip", "fail"):
        raise ValueError("on_error must be 'skip' or 'fail'")
    report = report if report is not None else ReadReport()
    source = corpus_file(path)
    with _open(source) as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            report.lines += 1
            try:
                doc = parse_line(raw.rstrip(b"\r\n"), number)
            except ValueError as exc:
                if on_error == "fail":
                    raise CorpusError(
                        f"{source}:{number}: {exc}",
                        "fix that line, or pass --on-error skip to skip bad lines",
                    ) from None
                report.bad.append((number, str(exc)))
                logger.warning("%s:%d skipped: %s", source, number, exc)
                continue
            report.documents += 1
            yield doc


def read_queries(path: Path) -> dict[str, str]:
    """BEIR queries.jsonl as {query_id: text}."""
    source = path / "queries.jsonl" if path.is_dir() else path
    queries: dict[str, str] = {}
    with _open(source) as handle:
        for number, raw in enumerate(handle, 1):
            if raw.strip():
                try:
                    obj = json.loads(raw.decode("utf-8"))
                    queries[str(obj["_id"])] = str(obj["text"])
                except UnicodeDecodeError as exc:
                    raise CorpusError(
                        f"{source}:{number}: not valid UTF-8 (byte {exc.start})", REENCODE_FIX
                    ) from None
                except (ValueError, KeyError, TypeError) as exc:
                    raise CorpusError(
                        f"{source}:{number}: bad query line ({exc})",
                        'each line must be a JSON object with "_id" and "text"',
                    ) from None
    return queries


def read_qrels(folder: Path, split: str = "test") -> dict[str, dict[str, int]]:
    """BEIR ``qrels/<split>.tsv`` (with its header line) as {query_id: {doc_id: grade}};
    grade-0 rows are dropped: they judge a document not relevant."""
    qrels: dict[str, dict[str, int]] = {}
    source = folder / "qrels" / f"{split}.tsv"
    lines = decode_utf8(source.read_bytes(), source).splitlines()
    for number, line in enumerate(lines[1:], 2):
        try:
            qid, did, score = line.split("\t")
            grade = int(score)
        except ValueError:
            raise CorpusError(
                f"{source}:{number}: expected query-id, corpus-id and an integer score",
                "qrels are tab-separated with one header line (BEIR layout)",
            ) from None
        if grade > 0:
            qrels.setdefault(qid, {})[did] = grade
    return qrels


def dropping_self(run: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each query's hits without the document whose id is the query's own (BEIR's evaluation
    convention: some sets share ids between queries and documents, cranfield all 225 of them,
    and a scorer that keeps such a hit grades another system than the published figures do)."""
    return {q: {d: s for d, s in hits.items() if d != q} for q, hits in run.items()}
