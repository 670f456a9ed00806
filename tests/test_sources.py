"""Loading and selecting MLQA questions."""

from __future__ import annotations

import json

import pytest

from audiomlqa.errors import AudioMLQAError
from audiomlqa.sources import load_questions, parse_pair, read_squad_file, resolve_pairs, sample_per_pair


def test_default_is_every_monolingual_pair(sample_dir):
    qs = load_questions(sample_dir)
    assert {q.pair for q in qs} == {"en", "ar", "de", "es", "hi", "vi", "zh"}
    assert len(qs) == 70
    q = qs[0]
    assert q.id and q.context and q.question and q.answers and q.answers[0].text in q.context


def test_pairs_and_cross_lingual_selection(sample_dir):
    assert resolve_pairs(["de", "en"], cross_lingual=True) == [("de", "de"), ("de", "en"), ("en", "de"), ("en", "en")]
    qs = load_questions(sample_dir, pairs=["de-en"])
    assert {(q.context_lang, q.question_lang) for q in qs} == {("de", "en")}
    assert parse_pair("zh") == ("zh", "zh")


def test_per_language_sampling_is_deterministic_nested_and_order_free(sample_dir):
    qs = load_questions(sample_dir, languages=["en", "de"])
    five = sample_per_pair(qs, 5, seed=1)
    assert [q.id for q in five] == [q.id for q in sample_per_pair(list(reversed(qs)), 5, seed=1)][::-1]
    assert {q.id for q in sample_per_pair(qs, 3, seed=1)} <= {q.id for q in five}
    assert {q.id for q in sample_per_pair(qs, 5, seed=2)} != {q.id for q in five}
    assert sum(q.pair == "en" for q in five) == 5
    assert len(load_questions(sample_dir, languages=["en", "de"], per_language=2, limit=3)) == 3


def test_squad_file_and_its_errors(tmp_path):
    f = tmp_path / "squad.json"
    f.write_text(
        json.dumps(
            {
                "version": "1.1",
                "data": [
                    {
                        "title": "T",
                        "paragraphs": [
                            {
                                "context": "Paris is big.",
                                "qas": [
                                    {
                                        "id": "1",
                                        "question": "What is big?",
                                        "answers": [{"text": "Paris", "answer_start": 0}],
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        )
    )
    with pytest.raises(AudioMLQAError, match="pass it with --lang"):
        read_squad_file(f)
    assert read_squad_file(f, "en").questions[0].answers[0].text == "Paris"
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(AudioMLQAError, match="malformed JSON at line 1"):
        read_squad_file(tmp_path / "bad.json", "en")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(AudioMLQAError, match="not a SQuAD-format dataset"):
        read_squad_file(tmp_path / "list.json", "en")
    with pytest.raises(AudioMLQAError, match="unknown language 'xx'"):
        read_squad_file(f, "xx")


def test_hub_id_offline_fails_with_one_line():
    # huggingface_hub reads HF_HUB_OFFLINE at import, so run the CLI as a fresh process, as a user would.
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "audiomlqa.cli", "questions", "someone/no-such-mlqa", "--languages", "en"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert (
        out.stderr.startswith("error: could not load 'someone/no-such-mlqa'")
        and "pass a local MLQA_V1 directory" in out.stderr
    )


def squad_file(path, context: str, question: str, answer: str):
    paragraph = {
        "context": context,
        "qas": [
            {"id": "q1", "question": question, "answers": [{"text": answer, "answer_start": context.index(answer)}]}
        ],
    }
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "T", "paragraphs": [paragraph]}]}))
    return path


def test_a_squad_file_of_any_name_is_read_with_the_language_given_on_the_command_line(tmp_path):
    from helpers import assert_one_line, audiomlqa

    f = squad_file(
        tmp_path / "anything.json", "Berlin ist die Hauptstadt Deutschlands.", "Was ist die Hauptstadt?", "Berlin"
    )
    assert_one_line(audiomlqa("questions", f), "cannot tell its language from the name", "pass it with --lang (de;")
    cross = audiomlqa("questions", f, "--lang", "de-en")
    assert cross.returncode == 0 and json.loads(cross.stdout)["pair"] == "de-en"
    assert_one_line(audiomlqa("questions", f, "--lang", "xx"), "unknown language 'xx'")
    out = audiomlqa(
        "synthesize",
        "--source",
        f,
        "--lang",
        "de",
        "--tts",
        "espeak",
        "--max-attempts",
        "1",
        "-o",
        tmp_path / "s",
        "thresholds.de=1e9",
        "--json",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(x) for x in (tmp_path / "s" / "manifest.jsonl").read_text().splitlines()]
    assert [(r["pair"], r["id"]) for r in rows] == [("de", "q1")]
    assert json.loads((tmp_path / "s" / "run.json").read_text())["config"]["source_lang"] == "de"
