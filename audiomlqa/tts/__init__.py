"""Text-to-speech backends behind one small protocol, loaded by name.

A backend turns (text, language, voice, seed, rate) into mono float audio. Backends live in their
own modules and import their heavy dependencies only when loaded, so a missing extra is reported
as one line naming it.
"""

from __future__ import annotations

from typing import Annotated, Literal, Protocol, Union, runtime_checkable

from pydantic import Discriminator, Tag

from audiomlqa.audio import Speech
from audiomlqa.config import UNION_TAGS, Integer, Language, Number, Settings
from audiomlqa.utils.plugins import load_plugin

__all__ = ["BACKENDS", "Speech", "TTSBackend", "TTSChoice", "load_backend"]


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

    def voice_origin(self, lang: str) -> str:
        """Whose voice reads ``lang`` and what it was trained on, in one clause: the dataset card's Limitations
        say it, since a voice trained on another language reads with an accent."""
        ...


BACKENDS = {
    "espeak": ("audiomlqa.tts.espeak", "EspeakBackend", "synth"),
    "kokoro": ("audiomlqa.tts.kokoro", "KokoroBackend", "synth"),
    "mms": ("audiomlqa.tts.mms", "MMSBackend", "models"),
    "coqui": ("audiomlqa.tts.coqui", "CoquiBackend", "coqui"),
}


# -- what a recipe may say about a backend: its constructor's options, checked before it loads ---------------
# An option left out takes the backend's own default.


class EspeakOptions(Settings):
    voices: dict[Language, list[str]] | None = None


class KokoroOptions(Settings):
    threads: Integer | None = None


class MMSOptions(Settings):
    models: dict[Language, str] | None = None
    device: str | None = None
    noise_scale: Number | None = None


class CoquiOptions(Settings):
    model: str | None = None
    device: str | None = None
    voices: dict[Language, list[str]] | None = None
    license: str | None = None


class _Choice(Settings):
    voices: list[str] | None = None
    """Voices to walk on retries, best first (default: the backend's own list for the language)."""

    def constructor_options(self) -> dict:
        return self.options.model_dump(exclude_none=True)


class EspeakChoice(_Choice):
    backend: Literal["espeak"] = "espeak"
    options: EspeakOptions = EspeakOptions()


class KokoroChoice(_Choice):
    backend: Literal["kokoro"]
    options: KokoroOptions = KokoroOptions()


class MMSChoice(_Choice):
    backend: Literal["mms"]
    options: MMSOptions = MMSOptions()


class CoquiChoice(_Choice):
    backend: Literal["coqui"]
    options: CoquiOptions = CoquiOptions()


def _backend_tag(value) -> str | None:
    return value.get("backend", "espeak") if isinstance(value, dict) else getattr(value, "backend", None)


TTSChoice = Annotated[
    Union[
        Annotated[EspeakChoice, Tag("espeak")],
        Annotated[KokoroChoice, Tag("kokoro")],
        Annotated[MMSChoice, Tag("mms")],
        Annotated[CoquiChoice, Tag("coqui")],
    ],
    Discriminator(_backend_tag),
]
"""Which backend speaks a language, with which voices (retries walk them) and constructor options."""
UNION_TAGS.update(BACKENDS)


def load_backend(name: str, **options) -> TTSBackend:
    """Instantiate backend ``name`` with its recipe ``options``."""
    return load_plugin("TTS", BACKENDS, name, options)
