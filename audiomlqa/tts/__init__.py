"""Text-to-speech backends behind one small protocol, loaded by name.

A backend turns (text, language, voice, seed, rate) into mono float audio. Backends live in their
own modules and import their heavy dependencies only when loaded, so a missing extra is reported
as one line naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from audiomlqa.plugins import load_plugin


@dataclass(frozen=True)
class Speech:
    """Mono audio as float32 in [-1, 1] at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@runtime_checkable
class TTSBackend(Protocol):
    name: str
    license: str
    """Licence of the voice/model that produced the audio: recorded per row and in the dataset card."""

    def voices(self, lang: str) -> list[str]:
        """Voices to try for ``lang``, best first (retries walk this list)."""
        ...

    def synthesize(self, text: str, lang: str, voice: str, *, seed: int = 0, rate: float = 1.0) -> Speech:
        """Speak ``text``; ``rate`` scales the speaking speed (1.0 = the voice's default)."""
        ...

    def describe(self) -> dict:
        """Versions and model ids, for run.json."""
        ...


BACKENDS = {
    "espeak": ("audiomlqa.tts.espeak", "EspeakBackend", "synth"),
    "kokoro": ("audiomlqa.tts.kokoro", "KokoroBackend", "synth"),
    "mms": ("audiomlqa.tts.mms", "MMSBackend", "models"),
    "coqui": ("audiomlqa.tts.coqui", "CoquiBackend", "coqui"),
}


def load_backend(name: str, **options) -> TTSBackend:
    """Instantiate backend ``name`` with its recipe ``options``."""
    return load_plugin("TTS", BACKENDS, name, options)
