"""ASR backends for the round-trip filter: batched, language forced, decoding length capped.

``transcribe(audios, lang, references)`` takes 16 kHz mono float arrays and the texts that were
spoken; the references only bound the decoding length (``length_cap``), so a hallucination loop
cannot run for hundreds of tokens. They are never shown to the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from audiomlqa.plugins import load_plugin

SAMPLE_RATE = 16_000

# Initial prompts in the target script: without them Whisper base writes Hindi in Urdu or Latin
# script and Chinese in traditional characters.
DEFAULT_PROMPTS = {
    "zh": "以下是普通话的句子。",
    "hi": "यह हिंदी में एक प्रश्न है।",
    "ar": "هذا سؤال باللغة العربية.",
}


def length_cap(n_reference_tokens: int) -> int:
    """Most new tokens worth decoding for a reference of ``n`` tokens: 2× + 10."""
    return 2 * n_reference_tokens + 10


@runtime_checkable
class ASRBackend(Protocol):
    name: str
    model_id: str

    def transcribe(self, audios: Sequence[np.ndarray], lang: str, references: Sequence[str]) -> list[str]: ...

    def describe(self) -> dict: ...


BACKENDS = {
    "faster-whisper": ("audiomlqa.asr.faster_whisper", "FasterWhisperASR", "synth"),
    "transformers": ("audiomlqa.asr.transformers_whisper", "TransformersWhisperASR", "models"),
}


def load_asr(name: str = "faster-whisper", **options) -> ASRBackend:
    return load_plugin("ASR", BACKENDS, name, options)
