"""The LLM judge beside F1/EM: a pinned prompt, integer scores 0–5 or a counted parse failure, cached judgements,
the judge check, and one-line failures before any judging. The small judges here cannot judge well; the tests
assert the path, never a quality they cannot have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_one_line, audiomlqa
from hypothesis import given
from hypothesis import strategies as st

from audiomlqa.evaluation import JUDGE_PROMPT_SHA256, JUDGE_PROMPT_VERSION, judge_prompt, parse_score, spearman

ROOT = Path(__file__).resolve().parents[1]


@given(st.text())
def test_a_parsed_score_is_an_integer_from_0_to_5_or_none(text):
    score = parse_score(text)
    assert score is None or (isinstance(score, int) and 0 <= score <= 5)


def test_scores_are_read_from_what_judges_write():
    assert parse_score("4") == 4 and parse_score(" Score: 5.") == 5 and parse_score("I'd say 3/5") == 3
    assert parse_score("10") is None and parse_score("4.5") is None and parse_score("") is None
    assert parse_score("no score") is None


def test_the_prompt_is_pinned_and_holds_the_question_golds_and_answer():
    prompt = judge_prompt("Who wrote it?", ["Goethe", "J. W. Goethe"], "")
    assert "Who wrote it?" in prompt and "Goethe | J. W. Goethe" in prompt and "(no answer)" in prompt
    assert JUDGE_PROMPT_VERSION == "audiomlqa-judge-v1" and len(JUDGE_PROMPT_SHA256) == 64


def test_spearman_matches_a_hand_computed_case():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([5, 5, 5], [1, 2, 3]) is None and spearman([1], [1]) is None
    # ranks 1, 2.5, 2.5, 4 against 1, 3, 2, 4: Pearson of the ranks = 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)


pytest.importorskip("datasets")
pytest.importorskip("faster_whisper")
pytest.importorskip("espeakng_loader")


@pytest.fixture(scope="module")
def dataset(spoken_dataset) -> Path:
    return spoken_dataset(["en", "de"], 2)  # the one test_audiochat reads


@pytest.mark.slow
def test_a_local_judge_scores_every_answer_counts_failures_and_is_cached(dataset, tmp_path):
    args = [
        "score",
        ROOT / "models" / "tiny-text.json",
        "--dataset",
        dataset,
        "--predictions-dir",
        tmp_path / "p",
        "--judge",
        ROOT / "models" / "judge-tiny.json",
        "--judge-check",
        "2",
        "--json",
        "--quiet",
    ]
    out = audiomlqa(*args)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    model = doc["models"][0]
    for config in model["configs"].values():
        assert config["judge_parsed"] + config["judge_unparsed"] == config["total"]
    assert model["judge"]["prompt_version"] == JUDGE_PROMPT_VERSION and model["judge"]["judge"] == "judge-tiny"
    assert doc["judge_check"]["n"] == 4 and doc["judge_check"]["judge"] == "judge-tiny"
    cache = tmp_path / "p" / "tiny-text" / "judge-judge-tiny.json"
    items = json.loads(cache.read_text())["items"]
    assert len(items) == 4 and all(v["status"] in ("ok", "unparsed") for v in items.values())
    assert all(v["score"] is None or v["score"] in range(6) for v in items.values())
    before = cache.stat().st_mtime_ns
    again = audiomlqa(*args[:-2], "--markdown", "--quiet")  # the rerun also shows the judge's columns as a table
    assert again.returncode == 0 and cache.stat().st_mtime_ns == before, "a rerun judges nothing new"
    assert "judge score 0–5 (judge-tiny" in again.stdout and "judge check (judge-tiny" in again.stdout

    record = json.loads(cache.read_text())
    record["prompt_version"] = "audiomlqa-judge-v0"
    cache.write_text(json.dumps(record))
    assert_one_line(audiomlqa(*args), "holds judgements made with judge prompt 'audiomlqa-judge-v0'")


@pytest.mark.slow
def test_a_served_judge_gives_integer_scores_and_the_check_and_agreement_figures(dataset, judge_server, tmp_path):
    spec = tmp_path / "judge.json"
    spec.write_text(
        json.dumps(
            {
                "name": "served-judge",
                "kind": "api",
                "base_url": judge_server,
                "model": "j",
                "max_new_tokens": 8,
                "api_key_env": "JUDGE_KEY",
            }
        )
    )
    out = audiomlqa(
        "score",
        ROOT / "models" / "tiny-text.json",
        "--dataset",
        dataset,
        "--predictions-dir",
        tmp_path / "p",
        "--judge",
        spec,
        "--judge-check",
        "2",
        "--json",
        "--quiet",
        env={"JUDGE_KEY": "sk-judge-secret"},
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    judged = doc["models"][0]
    assert all(c["judge_unparsed"] == 0 and 0 <= c["judge_mean"] <= 5 for c in judged["configs"].values())
    assert 0 <= judged["macro_average"]["judge_mean"] <= 5 and "judge_f1_spearman" in judged["judge"]
    assert doc["judge_check"]["gold_mean"] is not None and doc["judge_check"]["unparsed"] == 0
    cached = (tmp_path / "p" / "tiny-text" / "judge-served-judge.json").read_text()
    assert "sk-judge-secret" not in cached + out.stdout + out.stderr


@pytest.mark.slow
def test_a_judge_without_its_key_or_its_server_fails_in_one_line_before_any_model_runs(dataset, tmp_path):
    from test_api import free_port

    unset = tmp_path / "unset.json"
    unset.write_text(
        json.dumps(
            {
                "name": "j",
                "kind": "api",
                "base_url": "http://127.0.0.1:9/v1",
                "model": "m",
                "api_key_env": "NO_SUCH_JUDGE_KEY",
            }
        )
    )
    args = ["score", ROOT / "models" / "tiny-text.json", "--dataset", dataset, "--predictions-dir", tmp_path / "p"]
    assert_one_line(audiomlqa(*args, "--judge", unset), "NO_SUCH_JUDGE_KEY (api_key_env) is not set")
    dead = tmp_path / "dead.json"
    dead.write_text(
        json.dumps(
            {"name": "j", "kind": "api", "base_url": f"http://127.0.0.1:{free_port()}/v1", "model": "m", "retries": 0}
        )
    )
    assert_one_line(audiomlqa(*args, "--judge", dead), "cannot reach http://127.0.0.1")
    assert not (tmp_path / "p" / "tiny-text").exists()


@pytest.mark.slow
def test_a_predictions_file_is_judged_the_same_way(judge_server, tmp_path, sample_dir):
    from audiomlqa.sources import read_mlqa_dir

    [f] = read_mlqa_dir(sample_dir, "dev", [("de", "de")])
    preds = tmp_path / "de.json"
    preds.write_text(json.dumps({q.id: q.answer_texts[0] for q in f.questions[:5]}))
    spec = tmp_path / "judge.json"
    spec.write_text(json.dumps({"name": "served-judge", "kind": "api", "base_url": judge_server, "model": "j"}))
    out = audiomlqa("score", preds, "--dataset", f.path, "--judge", spec, "--json")
    assert out.returncode == 0, out.stderr
    judged = json.loads(out.stdout)["judge"]
    assert judged["pairs"]["de"]["judge_parsed"] == 10 and 0 <= judged["pooled"]["judge_mean"] <= 5
    assert (tmp_path / "de.judge-served-judge.json").exists()
    table = audiomlqa("score", preds, "--dataset", f.path, "--judge", spec)
    assert table.returncode == 0 and "Judge served-judge" in table.stdout
