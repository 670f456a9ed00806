"""Whisper through faster-whisper / CTranslate2 (CPU int8 by default), decoding a whole batch at once.

faster-whisper's ``transcribe`` handles one long recording with a temperature-fallback ladder; the
round-trip filter needs the opposite: many short clips, greedy, one pass. So clips are turned into
log-Mel features, padded to Whisper's 30 s window, encoded together and decoded together with
``generate`` (temperature 0, forced language, optional script prompt, capped length).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audiomlqa.asr import DEFAULT_PROMPTS, length_cap
from audiomlqa.errors import AudioMLQAError

_N_FRAMES = 3000


class FasterWhisperASR:
    name = "faster-whisper"

    def __init__(
        self,
        model: str | None = None,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
        beam_size: int = 1,
        beam_sizes: dict[str, int] | None = None,
        prompts: dict[str, str] | None = None,
    ) -> None:
        import faster_whisper
        from faster_whisper import WhisperModel

        from audiomlqa.asr import default_model

        if model is None:
            path, self.model_id = str(default_model.whisper_base_dir()), default_model.MODEL_ID
        else:
            path = self.model_id = model
        try:
            self.model = WhisperModel(
                path,
                device=device,
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                local_files_only=Path(path).exists(),
            )
        except Exception as e:  # CTranslate2/HF hub raise many types; report one line
            raise AudioMLQAError(
                f"cannot load Whisper model {model or path!r}: {str(e).splitlines()[0][:200]}"
            ) from None
        self.beam_size = beam_size
        self.beam_sizes = beam_sizes or {}
        self.prompts = DEFAULT_PROMPTS if prompts is None else prompts
        self.settings = {
            "compute_type": compute_type,
            "beam_size": beam_size,
            "beam_sizes": self.beam_sizes,
            "temperature": 0.0,
            "device": device,
            "prompts": self.prompts,
        }
        self._version = faster_whisper.__version__

    def _tokenizer(self, lang: str):
        from faster_whisper.tokenizer import Tokenizer

        if not self.model.model.is_multilingual and lang != "en":
            raise AudioMLQAError(f"Whisper model {self.model_id} is English-only; it cannot check {lang}")
        return Tokenizer(self.model.hf_tokenizer, True, task="transcribe", language=lang)

    def transcribe(self, audios: Sequence[np.ndarray], lang: str, references: Sequence[str]) -> list[str]:
        if not audios:
            return []
        tokenizer = self._tokenizer(lang)
        previous = tokenizer.encode(" " + self.prompts[lang].strip()) if self.prompts.get(lang) else []
        prompt = self.model.get_prompt(tokenizer, previous, without_timestamps=True)
        features = np.stack(
            [_pad_frames(self.model.feature_extractor(np.asarray(a, dtype=np.float32))[:, :-1]) for a in audios]
        )
        cap = max(length_cap(len(tokenizer.encode(r))) for r in references)
        results = self.model.model.generate(
            self.model.encode(features),
            [prompt] * len(audios),
            beam_size=self.beam_sizes.get(lang, self.beam_size),
            max_length=min(len(prompt) + cap, self.model.max_length),
            suppress_blank=True,
            suppress_tokens=[-1],
        )
        return [tokenizer.decode(r.sequences_ids[0]).strip() for r in results]

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model_id, "faster_whisper": self._version, **self.settings}


def _pad_frames(features: np.ndarray) -> np.ndarray:
    if features.shape[-1] > _N_FRAMES:
        return features[:, :_N_FRAMES]
    return np.pad(features, ((0, 0), (0, _N_FRAMES - features.shape[-1])))
