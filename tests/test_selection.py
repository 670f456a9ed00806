"""Which questions a run speaks: ``--limit`` and ``--per-language`` choose before ``--shard`` (N shards together are
exactly the unsharded selection), ``--limit`` takes the pairs in turn, text that is not Unicode is refused in one line,
and a damaged questions.jsonl gets the same one-line fix from synthesize and publish."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import assert_one_line, audiomlqa

from audiomlqa.errors import AudioMLQAError
from audiomlqa.sources import load_questions, read_dataset_files
from audiomlqa.synthesis import DEFAULT_THRESHOLDS, SynthesisConfig, in_shard, select_questions

EN = ["What colour is the sky?", "Who wrote the letter?", "Where is the old bridge?", "When does the train leave?"]
DE = ["Qxv zzkrt bbnm plkq wrrt?", "Vvrq kkzt mmpf xxnq?", "Ptkq zzvr wwxl ffkq?"]
"""German rows are gibberish judged at threshold 0 (always rejected), English ones at 1e9 (always accepted)."""


def squad(questions: list[str], prefix: str, context: str = "A short context about the sky and a bridge.") -> dict:
    qas = [
        {"id": f"{prefix}{i}", "question": q, "answers": [{"text": "sky", "answer_start": context.index("sky")}]}
        for i, q in enumerate(questions)
    ]
    return {"data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}]}


def write_mlqa(root: Path, files: dict[str, dict]) -> Path:
    """A tiny MLQA_V1-style folder: ``{pair: squad document}`` as ``dev/dev-context-C-question-Q.json``."""
    (root / "dev").mkdir(parents=True)
    for pair, doc in files.items():
        c, _, q = pair.partition("-")
        (root / "dev" / f"dev-context-{c}-question-{q or c}.json").write_text(json.dumps(doc))
    return root


@pytest.fixture
def tiny_mlqa(tmp_path) -> Path:
    return write_mlqa(tmp_path / "mlqa", {"en": squad(EN, "en"), "de": squad(DE, "de")})


def config(source: Path, **settings) -> SynthesisConfig:
    return SynthesisConfig.from_dict({"source": str(source), "languages": ["en", "de"], **settings})


def part(cfg: SynthesisConfig) -> list[tuple[str, str]]:
    """A shard's questions; none when the whole selection has none for it (synthesize refuses such a shard)."""
    try:
        return [q.key for q in select_questions(cfg)]
    except AudioMLQAError as e:
        assert "holds none of the" in str(e)
        return []


# -- selection before sharding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{"limit": 5}, {"limit": 2}, {"per_language": 2}, {"per_language": 3, "limit": 4}])
def test_the_shards_of_a_limited_selection_together_are_the_unsharded_selection(tiny_mlqa, settings):
    whole = [q.key for q in select_questions(config(tiny_mlqa, **settings))]
    for n in (2, 3):
        parts = [part(config(tiny_mlqa, shard=(i, n), **settings)) for i in range(n)]
        assert sorted(k for part in parts for k in part) == sorted(whole)
        assert all(set(parts[i]).isdisjoint(parts[j]) for i in range(n) for j in range(i))


def test_a_shard_left_without_questions_by_a_small_limit_says_so_in_one_line(tiny_mlqa, tmp_path):
    empty = next(i for i in range(4) if not in_shard("en", "en0", (i, 4)))  # --limit 1 selects en0 alone
    args = ["--source", tiny_mlqa, "--languages", "en,de", "--limit", "1", "--shard", f"{empty}/4"]
    result = audiomlqa("synthesize", *args, "--tts", "espeak", "-o", tmp_path / "out")
    assert_one_line(result, f"shard {empty}/4 holds none of the 1 selected question(s)", "run fewer shards")
    assert not (tmp_path / "out").exists()


# -- --limit across several pairs ---------------------------------------------------------------------------------


def test_limit_over_several_languages_takes_each_pair_in_turn(tiny_mlqa, sample_dir):
    five = load_questions(tiny_mlqa, languages=["en", "de"], limit=5)
    assert [q.id for q in five] == ["en0", "en1", "en2", "de0", "de1"]
    assert {q.key for q in load_questions(tiny_mlqa, languages=["en", "de"], limit=4)} < {q.key for q in five}
    assert len(load_questions(tiny_mlqa, languages=["en", "de"], limit=99)) == len(EN) + len(DE)
    picked = audiomlqa("questions", sample_dir, "--languages", "en,de", "--limit", "5")
    assert picked.returncode == 0, picked.stderr
    pairs = [json.loads(line)["pair"] for line in picked.stdout.splitlines()]
    assert sorted(pairs) == ["de", "de", "en", "en", "en"]


def test_the_help_says_how_limit_treats_several_languages():
    for command in ("synthesize", "questions"):
        shown = audiomlqa(command, "--help", env={"COLUMNS": "300"})
        assert "in turn" in shown.stdout and "--per-language" in shown.stdout.split("--limit", 1)[1], shown.stdout


# -- text that is not Unicode -------------------------------------------------------------------------------------


def test_a_lone_surrogate_in_a_question_fails_in_one_line_naming_the_file_and_the_question(tmp_path):
    doc = squad(["Fine?", "Broken \ud800 text?"], "q")
    source = tmp_path / "dev-context-en-question-en.json"
    source.write_text(json.dumps(doc))  # ensure_ascii: the file holds the escape \ud800, as a damaged export does
    assert "\\ud800" in source.read_text()
    for args in (["questions", source], ["synthesize", "--source", source, "--tts", "espeak", "-o", tmp_path / "out"]):
        assert_one_line(audiomlqa(*args), str(source), "question 'q1'", "\\ud800", "fix or remove")
    with pytest.raises(AudioMLQAError, match="question 'q1'"):  # score reads its gold the same way
        read_dataset_files(source)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("where", "damage"),
    [
        ("context", lambda d: d["data"][0]["paragraphs"][0].update(context="Sky \udfff.")),
        ("answer", lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].update(text="\udc80")),
        ("question", lambda d: d["data"][0]["paragraphs"][0]["qas"][0].update(question=7)),
    ],
)
def test_any_question_field_that_is_not_text_is_named_in_one_line(tmp_path, where, damage):
    doc = squad(["Fine?"], "q")
    damage(doc)
    source = tmp_path / "dev-context-en-question-en.json"
    source.write_text(json.dumps(doc))
    with pytest.raises(AudioMLQAError, match=f"question 'q0'.*{where}") as caught:
        load_questions(source)
    assert "\n" not in str(caught.value)


# -- questions.jsonl damage ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"garbage", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"pair": "en"}', "id"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"pair": "en", "id": 5, "context_lang": "en", "question_lang": "en"}', "id"),
    ],
)
def test_a_damaged_questions_file_is_named_with_its_line_and_the_one_fix(tmp_path, line, why):
    source = write_mlqa(tmp_path / "m", {"en": squad(EN[:1], "en")})
    good = json.loads(json.dumps(load_questions(source, languages=["en"])[0].to_dict()))
    path = tmp_path / "questions.jsonl"
    path.write_bytes(json.dumps(good).encode() + b"\n\n" + line + b"\n")
    from audiomlqa.sources import read_question_rows

    with pytest.raises(AudioMLQAError) as caught:
        read_question_rows(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: line 3 is not a question row") and why in message
    assert "delete that line" in message and "rerun the synthesis command" in message and "\n" not in message
    path.write_bytes(json.dumps(good).encode() + b"\n")
    assert read_question_rows(path) == {("en", "en0"): good}


# -- end to end: eSpeak, forced accept and reject, two shards against one run ---------------------------------------


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> dict[str, Path]:
    """The tiny MLQA (4 English, 3 German questions) with ``limit: 4`` (en0, en1, de0, de1) spoken three times:
    unsharded, and as shards 0/2 (en0, en1, de0) and 1/2 (de1) in folders of their own; English is always accepted,
    German always rejected. Four questions are the fewest that still leave both shards a question and both pairs two."""
    pytest.importorskip("espeakng_loader")
    pytest.importorskip("faster_whisper")
    from audiomlqa.synthesis import synthesize

    root = tmp_path_factory.mktemp("selection")
    source = write_mlqa(root / "mlqa", {"en": squad(EN, "en"), "de": squad(DE, "de")})
    settings = {
        "limit": 4,
        "tts": {"default": {"backend": "espeak"}},
        "max_attempts": 1,
        "thresholds": {**DEFAULT_THRESHOLDS, "en": 1e9, "de": 0},
    }
    outputs, asr = {}, None
    for name, shard in (("whole", (0, 1)), ("shard0", (0, 2)), ("shard1", (1, 2))):
        cfg = config(source, shard=shard, output=str(root / name), **settings)
        asr = asr or cfg.asr.load()
        synthesize(cfg, progress=False, asr=asr)
        outputs[name] = root / name
    return outputs


def published(folder: Path) -> dict[tuple, tuple]:
    import pyarrow.parquet as pq

    rows = {}
    for f in sorted(folder.glob("data/*/*.parquet")):
        for r in pq.read_table(f).to_pylist():
            answers = (tuple(r["answers"]["text"]), tuple(r["answers"]["answer_start"]))
            assert r["audio"]["bytes"]  # eSpeak's samples differ slightly from call to call: not compared
            rows[(f.parent.name, r["id"])] = (r["question"], r["context"], answers, r["accepted"], r["spoken_text"])
    return rows


@pytest.mark.slow
def test_two_shards_publish_exactly_the_rows_of_one_unsharded_run(spoken, tmp_path):
    for name, outputs in (("whole", [spoken["whole"]]), ("shards", [spoken["shard0"], spoken["shard1"]])):
        result = audiomlqa("publish", *outputs, "--to", tmp_path / name, "--include-rejected")
        assert result.returncode == 0, result.stderr
    whole, shards = published(tmp_path / "whole"), published(tmp_path / "shards")
    assert shards == whole
    assert sorted(whole) == [("en", "en0"), ("en", "en1"), ("rejected", "de0"), ("rejected", "de1")]
    for name in ("whole", "shards"):
        configs = json.loads((tmp_path / name / "publish.json").read_text())["configs"]
        assert {c: {s: v["num_examples"] for s, v in splits.items()} for c, splits in configs.items()} == {
            "en": {"validation": 2},
            "rejected": {"validation": 2},
        }


@pytest.mark.slow
def test_a_garbage_line_in_questions_jsonl_gets_the_same_fix_from_synthesize_and_publish(spoken, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(spoken["whole"], out)
    questions = out / "questions.jsonl"
    questions.write_text(questions.read_text() + "this is not json\n")
    expected = f"{questions}: line 5 is not a question row"
    synth = audiomlqa(
        "synthesize",
        *("--source", spoken["whole"].parent / "mlqa", "--languages", "en,de", "--limit", "4", "--tts", "espeak"),
        *("--max-attempts", "1", "thresholds.en=1e9", "thresholds.de=0", "--quiet", "-o", out),
    )
    publish = audiomlqa("publish", out, "--to", tmp_path / "ds")
    assert assert_one_line(synth, expected) == assert_one_line(publish, expected)
    assert "delete that line" in synth.stderr and "rerun synthesis" not in publish.stderr
