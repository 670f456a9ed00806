"""Bootstrap intervals and the paired bootstrap (audiomlqa.scoring.intervals) against closed forms and textbook
standard errors, their properties, and the intervals that `audiomlqa score --json` carries (issue 27)."""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import audiomlqa
from hypothesis import given, settings
from hypothesis import strategies as st
from test_context_window import text_dataset

from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation import ConfigScore, ModelReport
from audiomlqa.evaluation.report import judge_sample
from audiomlqa.scoring import (
    bootstrap_interval,
    bootstrap_intervals,
    paired_bootstrap,
    question_samples,
    sample,
    score_file,
)
from audiomlqa.scoring.intervals import _resampled
from audiomlqa.sources import Answer, read_mlqa_dir
from audiomlqa.tasks import INSTRUCTION

ROOT = Path(__file__).resolve().parents[1]


def width(interval) -> float:
    return interval.high - interval.low


# -- closed forms --------------------------------------------------------------------------------------------------


def test_two_questions_valued_0_and_1_resample_to_0_half_and_1_with_a_quarter_a_half_and_a_quarter():
    two = [sample([0.0, 1.0])]
    ci = bootstrap_interval(two)
    assert (ci.estimate, ci.low, ci.high) == (0.5, 0.0, 1.0)
    assert (ci.level, ci.resamples, ci.seed) == (0.95, 1000, 0)
    # the 30% and 70% quantiles both fall in the middle atom (P(0) = 1/4 < 0.3, P(<= 0.5) = 3/4 > 0.7)
    middle = bootstrap_interval(two, level=0.4)
    assert (middle.low, middle.high) == (0.5, 0.5)
    stats = _resampled([two], 20000, 0)[0]
    values, counts = np.unique(stats, return_counts=True)
    assert values.tolist() == [0.0, 0.5, 1.0]
    assert counts / 20000 == pytest.approx([0.25, 0.5, 0.25], abs=0.015)


def test_a_bernoulli_mean_has_the_textbook_standard_error():
    n, p = 400, 0.3
    values = [1.0] * int(n * p) + [0.0] * int(n * (1 - p))
    ci = bootstrap_interval([sample(values)], resamples=4000, level=0.95)
    standard_error = math.sqrt(p * (1 - p) / n)
    assert ci.estimate == pytest.approx(p)
    assert width(ci) / (2 * 1.959964) == pytest.approx(standard_error, rel=0.08)


def test_questions_on_one_paragraph_move_together_and_widen_the_interval():
    rng = np.random.default_rng(7)
    per_paragraph = rng.random(60) * 100
    doubled = np.repeat(per_paragraph, 2)  # two questions per paragraph, scored alike
    apart = bootstrap_interval([sample(doubled)])  # wrongly taken as 120 independent questions
    together = bootstrap_interval([sample(doubled, np.repeat(np.arange(60), 2))])
    alone = bootstrap_interval([sample(per_paragraph)])
    assert apart.estimate == together.estimate == pytest.approx(per_paragraph.mean())
    assert width(together) > 1.25 * width(apart)  # about sqrt(2) wider
    assert width(together) == pytest.approx(width(alone), rel=0.15)  # 60 paragraphs: as wide as 60 questions


def test_any_hashable_labels_a_cluster_and_a_cluster_is_numbered_by_first_appearance():
    s = sample([1, 2, 3, 4], ["para b", "para a", "para b", ("x", 1)])
    assert s.clusters.tolist() == [0, 1, 0, 2] and s.k == 3
    assert sample([5, 6]).clusters.tolist() == [0, 1]


def test_the_macro_average_resamples_each_config_apart_and_estimates_the_mean_of_the_means():
    small, large = sample([0.0, 100.0]), sample([50.0] * 7 + [60.0])
    ci = bootstrap_interval([small, large])
    assert ci.estimate == pytest.approx((50.0 + 51.25) / 2)
    assert 0.0 <= ci.low <= ci.estimate <= ci.high <= 80.0


def test_a_seeded_bootstrap_is_reproducible_to_the_float_and_another_seed_differs():
    rng = np.random.default_rng(3)
    strata = [sample(rng.random(50) * 100, rng.integers(0, 20, 50)) for _ in range(3)]
    first, again = bootstrap_interval(strata), bootstrap_interval(strata)
    assert (first.low, first.high) == (again.low, again.high)
    other = bootstrap_interval(strata, seed=1)
    assert (other.low, other.high) != (first.low, first.high) and other.estimate == first.estimate


def test_several_metrics_at_once_give_what_one_call_per_metric_gives():
    rng = np.random.default_rng(5)
    clusters = rng.integers(0, 15, 40)
    f1 = [sample(rng.random(40) * 100, clusters), sample(rng.random(30) * 100)]
    em = [sample(rng.integers(0, 2, 40) * 100.0, clusters), sample(rng.integers(0, 2, 30) * 100.0)]
    judge = [sample(rng.integers(0, 6, 25)), sample(rng.integers(0, 6, 30))]  # other questions: drawn apart
    together = bootstrap_intervals({"f1": f1, "exact_match": em, "judge": judge})
    assert list(together) == ["f1", "exact_match", "judge"]
    for name, strata in (("f1", f1), ("exact_match", em), ("judge", judge)):
        assert together[name] == bootstrap_interval(strata)


# -- the paired bootstrap ------------------------------------------------------------------------------------------


def test_identical_systems_differ_by_nothing_with_p_1():
    a = [sample([10.0, 80.0, 35.0, 35.0], ["p", "q", "p", "r"]), sample([0.0, 100.0])]
    test = paired_bootstrap(a, a)
    assert (test.difference, test.low, test.high, test.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_a_system_better_by_the_same_amount_on_every_question_gets_the_smallest_p():
    rng = np.random.default_rng(11)
    b = [sample(rng.random(30) * 90, rng.integers(0, 10, 30)), sample(rng.random(12) * 90)]
    a = [sample(s.values + 5.0, s.clusters) for s in b]
    test = paired_bootstrap(a, b, resamples=500)
    assert test.p_value == 1 / 501
    assert test.difference == pytest.approx(5.0) and test.low == pytest.approx(5.0) and test.high == pytest.approx(5.0)
    assert test.to_dict() == {"difference": test.difference, "low": test.low, "high": test.high, "p_value": 1 / 501}


def test_a_noisy_difference_has_an_interval_around_it_and_a_middling_p():
    rng = np.random.default_rng(2)
    b_values = rng.random(200) * 100
    a_values = np.clip(b_values + rng.normal(1.0, 20.0, 200), 0, 100)
    clusters = rng.integers(0, 80, 200)
    test = paired_bootstrap([sample(a_values, clusters)], [sample(b_values, clusters)])
    assert test.low < test.difference < test.high
    assert 0.05 < test.p_value < 1.0
    unpaired_width = width(bootstrap_interval([sample(a_values, clusters)]))
    assert test.high - test.low < 2 * unpaired_width


def test_mismatched_configs_or_questions_are_refused_in_one_line():
    a = [sample([1.0, 2.0, 3.0])]
    for b, fragment in (
        ([sample([1.0, 2.0])], "same questions"),
        ([sample([1.0, 2.0, 3.0], ["p", "p", "q"])], "same questions"),
        ([sample([1.0, 2.0, 3.0]), sample([1.0])], "same configs"),
    ):
        with pytest.raises(AudioMLQAError, match=fragment) as e:
            paired_bootstrap(a, b)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: bootstrap_interval([]), "at least one config"),
        (lambda: bootstrap_interval([sample([1.0]), sample([])]), "no questions"),
        (lambda: bootstrap_interval([sample([1.0])], level=95), "between 0 and 1"),
        (lambda: bootstrap_interval([sample([1.0])], resamples=0), "positive integer"),
        (lambda: sample([1.0, 2.0], ["p"]), "one per question"),
        (lambda: sample([1.0, float("nan")]), "missing or infinite"),
    ],
)
def test_what_has_no_bootstrap_is_refused_in_one_line(call, fragment):
    with pytest.raises(AudioMLQAError, match=fragment) as e:
        call()
    assert "\n" not in str(e.value)


# -- properties ----------------------------------------------------------------------------------------------------

values_st = st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=25)
stratum_st = values_st.flatmap(
    lambda v: st.lists(st.integers(0, 4), min_size=len(v), max_size=len(v)).map(lambda c: sample(v, c))
)


@settings(max_examples=40, deadline=None)
@given(strata=st.lists(stratum_st, min_size=1, max_size=4), level=st.floats(0.5, 0.99))
def test_an_interval_is_ordered_and_within_the_range_of_the_values(strata, level):
    ci = bootstrap_interval(strata, resamples=200, level=level)
    values = np.concatenate([s.values for s in strata])
    assert values.min() <= ci.low <= ci.high <= values.max()
    assert ci.estimate == pytest.approx(np.mean([s.values.mean() for s in strata]))
    narrower = bootstrap_interval(strata, resamples=200, level=level / 2)
    assert ci.low <= narrower.low <= narrower.high <= ci.high  # same draws, inner quantiles


@settings(max_examples=40, deadline=None)
@given(strata=st.lists(stratum_st, min_size=1, max_size=3), shift=st.floats(-30, 30), seed=st.integers(0, 9))
def test_swapping_the_systems_negates_the_difference_and_keeps_the_p_value(strata, shift, seed):
    other = [sample(np.clip(s.values[::-1] + shift, 0, 100), s.clusters) for s in strata]
    ab, ba = (
        paired_bootstrap(strata, other, resamples=200, seed=seed),
        paired_bootstrap(other, strata, resamples=200, seed=seed),
    )
    assert ab.difference == pytest.approx(-ba.difference, abs=1e-9)
    assert ab.low == pytest.approx(-ba.high, abs=1e-9) and ab.high == pytest.approx(-ba.low, abs=1e-9)
    assert ab.p_value == ba.p_value and 1 / 201 <= ab.p_value <= 1.0
    assert ab.low <= ab.high


# -- speed ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_full_grid_of_49_configs_of_1000_questions_is_bootstrapped_in_seconds():
    rng = np.random.default_rng(0)
    strata = [sample(rng.random(1000) * 100, rng.integers(0, 850, 1000)) for _ in range(49)]  # MLQA dev: ~85%
    t0 = time.perf_counter()
    bootstrap_intervals({"f1": strata, "exact_match": [sample(s.values.round(-2), s.clusters) for s in strata]})
    assert time.perf_counter() - t0 < 20  # about 3 s on one core; four metrics cost what one does


# -- score --json ---------------------------------------------------------------------------------------------------


def test_per_question_values_average_to_the_official_scores(sample_dir):
    files = read_mlqa_dir(sample_dir, "dev", [("de", "de"), ("zh", "en"), ("hi", "hi")])
    for f in files:
        preds = {q.id: q.answers[0].text[: 1 + i % 7] for i, q in enumerate(f.questions) if i % 3}
        official = score_file(f, preds)
        samples = question_samples(f, preds)
        assert samples["f1"].values.mean() == pytest.approx(official.f1, abs=1e-9)
        assert samples["exact_match"].values.mean() == pytest.approx(official.exact_match, abs=1e-9)
        assert len(samples["f1"]) == official.total and samples["f1"].values.max() <= 100.0


def test_score_json_of_predictions_carries_seeded_intervals_for_every_pair_and_average(tmp_path, sample_dir):
    preds = {}
    for f in read_mlqa_dir(sample_dir, "dev", [("de", "de"), ("en", "en"), ("de", "en")]):
        name = f.context_lang if f.context_lang == f.question_lang else f"{f.context_lang}-{f.question_lang}"
        preds[name] = {q.id: q.answers[0].text[: 3 * i] for i, q in enumerate(f.questions)}
    (tmp_path / "preds.json").write_text(json.dumps(preds, ensure_ascii=False))
    runs = [audiomlqa("score", tmp_path / "preds.json", "--dataset", sample_dir, "--json") for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    first, second = (json.loads(r.stdout) for r in runs)
    strip = lambda doc: {k: v for k, v in doc.items() if k != "provenance"}  # noqa: E731 - scored_at differs
    assert strip(first) == strip(second), "seeded: the same intervals to the float"
    assert first["bootstrap"] == {"level": 0.95, "resamples": 1000, "seed": 0, "unit": "paragraph"}
    assert first["intervals"] == first["average_intervals"]["all_pairs"]
    assert first["average_intervals"]["cross_lingual"] == first["pairs"][2]["intervals"]  # one pair: its own
    bounds = [first["intervals"], *(p["intervals"] for p in first["pairs"]), first["average_intervals"]["monolingual"]]
    for intervals in bounds:
        assert set(intervals) == {"exact_match", "f1"}
        for b in intervals.values():
            assert set(b) == {"low", "high"} and 0.0 <= b["low"] <= b["high"] <= 100.0
    for p in first["pairs"]:
        assert p["intervals"]["f1"]["low"] <= p["f1"] <= p["intervals"]["f1"]["high"]


def test_a_model_report_gives_each_config_and_the_macro_average_their_intervals():

    qa = {m: sample([0.0, 100.0, 100.0, 50.0], ["p", "p", "q", "r"]) for m in ("exact_match", "f1", "raw_f1")}
    qa["raw_exact_match"] = sample([0.0, 0.0, 100.0, 0.0], ["p", "p", "q", "r"])
    de = ConfigScore(
        "de", 50.0, 62.5, 25.0, 62.5, 4, samples={**qa, "judge_mean": judge_sample([5, None, 4, 0], "ppqr", "zero")}
    )
    de.judge_mean = 2.25
    told = ConfigScore("instruct-en", None, None, None, None, 3, task=INSTRUCTION)
    told.samples["judge_mean"] = judge_sample([3, None, 5], ["a", "b", "c"], "skip")
    told.judge_mean = 4.0
    report = ModelReport("m", "m.json", [de, told], {}, 0, 7, judge={"judge": "j"})
    doc = report.to_dict()
    assert set(doc["configs"]["de"]["intervals"]) == {"exact_match", "f1", "raw_exact_match", "raw_f1", "judge_mean"}
    assert set(doc["configs"]["instruct-en"]["intervals"]) == {"judge_mean"}, "open answers have no F1/EM"
    assert "samples" not in doc["configs"]["de"]
    assert doc["macro_average_intervals"]["f1"] == doc["configs"]["de"]["intervals"]["f1"]  # one QA config
    judged = doc["macro_average_intervals"]["judge_mean"]
    assert 0 <= judged["low"] <= (2.25 + 4.0) / 2 <= judged["high"] <= 5
    assert doc["bootstrap"]["unit"] == "paragraph" and json.loads(json.dumps(doc)) == doc
    assert report.to_dict() == doc
    unjudged = ModelReport("m", "m.json", [ConfigScore("de", 50.0, 62.5, 25.0, 62.5, 4, samples=qa)], {}, 0, 4)
    assert "judge_mean" not in unjudged.to_dict()["configs"]["de"]["intervals"]


def test_a_judge_sample_counts_unparsed_verdicts_as_the_mean_does():
    zero, skip = judge_sample([4, None, 2], "abc", "zero"), judge_sample([4, None, 2], "abc", "skip")
    assert zero.values.tolist() == [4.0, 0.0, 2.0] and skip.values.tolist() == [4.0, 2.0]
    assert skip.clusters.tolist() == [0, 1]


@pytest.fixture
def plain_server(tmp_path):
    """An OpenAI-compatible model that answers the text after the prompt's last colon: "empty" for MLQA's prompt."""
    from conftest import scripted_server

    yield from scripted_server(tmp_path, "plain")


@pytest.mark.slow
def test_score_json_of_a_served_model_and_judge_carries_intervals_around_each_score(
    tmp_path, sample_dir, plain_server, judge_server
):
    pytest.importorskip("datasets")
    configs = {}
    for f in read_mlqa_dir(sample_dir, "dev", [("en", "en"), ("de", "de")]):
        first = f.questions[0]  # a second question on its first paragraph: one cluster of two
        again = replace(first, id=first.id + "-again", question="Wer?")
        right = [replace(q, answers=(Answer("empty", 0),)) for q in (first, again, f.questions[1])]  # what it says
        configs[f.context_lang] = [*right, *f.questions[2:5]]
    # datasets caches a local folder by its name, whatever its files: a name of its own, or another run's questions
    dataset = text_dataset(tmp_path / f"intervals-{uuid.uuid4().hex}", configs)
    spec = tmp_path / "served.json"
    spec.write_text(json.dumps({"name": "served", "kind": "api", "base_url": plain_server, "model": "m"}))
    judge = tmp_path / "judge.json"
    judge.write_text(json.dumps({"name": "served-judge", "kind": "api", "base_url": judge_server, "model": "j"}))
    args = ["score", spec, "--dataset", dataset, "--predictions-dir", tmp_path / "p", "--judge", judge]
    run = audiomlqa(*args, "--json", "--quiet")  # seeded: tests of both paths show a rerun gives the same floats
    assert run.returncode == 0, run.stderr
    first = json.loads(run.stdout)["models"][0]
    assert first["bootstrap"] == {"level": 0.95, "resamples": 1000, "seed": 0, "unit": "paragraph"}
    for name, config in first["configs"].items():
        assert set(config["intervals"]) == {"exact_match", "f1", "raw_exact_match", "raw_f1", "judge_mean"}, name
        for metric, bounds in config["intervals"].items():
            top = 5.0 if metric == "judge_mean" else 100.0
            assert 0.0 <= bounds["low"] <= config[metric] <= bounds["high"] <= top, (name, metric)
    assert first["configs"]["en"]["f1"] == 50.0  # 3 of 6 right
    assert set(first["macro_average_intervals"]) == set(first["configs"]["en"]["intervals"])
    assert first["macro_average_intervals"]["f1"]["low"] < 50.0 < first["macro_average_intervals"]["f1"]["high"]
    scores = json.loads((tmp_path / "p" / "served" / "scores.json").read_text())
    assert scores["configs"] == first["configs"], "scores.json holds the same intervals"
