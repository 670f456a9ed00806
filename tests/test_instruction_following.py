"""Spoken instruction following end to end, as a user runs it: an instruction set spoken (what no voice can speak left
out and counted), published as an ``instruct-<lang>`` config, answered in full by every kind of model (text topline,
cascade, audio chat model, the reference Speech LLM and ML-DiVA), and judged 0–5 against the reference by a local
judge and by one behind `transformers serve`. The models are tiny random ones: these tests check the path, never
the quality of an answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import audiomlqa
from test_api import served, tiny_llm  # noqa: F401 - fixtures: `transformers serve` with the tiny random Llama

pytest.importorskip("torch")
pytest.importorskip("datasets")

ROOT = Path(__file__).resolve().parents[1]
OWN = ROOT / "tests" / "data" / "instructions-tiny.jsonl"
ALPACA = ROOT.parent / "shared" / "data" / "alpaca_eval" / "alpaca_eval_gpt4_1106_preview.json"
KEEP_EVERY_CLIP = ["max_attempts=1", 'tts={"default": {"backend": "espeak"}}', "thresholds.en=1e9"]
"""eSpeak, one attempt, every clip kept: the tests do not hinge on what the ASR makes of one clip."""
SHORT = ["--set", "open_ended.max_new_tokens=5"]
SPOKEN = 4
"""Of the tiny set's nine speakable instructions, the first four are spoken (the left-out counts cover all)."""


def spoken_set(tmp: Path, source: Path, *extra: str) -> tuple[Path, Path]:
    """``source`` spoken in English by the CLI and published: (synthesis output, dataset folder)."""
    synth, dataset = tmp / "synth", tmp / f"dataset-{tmp.name}"  # datasets' cache may mix two folders of one name
    out = audiomlqa("synthesize", "--task", "instruction", "--source", source, "-o", synth, *extra, *KEEP_EVERY_CLIP)
    assert out.returncode == 0, out.stderr[-3000:]
    out = audiomlqa("publish", synth, "--to", dataset)
    assert out.returncode == 0, out.stderr[-3000:]
    return synth, dataset


@pytest.fixture(scope="module")
def own_set(tmp_path_factory) -> tuple[Path, Path]:
    return spoken_set(tmp_path_factory.mktemp("own"), OWN, "instructions.id=id", "--limit", str(SPOKEN))


def speech_llms(tmp: Path) -> list[Path]:
    """The reference model (a language gate over two query banks, hard selection) and ML-DiVA (one shared query
    set, no gate), tiny and random, saved as checkpoints with their specs."""
    from audiomlqa.speechllm import SpeechLLM, SpeechLLMConfig

    specs = []
    for name, model in {
        "tiny-lang-aware-hard": {"languages": ["en", "de"], "num_banks": 2, "gate": "conv", "selection": "hard"},
        "tiny-ml-diva": {"languages": ["en", "de"], "num_banks": 1, "gate": "none"},
    }.items():
        SpeechLLM.from_config(
            SpeechLLMConfig.from_dict({**model, "num_queries": 8, "gate_hidden": 16})
        ).save_pretrained(tmp / name)
        spec = tmp / f"{name}.json"
        spec.write_text(json.dumps({"name": name, "kind": "speechllm", "checkpoint": str(tmp / name), "batch_size": 4}))
        specs.append(spec)
    return specs


def every_kind(tmp: Path) -> list[Path]:
    return [
        ROOT / "models" / "tiny-text.json",
        ROOT / "models" / "tiny-cascade.json",
        ROOT / "models" / "tiny-qwen2-audio.json",
        *speech_llms(tmp),
    ]


@pytest.mark.slow
def test_an_instruction_set_is_spoken_and_published_with_its_references_and_what_was_left_out(own_set):
    import datasets

    synth, dataset = own_set
    rows = [json.loads(line) for line in OWN.read_text().splitlines() if line.strip()]
    left_out = json.loads((synth / "left-out.json").read_text())
    assert left_out["total"] == len(rows) and {"code", "url", "table"} <= set(left_out["left_out"])
    assert len(rows) - sum(left_out["left_out"].values()) == 9
    spoken = SPOKEN
    summary = json.loads((synth / "summary.json").read_text())
    assert summary["pairs"]["instruct-en"]["attempted"] == spoken and summary["left_out"]["total"] == len(rows)

    ds = datasets.load_dataset(str(dataset), "instruct-en", split="test")
    by_id = {r["id"]: r for r in rows}
    assert len(ds) == spoken and set(ds["task"]) == {"instruction"}
    for row in ds:
        assert row["reference"] == by_id[row["id"]]["output"] and row["question"] == by_id[row["id"]]["instruction"]
        assert row["audio"]["array"].size > 0
    card = (dataset / "README.md").read_text()
    assert "## What was spoken" in card and "instruct-en" in card and "1 url" in card


@pytest.mark.slow
def test_every_kind_of_model_answers_spoken_instructions_in_full_and_a_local_judge_scores_them(own_set, tmp_path):
    _, dataset = own_set
    specs = every_kind(tmp_path)
    out = audiomlqa(
        "score",
        *specs,
        "--dataset",
        dataset,
        "--configs",
        "instruct-en",
        "--split",
        "test",
        "--predictions-dir",
        tmp_path / "p",
        "--judge",
        ROOT / "models" / "judge-tiny.json",
        "--judge-check",
        "2",
        "--json",
        *SHORT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)  # one JSON document on stdout, progress on stderr
    assert [m["model"] for m in doc["models"]] == [json.loads(s.read_text())["name"] for s in specs]
    for model in doc["models"]:
        config = model["configs"]["instruct-en"]
        assert config["f1"] is None and config["total"] == SPOKEN
        assert config["judge_parsed"] + config["judge_unparsed"] == SPOKEN  # every answer judged, unparsed counted
        assert model["judge"]["prompt_version"] == "audiomlqa-judge-v2"
        assert model["provenance"]["prompt_version"] == "audiomlqa-instruction-v1"
        runner = model["provenance"]["runner"]
        generation = runner.get("generation", {})
        assert runner["kind"] in ("text", "cascade", "audiochat", "speechllm")
        assert generation.get("max_new_tokens", 5) == 5  # the open-ended limit, not the short answer's
        folder = tmp_path / "p" / model["model"]
        raw = json.loads((folder / "instruct-en.raw.json").read_text())["raw"]
        answers = json.loads((folder / "instruct-en.json").read_text())
        assert answers == {k: v.strip() for k, v in raw.items()}  # judged in full: no first-line extraction
    assert doc["judge_check"]["n"] >= 2


@pytest.mark.slow
def test_a_judge_behind_transformers_serve_judges_spoken_instructions(own_set, served, tiny_llm, tmp_path):  # noqa: F811
    _, dataset = own_set
    judge = tmp_path / "served-judge.json"
    judge.write_text(
        json.dumps({"name": "served-judge", "kind": "api", "base_url": served, "model": tiny_llm, "max_new_tokens": 8})
    )
    out = audiomlqa(
        "score",
        ROOT / "models" / "tiny-text.json",
        "--dataset",
        dataset,
        "--configs",
        "instruct-en",
        "--split",
        "test",
        "--predictions-dir",
        tmp_path / "p",
        "--judge",
        judge,
        "--json",
        *SHORT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    model = json.loads(out.stdout)["models"][0]
    config = model["configs"]["instruct-en"]
    assert config["judge_parsed"] + config["judge_unparsed"] == SPOKEN
    assert model["judge"]["base_url"] == served and model["judge"]["prompt_version"] == "audiomlqa-judge-v2"
    assert model["judge"]["served_models"]  # the id the server answered with is recorded


@pytest.mark.slow
@pytest.mark.skipif(not ALPACA.is_file(), reason="needs ../shared/data/alpaca_eval (AlpacaEval, CC BY-NC 4.0)")
def test_twenty_alpacaeval_instructions_are_spoken_published_answered_and_judged(tmp_path, served, tiny_llm):  # noqa: F811
    import datasets

    _, dataset = spoken_set(tmp_path, ALPACA, "--limit", "20")
    ds = datasets.load_dataset(str(dataset), "instruct-en", split="test")
    assert len(ds) == 20 and all(r for r in ds["reference"])
    judge = tmp_path / "served-judge.json"
    judge.write_text(
        json.dumps({"name": "served-judge", "kind": "api", "base_url": served, "model": tiny_llm, "max_new_tokens": 8})
    )
    specs = every_kind(tmp_path)
    for judge_spec in (ROOT / "models" / "judge-tiny.json", judge):
        out = audiomlqa(
            "score",
            *specs,
            "--dataset",
            dataset,
            "--configs",
            "instruct-en",
            "--split",
            "test",
            "--predictions-dir",
            tmp_path / "p",
            "--judge",
            judge_spec,
            "--json",
            *SHORT,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        for model in json.loads(out.stdout)["models"]:
            config = model["configs"]["instruct-en"]
            assert config["total"] == 20 and config["judge_parsed"] + config["judge_unparsed"] == 20
