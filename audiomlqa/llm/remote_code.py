"""Whether a model folder would make transformers run Python code of its own (``trust_remote_code``), read from its
configs alone: the one check before any load, for every kind (:mod:`~audiomlqa.llm.loading`,
:mod:`~audiomlqa.llm.audiochat`)."""

from __future__ import annotations

import json
from collections.abc import Container
from pathlib import Path

CODE_CONFIGS = (
    "config.json",
    "tokenizer_config.json",
    "processor_config.json",
    "preprocessor_config.json",
    "feature_extractor_config.json",
    "video_preprocessor_config.json",
)
"""The files whose ``auto_map`` makes transformers import Python files of the model's folder."""


def json_object(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # unreadable: transformers fails on it in its own words, and imports nothing
    return data if isinstance(data, dict) else {}


def transformers_types() -> Container[str]:
    """The model types transformers implements itself."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return CONFIG_MAPPING_NAMES


def repository_code(location: str | Path, native: Container[str] | None = None) -> list[str]:
    """Where a model folder asks to run its own Python code: ``"file: AutoX, AutoY"`` per config with an
    ``auto_map`` (:data:`CODE_CONFIGS`); empty for a model type in ``native`` (default: every type transformers
    implements), which loads with transformers' own classes whatever its ``auto_map`` says (old repositories keep
    one), for nothing here passes ``trust_remote_code=True`` to it."""
    folder = Path(location)
    if not folder.is_dir():
        return []
    model_type = json_object(folder / "config.json").get("model_type")
    if isinstance(model_type, str) and model_type in (transformers_types() if native is None else native):
        return []
    found = []
    for name in CODE_CONFIGS:
        auto_map = json_object(folder / name).get("auto_map")
        if auto_map:
            names = sorted(map(str, auto_map)) if isinstance(auto_map, dict) else [str(auto_map)[:60]]
            found.append(f"{name}: {', '.join(names)}")
    return found
