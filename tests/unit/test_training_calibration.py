"""Issue 10's guards: calibrated scales, false-negative filtering, mining, IDF identity, FLOPS."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from opensearch_sparse.idf import IdfTable  # noqa: E402
from opensearch_sparse.training.config import ConfigError, TrainConfig  # noqa: E402
from opensearch_sparse.training.data import (  # noqa: E402
    Pair,
    TrainingSet,
    dedupe_pairs,
    mine_hard_negatives,
    split_heldout_by_positive,
)
from opensearch_sparse.training.ensemble import drop_false_negatives  # noqa: E402
from opensearch_sparse.training.losses import DistillationLoss, ListwiseKLLoss  # noqa: E402
from opensearch_sparse.training.student import SparseScorer, build_student  # noqa: E402
from opensearch_sparse.training.trainer import (  # noqa: E402
    _labels,
    calibrated_temperature,
    calibration_warning,
    score_spreads,
    train,
)
from tests.unit.test_training_fixtures import make_config  # noqa: E402


def test_temperature_divides_student_scores_in_the_kl() -> None:
    # Student (4, 0) at temperature 2 is softmax(2, 0); teacher (0, 0) is uniform.
    q1, q2 = math.e**2 / (math.e**2 + 1), 1 / (math.e**2 + 1)
    expected = 0.5 * math.log(0.5 / q1) + 0.5 * math.log(0.5 / q2)
    kl = ListwiseKLLoss()(torch.tensor([[4.0, 0.0]]) / 2.0, torch.tensor([[0.0, 0.0]]))
    assert kl.item() == pytest.approx(expected, rel=1e-6)


def test_distillation_loss_value_by_hand(tiny_mlm: Path) -> None:
    """The full loss on real vectors equals KL(softmax(t) || softmax(s / tau)) + w * FLOPS."""
    model = build_student(tiny_mlm, idf=None, max_len=24)
    scorer = SparseScorer(model)
    scorer.eval()
    loss = DistillationLoss(scorer, ListwiseKLLoss(), flops_weight=0.5, temperature=3.0)
    docs = [["aspirin relieves headache", "a text editor"], ["blood sugar", "json parser"]]
    teacher = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    terms = loss(["headache aspirin", "sugar"], docs, teacher)
    with torch.no_grad():
        d = scorer.documents([t for g in docs for t in g]).view(2, 2, -1)
        q = scorer.queries(["headache aspirin", "sugar"])
        s = torch.einsum("nv,nkv->nk", q, d) / 3.0
        p = torch.softmax(teacher, dim=1)
        kl = float((p * (p.log() - torch.log_softmax(s, dim=1))).sum(dim=1).mean())
        flops = float((d.reshape(4, -1).abs().mean(dim=0) ** 2).sum())
    assert terms["ranking"].item() == pytest.approx(kl, rel=1e-4, abs=1e-6)
    assert terms["flops"].item() == pytest.approx(0.5 * flops, rel=1e-4, abs=1e-9)


def test_flops_value_is_the_sum_of_squared_mean_weights(tiny_mlm: Path) -> None:
    from sentence_transformers.sparse_encoder.losses import FlopsLoss

    model = build_student(tiny_mlm, idf=None, max_len=24)
    vectors = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    # means over documents: (2, 0, 1) -> 4 + 0 + 1
    assert FlopsLoss(model).compute_loss_from_embeddings(vectors).item() == pytest.approx(5.0)


def test_spreads_are_measured_as_the_loss_sees_them(tiny_mlm: Path, tmp_path: Path) -> None:
    """The logged calibration: teacher spread is exactly S (min-max normalised targets), the
    student's is its raw spread divided by the temperature, so a mismatch (the collapse came
    from ~30-40 against 10) shows in the first lines of every run."""
    config = TrainConfig.from_dict(
        make_config(tiny_mlm, tmp_path, scale=30.0, student_temperature=2.0)
    )
    train_set = TrainingSet.load(Path(config.data.set_dir))
    labels, train_set = _labels(config, train_set, Path(config.data.set_dir), _cpu())
    scorer = SparseScorer(build_student(tiny_mlm, idf=None, max_len=24))
    loss = DistillationLoss(scorer, ListwiseKLLoss(), 0.0, temperature=config.student_temperature)
    spreads = score_spreads(loss, train_set, torch.from_numpy(labels), 4)
    assert spreads["teacher"] == pytest.approx(30.0, rel=1e-5)
    assert spreads["student"] == pytest.approx(spreads["student_raw"] / 2.0, rel=1e-6)
    with torch.no_grad():
        scorer.eval()
        raw = []
        for example in train_set.examples:
            d = scorer.documents(train_set.documents(example))
            raw.append(
                float(
                    (scorer.queries([example.query])[0] @ d.T).max()
                    - (scorer.queries([example.query])[0] @ d.T).min()
                )
            )
    assert spreads["student_raw"] == pytest.approx(float(np.mean(raw)), rel=1e-4)


def test_auto_temperature_puts_the_student_spread_on_the_teacher_scale(
    tiny_mlm: Path, tmp_path: Path
) -> None:
    """``student_temperature: auto`` divides by raw spread / teacher spread, measured before the
    first step, and the run's log records the number it used."""
    assert calibrated_temperature({"student_raw": 48.0, "teacher": 30.0}) == pytest.approx(1.6)
    assert calibrated_temperature({"student_raw": 0.0, "teacher": 30.0}) == 1.0
    config = TrainConfig.from_dict(
        make_config(tiny_mlm, tmp_path, scale=30.0, student_temperature="auto", max_steps=1)
    )
    train(config)
    log = json.loads((Path(config.output_dir) / "train_log.json").read_text())
    train_set = TrainingSet.load(Path(config.data.set_dir))
    labels, train_set = _labels(config, train_set, Path(config.data.set_dir), _cpu())
    scorer = SparseScorer(build_student(tiny_mlm, idf=None, max_len=24))
    spreads = score_spreads(
        DistillationLoss(scorer, ListwiseKLLoss(), 0.0), train_set, torch.from_numpy(labels), 64
    )
    assert log["student_temperature"] == pytest.approx(spreads["student_raw"] / 30.0, rel=1e-4)
    assert log["config"]["student_temperature"] == "auto"


@pytest.mark.parametrize("value", [0, -1.0, "hot"])
def test_temperature_must_be_positive_or_auto(
    tiny_mlm: Path, tmp_path: Path, value: object
) -> None:
    with pytest.raises(ConfigError, match="student_temperature"):
        TrainConfig.from_dict(make_config(tiny_mlm, tmp_path, student_temperature=value))


def test_calibration_check_flags_a_student_far_off_the_teacher_scale() -> None:
    assert calibration_warning({"student": 35.0, "student_raw": 35.0, "teacher": 10.0})
    assert calibration_warning({"student": 0.5, "student_raw": 0.5, "teacher": 30.0})
    assert calibration_warning({"student": 25.0, "student_raw": 50.0, "teacher": 30.0}) is None


def test_drop_false_negatives_keeps_positive_first_and_replaces_from_spares() -> None:
    dense = np.array([[0.9, 0.89, 0.1, 0.2, 0.3], [0.9, 0.1, 0.2, 0.3, 0.4]])
    sparse = np.array([[10.0, 9.9, 1.0, 2.0, 3.0], [10.0, 1.0, 2.0, 9.95, 4.0]])
    columns, kept = drop_false_negatives([dense, sparse], [1.0, 1.0], negatives=3, threshold=0.9)
    # row 0: column 1 normalises to ~0.99 (a likely false negative), replaced by spare 4;
    # row 1: column 3 is ~0.84 (< 0.9) and stays.
    assert kept.tolist() == [0, 1]
    assert columns.tolist() == [[0, 2, 3, 4], [0, 1, 2, 3]]
    strict = drop_false_negatives([dense, sparse], [1.0, 1.0], negatives=4, threshold=0.9)
    assert strict[1].tolist() == [1]  # row 0 has only 3 negatives left: dropped


def test_teacher_scores_stay_aligned_after_filtering(tiny_mlm: Path, tmp_path: Path) -> None:
    """Each kept label row is the teacher's scores of exactly that example's kept documents."""
    config = TrainConfig.from_dict(
        make_config(tiny_mlm, tmp_path, data={"set_dir": str(tmp_path / "set")})
    )
    make_config(tiny_mlm, tmp_path)  # writes the set
    set_dir = Path(config.data.set_dir)
    train_set = TrainingSet.load(set_dir)
    labels, kept_set = _labels(config, train_set, set_dir, _cpu())
    from opensearch_sparse.training.teachers import build_teacher

    teacher = build_teacher(config.teachers[0], max_len=128, batch_size=4, device="cpu")
    for row, example in enumerate(kept_set.examples):
        docs = kept_set.documents(example)
        direct = teacher.score([example.query], docs, np.arange(len(docs))[None, :])
        span = direct.max() - direct.min()
        expected = config.scale * (direct - direct.min()) / span if span > 1e-12 else 0 * direct
        np.testing.assert_allclose(labels[row], expected[0], rtol=1e-3, atol=1e-3)


def test_mined_negatives_never_include_the_positive() -> None:
    texts = [f"topic {i} about {w} and {w}s" for i, w in enumerate("abcdefghijkl")]
    pairs = [Pair(f"{w} topic", t) for w, t in zip("abcdefghijkl", texts, strict=True)]
    pairs.append(Pair("topic about a", texts[0]))  # a second question on the same positive
    mined = mine_hard_negatives(pairs, negatives=4, depth=12, positive_top_k=10)
    assert mined.examples
    for example in mined.examples:
        positive = example.doc_ids[0]
        assert positive not in example.doc_ids[1:]
        assert len(set(example.doc_ids)) == len(example.doc_ids)


def test_positive_top_k_drops_pairs_bm25_cannot_find() -> None:
    texts = [f"document number {i} on subject {i}" for i in range(20)]
    pairs = [Pair(f"subject {i}", texts[i]) for i in range(20)]
    pairs.append(Pair("zebra", texts[3]))  # no lexical overlap: not within the top k
    mined = mine_hard_negatives(pairs, negatives=3, depth=10, positive_top_k=2)
    assert "zebra" not in {e.query for e in mined.examples}


def test_dedupe_drops_templates_and_caps_questions_per_positive() -> None:
    pairs = [
        Pair("What is (are) X ?", "a"),
        Pair("what is (are)  x ?", "b"),
        Pair("q1", "p"),
        Pair("q2", "p"),
        Pair("q3", "p"),
    ]
    assert dedupe_pairs(pairs, per_positive=2) == [Pair("q1", "p"), Pair("q2", "p")]


def test_heldout_split_keeps_whole_paragraphs_out_of_training() -> None:
    pairs = [Pair(f"q{i}", f"p{i % 7}") for i in range(40)]
    train, held = split_heldout_by_positive(pairs, 8, seed=1)
    assert held and not {p.positive for p in held} & {p.positive for p in train}


def test_training_and_evaluation_idf_are_identical(tiny_mlm: Path, tmp_path: Path) -> None:
    """The student's frozen query weights equal the benchmark's query weights, token by token."""
    from benchmarks.training_eval import counting_tokenizer, query_weights_vector

    idf = IdfTable({"aspirin": 3.5, "headache": 2.25, "the": 0.1})
    model = build_student(tiny_mlm, idf=idf, max_len=24)
    scorer = SparseScorer(model)
    texts = ["aspirin for the headache", "unknown words here"]
    student = scorer.queries(texts).numpy()
    tokenizer = counting_tokenizer(tiny_mlm)
    weights = query_weights_vector(tokenizer, idf)
    for row, text in enumerate(texts):
        ids = sorted(set(tokenizer.encode(text, add_special_tokens=False).ids))
        expected = np.zeros_like(student[row])
        expected[ids] = weights[ids]
        np.testing.assert_allclose(student[row], expected, rtol=1e-6)


def _cpu():  # type: ignore[no-untyped-def]
    from opensearch_sparse.training.distributed import setup

    return setup("cpu")
