"""Meta's MMS-TTS (VITS) through transformers' ``VitsModel`` — one checkpoint per language.

A "voice" is a checkpoint: a Hub id (``facebook/mms-tts-deu``) or a local directory. VITS samples
durations and noise, so the seed matters and retries with new seeds give different readings.
MMS-TTS checkpoints are CC-BY-NC-4.0: the licence is recorded with every row.
"""

from __future__ import annotations

import threading
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.tts import Speech

DEFAULT_MODELS = {
    "en": "facebook/mms-tts-eng",
    "de": "facebook/mms-tts-deu",
    "es": "facebook/mms-tts-spa",
    "ar": "facebook/mms-tts-ara",
    "hi": "facebook/mms-tts-hin",
    "vi": "facebook/mms-tts-vie",
}


class MMSBackend:
    name = "mms"
    license = "CC-BY-NC-4.0 (MMS-TTS checkpoints)"

    def __init__(
        self, models: dict[str, str] | None = None, device: str = "cpu", noise_scale: float | None = None
    ) -> None:
        import torch  # noqa: F401  (fail early, as one line, if the models extra is missing)
        import transformers  # noqa: F401

        self.models = {**DEFAULT_MODELS, **(models or {})}
        self.device = device
        self.noise_scale = noise_scale
        self._loaded: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def voices(self, lang: str) -> list[str]:
        if lang not in self.models:
            raise AudioMLQAError(
                f"no MMS-TTS checkpoint configured for {lang!r}: set tts.{lang}.options.models.{lang} in the recipe"
            )
        return [self.models[lang]]

    def _load(self, checkpoint: str):
        with self._lock:
            if checkpoint not in self._loaded:
                from transformers import AutoTokenizer, VitsModel

                try:
                    local = Path(checkpoint).exists()
                    model = VitsModel.from_pretrained(checkpoint, local_files_only=local).to(self.device).eval()
                    tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=local)
                except (OSError, ValueError) as e:
                    raise AudioMLQAError(
                        f"cannot load MMS-TTS checkpoint {checkpoint!r}: {str(e).splitlines()[0][:200]}"
                    ) from None
                if getattr(tokenizer, "is_uroman", False):
                    try:
                        import uroman  # noqa: F401
                    except ImportError:
                        raise AudioMLQAError(f"{checkpoint} reads romanised text: pip install uroman") from None
                if self.noise_scale is not None:
                    model.noise_scale = self.noise_scale
                self._loaded[checkpoint] = (model, tokenizer)
            return self._loaded[checkpoint]

    def synthesize(self, text: str, lang: str, voice: str, *, seed: int = 0, rate: float = 1.0) -> Speech:
        import torch

        model, tokenizer = self._load(voice)
        if getattr(tokenizer, "is_uroman", False):
            import uroman

            text = uroman.Uroman().romanize_string(text)
        inputs = tokenizer(text, return_tensors="pt").to(self.device)
        if inputs["input_ids"].shape[-1] == 0:
            return Speech(torch.zeros(0).numpy(), model.config.sampling_rate)
        model.speaking_rate = rate
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            with torch.inference_mode():
                waveform = model(**inputs).waveform[0]
        finally:
            torch.random.set_rng_state(generator_state)
        return Speech(waveform.float().cpu().numpy(), model.config.sampling_rate)

    def voice_origin(self, lang: str) -> str:
        checkpoint = self.models.get(lang, "?")
        name = Path(checkpoint).name if Path(checkpoint).exists() else checkpoint  # a local folder: named only
        return f"MMS-TTS (VITS) {name}, one model per language trained on {lang} read speech"

    def describe(self) -> dict:
        import transformers

        return {
            "backend": self.name,
            "models": self.models,
            "transformers": transformers.__version__,
            "license": self.license,
        }
