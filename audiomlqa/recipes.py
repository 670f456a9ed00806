"""Recipes: YAML files whose keys are the settings of a library function's config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from audiomlqa.errors import AudioMLQAError


def load_recipe(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AudioMLQAError(f"{path}: no such recipe") from None
    except yaml.YAMLError as e:
        raise AudioMLQAError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AudioMLQAError(f"{path}: a recipe is a YAML mapping of settings")
    return data


def check_settings(config_class: type, data: dict, what: str) -> None:
    """Refuse keys that are not fields of the dataclass ``config_class`` (a typo must not be ignored)."""
    if not isinstance(data, dict):
        raise AudioMLQAError(f"{what} settings must be a mapping, not {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise AudioMLQAError(f"unknown {what} setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
