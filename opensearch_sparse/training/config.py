"""One training run described by one file (YAML or JSON), so runs and ablations are diffs.

Unknown keys are errors: a misspelt ``flops_lamda`` silently falling back to a default would
make an ablation measure nothing. A file may name another with ``base:`` and hold only what it
changes, so a follow-up run reads as the diff it is (and cannot drift from its base when the
base is edited).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from opensearch_sparse.errors import SparseError

LossName = Literal["kl", "margin_mse", "infonce"]
TeacherKind = Literal["dense", "onnx", "sparse"]


class ConfigError(SparseError):
    """The training config cannot be read or names an unknown setting."""


@dataclass(frozen=True)
class TeacherConfig:
    kind: TeacherKind
    path: str
    weight: float = 1.0


@dataclass(frozen=True)
class DataConfig:
    """Where the prepared set lives; the sources are read only when it does not exist yet."""

    set_dir: str
    #: Pair files: a path, or ``{path, source, limit}`` to take one ``source`` of a file (the
    #: SQuADShifts domains) with its own limit on pairs.
    pairs: list[str | dict[str, Any]] = field(default_factory=list)
    corpora: list[str] = field(default_factory=list)
    source_limit: int = 20000
    #: Held-out queries: ``heldout`` from the first pair source, or, when
    #: ``heldout_per_source`` is set, that many from every pair source (whole paragraphs).
    heldout: int = 500
    heldout_per_source: int = 0
    negatives: int = 7
    #: Extra mined negatives kept so that dropped false negatives can be replaced.
    spare_negatives: int = 0
    depth: int = 50
    max_chars: int = 1000
    #: Keep a pair only when BM25 ranks its positive within this many hits (0: no filter).
    positive_top_k: int = 0
    #: At most this many questions per distinct positive (0: no cap); de-duplicates
    #: templated questions and SQuAD's ~5 questions per paragraph.
    per_positive: int = 0
    #: Drop a negative whose normalised ensemble teacher score is at least this (1.0: never).
    false_negative_threshold: float = 1.0
    #: Seed of the source shuffles and the held-out split; unset: the run's ``seed``. A
    #: replicate pins it to the original's (``TrainConfig.replicate``).
    seed: int | None = None


@dataclass(frozen=True)
class TrainConfig:
    model: str
    output_dir: str
    cache_dir: str
    data: DataConfig
    teachers: list[TeacherConfig]
    idf: str | None = None
    idf_aware: bool = True
    normalise: bool = True
    scale: float = 10.0
    #: Labels over teachers: each group's positive is put at least this far above its best
    #: negative in the target (in target units: normalised teacher scores x ``scale``). None:
    #: the teachers' ranking as is. On the CPU set the ensemble ranks the positive first in
    #: only 86% of groups, about as often as the student at its start
    #: (benchmarks/training_teachers.py), so plain distillation has almost nothing to teach.
    positive_margin: float | None = None
    #: Student scores are divided by this before the ranking loss: with IDF in the query the
    #: raw within-group spread is ~3-4x the teacher's ``scale``; matching them (together with
    #: ``scale``) stops the KL from shrinking every document weight. ``"auto"`` sets it at the
    #: start of the run to the student's raw spread over the teacher's, so runs that differ in
    #: their query side (IDF-aware or plain) or teachers are each put on one scale.
    student_temperature: float | Literal["auto"] = 1.0
    #: Groups over which the start-of-run spread of student and teacher scores is logged.
    spread_examples: int = 64
    loss: LossName = "kl"
    flops_lambda: float = 0.02
    flops_warmup_steps: int = 100
    max_steps: int = 1000
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_steps: int = 50
    max_len: int = 128
    query_max_len: int = 64
    teacher_max_len: int = 128
    teacher_batch_size: int = 64
    eval_every: int = 200
    save_every: int = 200
    log_every: int = 10
    keep_checkpoints: int = 2
    seed: int = 13
    device: str = "auto"
    #: bfloat16 autocast on CUDA (the [batch, length, vocab] logits dominate the step's time).
    bf16: bool = False

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        values = dict(raw)
        _check_keys(cls, values, "config")
        _check_keys(DataConfig, values.get("data", {}), "data")
        for teacher in values.get("teachers", []):
            _check_keys(TeacherConfig, teacher, "teachers[]")
        try:
            values["data"] = DataConfig(**values["data"])
            values["teachers"] = [TeacherConfig(**t) for t in values["teachers"]]
            config = cls(**values)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"incomplete training config: {exc}", "see configs/*.yaml") from exc
        if not config.teachers:
            raise ConfigError("no teachers configured", "add a dense and/or a sparse teacher")
        temperature = config.student_temperature
        if temperature != "auto" and not (isinstance(temperature, int | float) and temperature > 0):
            raise ConfigError(
                f"student_temperature must be a positive number or auto, not {temperature!r}",
                "e.g. student_temperature: auto",
            )
        return config

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        return cls.from_dict(_read_settings(Path(path), ()))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def data_seed(self) -> int:
        """The seed that prepares ``data.set_dir``: ``data.seed``, else the run's ``seed``."""
        return self.seed if self.data.seed is None else self.data.seed

    def replicate(self, seed: int) -> TrainConfig:
        """The same run with another training seed, written to ``<output_dir>-seed<seed>``.

        Its own output folder, because a run resumes from the newest checkpoint in its folder:
        a replicate sharing the original's would quietly continue the original. The data seed
        stays the original's, so a replicate that has to prepare ``data.set_dir`` (a fresh
        machine) prepares the same set and held-out split: it differs only in example order and
        initialisation, which is what a second seed on a results row should vary, and the
        original's held-out queries stay out of its training.
        """
        if seed == self.seed:
            return self
        return dataclasses.replace(
            self,
            seed=seed,
            output_dir=f"{self.output_dir}-seed{seed}",
            data=dataclasses.replace(self.data, seed=self.data_seed),
        )


def _check_keys(kind: type, values: dict[str, Any], where: str) -> None:
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown setting(s) in {where}: {', '.join(unknown)}",
            f"valid names: {', '.join(sorted(known))}",
        )


def _read_settings(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The settings of ``path`` over those of the file its ``base:`` names (relative to it)."""
    resolved = path.resolve()
    if resolved in seen:
        chain = " -> ".join(str(p) for p in (*seen, resolved))
        raise ConfigError(f"configs name each other as base: {chain}", "remove one base: line")
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(f"config {path} not found", "pass a YAML or JSON file") from exc
    raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} is not a mapping of settings", "see configs/*.yaml")
    base = raw.pop("base", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ConfigError(f"base: in {path} is not a file name", "e.g. base: train-cpu.yaml")
    base_path = path.parent / base
    if not base_path.is_file():
        raise ConfigError(
            f"base: {base} in {path} not found (looked for {base_path})",
            "name a config file beside it, e.g. base: train-cpu.yaml",
        )
    return _merge(_read_settings(base_path, (*seen, resolved)), raw)


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; nested mappings (``data``) merge key by key, lists
    (``teachers``, ``data.pairs``) are replaced whole, since merging them item by item would
    make a changed list unreadable."""
    merged = dict(base)
    for key, value in changes.items():
        inner = base.get(key)
        merged[key] = (
            _merge(inner, value) if isinstance(inner, dict) and isinstance(value, dict) else value
        )
    return merged
