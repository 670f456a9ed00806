"""ASR backends for the round-trip filter: batched, language forced, decoding length capped.

``transcribe(audios, lang, references)`` takes 16 kHz mono float arrays and the texts that were
spoken; the references only bound the decoding length (``length_cap``), so a hallucination loop
cannot run for hundreds of tokens, and keep a configured prompt's words that were really said from being
taken for a leaked prompt (:mod:`.prompts`). They are never shown to the model. ``transcribe_checked`` says
per clip whether a leaked prompt was stripped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, Protocol, Union, runtime_checkable

import numpy as np
from pydantic import Discriminator, Tag

from audiomlqa.asr.prompts import Heard, strip_leaked_prompt
from audiomlqa.audio import SAMPLE_RATE
from audiomlqa.config import UNION_TAGS, Integer, Language, Settings
from audiomlqa.utils.plugins import load_plugin

__all__ = [
    "ASRBackend",
    "ASRSettings",
    "BACKENDS",
    "DEFAULT_PROMPTS",
    "Heard",
    "hear",
    "SAMPLE_RATE",
    "length_cap",
    "load_asr",
    "strip_leaked_prompt",
]

# Initial prompts in the target script: without them Whisper base writes Hindi in Urdu or Latin
# script and Chinese in traditional characters. On speech it cannot hear, Whisper transcribes the prompt
# itself: every backend strips a leaked copy and reports it (transcribe_checked, :mod:`.prompts`).
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


def hear(asr: ASRBackend, audios: Sequence[np.ndarray], lang: str, references: Sequence[str]) -> list[Heard]:
    """What ``asr`` hears, each with whether a leaked prompt was stripped: backends that strip one say so with
    ``transcribe_checked`` (optional: a plugin backend with ``transcribe`` only reports none)."""
    if hasattr(asr, "transcribe_checked"):
        return list(asr.transcribe_checked(audios, lang, references))
    return [Heard(text) for text in asr.transcribe(audios, lang, references)]


def load_asr(name: str = "faster-whisper", **options) -> ASRBackend:
    return load_plugin("ASR", BACKENDS, name, options)


# -- what a recipe or spec may say about the ASR: the backend's options, checked before it loads ----------
# An option left out takes the backend's own default.


class _WhisperSettings(Settings):
    model: str | None = None
    """Local path or Hub id (default: multilingual Whisper base from PyPI)."""
    device: str | None = None
    beam_size: Integer | None = None
    beam_sizes: dict[Language, Integer] | None = None
    """Per-language beam sizes where they differ from ``beam_size``."""
    prompts: dict[Language, str] | None = None
    """Per-language initial prompts in the target script (default: zh, hi, ar). A leaked copy of one is
    stripped from the transcript."""

    def load(self) -> ASRBackend:
        return load_asr(self.backend, **self.model_dump(exclude={"backend"}, exclude_none=True))


class FasterWhisperSettings(_WhisperSettings):
    backend: Literal["faster-whisper"] = "faster-whisper"
    compute_type: str | None = None
    cpu_threads: Integer | None = None


class TransformersWhisperSettings(_WhisperSettings):
    backend: Literal["transformers"]
    dtype: Literal["float32", "float16", "bfloat16"] | None = None


def _backend_tag(value) -> str | None:
    return value.get("backend", "faster-whisper") if isinstance(value, dict) else getattr(value, "backend", None)


ASRSettings = Annotated[
    Union[
        Annotated[FasterWhisperSettings, Tag("faster-whisper")],
        Annotated[TransformersWhisperSettings, Tag("transformers")],
    ],
    Discriminator(_backend_tag),
]
UNION_TAGS.update(BACKENDS)
