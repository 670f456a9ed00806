"""Every shipped recipe parses into a valid config, and every model spec names a valid model."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from audiomlqa.config import load_yaml as load_recipe
from audiomlqa.synthesis import SynthesisConfig

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_is_a_valid_config(path):
    assert path.read_text().startswith("#"), "recipes start with a comment holding the command to run them"
    if path.name.startswith("train-"):
        pytest.importorskip("torch")
        from audiomlqa.speechllm.train import TrainConfig

        cfg = TrainConfig.from_dict(load_recipe(path))
        assert cfg.max_steps >= 1 and "train-reference --recipe recipes/" + path.name in path.read_text()
    else:
        assert SynthesisConfig.from_dict(load_recipe(path)).max_attempts >= 1


@pytest.mark.parametrize("path", sorted((ROOT / "models").glob("*.json")), ids=lambda p: p.name)
def test_model_spec_names_a_valid_model(path):
    from audiomlqa.scoring import looks_like_model_spec

    spec = json.loads(path.read_text())
    assert looks_like_model_spec(spec) and spec["name"] == path.stem
    if spec["kind"] == "speechllm":
        from audiomlqa.speechllm import SpeechLLMConfig

        # the paper's six ASR languages (recipes/train-paper.yaml): one query set each, or one shared (ML-DiVA)
        SpeechLLMConfig.from_dict({**spec["model"], "languages": ["en", "vi", "id", "zh", "es", "de"]})


@pytest.mark.slow
def test_the_paper_recipe_runs_every_backend_option_it_names_on_small_local_checkpoints(tmp_path):
    """The recipe's voices and judge, with only the checkpoints (Hub ids → tiny local models of the same classes:
    VITS for MMS-TTS, a 128-mel CTranslate2 Whisper for large-v3) and the device (cuda → cpu) swapped."""
    pytest.importorskip("transformers")
    pytest.importorskip("ctranslate2")
    from tiny_models import make_tiny_ct2_whisper, make_tiny_vits

    from audiomlqa.sources import PACKAGED_SAMPLE
    from audiomlqa.synthesis import synthesize

    recipe = load_recipe(ROOT / "recipes" / "audio-mlqa-paper.yaml")
    vits, whisper = make_tiny_vits(tmp_path / "vits"), make_tiny_ct2_whisper(tmp_path / "whisper")
    local = copy.deepcopy(recipe)
    for choice in local["tts"].values():
        if choice["backend"] == "mms":
            choice["options"] = {**choice["options"], "device": "cpu"}
            choice["options"]["models"] = dict.fromkeys(choice["options"].get("models", {}), str(vits))
    local["asr"] = {**local["asr"], "model": str(whisper), "device": "cpu", "compute_type": "int8"}
    assert {k: set(v.get("options", {})) for k, v in local["tts"].items()} == {
        k: set(v.get("options", {})) for k, v in recipe["tts"].items()
    } and set(local["asr"]) == set(recipe["asr"])
    local.update(source=PACKAGED_SAMPLE, split="dev", per_language=1, max_attempts=1, workers=1)
    local["output"] = str(tmp_path / "out")
    synthesize(SynthesisConfig.from_dict(local), progress=False)

    record = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert {lang: info["backend"] for lang, info in record["tts"].items()} == {
        "en": "mms",
        "es": "mms",
        "de": "mms",
        "vi": "mms",
        "zh": "kokoro",
    }
    assert record["asr"]["model"] == str(whisper) and record["asr"]["beam_size"] == 5
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").open(encoding="utf-8")]
    assert sorted(r["question_lang"] for r in rows) == ["de", "en", "es", "vi", "zh"]
    assert all(r["audio"] and r["transcript"] is not None and r["alignment"] for r in rows)
    # a judge without a calibration has no evidence: no language is verified, and every row says why
    assert not any(r["verified"] for r in rows)
    assert all(r["verification"].startswith(f"no human speech measured with {whisper.name}") for r in rows)
    assert {r["voice"] for r in rows if r["backend"] == "mms"} == {str(vits)}
