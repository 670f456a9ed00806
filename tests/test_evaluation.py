"""synthesize → publish → `audiomlqa score MODEL.json …`: model specs run through the shared scorer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("datasets")
pytest.importorskip("transformers")
pytest.importorskip("faster_whisper")

from audiomlqa.errors import AudioMLQAError  # noqa: E402
from audiomlqa.evaluation import evaluate_model, extract_answer, load_spec, short_answer_prompt  # noqa: E402
from audiomlqa.llm import SPEECH  # noqa: E402
from audiomlqa.publish import publish  # noqa: E402
from audiomlqa.synthesis import SynthesisConfig, synthesize  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def audio_mlqa(spoken_dataset) -> Path:
    """A published Audio-MLQA: two en and two de questions spoken by eSpeak, every clip kept (threshold 1e9); the
    one test_judging, test_audiochat and test_report read, so a worker builds it once for all of them."""
    return spoken_dataset(["en", "de"], 2)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "audiomlqa.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ},
    )


@pytest.mark.slow
def test_score_runs_two_specs_side_by_side_and_reuses_its_cache(audio_mlqa, tmp_path):
    preds = tmp_path / "predictions"
    specs = [ROOT / "models" / "tiny-cascade.json", ROOT / "models" / "tiny-text.json"]
    out = run("score", *specs, "--dataset", audio_mlqa, "--predictions-dir", preds, "--markdown", "--quiet")
    assert out.returncode == 0, out.stderr
    assert "model spec: " in out.stderr and "4 answer(s) generated, 0 reused" in out.stderr
    assert "| config | tiny-cascade | tiny-text |" in out.stdout and "| macro avg |" in out.stdout
    for model in ("tiny-cascade", "tiny-text"):
        for config in ("en", "de"):
            answers = json.loads((preds / model / f"{config}.json").read_text())
            raw = json.loads((preds / model / f"{config}.raw.json").read_text())
            assert len(answers) == 2 and answers.keys() == raw["raw"].keys()
            assert all(answers[k] == extract_answer(v) for k, v in raw["raw"].items())
        scores = json.loads((preds / model / "scores.json").read_text())
        assert (
            set(scores["configs"]) == {"en", "de"}
            and scores["provenance"]["prompt_version"] == "audiomlqa-short-answer-v1"
        )
    assert len(json.loads((preds / "tiny-cascade" / "en.raw.json").read_text())["transcripts"]) == 2
    assert sorted(p.name for p in (preds / "charts").glob("*.png")) == ["de.png", "en.png", "macro-avg.png"]

    again = run("score", *specs, "--dataset", audio_mlqa, "--predictions-dir", preds, "--json", "--quiet")
    assert again.returncode == 0 and "0 answer(s) generated, 4 reused" in again.stderr
    report = json.loads(again.stdout)
    assert [m["model"] for m in report["models"]] == ["tiny-cascade", "tiny-text"]

    # the cached predictions are ordinary predictions files for the same scorer
    plain = run("score", preds / "tiny-text", "--dataset", audio_mlqa, "--json")
    assert plain.returncode == 0 and "scored predictions:" in plain.stderr
    assert json.loads(plain.stdout)["f1"] == pytest.approx(report["models"][1]["macro_average"]["f1"])


@pytest.mark.slow
def test_speechllm_checkpoint_and_user_adapter_run_through_the_same_path(audio_mlqa, tmp_path):
    from audiomlqa.speechllm import SpeechLLM, SpeechLLMConfig

    SpeechLLM.from_config(
        SpeechLLMConfig.from_dict({"languages": ["en", "de"], "num_banks": 2, "num_queries": 8, "gate_hidden": 16})
    ).save_pretrained(tmp_path / "ckpt")
    spec = tmp_path / "tiny-speechllm.json"
    spec.write_text(
        json.dumps(
            {
                "name": "tiny-speechllm",
                "kind": "speechllm",
                "checkpoint": str(tmp_path / "ckpt"),
                "max_new_tokens": 4,
                "batch_size": 3,
            }
        )
    )
    report = evaluate_model(spec, str(audio_mlqa), configs=["en"], output=tmp_path / "p", progress=False)
    assert report.generated == 2 and report.configs[0].total == 2 and report.provenance["runner"]["num_banks"] == 2

    adapter = tmp_path / "lead.json"  # a user's runner, by import path: the lead baseline
    adapter.write_text(
        json.dumps({"name": "lead", "kind": "lead-words", "adapter": "tiny_models:LeadWordsRunner", "words": 3})
    )
    report = evaluate_model(adapter, str(audio_mlqa), output=tmp_path / "p", progress=False)
    assert {c.config for c in report.configs} == {"en", "de"} and report.generated == 4

    broken = tmp_path / "forgetful.json"
    broken.write_text(json.dumps({"name": "forgetful", "kind": "x", "adapter": "tiny_models:ForgetfulRunner"}))
    with pytest.raises(
        AudioMLQAError, match=r"forgetful: the runner gave 3 answers for 4 questions \(one per item, in order\)"
    ):
        evaluate_model(broken, str(audio_mlqa), output=tmp_path / "p", progress=False)


@pytest.mark.slow
def test_questions_about_one_paragraph_share_a_batch_across_configs(tmp_path):
    """en and en-de ask the same questions about the same paragraphs (same ids): they go into one batch, and
    every answer and transcript still lands in its own config's cache. The three shortest paragraphs (six
    questions in batches of four: two batches) suffice to show a pair together and no paragraph revisited."""
    from tiny_models import EchoRunner

    sample = Path(__import__("audiomlqa.synthesis", fromlist=["PACKAGED_SAMPLE"]).PACKAGED_SAMPLE) / "dev"
    source = tmp_path / "MLQA_V1" / "dev"
    source.mkdir(parents=True)
    cross = json.loads((sample / "dev-context-en-question-de.json").read_text())
    shortest = sorted((p for a in cross["data"] for p in a["paragraphs"]), key=lambda p: len(p["context"]))[:3]
    ids = {qa["id"] for p in shortest for qa in p["qas"]}
    assert len(ids) == 3
    for name in ("dev-context-en-question-en.json", "dev-context-en-question-de.json"):
        doc = json.loads((sample / name).read_text())
        for a in doc["data"]:
            for p in a["paragraphs"]:
                p["qas"] = [qa for qa in p["qas"] if qa["id"] in ids]
        (source / name).write_text(json.dumps(doc))
    synthesize(
        SynthesisConfig.from_dict(
            {
                "source": str(tmp_path / "MLQA_V1"),
                "pairs": ["en", "en-de"],
                "output": str(tmp_path / "synth"),
                "max_attempts": 1,
                "thresholds": {"en": 1e9, "de": 1e9},
                "tts": {"default": {"backend": "espeak"}},
            }
        ),
        progress=False,
    )
    publish([tmp_path / "synth"], tmp_path / "dataset")
    spec = tmp_path / "echo.json"
    spec.write_text(json.dumps({"name": "echo", "kind": "echo", "adapter": "tiny_models:EchoRunner", "batch_size": 4}))

    report = evaluate_model(spec, str(tmp_path / "dataset"), output=tmp_path / "p", progress=False)
    assert report.generated == 2 * len(ids) and {c.config for c in report.configs} == {"en", "en-de"}
    assert any({("en", "en", i), ("en", "de", i)} <= set(batch) for batch in EchoRunner.batches for *_, i in batch)
    paragraph = {qa["id"]: p["context"] for a in cross["data"] for p in a["paragraphs"] for qa in p["qas"]}
    order = [paragraph[i] for batch in EchoRunner.batches for *_, i in batch]
    assert len(order) == 2 * len(ids) and all(
        c not in order[:k] for k, c in enumerate(order) if k and c != order[k - 1]
    )

    import datasets

    for config, lang in (("en", "en"), ("en-de", "de")):
        cached = json.loads((tmp_path / "p" / "echo" / f"{config}.raw.json").read_text())
        rows = datasets.load_dataset(str(tmp_path / "dataset"), config, split="validation")
        assert cached["raw"] == {r["id"]: f"{lang}: {r['question']}" for r in rows}
        assert cached["transcripts"] == {r["id"]: str(len(r["audio"]["array"])) for r in rows}


@pytest.mark.slow
def test_cached_answers_survive_a_new_batch_size_but_not_a_new_generation_length(audio_mlqa, tmp_path):
    spec = json.loads((ROOT / "models" / "tiny-text.json").read_text())
    path = tmp_path / "tiny-text.json"
    path.write_text(json.dumps(spec))
    first = evaluate_model(path, str(audio_mlqa), configs=["en"], output=tmp_path / "p", progress=False)
    path.write_text(json.dumps({**spec, "batch_size": 1, "prefill": "padded", "description": "rerun"}))
    again = evaluate_model(path, str(audio_mlqa), configs=["en"], output=tmp_path / "p", progress=False)
    assert (first.generated, again.generated, again.reused) == (2, 0, 2)
    path.write_text(json.dumps({**spec, "max_new_tokens": spec["max_new_tokens"] + 1}))
    with pytest.raises(AudioMLQAError, match="holds predictions of another spec or prompt version: pass --overwrite"):
        evaluate_model(path, str(audio_mlqa), configs=["en"], output=tmp_path / "p", progress=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"name": "x", "kind": "text", "llm": "tiny-random/llm", "temperature": 0.2},
            "spec.json: unknown setting(s) temperature (known: name, kind",
        ),
        (
            {"name": "x", "kind": "speechllm", "checkpoint": "runs/nowhere/final"},
            "checkpoint 'runs/nowhere/final' not found",
        ),
        ({"name": "x", "kind": "cascade"}, "spec.json: llm: required"),
        ({"name": "x", "kind": "qwen2-audio"}, "unknown model kind 'qwen2-audio'"),
    ],
)
def test_bad_specs_fail_in_one_line_before_any_model_loads(spec, message, audio_mlqa, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    out = run("score", path, "--dataset", audio_mlqa, "--predictions-dir", tmp_path)
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_config_the_dataset_lacks_fails_before_any_model_loads(audio_mlqa, tmp_path):
    out = run(
        "score",
        ROOT / "models" / "tiny-text.json",
        "--dataset",
        audio_mlqa,
        "--configs",
        "en,zh",
        "--predictions-dir",
        tmp_path,
    )
    assert out.returncode == 2 and "has no config 'zh' (it has: en, de)" in out.stderr
    assert not (tmp_path / "tiny-text").exists()
    mixed = run("score", ROOT / "models" / "tiny-text.json", tmp_path, "--dataset", audio_mlqa)
    assert mixed.returncode == 2 and "either model specs or predictions" in mixed.stderr


def test_every_shipped_spec_parses():
    for path in sorted((ROOT / "models").glob("*.json")):
        data = json.loads(path.read_text())
        if data["kind"] == "speechllm":
            with pytest.raises(AudioMLQAError, match="not found: train it first"):
                load_spec(path)  # their checkpoints come from train-reference
        else:
            assert load_spec(path).name == path.stem


@pytest.mark.parametrize(
    ("generated", "answer"),
    [
        ("Paris", "Paris"),
        ("Paris.\nQuestion: What is...", "Paris"),
        ('Short answer: "1996".', "1996"),
        ("Kurze Antwort: 3,7 Millionen", "3,7 Millionen"),
        ("简短回答：北京。", "北京"),
        ("  Answer: the Mono River  ", "the Mono River"),
        ("", ""),
    ],
)
def test_answer_extraction(generated, answer):
    assert extract_answer(generated) == answer


def test_prompt_is_in_the_context_language_with_the_speech_where_the_question_goes():
    p = short_answer_prompt("Berlin ist groß.", None, "de")
    assert p.startswith("Beantworte") and f"Frage: {SPEECH}" in p and p.endswith("Kurze Antwort:")
    assert short_answer_prompt("c", "Wer?", "en").endswith("Question: Wer?\nShort answer:")


@pytest.mark.slow
def test_score_json_pipes_into_a_json_tool_with_the_progress_bar_on(audio_mlqa, tmp_path):
    """As a user pipes it, without --quiet: stdout is exactly one JSON document; the bar and the logs go to stderr,
    also when stderr is a terminal (a pty here) and the bar is drawn."""
    import pty

    spec = ROOT / "models" / "tiny-text.json"
    cmd = f"{sys.executable} -m audiomlqa score {spec} --dataset {audio_mlqa} --predictions-dir {tmp_path / 'p'} --json"
    piped = subprocess.run(
        f"{cmd} | {sys.executable} -m json.tool", shell=True, capture_output=True, text=True, timeout=600
    )
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["models"][0]["model"] == "tiny-text"
    assert "model spec: " in piped.stderr and "\x1b[" not in piped.stderr  # no bar when stderr is not a terminal

    controller, terminal = pty.openpty()
    with open(terminal, "wb", closefd=True) as stderr:
        shown = subprocess.run(
            [*cmd.split(), "--overwrite", "--set", "batch_size=2"],  # two batches: a rate needs two steps of the bar
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=600,
        )
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["models"][0]["configs"].keys() == {"en", "de"}
    assert b"tiny-text" in drawn and b"q/s" in drawn, drawn[-500:]  # the bar, with its rate, went to the terminal


@pytest.mark.slow
def test_score_writes_a_csv_table_of_every_model_and_config(audio_mlqa, tmp_path):
    import pandas as pd

    out = run(
        "score",
        ROOT / "models" / "tiny-text.json",
        "--dataset",
        audio_mlqa,
        "--predictions-dir",
        tmp_path / "p",
        "--csv",
        tmp_path / "scores.csv",
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(tmp_path / "scores.csv")
    assert list(table.columns) == ["model", "config", "exact_match", "f1", "raw_exact_match", "raw_f1", "total"]
    assert sorted(table["config"]) == ["de", "en", "macro avg"] and set(table["model"]) == {"tiny-text"}
    report = json.loads((tmp_path / "p" / "tiny-text" / "scores.json").read_text())
    assert table.set_index("config").loc["en", "f1"] == pytest.approx(report["configs"]["en"]["f1"])


@pytest.mark.slow
def test_two_processes_share_the_questions_and_merge_to_what_one_process_gives(audio_mlqa, tmp_path):
    """torchrun + gloo on the CPU: each rank answers the paragraphs that hash to it and caches them apart; rank 0
    merges, and the predictions equal a one-process run's. A rerun resumes from the merged caches. The one-process
    run is this process (the scorer the CLI calls), which spares a third start of torch and the model."""
    import datasets

    from audiomlqa.utils.distributed import share

    rows = [r for c in ("en", "de") for r in datasets.load_dataset(str(audio_mlqa), c, split="validation")]
    contexts = {r["context"] for r in rows}
    assert {share(c, 2) for c in contexts} == {0, 1}, "each of the two ranks gets a paragraph to answer"
    torchrun = Path(sys.executable).with_name("torchrun")
    spec = ROOT / "models" / "tiny-text.json"
    one = evaluate_model(spec, str(audio_mlqa), output=tmp_path / "one", progress=False)
    assert one.generated == 4 and one.provenance["runtime"]["world_size"] == 1
    cmd = [
        str(torchrun),
        "--nproc_per_node",
        "2",
        "-m",
        "audiomlqa",
        "score",
        str(spec),
        "--dataset",
        str(audio_mlqa),
        "--predictions-dir",
        str(tmp_path / "two"),
        "--json",
        "--quiet",
    ]
    two = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    report = json.loads(two.stdout)  # one document: only the first process reports
    assert report["models"][0]["provenance"]["runtime"]["world_size"] == 2
    for config in ("en", "de"):
        merged = json.loads((tmp_path / "two" / "tiny-text" / f"{config}.json").read_text())
        assert merged == json.loads((tmp_path / "one" / "tiny-text" / f"{config}.json").read_text())
    parts = [json.loads(p.read_text()) for p in (tmp_path / "two" / "tiny-text").glob("rank-*/*.raw.json")]
    assert parts == [], "the parts are merged away"
    assert (tmp_path / "two" / "tiny-text" / "rank-1-of-2").is_dir()  # the second rank did its share
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and json.loads(again.stdout)["models"][0]["configs"] == report["models"][0]["configs"]
