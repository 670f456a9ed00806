"""The synthesis pipeline for real: eSpeak NG speaks, Whisper base (from PyPI) listens."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
import soundfile as sf

from audiomlqa.errors import AudioMLQAError
from audiomlqa.manifest import read_manifest
from audiomlqa.synthesis import SynthesisConfig, in_shard, judge, plan_attempt, safe_name, synthesize

pytest.importorskip("faster_whisper")
pytest.importorskip("espeakng_loader")

EN = [
    "--languages",
    "en",
    "--tts",
    "espeak",
    "--per-language",
    "6",
    "--batch-size",
    "2",
    "--max-attempts",
    "2",
    "--quiet",
]


def cli(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "audiomlqa.cli", "synthesize", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_safe_names_never_escape_and_stay_unique():
    assert safe_name("0cd6543a6ccac98749") == "0cd6543a6ccac98749"
    for bad in ["../../etc/passwd", "/abs", "a/b", ".hidden", "", "ü"]:
        name = safe_name(bad)
        assert "/" not in name and not name.startswith(".") and name
    assert safe_name("a/b") != safe_name("a_b")


def test_attempt_plan_walks_voices_then_rates():
    plan = [plan_attempt(["v1", "v2"], [1.0, 0.8], 7, k) for k in range(4)]
    assert [(a.voice, a.rate, a.seed) for a in plan] == [
        ("v1", 1.0, 7),
        ("v2", 1.0, 8),
        ("v1", 0.8, 9),
        ("v2", 0.8, 10),
    ]


def test_the_filter_accepts_at_the_threshold_and_says_why_it_rejects():
    assert judge(0.2, 0.2, "wer", verified=True) == (True, None)
    assert judge(0.2001, 0.2, "wer", verified=True) == (False, "wer 0.200 > 0.2")
    evidence = "no human Vietnamese speech measured with Whisper base"
    ok, reason = judge(0.5, 0.7, "cer", verified=False, evidence=evidence)
    assert ok and reason == f"unverified: {evidence}; cer 0.500 ≤ 0.7"
    assert judge(0.9, 0.7, "cer", verified=False, evidence="x")[1].endswith("cer 0.900 > 0.7")


def test_a_manifest_row_of_an_earlier_version_still_reads(tmp_path):
    """Rows written before verified/tts_license existed read with their defaults; unknown keys are ignored."""
    from audiomlqa.manifest import Attempt

    old = {
        "id": "q",
        "pair": "de-en",
        "context_lang": "de",
        "question_lang": "en",
        "attempt": 1,
        "backend": "espeak",
        "voice": "en-us",
        "seed": 1,
        "rate": 1.0,
        "text": "Why?",
        "spoken_text": "Why?",
        "audio": "audio/de-en/q-1.flac",
        "duration": 1.5,
        "asr_model": "w",
        "transcript": "why",
        "metric": "wer",
        "error": 0.0,
        "threshold": 0.2,
        "accepted": True,
        "reason": None,
        "tts_seconds": 0.1,
        "asr_seconds": 0.2,
        "retired_field": 3,
    }
    (tmp_path / "manifest.jsonl").write_text(json.dumps(old) + "\n")
    [row] = read_manifest(tmp_path / "manifest.jsonl")
    assert row.key == ("de-en", "q") and row.verified and row.tts_license == "" and row.sample_rate == 16000
    assert Attempt.from_dict(row.to_dict()) == row


def test_shards_partition_the_questions():
    ids = [f"q{i}" for i in range(200)]
    shards = [{q for q in ids if in_shard("de", q, (i, 3))} for i in range(3)]
    assert set().union(*shards) == set(ids) and sum(map(len, shards)) == len(ids)


@pytest.mark.slow
def test_library_run_records_every_decision(tmp_path):
    cfg = SynthesisConfig.from_dict(
        {"pairs": ["zh", "de-en"], "per_language": 1, "output": str(tmp_path), "max_attempts": 2}
    )
    result = synthesize(cfg, progress=False)
    rows = read_manifest(tmp_path / "manifest.jsonl")
    assert {r.pair for r in rows} == {"zh", "de-en"}
    for r in rows:
        assert r.metric == ("cer" if r.question_lang == "zh" else "wer")
        assert r.accepted == (r.error <= r.threshold)
        assert r.accepted or r.reason.startswith(r.metric)
        assert r.transcript is not None and r.reference_norm and r.spoken_text
    attempts = Counter(r.pair for r in rows)
    assert all(1 <= n <= 2 for n in attempts.values())
    assert set(result.summary["pairs"]) == {"zh", "de-en"}


def test_bad_input_fails_with_one_line_and_keeps_work(tmp_path):
    p = cli("--languages", "xx", "-o", tmp_path / "a")
    _, err = p.communicate(timeout=60)
    expected = (
        "unknown language 'xx': MLQA languages are en, ar, de, es, hi, vi, zh; an instruction set may also be in id"
    )
    assert p.returncode == 2 and err.strip() == f"error: languages[0]: {expected}"

    blocker = tmp_path / "file"
    blocker.write_text("")
    p = cli("--languages", "en", "--limit", "1", "-o", blocker / "sub")
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2 and err.startswith("error: cannot write to output directory") and "Traceback" not in err

    recipe = tmp_path / "voice.yaml"
    recipe.write_text("tts:\n  en: {backend: espeak, voices: [no-such-voice]}\n")
    p = cli("--recipe", recipe, "--languages", "en", "--limit", "1", "--quiet", "-o", tmp_path / "v")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2 and "no voice 'no-such-voice'" in err and "Traceback" not in err

    out = tmp_path / "corrupt"
    out.mkdir()
    good = json.dumps(
        {
            "id": "x",
            "pair": "en",
            "context_lang": "en",
            "question_lang": "en",
            "attempt": 0,
            "backend": "espeak",
            "voice": "en-us",
            "seed": 0,
            "rate": 1.0,
            "text": "Why?",
            "spoken_text": "Why?",
            "accepted": True,
        }
    )
    (out / "manifest.jsonl").write_text(good + "\nGARBAGE\n" + good + "\n")
    before = (out / "manifest.jsonl").read_bytes()
    p = cli("--languages", "en", "--limit", "1", "-o", out)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "line 2 is not a JSON row" in err
    assert (out / "manifest.jsonl").read_bytes() == before

    with pytest.raises(AudioMLQAError, match=r"unknown setting\(s\) treshold \(known: source, source_lang, split"):
        SynthesisConfig.from_dict({"treshold": 1})


def test_empty_question_is_rejected_with_its_reason(tmp_path):
    squad = tmp_path / "dev-context-en-question-en.json"
    squad.write_text(
        json.dumps(
            {
                "version": "1.0",
                "data": [
                    {
                        "title": "t",
                        "paragraphs": [
                            {
                                "context": "Paris is big.",
                                "qas": [
                                    {
                                        "id": "empty",
                                        "question": "  ",
                                        "answers": [{"text": "Paris", "answer_start": 0}],
                                    },
                                    {
                                        "id": "ok",
                                        "question": "What is big?",
                                        "answers": [{"text": "Paris", "answer_start": 0}],
                                    },
                                ],
                            }
                        ],
                    }
                ],
            }
        )
    )
    result = synthesize(
        SynthesisConfig.from_dict({"source": str(squad), "output": str(tmp_path / "o"), "max_attempts": 1}),
        progress=False,
    )
    rows = {r.id: r for r in read_manifest(tmp_path / "o" / "manifest.jsonl")}
    assert rows["empty"].reason == "empty question text" and not rows["empty"].accepted and rows["empty"].audio is None
    assert rows["ok"].accepted
    assert result.summary["pairs"]["en"]["attempted"] == 2


@pytest.mark.slow
def test_worker_processes_do_the_same_attempts_as_one_process(tmp_path):
    """Both runs judge with one loaded Whisper (the ASR runs in this process either way; the workers only speak)."""
    base = {"pairs": ["en", "vi"], "per_language": 2, "max_attempts": 1}
    one_cfg = SynthesisConfig.from_dict({**base, "output": str(tmp_path / "one")})
    asr = one_cfg.asr.load()
    synthesize(one_cfg, progress=False, asr=asr)
    two_cfg = SynthesisConfig.from_dict({**base, "output": str(tmp_path / "two"), "workers": 2})
    synthesize(two_cfg, progress=False, asr=asr)
    one, two = (read_manifest(tmp_path / d / "manifest.jsonl") for d in ("one", "two"))
    plan = ("pair", "id", "attempt", "voice", "seed", "rate", "audio")
    assert [tuple(getattr(r, k) for k in plan) for r in one] == [tuple(getattr(r, k) for k in plan) for r in two]
    # eSpeak NG carries state between utterances: lengths agree to a few milliseconds, not bit for bit.
    for a, b in zip(one, two):
        assert abs(a.duration - b.duration) < 0.05 * a.duration
        assert sf.read(tmp_path / "two" / b.audio)[0].size > 0


@pytest.mark.slow
def test_speaking_ahead_of_the_asr_makes_the_same_rows_as_taking_turns(tmp_path):
    """The overlapped pipeline (next batch spoken while this one is judged) changes when work happens, not what
    is made: with batches of 1 and retries, both write the same attempts with the same audio and decisions.
    Taking turns keeps the sequential order: each batch's retries right after it. Both runs judge with one loaded
    Whisper (what is compared is the scheduling, not the loading)."""
    base = {"pairs": ["en"], "per_language": 3, "max_attempts": 2, "batch_size": 1}
    base["tts"] = {"default": {"backend": "kokoro"}}  # deterministic (eSpeak NG carries state between calls)
    base["thresholds"] = {"en": 0.0}  # every imperfect clip is retried: the retry rounds interleave
    turns_cfg = SynthesisConfig.from_dict({**base, "output": str(tmp_path / "turns"), "overlap": False})
    asr = turns_cfg.asr.load()
    turns = synthesize(turns_cfg, asr=asr)
    ahead = synthesize(SynthesisConfig.from_dict({**base, "output": str(tmp_path / "ahead")}), progress=False, asr=asr)
    decided = ("pair", "id", "attempt", "voice", "seed", "rate", "audio", "audio_sha256", "transcript", "accepted")
    rows = {
        d: [tuple(getattr(r, k) for k in decided) for r in read_manifest(tmp_path / d / "manifest.jsonl")]
        for d in ("turns", "ahead")
    }
    assert sorted(rows["turns"]) == sorted(rows["ahead"]) and len(rows["turns"]) > 3  # a retry among them
    order = [(pair, qid) for pair, qid, *_ in rows["turns"]]
    assert order == sorted(order, key=order.index)  # a question's attempts are adjacent: its retries came next
    decisions = [
        {p: {k: v for k, v in s.items() if k != "real_time_factor"} for p, s in r.summary["pairs"].items()}
        for r in (turns, ahead)
    ]
    assert decisions[0] == decisions[1]
    assert set(ahead.timing) == {"total", "asr", "waiting_for_tts", "tts"} and ahead.timing["tts"] > 0
    assert turns.timing["waiting_for_tts"] >= 0.9 * turns.timing["tts"]  # taking turns, the ASR waits for it all
