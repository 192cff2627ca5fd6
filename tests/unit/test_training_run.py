"""A short training run lowers the loss and makes document vectors sparser; resume replays."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from test_training_fixtures import make_config  # noqa: E402

from opensearch_sparse.cli import cli  # noqa: E402
from opensearch_sparse.idf import IdfTable  # noqa: E402
from opensearch_sparse.training.config import ConfigError, DataConfig, TrainConfig  # noqa: E402
from opensearch_sparse.training.data import Pair, write_jsonl  # noqa: E402
from opensearch_sparse.training.prepare import prepare_training_set, read_heldout  # noqa: E402
from opensearch_sparse.training.student import document_transformer  # noqa: E402
from opensearch_sparse.training.trainer import train  # noqa: E402

VOCAB = 30522


def test_short_run_lowers_the_loss_and_sparsifies(tiny_mlm: Path, tmp_path: Path) -> None:
    IdfTable({"json": 4.0, "blood": 3.0}).save(tmp_path / "idf.json")
    raw = make_config(
        tiny_mlm,
        tmp_path,
        idf=str(tmp_path / "idf.json"),
        idf_aware=True,
        max_steps=24,
        eval_every=24,
    )
    result = train(TrainConfig.from_dict(raw))
    ranking = [h["ranking"] for h in result.history]
    assert sum(ranking[-3:]) / 3 < sum(ranking[:3]) / 3
    # The tiny random checkpoint starts dense (about every token positive); FLOPS must prune it.
    first, last = result.history[0], result.history[-1]
    assert 0 < last["doc_length"] < 0.95 * first["doc_length"] <= VOCAB
    assert 0 <= last["eval_ndcg@10"] <= 1
    assert (result.model_dir / "document_0_Transformer" / "tokenizer.json").is_file()
    log = json.loads((tmp_path / "run" / "train_log.json").read_text())
    assert log["steps"] == 24 and log["world_size"] == 1


def test_resume_reproduces_an_uninterrupted_run(tiny_mlm: Path, tmp_path: Path) -> None:
    straight = train(
        TrainConfig.from_dict(
            make_config(tiny_mlm, tmp_path, max_steps=4, output_dir=str(tmp_path / "a"))
        )
    )
    interrupted = make_config(
        tiny_mlm, tmp_path, max_steps=4, save_every=2, output_dir=str(tmp_path / "b")
    )
    train(TrainConfig.from_dict(interrupted))
    assert (tmp_path / "b" / "checkpoints" / "step-0000002" / "trainer_state.pt").is_file()
    # Running again resumes from step 2 (as after a crash) and replays steps 3-4.
    resumed = train(TrainConfig.from_dict(interrupted))
    assert [h["step"] for h in resumed.history] == [1, 2, 3, 4]
    assert resumed.history[-1]["ranking"] == pytest.approx(straight.history[-1]["ranking"])
    a = document_transformer(_load(straight.model_dir)).auto_model.state_dict()
    b = document_transformer(_load(resumed.model_dir)).auto_model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_positive_margin_puts_every_positive_on_top_of_the_targets(
    tiny_mlm: Path, tmp_path: Path
) -> None:
    """The targets training uses: the teachers' as they are, or with the label over them."""
    from opensearch_sparse.training.data import TrainingSet
    from opensearch_sparse.training.distributed import DistContext
    from opensearch_sparse.training.trainer import _labels

    ctx = DistContext(0, 1, "cpu")
    plain_config = TrainConfig.from_dict(make_config(tiny_mlm, tmp_path))
    set_dir = Path(plain_config.data.set_dir)
    plain, _ = _labels(plain_config, TrainingSet.load(set_dir), set_dir, ctx)
    with_label = TrainConfig.from_dict(make_config(tiny_mlm, tmp_path, positive_margin=2.0))
    lifted, _ = _labels(with_label, TrainingSet.load(set_dir), set_dir, ctx)
    assert (lifted[:, 0] >= lifted[:, 1:].max(axis=1) + 2.0 - 1e-6).all()
    assert (lifted[:, 1:] == plain[:, 1:]).all()
    # The random tiny teacher gets some positive wrong: the label changes those targets.
    assert (plain[:, 0] < plain[:, 1:].max(axis=1) + 2.0).any()


def test_unknown_setting_is_an_error(tiny_mlm: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="flops_lamda"):
        TrainConfig.from_dict({**make_config(tiny_mlm, tmp_path), "flops_lamda": 1.0})


def test_a_replicate_has_its_own_seed_and_output_folder(tiny_mlm: Path, tmp_path: Path) -> None:
    config = TrainConfig.from_dict(make_config(tiny_mlm, tmp_path))
    replicate = config.replicate(29)
    assert (replicate.seed, replicate.output_dir) == (29, f"{config.output_dir}-seed29")
    # Everything else is the original's; the data seed is pinned to the original's run seed.
    assert replicate.data_seed == config.data_seed == config.seed
    assert (
        dataclasses.replace(
            replicate, seed=config.seed, output_dir=config.output_dir, data=config.data
        )
        == config
    )
    assert config.replicate(config.seed) is config


def test_a_replicate_prepares_the_originals_set_and_held_out_split(
    tiny_mlm: Path, tmp_path: Path
) -> None:
    """On a fresh machine the replicate prepares the set: not with its own seed, whose held-out
    split would hold queries the original trained on (and so score it unfairly)."""
    rows = [
        {"query": f"how does topic{i} work", "positive": f"topic{i} works like this, said {i}"}
        for i in range(30)
    ]
    write_jsonl(tmp_path / "pairs.jsonl.gz", rows)
    raw = make_config(tiny_mlm, tmp_path)
    raw["data"] = {
        "set_dir": str(tmp_path / "set-original"),
        "pairs": [str(tmp_path / "pairs.jsonl.gz")],
        "heldout_per_source": 5,
        "negatives": 2,
        "depth": 10,
    }
    config = TrainConfig.from_dict(raw)
    replicate = config.replicate(29)

    def held_out(data: DataConfig, seed: int) -> list[Pair]:
        return read_heldout(prepare_training_set(data, seed))

    original = held_out(config.data, config.data_seed)
    own_seed = held_out(dataclasses.replace(replicate.data, set_dir=str(tmp_path / "set-29")), 29)
    assert original == held_out(
        dataclasses.replace(replicate.data, set_dir=str(tmp_path / "set-rep")),
        replicate.data_seed,
    )
    # The training seed itself draws another split, so the pin above is what keeps it.
    assert own_seed != original


def test_train_seed_option_runs_the_replicate_beside_the_original(
    tiny_mlm: Path, tmp_path: Path
) -> None:
    raw = make_config(tiny_mlm, tmp_path)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(raw))
    result = CliRunner().invoke(
        cli, ["train", str(config_file), "--seed", "29", "--max-steps", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    assert Path(summary["model_dir"]).parent == Path(f"{raw['output_dir']}-seed29")
    assert summary["steps"] == 2
    assert not Path(raw["output_dir"]).exists()


def _load(path: Path):
    from opensearch_sparse.training.student import load_student

    return load_student(path, max_len=24)
