"""Caches and records typed when read (issue 24): a predictions cache, a judge cache or a predictions file holding a
value of the wrong JSON type, or a judge score outside 0–5, fails in one line naming the file and the entry (never a
traceback, never a judge mean of 99 shown as one 0–5); a spec named after a folder the score output writes itself
(``charts``) is refused before any model loads. No model loads here: caches are written as the tool writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_one_line, audiomlqa

from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation import (
    JUDGE_PROMPT_SHA256,
    JUDGE_PROMPT_VERSION,
    PROMPT_VERSION,
    judge_prediction_files,
    load_spec,
    summarize,
)
from audiomlqa.evaluation.cache import merge_parts, read_predictions
from audiomlqa.evaluation.judge import read_judgements
from audiomlqa.scoring import load_predictions

ROOT = Path(__file__).resolve().parents[1]
DE = ROOT / "audiomlqa" / "data" / "mlqa-sample" / "dev" / "dev-context-de-question-de.json"


def refused(call, *fragments: str) -> str:
    """``call()`` fails with one line holding every fragment; returns the line."""
    with pytest.raises(AudioMLQAError) as e:
        call()
    message = str(e.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- predictions caches ----------------------------------------------------------------------------------------


@pytest.fixture
def text_spec():
    return load_spec(ROOT / "models" / "tiny-text.json")


def write_predictions_cache(path: Path, spec, **change) -> Path:
    """A cache as ``score`` writes it (``OUTPUT/<model>/<config>.raw.json``), with ``change`` applied (``...``
    leaves a key out)."""
    doc = {
        "model": spec.name,
        "spec_sha256": spec.sha256,
        "prompt_version": PROMPT_VERSION,
        "dtype": "float32",
        "runner": {"kind": "text"},
        "raw": {"q1": "Berlin", "q2": ""},
        "transcripts": {},
        "over_window": ["q2"],
        **change,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: v for k, v in doc.items() if v is not ...}))
    return path


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"raw": {"q1": 5}}, "raw.q1: expected text, got 5"),
        ({"raw": {"q1": ["Berlin"]}}, "raw.q1: expected text"),
        ({"raw": ["Berlin"]}, "raw: expected a mapping"),
        ({"raw": ...}, "raw: required, but not given"),
        ({"transcripts": {"q1": None}}, "transcripts.q1: expected text, got None"),
        ({"over_window": "q2"}, "over_window: expected a list"),
        ({"over_window": [2]}, "over_window[0]: expected text, got 2"),
        ({"runner": "text"}, "runner: expected a mapping"),
        ({"world_size": 0}, "world_size"),
    ],
)
def test_a_predictions_cache_of_the_wrong_types_is_refused_in_one_line_naming_file_and_entry(
    change, fragment, text_spec, tmp_path
):
    path = write_predictions_cache(tmp_path / "en.raw.json", text_spec, **change)
    refused(lambda: read_predictions(path, text_spec, "float32"), str(path), fragment, "--overwrite")


def test_a_predictions_cache_that_is_not_a_json_object_is_refused_in_one_line(text_spec, tmp_path):
    path = tmp_path / "en.raw.json"
    path.write_text(json.dumps([{"raw": {}}]))
    refused(lambda: read_predictions(path, text_spec, "float32"), str(path), "not a JSON object", "--overwrite")


def test_a_bad_part_of_a_multi_process_run_is_refused_before_the_merge_writes(text_spec, tmp_path):
    good = write_predictions_cache(tmp_path / "rank-0-of-2" / "en.raw.json", text_spec)
    bad = write_predictions_cache(tmp_path / "rank-1-of-2" / "en.raw.json", text_spec, raw={"q3": {"text": "x"}})
    main = tmp_path / "en.raw.json"
    refused(lambda: merge_parts(main, [good, bad], text_spec, "float32", False), str(bad), "raw.q3")
    assert not main.exists()


def test_good_predictions_caches_read_as_before_also_without_the_fields_added_later(text_spec, tmp_path):
    path = write_predictions_cache(tmp_path / "en.raw.json", text_spec)
    assert read_predictions(path, text_spec, "float32")["raw"] == {"q1": "Berlin", "q2": ""}
    older = write_predictions_cache(tmp_path / "old.raw.json", text_spec, dtype=..., transcripts=..., over_window=...)
    assert read_predictions(older, text_spec, "bfloat16")["raw"]["q1"] == "Berlin"


# -- judge caches -------------------------------------------------------------------------------------------------


@pytest.fixture
def judge_spec(tmp_path):
    spec = tmp_path / "judge.json"
    spec.write_text(json.dumps({"name": "j", "kind": "api", "base_url": "http://127.0.0.1:9/v1", "model": "m"}))
    return load_spec(spec)


def write_judge_cache(path: Path, spec, items) -> Path:
    """A judgement cache as the judge writes it (``judge-<judge>.json``) holding ``items``."""
    doc = {
        "judge": spec.name,
        "judge_spec_sha256": spec.sha256,
        "prompt_version": JUDGE_PROMPT_VERSION,
        "prompt_sha256": JUDGE_PROMPT_SHA256,
        "judge_runner": {"judge": spec.name},
        "items": items,
    }
    path.write_text(json.dumps(doc))
    return path


NAMED = {"pair": "en", "id": "q17"}


@pytest.mark.parametrize(
    "item, fragment",
    [
        ({"score": 99, "raw": "99", "status": "ok", **NAMED}, "entry 'en/q17': score: 99 is outside 0–5"),
        ({"score": -1, "raw": "-1", "status": "ok", **NAMED}, "score: -1 is outside 0–5"),
        ({"score": 4.5, "raw": "4.5", "status": "ok", **NAMED}, "score: expected an integer, got 4.5"),
        ({"score": "4", "raw": "4", "status": "ok", **NAMED}, "score: expected an integer, got '4'"),
        ({"score": True, "raw": "5", "status": "ok", **NAMED}, "score: expected an integer, got True"),
        ({"raw": "4", "status": "ok", **NAMED}, "score: required, but not given"),
        ({"score": 3, "raw": 3, "status": "ok", **NAMED}, "raw: expected text, got 3"),
        ({"score": 3, "raw": "3", "status": "great", **NAMED}, "status: expected 'ok', 'unparsed' or 'over window'"),
        ({"score": None, "raw": "", "status": "ok", **NAMED}, "status 'ok' with score None"),
        ({"score": 4, "raw": "?", "status": "unparsed", **NAMED}, "status 'unparsed' with score 4"),
        (["en", "q17", 4], "expected a mapping"),
    ],
)
def test_a_judge_cache_entry_out_of_range_or_of_the_wrong_type_is_refused_in_one_line(
    item, fragment, judge_spec, tmp_path
):
    path = write_judge_cache(tmp_path / "judge-j.json", judge_spec, {"k1": {"score": 5, "raw": "5"}, "k2": item})
    refused(
        lambda: read_judgements(path, judge_spec), f"{path}: entry ", fragment, "delete the file or pass --overwrite"
    )


def test_a_judge_cache_whose_items_are_not_a_mapping_is_refused_in_one_line(judge_spec, tmp_path):
    path = write_judge_cache(tmp_path / "judge-j.json", judge_spec, [{"score": 4}])
    refused(lambda: read_judgements(path, judge_spec), str(path), "items: expected a mapping")


def test_a_judge_cache_from_before_items_named_their_answer_still_reads(judge_spec, tmp_path):
    items = {"k1": {"score": 5, "raw": "5", "status": "ok"}, "k2": {"score": None, "raw": "hm"}}
    path = write_judge_cache(tmp_path / "judge-j.json", judge_spec, items)
    assert read_judgements(path, judge_spec) == items


def test_a_judge_mean_is_never_computed_over_scores_outside_0_to_5():
    assert summarize([5, 3, None], [1.0, 0.5, 0.0], unparsed="skip")["judge_mean"] == 4  # unparsed left out
    refused(lambda: summarize([99, 3], [1.0, 0.0]), "judge scores must be integers 0–5, got 99")


@pytest.mark.slow  # a served judge and the command line: read_judgements' own tests above are quick
def test_a_judge_cache_edited_to_hold_99_is_refused_not_shown_as_a_0_to_5_judge_mean(judge_server, tmp_path):
    from audiomlqa.sources import read_mlqa_dir

    [f] = read_mlqa_dir(DE.parent.parent, "dev", [("de", "de")])
    preds = tmp_path / "de.json"
    preds.write_text(json.dumps({q.id: q.answer_texts[0] for q in f.questions[:3]}))
    spec = tmp_path / "judge.json"
    spec.write_text(json.dumps({"name": "served", "kind": "api", "base_url": judge_server, "model": "j"}))
    judge_prediction_files(load_spec(spec), preds, DE)  # judged as the tool judges: the cache is its own
    cache = tmp_path / "de.judge-served.json"
    doc = json.loads(cache.read_text())
    key, edited = next(iter(doc["items"].items()))
    edited.update(score=99, status="ok")
    cache.write_text(json.dumps(doc))
    out = audiomlqa("score", preds, "--dataset", DE, "--judge", spec, "--json")
    entry = f"de/{edited['id']}" if "id" in edited else key  # caches made before this change name no answer
    assert_one_line(out, str(cache), f"entry '{entry}'", "score: 99 is outside 0–5", "--overwrite")


# -- predictions files given to `audiomlqa score` ----------------------------------------------------------------


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ({"q1": "Berlin", "q2": 1871}, "entry 'q2': the answer is a number"),
        ({"q1": ["Berlin", "Bonn"]}, "entry 'q1': the answer is a list"),
        ({"q1": None}, "entry 'q1': the answer is null"),
        ({"de": {"q1": 5}}, "pair 'de': entry 'q1': the answer is a number"),
        ({"de": {"q1": "x"}, "en": "y"}, "pair 'en': not a predictions mapping"),
        (["q1", "Berlin"], "not a predictions mapping"),
    ],
)
def test_a_predictions_file_of_the_wrong_types_fails_in_one_line(doc, fragment, tmp_path):
    preds = tmp_path / "p.json"
    preds.write_text(json.dumps(doc))
    refused(lambda: load_predictions(preds), str(preds), fragment)


def test_a_per_pair_predictions_file_in_a_folder_names_its_bad_entry(tmp_path):
    (tmp_path / "de.json").write_text(json.dumps({"q1": {"text": "Berlin"}}))
    refused(lambda: load_predictions(tmp_path), str(tmp_path / "de.json"), "entry 'q1': the answer is an object")


# -- reserved names --------------------------------------------------------------------------------------------


def test_a_spec_named_charts_is_refused_in_one_line_before_any_model_loads(tmp_path):
    spec = tmp_path / "charts.json"
    spec.write_text(json.dumps({"name": "charts", "kind": "text", "llm": "tiny-random/llm"}))
    out = audiomlqa("score", spec, "--dataset", tmp_path / "no-dataset", "--predictions-dir", tmp_path / "p")
    assert_one_line(out, f"{spec}: name: 'charts' is reserved", "charts/ holds the comparison charts")
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("name", ["Charts", "CHARTS"])
def test_a_reserved_name_is_refused_in_any_case_and_through_an_override(name, tmp_path):
    spec = tmp_path / "m.json"
    spec.write_text(json.dumps({"name": name, "kind": "text", "llm": "tiny-random/llm"}))
    refused(lambda: load_spec(spec), "is reserved")
    spec.write_text(json.dumps({"name": "m", "kind": "text", "llm": "tiny-random/llm"}))
    refused(lambda: load_spec(spec, [f"name={name}"]), f"name: {name!r} is reserved")
