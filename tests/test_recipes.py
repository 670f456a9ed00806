"""Every shipped recipe parses into a valid config."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiomlqa.recipes import load_recipe
from audiomlqa.synthesis import SynthesisConfig

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_is_a_valid_synthesis_config(path):
    cfg = SynthesisConfig.from_dict(load_recipe(path))
    assert cfg.max_attempts >= 1
    assert path.read_text().startswith("#"), "recipes start with a comment holding the command to run them"
