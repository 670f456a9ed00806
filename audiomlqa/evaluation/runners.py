"""The runners that answer Audio-MLQA, one per spec kind, behind one interface.

Every runner follows :class:`Runner`: it receives :class:`Item` batches (which carry the shared prompt, so every
model is asked the same thing) and returns :class:`Answers` (one raw output per item, in order, the transcripts it
heard, if it transcribes, and which prompts did not fit). The same extraction is applied to every output afterwards.
:func:`load_runner` builds a spec's runner where :func:`~audiomlqa.evaluation.specs.placement` says (device, dtype,
device map): the built-in ones (:data:`RUNNERS`) or a user's adapter class.

Every runner knows its model's context window (:mod:`audiomlqa.llm.window`): a prompt whose tokens plus
``max_new_tokens`` do not fit is never answered; its item is marked over window (an empty answer, counted and
scored as no answer). In-process models read the window from their config (else their tokenizer); a served model's
is its server's (it refuses such a prompt, or lists ``max_model_len``) or the spec's ``context_window``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.prompts import fill_question
from audiomlqa.evaluation.specs import (
    BUILTIN_KINDS,
    AdapterSpec,
    ApiSpec,
    AudioChatSpec,
    CascadeSpec,
    ModelSpec,
    Placement,
    SpeechLLMSpec,
    TextSpec,
    adapter_class,
    audiochat_location,
    placed_asr,
    placement,
    speechllm_checkpoint,
)
from audiomlqa.llm.api import audio_content
from audiomlqa.llm.audiochat import AudioChatLLM, inspect
from audiomlqa.llm.loading import refuse_repository_code
from audiomlqa.llm.text import TextLLM
from audiomlqa.tasks import EXTRACTIVE_QA

# -- the interface every runner follows -------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One question to answer, as every model gets it.

    ``prompt`` is the shared prompt with the written question; ``speech_prompt`` the same prompt with
    :data:`~audiomlqa.llm.SPEECH` where the question goes (for models that hear it, or that put a
    transcript there: :func:`~audiomlqa.evaluation.prompts.fill_question`). ``audio`` is the spoken question, 16 kHz
    mono float32, for runners whose ``needs_audio`` is true (None otherwise). A batch may mix configs.
    """

    id: str
    context: str
    question: str
    audio: np.ndarray | None
    context_lang: str
    question_lang: str
    prompt: str
    speech_prompt: str
    task: str = EXTRACTIVE_QA
    """``extractive-qa`` or ``instruction`` (:mod:`audiomlqa.tasks`): a batch holds one task."""


@dataclass
class Answers:
    """What a runner returns for a batch: one raw output per item, in order, and (a cascade) what it heard."""

    texts: list[str]
    transcripts: list[str] | None = None
    over_window: list[bool] | None = None
    """Per item: its prompt did not fit the model's context window, so it got no answer (its text is empty)."""

    @classmethod
    def of(cls, outputs: Sequence[str | None], transcripts: list[str] | None = None) -> Answers:
        """From one output per item, None where the prompt did not fit the window."""
        return cls([t or "" for t in outputs], transcripts, [t is None for t in outputs])


@runtime_checkable
class Runner(Protocol):
    """A model that answers Audio-MLQA. Built as ``Class(spec: dict, base: Path | None)``; ``base`` is the
    spec file's folder (relative paths in a spec may resolve from there)."""

    needs_audio: bool

    def answer(self, items: Sequence[Item]) -> Answers: ...

    def describe(self) -> dict:
        """What ran (model ids, settings, versions): recorded with every cached prediction."""
        ...


def load_runner(spec: ModelSpec, where: Placement | None = None) -> Runner:
    """Build the spec's runner at ``where`` (default: resolved from the spec). A user's adapter gets the spec as a
    dict, with ``device`` and ``dtype`` resolved."""
    where = where or placement(spec)
    resolved = {"device": where.device, "dtype": where.dtype}
    if isinstance(spec.fields, AdapterSpec):
        limits = {"max_new_tokens": spec.fields.max_new_tokens, "generation": spec.fields.generation}
        return adapter_class(spec)({**spec.data, **limits, **resolved}, base=spec.path.parent)
    return RUNNERS[spec.kind](spec.fields.model_copy(update=resolved), base=spec.path.parent)


def as_answers(result: Answers | Sequence[str | None]) -> Answers:
    """A runner's result as :class:`Answers` (a plain list is answers without transcripts, None where the prompt
    did not fit the model's window)."""
    if isinstance(result, Answers):
        return result
    if isinstance(result, (list, tuple)) and all(x is None or isinstance(x, str) for x in result):
        return Answers.of(result)
    raise AudioMLQAError(
        f"a runner returned {type(result).__name__}: return Answers(texts, transcripts) or a list of str (None: over "
        "the context window)"
    )


# -- the built-in runners --------------------------------------------------------------------------------


def _text_llm(spec: TextSpec | CascadeSpec) -> TextLLM:
    return TextLLM(
        spec.llm,
        prompt_mode=spec.prompt_mode,
        dtype=spec.dtype,
        max_new_tokens=spec.max_new_tokens,
        generation=spec.generation,
        prefill=spec.prefill,
        device=spec.device,
        device_map=spec.device_map,
    )


def _transcribe(asr, items: Sequence[Item]) -> list[str]:
    """What the ASR hears in each item's audio (language forced, one batch per question language)."""
    heard = [""] * len(items)
    for lang in sorted({x.question_lang for x in items}):
        idx = [i for i, x in enumerate(items) if x.question_lang == lang]
        # the length cap needs a reference length only: the ASR never sees the written question
        texts = asr.transcribe([items[i].audio for i in idx], lang, [items[i].question for i in idx])
        for i, text in zip(idx, texts):
            heard[i] = text
    return heard


class TextRunner:
    """The text-only topline: the LLM reads the written question."""

    needs_audio = False

    def __init__(self, spec: TextSpec, base: Path | None = None) -> None:
        self.llm = _text_llm(spec)

    def answer(self, items: Sequence[Item]) -> Answers:
        return Answers.of(self.llm.generate([x.prompt for x in items]))

    def describe(self) -> dict:
        return {"kind": "text", **self.llm.describe()}


class CascadeRunner:
    """Whisper → LLM: the spoken question is transcribed (language forced), then answered as text."""

    needs_audio = True

    def __init__(self, spec: CascadeSpec, base: Path | None = None) -> None:
        refuse_repository_code(spec.llm)  # before the ASR loads, for nothing would use it
        self.asr = placed_asr(spec).load()
        self.llm = _text_llm(spec)

    def answer(self, items: Sequence[Item]) -> Answers:
        heard = _transcribe(self.asr, items)
        prompts = [fill_question(x.speech_prompt, t) for x, t in zip(items, heard)]
        return Answers.of(self.llm.generate(prompts), heard)

    def describe(self) -> dict:
        return {"kind": "cascade", "asr": self.asr.describe(), **self.llm.describe()}


class SpeechLLMRunner:
    """An audiomlqa Speech LLM checkpoint: the audio goes where the prompt's question would be."""

    needs_audio = True

    def __init__(self, spec: SpeechLLMSpec, base: Path | None = None) -> None:
        import torch

        from audiomlqa.speechllm import SpeechLLM  # torch: imported when this runner runs, not when scores are read

        self.checkpoint = speechllm_checkpoint(
            base / "spec.json" if base is not None else Path("spec.json"), spec.checkpoint
        )
        dtype = getattr(torch, spec.dtype) if spec.dtype != "auto" else None
        self.model = SpeechLLM.from_pretrained(
            self.checkpoint, whisper=spec.whisper, llm=spec.llm, dtype=dtype, device=spec.device
        )
        self.generation = {"max_new_tokens": spec.max_new_tokens, "do_sample": False, **spec.generation}
        self.prefill = spec.prefill

    def answer(self, items: Sequence[Item]) -> Answers:
        prompts = [x.speech_prompt for x in items]
        return Answers.of(
            self.model.generate([x.audio for x in items], prompts, prefill=self.prefill, **self.generation)
        )

    def describe(self) -> dict:
        cfg = self.model.config
        return {
            "kind": "speechllm",
            "checkpoint": str(self.checkpoint),
            "whisper": cfg.whisper,
            "llm": cfg.llm,
            "gate": cfg.gate,
            "selection": cfg.selection,
            "num_banks": cfg.num_banks,
            "generation": self.generation,
            "prefill": self.prefill,
            "context_window": self.model.window,
        }


class AudioChatRunner:
    """An audio chat model transformers implements: its own processor and chat template, the audio where the
    question goes (or where its official usage puts it: the spec's ``prompt``)."""

    needs_audio = True

    def __init__(self, spec: AudioChatSpec, base: Path | None = None) -> None:
        base = base if base is not None else Path(".")
        self.checkpoint, self.revision = spec.checkpoint, spec.revision
        configs = audiochat_location(base, spec, fetch=True, weights=False)
        if audiochat_location(base, spec, fetch=False) is None:  # a Hub one is checked before its weights come
            inspect(str(configs), trust_remote_code=spec.trust_remote_code)
        location = audiochat_location(base, spec, fetch=True)  # (a folder is inspected once, by AudioChatLLM)
        self.llm = AudioChatLLM(
            str(location),
            trust_remote_code=spec.trust_remote_code,
            system_prompt=spec.system_prompt,
            dtype=spec.dtype,
            device=spec.device,
            device_map=spec.device_map,
            max_new_tokens=spec.max_new_tokens,
            generation=spec.generation,
            prompt=spec.prompt,
            checkpoint_id=spec.checkpoint,  # a Hub id names a checkpoint's own usage (SeaLLMs-Audio's)
        )

    def answer(self, items: Sequence[Item]) -> Answers:
        return Answers.of(self.llm.generate([x.speech_prompt for x in items], [x.audio for x in items]))

    def describe(self) -> dict:
        return {"kind": "audiochat", **self.llm.describe(), "checkpoint": self.checkpoint, "revision": self.revision}


class ApiRunner:
    """A served model: the shared prompt goes out as a chat message (with the transcript or the audio where the
    question goes, when ``question`` says so), ``concurrency`` requests at a time."""

    def __init__(self, spec: ApiSpec, base: Path | None = None) -> None:
        self.question = spec.question
        self.needs_audio = spec.question != "text"
        self.api = spec.client()
        self.api.check()
        self.asr = placed_asr(spec).load() if spec.question == "transcript" else None

    def answer(self, items: Sequence[Item]) -> Answers:
        if self.question == "audio":
            return Answers.of(self.api.complete([audio_content(x.speech_prompt, x.audio) for x in items]))
        if self.question == "transcript":
            heard = _transcribe(self.asr, items)
            prompts = [fill_question(x.speech_prompt, t) for x, t in zip(items, heard)]
            return Answers.of(self.api.complete(prompts), heard)
        return Answers.of(self.api.complete([x.prompt for x in items]))

    def describe(self) -> dict:
        return {
            "kind": "api",
            "question": self.question,
            **self.api.describe(),
            **({"asr": self.asr.describe()} if self.asr else {}),
        }


RUNNERS: dict[str, type] = {
    "text": TextRunner,
    "cascade": CascadeRunner,
    "speechllm": SpeechLLMRunner,
    "api": ApiRunner,
    "audiochat": AudioChatRunner,
}
"""The runner of each built-in kind (:data:`~audiomlqa.evaluation.specs.BUILTIN_KINDS`)."""
assert RUNNERS.keys() == BUILTIN_KINDS.keys()
