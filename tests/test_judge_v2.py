"""Judge v2 beside v1: the full response against the reference, a structured verdict read by a robust parser
(property tests over the phrasings judges write), unparsed judgements counted as 0 by default or left out (counted
either way), v1 unchanged to the checksum, the model id asked for and the one the server answered with, and the
open-ended judge check. The judge here is tests/scripted_server.py in its ``verdict`` mode: a real OpenAI-protocol
server on 127.0.0.1 whose verdicts the tests can predict."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers import assert_one_line, audiomlqa
from hypothesis import given
from hypothesis import strategies as st

from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.judge import (
    JUDGE_PROMPT,
    JUDGE_PROMPT_SHA256,
    JUDGE_PROMPT_VERSION,
    Judge,
    ToJudge,
    dated,
    judge_prediction_files,
    judgement_cache,
    parse_score,
    run_judge_check,
    summarize,
)
from audiomlqa.evaluation.specs import load_spec
from audiomlqa.evaluation.verdicts import JUDGE_PROMPTS, parse_verdict

ROOT = Path(__file__).resolve().parents[1]
V1_SHA256 = "3fc1bee9bc8c058e875ce64cea338b7c91ac31a05b16e457f2150d22504a3553"
"""v1's checksum as it was before v2 existed: every v1 cache and report holds it."""
V2_SHA256 = "94dba9c2ddb9c27ba6ee5a087002319e2b29e790971d47804bca0af3d5282302"
"""v2's checksum, pinned: a change to its text or version is a new version, never a silent edit."""

TEMPLATES = [
    "I give it {s} out of 5",
    "On a scale of 0 to 5, I give it {s}.",
    "on a scale from 0 to 5 I'd rate it a {s}",
    '{"score": {s}}',
    '```json\n{"score": {s}, "reason": "It matches the reference."}\n```',
    "{'score': '{s}', 'reason': 'close enough'}",
    '{"score": {s}.0, "reason": "cut sho',
    "Score: {s}/5",
    "Score: {s}",
    "Rating: {s}",
    "Rating: {s}/5",
    "score of {s}",
    "{s}/5",
    "{s} out of 5",
    "I'd rate it a {s}",
    "I would give this response a {s}.",
    "**{s}**",
    "**Score:** {s}",
    "Rating: [[{s}]]",
    "0-5 scale: {s}",
    "On a scale of 0 to 5: {s}",
    "Score (0–5): {s}",
    "My final score is {s}.",
]
PROSE = st.text(st.characters(exclude_categories=("N", "C")), max_size=80)
"""Text around a verdict: anything but digits (and control characters), so the only score is the template's."""
SCALES = ["", "on a scale of 0 to 5", "from 0 to 5", "between 0 and 5", "(0-5)", "Score:"]


@given(st.integers(0, 5), st.sampled_from(TEMPLATES), PROSE, PROSE, st.sampled_from([" ", "\n"]))
def test_every_phrasing_of_a_score_parses_as_that_score_whatever_prose_surrounds_it(s, template, before, after, sep):
    output = sep.join([before, template.replace("{s}", str(s)), after])
    verdict = parse_verdict(output)
    assert verdict.score == s and verdict.how in ("json", "phrase"), (output, verdict)


@given(PROSE, st.sampled_from(SCALES), PROSE)
def test_an_output_without_a_score_is_unparsed_even_when_it_names_the_scale(before, scale, after):
    verdict = parse_verdict(f"{before} {scale} {after}")
    assert verdict.score is None and verdict.how == "none"


def test_i_give_it_3_out_of_5_and_a_json_score_of_3_parse_alike():
    assert parse_verdict("I give it 3 out of 5").score == parse_verdict('{"score": 3}').score == 3
    assert parse_verdict("on a scale of 0 to 5, I give it 3").score == 3  # v1 read the scale's 0
    assert parse_score("on a scale of 0 to 5, I give it 3") == 0, "v1's parser is kept as it was"


@pytest.mark.parametrize(
    "output, score, how",
    [
        ("3", 3, "bare"),
        (" 4.\n", 4, "bare"),
        ("5\nThe response matches the reference.", 5, "bare"),
        ("0-5 scale: 4", 4, "phrase"),
        ("On a scale of 0 to 5: 2", 2, "phrase"),
        ("from 0 to 5", None, "none"),
        ("Score: 7", None, "none"),
        ('{"score": 9, "reason": "great"}', None, "none"),  # a JSON verdict is decisive, even out of range
        ("Score: 3/10", None, "none"),  # out of 10 is not a 0–5 score
        ("score: 3.5", None, "none"),
        ('{"score": 3.0}', 3, "json"),
        ("The answer says 1945, the reference 1944.", None, "none"),
        ("Explanation: the response is partly right.\nRating: 3", 3, "phrase"),
    ],
)
def test_scores_outside_0_to_5_and_the_scale_itself_are_never_taken_for_a_score(output, score, how):
    verdict = parse_verdict(output)
    assert (verdict.score, verdict.how) == (score, how), verdict


def test_a_json_verdict_gives_its_reason_and_a_judge_echoing_the_prompt_gives_no_score():
    verdict = parse_verdict('Here it is:\n```json\n{"score": 4, "reason": "Right, one detail missing."}\n```')
    assert (verdict.score, verdict.reason, verdict.how) == (4, "Right, one detail missing.", "json")
    assert parse_verdict(JUDGE_PROMPTS["v2"].render("Name a fruit.", ["An apple."], "A pear.")).score is None


def test_v1_keeps_its_text_version_and_checksum_and_v2_is_pinned_beside_it():
    v1, v2 = JUDGE_PROMPTS["v1"], JUDGE_PROMPTS["v2"]
    assert (JUDGE_PROMPT_VERSION, JUDGE_PROMPT_SHA256) == ("audiomlqa-judge-v1", V1_SHA256)
    assert (v1.version, v1.sha256, v1.template) == (JUDGE_PROMPT_VERSION, V1_SHA256, JUDGE_PROMPT)
    assert hashlib.sha256(f"{v1.version}\n{JUDGE_PROMPT}".encode()).hexdigest() == V1_SHA256
    assert (v2.version, v2.sha256) == ("audiomlqa-judge-v2", V2_SHA256)
    full = "Paris.\nIt has been the capital since 987."
    rendered = v2.render("What is the capital of France?", ["Paris"], full)
    assert full in rendered and '{"score": <integer 0-5>, "reason": "<one sentence>"}' in rendered


def test_an_extractive_items_cache_key_is_unchanged_and_an_instructions_differs():
    item = ToJudge("de", "q1", "Wer?", ("Goethe",), "Goethe")
    assert item.key == hashlib.sha256(b"de\0q1\0Goethe").hexdigest()
    assert ToJudge("de", "q1", "Wer?", ("Goethe",), "Goethe", "instruction").key != item.key


def test_unparsed_judgements_count_as_zero_by_default_or_are_left_out_and_are_counted_either_way():
    zero = summarize([5, 3, None, None], [1.0, 0.5, 0.0, 0.0], over_window=1)
    skip = summarize([5, 3, None, None], [1.0, 0.5, 0.0, 0.0], over_window=1, unparsed="skip")
    assert (zero["judge_mean"], zero["judge_share_4_5"], zero["judge_unparsed_as"]) == (2.0, 0.25, "zero")
    assert (skip["judge_mean"], skip["judge_share_4_5"], skip["judge_unparsed_as"]) == (4.0, 0.5, "skip")
    assert zero["judge_unparsed"] == skip["judge_unparsed"] == 2 and zero["judge_over_window"] == 1
    open_ended = summarize([4, 2], None)
    assert open_ended["judge_mean"] == 3 and open_ended["judge_f1_spearman"] is None
    with pytest.raises(AudioMLQAError, match="unknown policy for unparsed judgements 'drop': use zero or skip"):
        summarize([4], [1.0], unparsed="drop")


def test_a_dated_snapshot_is_told_from_an_alias():
    assert dated("gpt-4.1-2025-04-14") and dated("claude-3-5-sonnet-20241022") and dated("gpt-4-0613")
    assert not dated("gpt-4.1") and not dated("Qwen/Qwen2.5-72B-Instruct") and not dated("tiny-random/llm")


def test_the_v2_cache_sits_beside_the_v1_cache(tmp_path):
    spec = load_spec(ROOT / "models" / "judge-gpt-4.1.json")
    assert spec.fields.model == "gpt-4.1-2025-04-14" and dated(spec.fields.model)
    assert judgement_cache(tmp_path, spec) == tmp_path / "judge-judge-gpt-4.1.json"
    assert judgement_cache(tmp_path / "m", spec, "v2") == tmp_path / "m" / "judge-judge-gpt-4.1.v2.json"
    assert judgement_cache(tmp_path / "de.json", spec, "v2") == tmp_path / "de.judge-judge-gpt-4.1.v2.json"
    with pytest.raises(AudioMLQAError, match="unknown judge prompt 'v3': use v1 or v2"):
        judgement_cache(tmp_path, spec, "v3")


# -- a served judge: the scripted server's verdict mode ----------------------------------------------------------


def squad_file(tmp_path: Path, golds: list[str]) -> Path:
    """A SQuAD file of one question per gold answer (context and question in English)."""
    qas = [
        {"id": f"q{i}", "question": f"Question {i}?", "answers": [{"text": g, "answer_start": 0}]}
        for i, g in enumerate(golds)
    ]
    doc = {"data": [{"title": "t", "paragraphs": [{"context": " ".join(golds), "qas": qas}]}]}
    path = tmp_path / "dev-context-en-question-en.json"
    path.write_text(json.dumps(doc))
    return path


def judge_spec(tmp_path: Path, url: str, model: str = "j", **fields) -> Path:
    spec = tmp_path / "judge.json"
    spec.write_text(json.dumps({"name": "served", "kind": "api", "base_url": url, "model": model, **fields}))
    return spec


def requests_seen(tmp_path: Path) -> int:
    log = tmp_path / "requests.jsonl"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_v2_judge_counts_unparsed_as_zero_by_default_records_the_served_model_and_caches_apart(
    verdict_server, tmp_path
):
    dataset = squad_file(tmp_path, ["Paris", "Berlin", "Rome", "Madrid"])
    preds = tmp_path / "en.json"
    preds.write_text(json.dumps({"q0": "SCORE=4", "q1": "SCORE=1", "q2": "GIBBERISH", "q3": "Madrid"}))
    spec = load_spec(judge_spec(tmp_path, verdict_server, max_new_tokens=8))
    zero = judge_prediction_files(spec, preds, dataset, judge_prompt="v2")
    assert zero["pooled"]["judge_mean"] == (4 + 1 + 0 + 5) / 4 and zero["pooled"]["judge_unparsed"] == 1
    assert zero["prompt_version"] == "audiomlqa-judge-v2" and zero["prompt_sha256"] == V2_SHA256
    assert (zero["model"], zero["served_models"], zero["model_dated"]) == ("j", ["j-2025-04-14"], False)
    assert zero["generation"]["max_tokens"] == 96, "a JSON verdict gets v2's token budget, not the spec's 8"
    cache = tmp_path / "en.judge-served.v2.json"
    items = json.loads(cache.read_text())["items"]
    assert sorted((v["id"], v["status"], v["how"]) for v in items.values()) == [
        ("q0", "ok", "json"),
        ("q1", "ok", "json"),
        ("q2", "unparsed", "none"),
        ("q3", "ok", "json"),
    ]
    assert {v["reason"] for v in items.values()} == {"scripted", None}

    sent = requests_seen(tmp_path)
    skip = judge_prediction_files(spec, preds, dataset, judge_prompt="v2", unparsed="skip")
    assert requests_seen(tmp_path) == sent, "the policy reads the same cached verdicts"
    assert skip["pooled"]["judge_mean"] == 10 / 3 and skip["pooled"]["judge_unparsed"] == 1
    assert skip["pooled"]["judge_unparsed_as"] == "skip" and skip["pairs"]["en"]["judge_parsed"] == 3

    v1 = judge_prediction_files(spec, preds, dataset)  # beside it, in v1's own cache
    assert v1["prompt_version"] == JUDGE_PROMPT_VERSION and (tmp_path / "en.judge-served.json").exists()
    cache.replace(tmp_path / "en.judge-served.json")  # a v2 cache where a v1 cache belongs is refused
    with pytest.raises(AudioMLQAError, match="made with judge prompt 'audiomlqa-judge-v2', not 'audiomlqa-judge-v1'"):
        judge_prediction_files(spec, preds, dataset)


@pytest.mark.slow  # four runs of the command line; the names' checks are quick below
def test_the_score_command_takes_the_judge_prompt_and_the_policy(verdict_server, tmp_path):
    dataset = squad_file(tmp_path, ["Paris", "Berlin"])
    preds = tmp_path / "en.json"
    preds.write_text(json.dumps({"q0": "SCORE=3", "q1": "GIBBERISH"}))
    spec = judge_spec(tmp_path, verdict_server, model="gpt-4.1-2025-04-14")
    args = ["score", preds, "--dataset", dataset, "--judge", spec]
    out = audiomlqa(*args, "--judge-prompt", "v2", "--unparsed", "skip", "--json")
    assert out.returncode == 0, out.stderr
    judged = json.loads(out.stdout)["judge"]
    assert judged["prompt_version"] == "audiomlqa-judge-v2" and judged["model_dated"] is True
    assert (judged["pooled"]["judge_mean"], judged["pooled"]["judge_unparsed"]) == (3, 1)
    table = audiomlqa(*args, "--judge-prompt", "v2")
    assert table.returncode == 0 and "unparsed judgements count as 0" in table.stdout, table.stderr
    assert_one_line(audiomlqa(*args, "--judge-prompt", "v3"), "unknown judge prompt 'v3': use v1 or v2")


def test_a_wrong_judge_prompt_or_policy_fails_in_one_line_before_anything_runs(tmp_path):
    from audiomlqa.evaluation import score

    preds = tmp_path / "en.json"
    preds.write_text(json.dumps({"q0": "Paris"}))
    spec = judge_spec(tmp_path, "http://127.0.0.1:9/v1")  # never reached
    wrong = [({"judge_prompt": "v3"}, "unknown judge prompt"), ({"unparsed": "drop"}, "unknown policy")]
    for options, message in wrong:
        with pytest.raises(AudioMLQAError, match=message):
            score([preds], str(squad_file(tmp_path, ["Paris"])), judge=spec, **options)
    assert not list(tmp_path.glob("*.judge-*")), "nothing was judged"


def test_the_open_ended_judge_check_scores_the_reference_high_and_another_instructions_reference_low(
    verdict_server, tmp_path
):
    from audiomlqa.sources import DatasetFile, Question

    references = ["An apple is a fruit.", "Water boils at 100 degrees.", "The sky looks blue."]
    questions = [
        Question(f"i{i}", "en", "en", "alpaca", "", f"Instruction {i}.", task="instruction", reference=r)
        for i, r in enumerate(references)
    ]
    files = [DatasetFile(tmp_path / "instruct-en", "en", "en", "0" * 64, questions, task="instruction")]
    judge = Judge(load_spec(judge_spec(tmp_path, verdict_server)))  # a v1 judge: instructions are checked with v2
    check = run_judge_check(judge, files, 3)
    assert (check["n"], check["gold_mean"], check["wrong_mean"], check["unparsed"]) == (3, 5, 0, 0)
    assert check["tasks"]["instruction"]["prompt_version"] == "audiomlqa-judge-v2"
    sent = [json.loads(line)["body"] for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert len(sent) == 6 and all("[Response to grade]" in b["messages"][-1]["content"] for b in sent)


def test_a_run_of_questions_and_instructions_checks_each_task_with_the_prompt_it_is_judged_with(
    verdict_server, tmp_path
):
    from audiomlqa.evaluation.run import Judging, check_judge
    from audiomlqa.sources import DatasetFile, Question, read_squad_file

    qa = read_squad_file(squad_file(tmp_path, ["Paris", "Berlin"]))
    references = ["An apple is a fruit.", "Water boils at 100 degrees."]
    questions = [
        Question(f"i{i}", "en", "en", "", "", f"Instruction {i}.", task="instruction", reference=r)
        for i, r in enumerate(references)
    ]
    instructions = DatasetFile(tmp_path / "instruct-en", "en", "en", "0" * 64, questions, task="instruction")
    judging = Judging(load_spec(judge_spec(tmp_path, verdict_server, max_new_tokens=4)), "v1")
    check = check_judge(judging, [qa, instructions], 2)
    prompts = {task: t["prompt_version"] for task, t in check["tasks"].items()}
    assert prompts == {"extractive-qa": "audiomlqa-judge-v1", "instruction": "audiomlqa-judge-v2"}
    assert check["tasks"]["instruction"]["gold_mean"] == 5 and check["tasks"]["instruction"]["wrong_mean"] == 0
    sent = [json.loads(line)["body"] for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    budget = {("[Response to grade]" in b["messages"][-1]["content"]): b.get("max_tokens") for b in sent}
    assert budget == {False: 4, True: 96}  # each task's judge with its own token budget (v2's JSON needs more)
