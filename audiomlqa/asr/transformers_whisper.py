"""Whisper through transformers (any checkpoint: Hub id or local directory), batched ``generate``.

Use it for Whisper sizes not available in CTranslate2 form, or on GPU. Decoding is greedy by default,
language forced, length capped from the reference, with the same script prompts as faster-whisper, and the
same stripping of a leaked prompt (:mod:`audiomlqa.asr.prompts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audiomlqa.asr import DEFAULT_PROMPTS, SAMPLE_RATE, length_cap
from audiomlqa.asr.prompts import Heard, checked
from audiomlqa.errors import AudioMLQAError
from audiomlqa.weights.ct2_convert import whisper_base_transformers_dir
from audiomlqa.weights.whisper_base import MODEL_ID


class TransformersWhisperASR:
    name = "transformers"

    def __init__(
        self,
        model: str | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        beam_size: int = 1,
        beam_sizes: dict[str, int] | None = None,
        prompts: dict[str, str] | None = None,
    ) -> None:
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        model_id = model
        if model is None:  # the PyPI Whisper base, converted from CTranslate2 once
            model, model_id = str(whisper_base_transformers_dir()), f"{MODEL_ID}, converted to transformers"
        local = Path(model).exists()
        try:
            self.processor = WhisperProcessor.from_pretrained(model, local_files_only=local)
            self.model = WhisperForConditionalGeneration.from_pretrained(
                model, local_files_only=local, dtype=getattr(torch, dtype)
            )
        except (OSError, ValueError) as e:
            raise AudioMLQAError(f"cannot load Whisper model {model!r}: {str(e).splitlines()[0][:200]}") from None
        self.model.to(device).eval()
        self.device, self.dtype = device, getattr(torch, dtype)
        self.model_id = model_id
        self.beam_size = beam_size
        self.beam_sizes = beam_sizes or {}
        self.prompts = DEFAULT_PROMPTS if prompts is None else prompts
        self.settings = {
            "device": device,
            "dtype": dtype,
            "beam_size": beam_size,
            "beam_sizes": self.beam_sizes,
            "temperature": 0.0,
            "prompts": self.prompts,
        }

    def transcribe(self, audios: Sequence[np.ndarray], lang: str, references: Sequence[str]) -> list[str]:
        return [heard.text for heard in self.transcribe_checked(audios, lang, references)]

    def transcribe_checked(self, audios: Sequence[np.ndarray], lang: str, references: Sequence[str]) -> list[Heard]:
        """What was heard in each clip, and whether a leaked copy of the prompt was stripped from it."""
        import torch

        if not audios:
            return []
        tokenizer = self.processor.tokenizer
        features = self.processor.feature_extractor(
            [np.asarray(a, dtype=np.float32) for a in audios], sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features.to(self.device, self.dtype)
        cap = max(length_cap(len(tokenizer(r, add_special_tokens=False).input_ids)) for r in references)
        kwargs = {}
        start = 4  # <|startoftranscript|> <|lang|> <|transcribe|> <|notimestamps|>
        if self.prompts.get(lang):
            kwargs["prompt_ids"] = torch.as_tensor(
                self.processor.get_prompt_ids(self.prompts[lang]), device=self.device
            )
            start += len(kwargs["prompt_ids"])
        # the decoder has max_target_positions positions in all (448 for real Whisper): never ask for more
        cap = max(1, min(cap, self.model.config.max_target_positions - start - 1))
        with torch.inference_mode():
            out = self.model.generate(
                features,
                language=lang,
                task="transcribe",
                max_new_tokens=cap,
                num_beams=self.beam_sizes.get(lang, self.beam_size),
                do_sample=False,
                **kwargs,
            )
        texts = self.processor.batch_decode(out, skip_special_tokens=True)
        prompt = self.prompts.get(lang, "").strip()
        texts = [t.strip().removeprefix(prompt).strip() if prompt else t.strip() for t in texts]
        return checked(texts, prompt, references)

    def describe(self) -> dict:
        import transformers

        return {"backend": self.name, "model": self.model_id, "transformers": transformers.__version__, **self.settings}
