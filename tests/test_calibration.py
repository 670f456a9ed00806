"""`audiomlqa calibrate`: the ASR judge's error on human speech, and `synthesize --calibration` thresholds from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import assert_one_line, audiomlqa
from hypothesis import given
from hypothesis import strategies as st

from audiomlqa.synthesis.reference import read_reference, reference_language
from audiomlqa.synthesis.rules import fit_tokens, leave_one_out_acceptance, threshold_rule

FLEURS = Path(__file__).resolve().parents[2] / "shared" / "data" / "fleurs"
SENTENCES = {
    "en": ["The river flows past the old mill.", "She wrote three letters to her brother.", "Where is the station?"],
    "de": ["Der Zug fährt um acht Uhr ab.", "Das Haus steht am Ende der Straße.", "Wir trinken gern Kaffee."],
    "fr": ["Le chat dort sur le canapé."],
}


def _speak(folder: Path) -> Path:
    """A reference folder as FLEURS lays one out (``<name>-<lang>-<n>.wav`` + ``.txt``), spoken by eSpeak."""
    from audiomlqa.tts import load_backend

    espeak = load_backend("espeak")
    folder.mkdir(parents=True)
    for lang, texts in SENTENCES.items():
        for i, text in enumerate(texts):
            voice = {"en": "en-us", "de": "de", "fr": "fr"}[lang]
            speech = espeak.synthesize(text, "en" if lang == "fr" else lang, voice, seed=0)
            sf.write(folder / f"clip-{lang}-{i:03d}.wav", speech.samples, speech.sample_rate)
            (folder / f"clip-{lang}-{i:03d}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("calibration")
    out = audiomlqa("calibrate", "--reference", _speak(tmp / "reference"), "-o", tmp / "cal.json", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    return tmp / "cal.json", json.loads(out.stdout)


@pytest.mark.slow
def test_calibrating_on_a_reference_folder_records_every_clips_error_per_language(calibrated):
    path, printed = calibrated
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert printed == doc and doc["format"] == "audiomlqa-calibration/1"
    assert doc["reference"] == {"name": "reference", "clips": 6, "skipped": {"fr": 1}}
    assert set(doc["languages"]) == {"en", "de"} and doc["asr_settings"]["backend"] == "faster-whisper"
    for lang, entry in doc["languages"].items():
        errors = [c["error"] for c in entry["clips"]]
        assert entry["n"] == 3 == len(errors) and entry["metric"] == "wer"
        assert entry["median"] == pytest.approx(float(np.median(errors)), abs=1e-6)
        assert {c["text"] for c in entry["clips"]} == set(SENTENCES[lang]) and all(
            c["transcript"] for c in entry["clips"]
        )
    assert min(e["median"] for e in doc["languages"].values()) < 0.5  # eSpeak is intelligible to Whisper base
    assert str(path.parent) not in path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_synthesis_with_a_calibration_takes_its_thresholds_and_records_the_rule(calibrated, tmp_path):
    cal, doc = calibrated
    out = tmp_path / "synth"
    args = ["synthesize", "--languages", "en,vi", "--per-language", "1", "--tts", "espeak", "--max-attempts", "1"]
    run = audiomlqa(*args, "--calibration", cal, "-o", out, "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    en = doc["languages"]["en"]
    model = fit_tokens([(c["edits"], c["tokens"]) for c in en["clips"]])
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["thresholds"]["en"]["threshold"] is None and record["thresholds"]["en"]["method"] == "per-token"
    assert record["thresholds"]["en"]["rule"].startswith(
        "calibrated per token: at most the p90 of the ASR's errors on 3"
    )
    assert record["thresholds"]["en"]["kind"] == "calibrated" and record["thresholds"]["en"]["clips"] == 3
    assert (record["thresholds"]["en"]["quantile"], record["thresholds"]["en"]["scale"]) == (0.9, 1.0)
    assert record["thresholds"]["vi"] == {
        "kind": "fixed",
        "threshold": 0.7,
        "metric": "wer",
        "rule": "fixed: 0.7 (WER; no human reference speech for it in the calibration)",
    }
    rows = {json.loads(line)["question_lang"]: json.loads(line) for line in (out / "manifest.jsonl").open()}
    expected = model.threshold(rows["en"]["alignment"]["tokens"], 0.9, 0.6)  # this clip's own, for its length
    assert rows["en"]["threshold"] == expected and rows["en"]["threshold_rule"] == record["thresholds"]["en"]["rule"]
    summary = json.loads(run.stdout)["pairs"]
    assert summary["en"]["human_median_error"] == en["median"] and summary["en"]["threshold_source"] == "calibrated"
    assert summary["vi"]["human_median_error"] is None and summary["vi"]["threshold_source"] == "fixed"

    changed = json.loads(cal.read_text(encoding="utf-8"))
    for c in changed["languages"]["en"]["clips"]:
        c["error"] = 0.5
    (tmp_path / "changed.json").write_text(json.dumps(changed), encoding="utf-8")
    assert_one_line(audiomlqa(*args, "--calibration", tmp_path / "changed.json", "-o", out), "changed: calibration")


@pytest.mark.slow
def test_a_calibration_measured_with_another_asr_or_a_damaged_file_is_refused_in_one_line(calibrated, tmp_path):
    cal, doc = calibrated
    other = {**doc, "asr_settings": {**doc["asr_settings"], "beam_size": 3}}
    (tmp_path / "other.json").write_text(json.dumps(other), encoding="utf-8")
    (tmp_path / "damaged.json").write_text(json.dumps({**doc, "languages": {"en": 1}}), encoding="utf-8")
    wrong = {**doc, "reference": "fleurs"}
    (tmp_path / "wrong.json").write_text(json.dumps(wrong), encoding="utf-8")
    nan = json.loads(json.dumps(doc))
    nan["languages"]["en"]["clips"][0]["error"] = float("nan")
    (tmp_path / "nan.json").write_text(json.dumps(nan), encoding="utf-8")
    args = ["synthesize", "--languages", "en", "--limit", "1", "-o", tmp_path / "out"]
    assert_one_line(audiomlqa(*args, "--calibration", tmp_path / "other.json"), "was measured with ASR", "calibrate")
    assert_one_line(audiomlqa(*args, "--calibration", tmp_path / "damaged.json"), "languages.en", "rerun")
    assert_one_line(audiomlqa(*args, "--calibration", tmp_path / "wrong.json"), "reference", "rerun")
    assert_one_line(audiomlqa(*args, "--calibration", tmp_path / "nan.json"), "languages.en.clips[0].error")
    assert_one_line(audiomlqa(*args, "--calibration", tmp_path / "missing.json"), "cannot read calibration file")
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


@pytest.mark.slow
def test_overrides_recompute_calibrated_thresholds_and_a_moved_file_still_resumes(calibrated, tmp_path):
    from audiomlqa.synthesis import load_synthesis_config
    from audiomlqa.synthesis.pipeline import _changed_settings

    cal, doc = calibrated
    errors = [c["error"] for c in doc["languages"]["en"]["clips"]]
    base = load_synthesis_config(None, ["calibration.rule=per-clip"], calibration=str(cal))
    doubled = load_synthesis_config(
        None, ["calibration.rule=per-clip", "calibration.scale=2", "calibration.quantile=0.5"], calibration=str(cal)
    )
    assert base.threshold_for("en") == threshold_rule(errors, 0.9, 1.0)
    assert doubled.threshold_for("en") == threshold_rule(errors, 0.5, 2.0)
    assert doubled.threshold_rule("en").startswith("calibrated: 2 × p50")
    moved = tmp_path / "moved.json"
    moved.write_bytes(cal.read_bytes())
    saved = base.fingerprint()
    del saved["max_attempts"]  # as a run.json of a version without this setting
    moved_cfg = load_synthesis_config(None, ["calibration.rule=per-clip"], calibration=str(moved))
    assert _changed_settings(saved, moved_cfg) == []
    assert _changed_settings(saved, doubled) == ["calibration"]
    before_rules = json.loads(json.dumps(saved))
    del before_rules["calibration"]["rule"]  # a run.json of a version with the per-clip rule only
    assert _changed_settings(before_rules, moved_cfg) == []
    per_token = load_synthesis_config(None, [], calibration=str(moved))
    assert _changed_settings(before_rules, per_token) == ["calibration"]


def test_a_reference_clip_without_a_language_or_transcript_is_a_one_line_error(tmp_path):
    sf.write(tmp_path / "clip-000.wav", np.zeros(1600, dtype=np.float32), 16000)
    assert_one_line(audiomlqa("calibrate", "--reference", tmp_path), "has no transcript clip-000.txt")
    (tmp_path / "clip-000.txt").write_text("hello")
    assert_one_line(audiomlqa("calibrate", "--reference", tmp_path), "cannot tell the language of clip-000", "--lang")


def test_a_hugging_face_reference_maps_its_language_labels_and_decodes_at_16_khz(tmp_path):
    datasets = pytest.importorskip("datasets")
    tone = (0.1 * np.sin(np.linspace(0, 2000, 8000))).astype(np.float32)
    ds = datasets.Dataset.from_dict(
        {
            "audio": [{"array": tone, "sampling_rate": 8000}] * 3,
            "transcription": ["hallo welt", "hello world", "bonjour"],
            "language": ["German", "en_us", "French"],
        }
    ).cast_column("audio", datasets.Audio())
    ds.save_to_disk(tmp_path / "ref")
    ref = read_reference(tmp_path / "ref")
    assert [(c.lang, c.text) for c in ref.clips] == [("de", "hallo welt"), ("en", "hello world")]
    assert ref.skipped == {"French": 1} and ref.name == "ref"
    assert len(ref.clips[0].read()) == 16000


@pytest.mark.slow
def test_a_saved_hugging_face_dataset_in_several_languages_calibrates_each_and_says_which_the_judge_verifies(tmp_path):
    """FLEURS-style labels (``English``, ``Mandarin Chinese``), several languages in one saved dataset: every MLQA
    language is measured with its own verification; others are skipped; ``--per-language`` keeps the first N (one:
    the fewest clips to transcribe that still leave English and German a clip that is not kept)."""
    datasets = pytest.importorskip("datasets")
    from audiomlqa.tts import load_backend

    espeak = load_backend("espeak")
    said = {
        "English": ("en", ["The river flows past the old mill.", "Where is the station?"]),
        "German": ("de", ["Der Zug fährt um acht Uhr ab.", "Wir trinken gern Kaffee."]),
        "Spanish": ("es", ["El perro duerme en la casa."]),
        "Hindi": ("hi", ["बच्चे पार्क में खेल रहे हैं।"]),
        "Mandarin Chinese": ("zh", ["今天的天气很好。"]),
        "French": ("en", ["Le chat dort sur le canapé."]),
    }
    rows = {"audio": [], "transcription": [], "language": []}
    for label, (lang, texts) in said.items():
        for text in texts:
            speech = espeak.synthesize(text, lang, espeak.voices(lang)[0], seed=0)
            rows["audio"].append({"array": speech.samples, "sampling_rate": speech.sample_rate})
            rows["transcription"].append(text)
            rows["language"].append(label)
    ds = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio())
    datasets.DatasetDict({"test": ds}).save_to_disk(tmp_path / "fleurs-like")
    args = ["calibrate", "--reference", tmp_path / "fleurs-like", "-o", tmp_path / "cal.json", "--per-language", "1"]
    out = audiomlqa(*args, "--allow-implausible", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert doc["reference"]["skipped"] == {"French": 1}
    assert {lang: e["n"] for lang, e in doc["languages"].items()} == {"en": 1, "de": 1, "es": 1, "hi": 1, "zh": 1}
    assert [c["text"] for c in doc["languages"]["en"]["clips"]] == ["The river flows past the old mill."]
    for lang, entry in doc["languages"].items():
        assert isinstance(entry["verified"], bool) and f" {lang}" in entry["verification"]
        assert set(entry["leave_one_out"]) == {"per-clip", "per-token"}
        assert all(isinstance(c["tokens"], int) and isinstance(c["edits"], int) for c in entry["clips"])
    assert doc["languages"]["zh"]["metric"] == "cer" and doc["languages"]["zh"]["clips"][0]["tokens"] == 7


def test_language_labels_of_common_datasets_map_to_mlqa_codes():
    cases = {"de_de": "de", "de-DE": "de", "German": "de", "cmn_hans_cn": "zh", "zh-CN": "zh", "es_419": "es"}
    assert {label: reference_language(label) for label in cases} == cases
    assert [reference_language(x) for x in ("fr_fr", "zh-HK", "yue_hant_hk")] == [None, None, None]


@given(st.lists(st.floats(0, 2), min_size=2, max_size=30), st.floats(0.05, 1.0))
def test_leave_one_out_at_the_maximum_turns_away_only_a_clip_worse_than_all_others(errors, quantile):
    assert 0.0 <= leave_one_out_acceptance(errors, quantile, 1.0) <= 1.0
    worst = sorted(errors)[-1]
    strictly_worst = sum(e == worst for e in errors) == 1 and worst > sorted(errors)[-2]
    assert leave_one_out_acceptance(errors, 1.0, 1.0) == round((len(errors) - strictly_worst) / len(errors), 6)


def test_the_threshold_rule_is_the_scaled_linear_quantile():
    errors = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0]
    assert threshold_rule(errors, 0.9, 1.0) == pytest.approx(0.82)
    assert threshold_rule(errors, 0.5, 2.0) == pytest.approx(0.9)
    assert leave_one_out_acceptance([0.1, 0.1, 0.1, 0.9], 1.0, 1.0) == 0.75


@pytest.mark.slow
@pytest.mark.skipif(not FLEURS.is_dir(), reason=f"FLEURS clips not found at {FLEURS}")
def test_calibrating_on_fleurs_measures_whisper_base_on_native_speakers_of_en_de_es(tmp_path):
    out = audiomlqa("calibrate", "--reference", FLEURS, "-o", tmp_path / "fleurs.json")
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads((tmp_path / "fleurs.json").read_text(encoding="utf-8"))
    assert doc["reference"]["name"] == "fleurs" and doc["reference"]["skipped"] == {"fr": 10, "pt": 10}
    assert {lang: e["n"] for lang, e in doc["languages"].items()} == {"en": 10, "de": 10, "es": 10}
    for entry in doc["languages"].values():
        assert 0.0 <= entry["median"] <= 0.3 and entry["median"] <= entry["p90"] <= entry["max"]
        assert 0.5 <= entry["leave_one_out_acceptance"] <= 1.0
    assert "en" in out.stdout and "leave-one-out" in out.stdout


def test_a_run_record_reads_back_typed_and_older_records_get_their_rules():
    from audiomlqa.manifest import RunRecord, ThresholdRule

    rule = ThresholdRule("calibrated", 0.13, "wer", "calibrated: 1 × p90 …", 0.9, 1.0, 10, "fleurs")
    record = RunRecord(config={"split": "test"}, thresholds={"en": rule}, tts={"en": {"backend": "espeak"}})
    assert RunRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record and record.split == "test"
    before_rules = RunRecord.from_dict({"config": {"thresholds": {"en": 0.2}}, "tts": {"en": {}, "de": {}}})
    assert before_rules.thresholds["en"] == ThresholdRule("fixed", 0.2, None, "fixed: 0.2")
    assert before_rules.thresholds["de"].rule == "fixed: ?" and before_rules.calibration == {}
    before_kinds = RunRecord.from_dict({"thresholds": {"en": {"threshold": 0.1, "rule": "calibrated: x"}}})
    assert before_kinds.thresholds["en"].kind == "calibrated"
    with pytest.raises(ValueError):
        RunRecord.from_dict({"config": "damaged"})


# -- calibrations that can be wrong, found wrong (issue 24) ----------------------------------------------------------

MISMATCHED = [1.14, 1.0, 1.86, 1.2, 0.9]
"""A reference whose transcripts are shifted by one clip: Whisper hears the audio, not the text (median 1.14)."""


def _document(errors: dict[str, list[float]], texts: dict[str, list[str]] | None = None, **marks: str) -> dict:
    """A calibration document as `audiomlqa calibrate` writes one, for the default judge."""
    from audiomlqa.synthesis import SynthesisConfig
    from audiomlqa.synthesis.calibration import FORMAT, comparable_asr_settings, error_statistics

    def entry(lang: str, errs: list[float]) -> dict:
        said = (texts or {}).get(lang) or [f"words of clip {i}" for i in range(len(errs))]
        clips = [
            {"id": f"{lang}-{i}", "error": e, "tokens": 10, "edits": round(10 * min(e, 9)), "text": t}
            for i, (e, t) in enumerate(zip(errs, said))
        ]
        mark = {"implausible": marks[lang]} if lang in marks else {}
        return {"n": len(errs), "metric": "wer", **error_statistics(errs), "clips": clips, **mark}

    return {
        "format": FORMAT,
        "reference": {"name": "fleurs", "clips": sum(map(len, errors.values())), "skipped": {}},
        "asr": {"model": "base"},
        "asr_settings": comparable_asr_settings(SynthesisConfig().asr.model_dump(mode="json")),
        "languages": {lang: entry(lang, errs) for lang, errs in errors.items()},
    }


def _write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_a_calibration_whose_transcripts_do_not_match_its_audio_is_refused_in_one_line_naming_its_numbers(tmp_path):
    from audiomlqa.errors import AudioMLQAError
    from audiomlqa.synthesis.calibration import read_calibration

    path = _write(tmp_path / "cal.json", _document({"en": [0.0, 0.1, 0.1], "de": MISMATCHED}))
    with pytest.raises(AudioMLQAError) as e:
        read_calibration(path)
    message = str(e.value)
    assert "\n" not in message and "in de (max WER 1.86 > 1.5)" in message
    assert "en (" not in message and "do not match its audio" in message and "--allow-implausible" in message


def test_an_error_of_1e308_or_an_empty_reference_transcript_is_refused(tmp_path):
    from audiomlqa.errors import AudioMLQAError
    from audiomlqa.synthesis.calibration import read_calibration

    huge = _write(tmp_path / "huge.json", _document({"en": [0.0, 0.1, 1e308]}))
    with pytest.raises(AudioMLQAError, match=r"in en \(max WER 1e\+308 > 1.5\)"):
        read_calibration(huge)
    empty = _write(tmp_path / "empty.json", _document({"en": [0.0, 0.1, 1.0]}, {"en": ["a b", "c d", " . "]}))
    with pytest.raises(AudioMLQAError, match=r"in en \(1 empty reference transcript\(s\)\).*fix the reference"):
        read_calibration(empty)
    negative = _document({"en": [0.0, 0.1, 0.2]})
    negative["languages"]["en"]["p90"] = -1.0
    with pytest.raises(AudioMLQAError, match="languages.en.p90"):
        read_calibration(_write(tmp_path / "negative.json", negative))


def test_calibrate_refuses_an_implausible_language_or_with_the_flag_marks_it_and_warns(capsys):
    from audiomlqa.errors import AudioMLQAError
    from audiomlqa.synthesis.calibration import check_plausible

    measured = _document({"en": [0.0, 0.1, 0.1], "de": MISMATCHED})["languages"]
    with pytest.raises(AudioMLQAError, match=r"^ref: .* in de \(max WER 1.86 > 1.5\)"):
        check_plausible(measured, "ref")
    assert "implausible" not in measured["de"]
    check_plausible(measured, "ref", allow=True)
    assert measured["de"]["implausible"] == "max WER 1.86 > 1.5"
    assert "implausible" not in measured["en"]
    assert capsys.readouterr().err.startswith("WARNING: ref: the ASR's error on human speech is implausible")


def test_a_hand_edited_calibration_with_median_1_14_is_refused_by_synthesize(tmp_path):
    doc = _document({"en": [0.0, 0.1, 0.1]})
    doc["languages"]["en"] = _document({"en": MISMATCHED})["languages"]["en"]  # edited: numbers and all
    cal = _write(tmp_path / "edited.json", doc)
    run = audiomlqa("synthesize", "--languages", "en", "--limit", "1", "--calibration", cal, "-o", tmp_path / "out")
    assert_one_line(run, "edited.json", "implausible", "max WER 1.86 > 1.5", "does not mark them as allowed")
    assert not (tmp_path / "out").exists()


def test_a_recipe_cannot_bypass_the_check_with_the_errors_written_inline():
    from audiomlqa.errors import AudioMLQAError
    from audiomlqa.synthesis import load_synthesis_config

    inline = [f"calibration.languages.en.errors={json.dumps(MISMATCHED)}", "calibration.languages.en.metric=wer"]
    inline.append(f"calibration.asr_settings={json.dumps(_document({'en': [0.0]})['asr_settings'])}")
    with pytest.raises(AudioMLQAError, match=r"implausible \(max WER 1.86 > 1.5\)"):
        load_synthesis_config(None, inline)


def _card_limitations(cal: Path, tmp_path: Path, rule: str = "per-clip") -> str:
    """The dataset card's Limitations for a run judged under the calibration ``cal``."""
    from audiomlqa.manifest import RunRecord
    from audiomlqa.publish.card import _card_limitations
    from audiomlqa.publish.runs import SynthesisRun
    from audiomlqa.synthesis import load_synthesis_config

    cfg = load_synthesis_config(None, [f"calibration.rule={rule}"], calibration=str(cal), languages=["en", "de"])
    rules = {lang: cfg.rule_for(lang) for lang in ("en", "de")}
    record = RunRecord(config=cfg.fingerprint(), thresholds=rules, tts={"en": {}, "de": {}})
    return "\n".join(_card_limitations({}, [SynthesisRun(tmp_path, "", record, [], {})]))


def test_a_calibrated_threshold_is_capped_and_the_rule_and_the_card_show_the_cap(tmp_path):
    from audiomlqa.synthesis import load_synthesis_config
    from audiomlqa.synthesis.calibration import THRESHOLD_CAP, calibrated_thresholds

    wide = [0.1, 0.2, 0.3, 0.7, 1.4]  # plausible (median 0.3, max 1.4), but its p90 is 1.12
    doc = _document({"en": [0.0, 0.1, 0.2], "de": wide})
    numbers = calibrated_thresholds(doc, 0.9, 1.0, "per-clip")
    assert THRESHOLD_CAP == 0.6 and numbers["de"]["threshold"] == 0.6 and numbers["de"]["capped"]
    assert numbers["de"]["uncapped"] == pytest.approx(1.12) and numbers["en"]["threshold"] == pytest.approx(0.18)
    assert not numbers["en"]["capped"] and numbers["en"]["cap"] == 0.6
    cal = _write(tmp_path / "cal.json", doc)
    rule = load_synthesis_config(None, ["calibration.rule=per-clip"], calibration=str(cal)).rule_for("de")
    assert (rule.threshold, rule.cap, rule.capped) == (0.6, 0.6, True)
    assert rule.to_dict()["capped"] is True and "capped at 0.6, the rule gave 1.12" in rule.rule
    card = _card_limitations(cal, tmp_path)
    assert "de median 0.300 over 5 clips, 60% kept, threshold 0.60 (capped; the human p90 × 1 was 1.12)" in card
    assert "en median 0.100 over 3 clips, 67% kept, threshold 0.18;" in card and "**The calibration of" not in card


def test_a_calibration_allowed_as_implausible_is_said_in_bold_on_the_card(tmp_path):
    marked = _document({"en": [0.0, 0.1, 0.1], "de": MISMATCHED}, de="median WER 1.14 > 0.5; max WER 1.86 > 1.5")
    card = _card_limitations(_write(tmp_path / "cal.json", marked), tmp_path)
    assert "- **The calibration of de (median WER 1.14 > 0.5; max WER 1.86 > 1.5) is implausible" in card
    assert "threshold 0.60 (capped; the human p90 × 1 was 1.60)" in card and "IMPLAUSIBLE" in card


@pytest.mark.slow
def test_calibrating_on_a_reference_with_shifted_or_empty_transcripts_is_refused_unless_allowed(calibrated, tmp_path):
    ref = tmp_path / "reference"
    shutil.copytree(calibrated[0].parent / "reference", ref)
    for path in [*ref.glob("clip-de-*"), *ref.glob("clip-fr-*")]:
        path.unlink()
    for i in (0, 1):  # an English clip carrying the next clip's transcript, and one with none
        (ref / f"clip-en-{i:03d}.txt").write_text(SENTENCES["en"][i + 1], encoding="utf-8")
    (ref / "clip-en-002.txt").write_text("", encoding="utf-8")
    args = ["calibrate", "--reference", ref, "-o", tmp_path / "cal.json", "--quiet"]
    refused = assert_one_line(audiomlqa(*args), "implausible", "in en (1 empty reference transcript(s)")
    assert "do not match its audio" in refused and "--allow-implausible" in refused
    assert not (tmp_path / "cal.json").exists()
    allowed = audiomlqa(*args, "--allow-implausible")
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert "WARNING: reference: the ASR's error on human speech is implausible" in allowed.stderr
    doc = json.loads((tmp_path / "cal.json").read_text(encoding="utf-8"))
    assert doc["languages"]["en"]["implausible"].startswith("1 empty reference transcript(s)")
    assert "en (IMPLAUSIBLE)" in allowed.stdout
