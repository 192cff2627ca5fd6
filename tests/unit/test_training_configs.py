"""The training configs in ``configs/`` load, and the default's follow-up runs vary only what
their comments say they vary (issue 10: a probe that silently changed a second setting, or
prepared another set, would compare nothing)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("torch")

from opensearch_sparse.training.config import ConfigError, TrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_loads(path: Path) -> None:
    config = TrainConfig.load(path)
    assert config.max_steps > 0
    assert config.output_dir


def _differences(a: TrainConfig, b: TrainConfig) -> set[str]:
    left, right = dataclasses.asdict(a), dataclasses.asdict(b)
    return {key for key in left if left[key] != right[key]}


@pytest.mark.parametrize(
    ("name", "varied"),
    [
        ("train-cpu-margin6.yaml", {"positive_margin", "output_dir"}),
        ("train-cpu-lr1e-4.yaml", {"lr", "output_dir"}),
        ("train-cpu-rest-of-set.yaml", {"model", "output_dir", "seed"}),
    ],
)
def test_follow_up_runs_change_only_their_own_settings(name: str, varied: set[str]) -> None:
    stage3 = TrainConfig.load(CONFIGS / "train-cpu-positive-margin.yaml")
    config = TrainConfig.load(CONFIGS / name)
    assert _differences(stage3, dataclasses.replace(config, data=stage3.data)) == varied
    # The same prepared set and held-out split: same pairs, same data seed.
    assert config.data.pairs == stage3.data.pairs
    assert config.data.set_dir == stage3.data.set_dir
    assert config.data_seed == stage3.data_seed


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BASE = """\
model: start
output_dir: runs/base
cache_dir: cache
idf: idf.json
data:
  set_dir: set
  pairs: [a.jsonl, b.jsonl]
teachers:
  - {kind: sparse, path: teacher}
lr: 5.0e-5
"""


def test_a_config_on_a_base_holds_only_its_changes(tmp_path: Path) -> None:
    _write(tmp_path / "base.yaml", BASE)
    child = _write(
        tmp_path / "child.yaml",
        "base: base.yaml\noutput_dir: runs/child\nlr: 1.0e-4\n"
        "data:\n  seed: 13\n  pairs: [c.jsonl]\n",
    )
    config = TrainConfig.load(child)
    assert (config.lr, config.output_dir, config.model) == (1e-4, "runs/child", "start")
    # data merges key by key (set_dir kept); a list is replaced whole, not merged item by item.
    assert (config.data.set_dir, config.data.seed, config.data.pairs) == ("set", 13, ["c.jsonl"])
    assert TrainConfig.load(tmp_path / "base.yaml").lr == 5e-5


def test_configs_that_name_each_other_as_base_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", "base: b.yaml\nlr: 1.0e-4\n")
    _write(tmp_path / "b.yaml", "base: a.yaml\nlr: 2.0e-4\n")
    with pytest.raises(ConfigError, match="name each other as base"):
        TrainConfig.load(tmp_path / "a.yaml")


def test_a_missing_base_names_the_file_and_the_config_that_asks_for_it(tmp_path: Path) -> None:
    child = _write(tmp_path / "child.yaml", "base: gone.yaml\nlr: 1.0e-4\n")
    with pytest.raises(ConfigError, match=r"base: gone\.yaml in \S*child\.yaml not found"):
        TrainConfig.load(child)
