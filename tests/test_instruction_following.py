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
KEEP_EVERY_CLIP = [
    "max_attempts=1",
    'tts={"default": {"backend": "espeak"}}',
    "thresholds.en=1e9",
]
"""eSpeak, one attempt, every clip kept, heard by a tiny random Whisper: the tests do not hinge on what an ASR makes
of one clip (the filter itself is tested in test_synthesis and test_filter_rules)."""
SHORT = ["--set", "open_ended.max_new_tokens=5"]
SPOKEN = 4
"""Without ``../shared``: of our set's nine speakable instructions, the first four are spoken (the left-out counts
cover all twelve)."""


def spoken_set(tmp: Path, source: Path, *extra: str) -> tuple[Path, Path]:
    """``source`` spoken in English by the CLI and published: (synthesis output, dataset folder)."""
    from audiomlqa.llm.names import resolve

    synth, dataset = tmp / "synth", tmp / f"dataset-{tmp.name}"  # datasets' cache may mix two folders of one name
    asr = f'asr={{"backend": "transformers", "model": "{resolve("tiny-random/whisper")}"}}'
    out = audiomlqa(
        "synthesize", "--task", "instruction", "--source", source, "-o", synth, *extra, *KEEP_EVERY_CLIP, asr
    )
    assert out.returncode == 0, out.stderr[-3000:]
    out = audiomlqa("publish", synth, "--to", dataset)
    assert out.returncode == 0, out.stderr[-3000:]
    return synth, dataset


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> tuple[Path, Path, Path, int]:
    """20 of AlpacaEval's instructions when ``../shared`` holds them (the issue's offline run), else the first four
    speakable ones of our own set: (source, synthesis output, dataset folder, instructions spoken)."""
    tmp = tmp_path_factory.mktemp("spoken")
    if ALPACA.is_file():
        return (ALPACA, *spoken_set(tmp, ALPACA, "--limit", "20"), 20)
    return (OWN, *spoken_set(tmp, OWN, "instructions.id=id", "--limit", str(SPOKEN)), SPOKEN)


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


def score_json(specs: list[Path], dataset: Path, predictions: Path, judge: Path, *extra: str) -> dict:
    """``audiomlqa score SPECS --configs instruct-en --judge JUDGE --json`` as a user pipes it: its one JSON document
    (progress goes to stderr)."""
    out = audiomlqa(
        "score",
        *specs,
        *("--dataset", dataset, "--configs", "instruct-en", "--split", "test", "--predictions-dir", predictions),
        *("--judge", judge, "--json", *SHORT, *extra),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def every_kind(tmp: Path) -> list[Path]:
    return [
        ROOT / "models" / "tiny-text.json",
        ROOT / "models" / "tiny-cascade.json",
        ROOT / "models" / "tiny-qwen2-audio.json",
        *speech_llms(tmp),
    ]


@pytest.mark.slow
def test_an_instruction_set_is_spoken_and_published_with_its_references_and_what_was_left_out(spoken):
    import datasets

    from audiomlqa.instructions import InstructionColumns, read_instructions

    source, synth, dataset, n = spoken
    columns = InstructionColumns(id="id") if source == OWN else InstructionColumns()
    found = read_instructions(source, columns)
    left_out = json.loads((synth / "left-out.json").read_text())
    assert left_out["left_out"] == found.left_out and left_out["total"] == found.total
    if source == OWN:  # our set holds one of each: a code block, a URL, a table
        assert found.total == 12 and found.left_out == {"code": 1, "url": 1, "table": 1}
    summary = json.loads((synth / "summary.json").read_text())
    assert summary["pairs"]["instruct-en"]["attempted"] == n and summary["left_out"]["total"] == found.total

    ds = datasets.load_dataset(str(dataset), "instruct-en", split="test")
    by_id = {q.id: q for q in found.questions}
    assert len(ds) == n and set(ds["task"]) == {"instruction"}
    for row in ds:
        assert row["reference"] == by_id[row["id"]].reference and row["question"] == by_id[row["id"]].question
        assert row["audio"]["array"].size > 0
    card = (dataset / "README.md").read_text()
    assert "## What was spoken" in card and "instruct-en" in card and f"{found.left_out['url']} url" in card


@pytest.mark.slow
def test_every_kind_of_model_answers_spoken_instructions_in_full_and_a_local_and_a_served_judge_score_them(
    spoken,
    served,  # noqa: F811
    tiny_llm,  # noqa: F811
    tmp_path,
):
    """The text topline, the cascade, an audio chat model, the reference model and ML-DiVA (AlpacaEval's 20 when
    ``../shared`` is there), judged by a local judge; then the text topline's and the reference model's answers,
    reused from that run (answering them again would prove nothing new), judged through `transformers serve` on
    127.0.0.1."""
    _, _, dataset, n = spoken
    specs = every_kind(tmp_path)
    doc = score_json(specs, dataset, tmp_path / "p", ROOT / "models" / "judge-tiny.json", "--judge-check", "2")
    assert [m["model"] for m in doc["models"]] == [json.loads(s.read_text())["name"] for s in specs]
    for model in doc["models"]:
        config = model["configs"]["instruct-en"]
        assert config["f1"] is None and config["total"] == n
        assert config["judge_parsed"] + config["judge_unparsed"] == n  # every answer judged, unparsed counted
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
    site = tmp_path / "site"  # the report shows each model's judge mean and interval, and no F1 (there is none)
    out = audiomlqa("report", tmp_path / "p", "--out", site)
    assert out.returncode == 0, out.stderr[-2000:]
    board = json.loads((site / "leaderboard.json").read_text())
    assert set(board["metrics"]) == {"judge_mean"} and board["columns"] == ["overall", "instruct-en"]
    for model in doc["models"]:
        cell = board["cells"][model["model"]]["judge_mean"]["instruct-en"]
        assert cell["value"] == model["configs"]["instruct-en"]["judge_mean"]
        assert [cell["low"], cell["high"]] == list(model["configs"]["instruct-en"]["intervals"]["judge_mean"].values())

    judge = tmp_path / "served-judge.json"
    judge.write_text(
        json.dumps({"name": "served-judge", "kind": "api", "base_url": served, "model": tiny_llm, "max_new_tokens": 8})
    )
    two = [specs[0], specs[3]]  # the text topline and the reference model (tiny-lang-aware-hard)
    judged = score_json(two, dataset, tmp_path / "p", judge)["models"]
    assert [m["model"] for m in judged] == ["tiny-text", "tiny-lang-aware-hard"]
    for model in judged:
        config = model["configs"]["instruct-en"]
        assert model["provenance"]["runner"] == "cached predictions"  # the answers above, not new ones
        assert config["total"] == n and config["judge_parsed"] + config["judge_unparsed"] == n
        assert model["judge"]["base_url"] == served and model["judge"]["prompt_version"] == "audiomlqa-judge-v2"
        assert model["judge"]["served_models"]  # the id the server answered with is recorded
