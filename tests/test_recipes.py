"""Every shipped recipe parses into a valid config, and every model spec names a valid model."""

from __future__ import annotations

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
    from audiomlqa.predictions import looks_like_model_spec

    spec = json.loads(path.read_text())
    assert looks_like_model_spec(spec) and spec["name"] == path.stem
    if spec["kind"] == "speechllm":
        from audiomlqa.speechllm import SpeechLLMConfig

        # the paper's six ASR languages (recipes/train-paper.yaml): one query set each, or one shared (ML-DiVA)
        SpeechLLMConfig.from_dict({**spec["model"], "languages": ["en", "vi", "id", "zh", "es", "de"]})
