"""Coqui TTS (the maintained ``coqui-tts`` distribution of the ``TTS`` package): XTTS-v2 and other models.

A model is named as Coqui names it (``tts_models/multilingual/multi-dataset/xtts_v2``) or given as a
local directory holding ``config.json`` and the checkpoint. Voices are the model's speaker names
(XTTS-v2 ships several) or reference WAV files for voice cloning. XTTS samples, so the seed matters;
it also pads and occasionally invents words on short texts, which is what the ASR filter is for.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from audiomlqa.errors import AudioMLQAError
from audiomlqa.tts import Speech

XTTS_V2 = "tts_models/multilingual/multi-dataset/xtts_v2"
# Coqui's codes for MLQA languages (XTTS-v2 has no Vietnamese).
LANGUAGE_CODES = {"en": "en", "de": "de", "es": "es", "ar": "ar", "hi": "hi", "zh": "zh-cn", "vi": "vi"}


class CoquiBackend:
    name = "coqui"

    def __init__(
        self,
        model: str = XTTS_V2,
        device: str = "cpu",
        voices: dict[str, list[str]] | None = None,
        license: str | None = None,
    ) -> None:
        from TTS.api import TTS

        try:
            if Path(model).is_dir():
                checkpoint = next((p for p in sorted(Path(model).glob("*.pth")) if "speaker" not in p.name), None)
                self.tts = TTS(model_path=str(checkpoint or model), config_path=str(Path(model) / "config.json"))
            else:
                self.tts = TTS(model_name=model)
        except Exception as e:  # Coqui raises bare exceptions of many kinds when a model is missing
            raise AudioMLQAError(
                f"cannot load Coqui model {model!r}: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"
            ) from None
        self.tts.to(device)
        self.model = model
        self._voices = voices or {}
        self.license = license or (
            "CPML (Coqui Public Model License, non-commercial)" if "xtts" in model.lower() else "see the model card"
        )
        self._lock = threading.Lock()

    def voices(self, lang: str) -> list[str]:
        if lang in self._voices:
            return list(self._voices[lang])
        speakers = list(self.tts.speakers or [])
        return speakers[:4] if speakers else [""]

    def synthesize(self, text: str, lang: str, voice: str, *, seed: int = 0, rate: float = 1.0) -> Speech:
        import torch

        kwargs: dict = {}
        if self.tts.is_multi_lingual:
            kwargs["language"] = LANGUAGE_CODES.get(lang, lang)
        if voice.endswith(".wav"):
            if not Path(voice).exists():
                raise AudioMLQAError(f"reference voice file {voice} does not exist")
            kwargs["speaker_wav"] = voice
        elif voice:
            if self.tts.speakers is not None and voice not in self.tts.speakers:
                raise AudioMLQAError(
                    f"Coqui model {self.model} has no speaker {voice!r} (it has: {', '.join(self.tts.speakers[:5])}, …)"
                )
            kwargs["speaker"] = voice
        if rate != 1.0:
            kwargs["speed"] = rate
        with self._lock:
            state = torch.random.get_rng_state()
            torch.manual_seed(seed)
            try:
                wav = self.tts.tts(text=text, **kwargs)
            finally:
                torch.random.set_rng_state(state)
        return Speech(np.asarray(wav, dtype=np.float32), int(self.tts.synthesizer.output_sample_rate))

    def voice_origin(self, lang: str) -> str:
        if "xtts" in self.model.lower():
            return f"XTTS-v2 ({self.model}), a multilingual model trained on {lang} among its 17 languages"
        return f"Coqui model {self.model}"

    def describe(self) -> dict:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("coqui-tts")
        except PackageNotFoundError:
            v = "unknown"
        return {"backend": self.name, "model": self.model, "coqui_tts": v, "license": self.license}
