"""Putting a published dataset folder on the Hugging Face Hub as a dataset repository."""

from __future__ import annotations

from pathlib import Path

from audiomlqa import __version__
from audiomlqa.weights.hub import push


def upload(folder: Path, repo_id: str, *, private: bool = False, only: list[str] | None = None) -> str:
    """Upload a published folder to the Hub as a dataset repo (token never printed or written); ``only`` limits
    it to those files."""
    message = f"Audio-MLQA from audiomlqa {__version__}"
    return push(folder, repo_id, repo_type="dataset", message=message, private=private, only=only)
