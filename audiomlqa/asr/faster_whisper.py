"""Whisper through faster-whisper / CTranslate2 (CPU int8 by default), decoding a whole batch at once.

faster-whisper's ``transcribe`` handles one long recording with a temperature-fallback ladder; the
round-trip filter needs the opposite: many short clips, greedy, one pass. So clips are turned into
log-Mel features, padded to Whisper's 30 s window, encoded together and decoded together with
``generate`` (temperature 0, forced language, optional script prompt, capped length); a leaked copy of the
prompt is stripped from what was heard (:mod:`audiomlqa.asr.prompts`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audiomlqa.asr import DEFAULT_PROMPTS, length_cap
from audiomlqa.asr.prompts import Heard, checked
from audiomlqa.errors import AudioMLQAError
from audiomlqa.weights import whisper_base

_N_FRAMES = 3000


def ctranslate2_device(device: str) -> tuple[str, int]:
    """``cuda:N`` as CTranslate2 wants it: the device type and ``device_index`` apart. A bare ``cuda`` in a
    process of a multi-process launch (``torchrun``, ``accelerate launch``: ``WORLD_SIZE`` > 1) is that process's own
    GPU, ``LOCAL_RANK``, as :func:`audiomlqa.llm.devices.resolve_device` places the LLMs."""
    kind, _, index = device.partition(":")
    if kind != "cuda":
        if index:
            raise AudioMLQAError(f"unknown ASR device {device!r}: use cpu, cuda or cuda:N")
        return kind, 0
    if index:
        if not index.isdigit():
            raise AudioMLQAError(f"unknown ASR device {device!r}: use cpu, cuda or cuda:N")
        return "cuda", int(index)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return "cuda", int(os.environ.get("LOCAL_RANK", "0"))
    return "cuda", 0


def model_arguments(path: str, device: str, compute_type: str, cpu_threads: int) -> dict:
    """The keyword arguments ``faster_whisper.WhisperModel`` is built with (a pure function, so tests can check
    the GPU each process gets without one)."""
    kind, index = ctranslate2_device(device)
    return {
        "model_size_or_path": path,
        "device": kind,
        "device_index": index,
        "compute_type": compute_type,
        "cpu_threads": cpu_threads,
        "local_files_only": Path(path).exists(),
    }


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

        if model is None:
            path, self.model_id = str(whisper_base.whisper_base_dir()), whisper_base.MODEL_ID
        else:
            path = self.model_id = model
        try:
            self.model = WhisperModel(**model_arguments(path, device, compute_type, cpu_threads))
        except AudioMLQAError:
            raise
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
        return [heard.text for heard in self.transcribe_checked(audios, lang, references)]

    def transcribe_checked(self, audios: Sequence[np.ndarray], lang: str, references: Sequence[str]) -> list[Heard]:
        """What was heard in each clip, and whether a leaked copy of the prompt was stripped from it."""
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
        texts = [tokenizer.decode(r.sequences_ids[0]).strip() for r in results]
        return checked(texts, self.prompts.get(lang), references)

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model_id, "faster_whisper": self._version, **self.settings}


def _pad_frames(features: np.ndarray) -> np.ndarray:
    if features.shape[-1] > _N_FRAMES:
        return features[:, :_N_FRAMES]
    return np.pad(features, ((0, 0), (0, _N_FRAMES - features.shape[-1])))
