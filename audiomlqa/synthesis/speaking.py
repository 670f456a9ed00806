"""Speaking the questions: how each attempt is spoken (voice, seed and rate from :func:`plan_attempt`), each
question language's TTS loaded once (:func:`load_voices`), and the pool that speaks a batch in this process or
in worker processes, on a background thread so that the ASR can judge one batch while the next is spoken
(:func:`tts_pool`), and what the ASR hears in a spoken batch (:func:`listen`, the same on the driver and in a Ray
actor: :mod:`.on_ray`). What the judge then decides is :mod:`audiomlqa.synthesis.pipeline`'s business.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from audiomlqa.asr import Heard, hear
from audiomlqa.audio import prepare
from audiomlqa.instructions import speech_text
from audiomlqa.sources import Question
from audiomlqa.synthesis.config import SynthesisConfig
from audiomlqa.tasks import INSTRUCTION
from audiomlqa.tts import TTSChoice, load_backend


def spoken_text(question: str) -> str:
    """What the TTS is given (recorded in every row): the question with whitespace collapsed and the
    literal "\\n" escapes that some MLQA questions carry removed (eSpeak reads them out as "backslash n")."""
    return " ".join(question.replace("\\n", " ").split())


def text_to_speak(q: Question) -> str:
    """What the TTS is given for ``q``: an instruction loses its markdown first
    (:func:`audiomlqa.instructions.speech_text`)."""
    return spoken_text(speech_text(q.question) if q.task == INSTRUCTION else q.question)


@dataclass(frozen=True)
class AttemptPlan:
    """How attempt ``k`` of a question is spoken."""

    voice: str
    seed: int
    rate: float


def plan_attempt(voices: Sequence[str], rates: Sequence[float], seed: int, k: int) -> AttemptPlan:
    """Attempt ``k`` walks the voices first, then the rates; the seed changes every attempt."""
    return AttemptPlan(voices[k % len(voices)], seed + k, rates[(k // len(voices)) % len(rates)])


# -- TTS, possibly in worker processes ------------------------------------------------------------

_LOADED_TTS: dict = {}
"""Backends loaded in this process (main or worker), so each is loaded once per process."""


def _tts_backend(backend: str, options: dict):
    key = backend, repr(sorted(options.items()))
    if key not in _LOADED_TTS:
        _LOADED_TTS[key] = load_backend(backend, **options)
    return _LOADED_TTS[key]


def speak_clip(backend: str, options: dict, text: str, lang: str, plan: AttemptPlan):
    """Synthesize + post-process one clip; runs in the main process or a worker."""
    t0 = time.perf_counter()
    speech = _tts_backend(backend, options).synthesize(text, lang, plan.voice, seed=plan.seed, rate=plan.rate)
    return prepare(speech), time.perf_counter() - t0


@dataclass
class Voice:
    """A question language's TTS as loaded for a run: the choice, the voices to walk, what run.json says of it."""

    choice: TTSChoice
    voices: list[str]
    info: dict

    def job(self, text: str, lang: str, plan: AttemptPlan) -> tuple:
        return self.choice.backend, self.choice.constructor_options(), text, lang, plan


def load_voices(cfg: SynthesisConfig, languages: set[str]) -> dict[str, Voice]:
    """Every question language's backend, loaded before any work (a missing extra or voice fails early)."""
    out = {}
    for lang in sorted(languages):
        choice = cfg.tts_for(lang)
        backend = _tts_backend(choice.backend, choice.constructor_options())
        voices = choice.voices or backend.voices(lang)
        origin = backend.voice_origin(lang) if hasattr(backend, "voice_origin") else ""  # a plugin may not say
        info = {**backend.describe(), "voices": voices, "license": backend.license, "voice_origin": origin}
        out[lang] = Voice(choice, voices, info)
    return out


def _clean_start():
    """Worker processes start from a clean interpreter, not a fork of this one: this process runs threads (the
    TTS producer, CTranslate2's) and may hold a CUDA context, and a fork inherits neither safely."""
    return multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )


@contextmanager
def tts_pool(workers: int, overlap: bool = True) -> Iterator[Callable[[list], Future]]:
    """``submit(jobs)`` → a future of their clips, spoken in ``workers`` processes (or this one). With ``overlap``
    the speaking runs on a background thread, so the ASR can listen to one batch while the next is spoken (TTS
    on CPU, ASR on the GPU: neither waits for the other); the TTS engines and CTranslate2 release the GIL."""
    pool = ProcessPoolExecutor(workers, mp_context=_clean_start()) if workers > 1 else None
    stop = threading.Event()  # set on the way out (an error, Ctrl-C): the batch being spoken stops at its next clip

    def speak(jobs: list) -> list:
        if pool is not None:
            return list(pool.map(speak_clip, *zip(*jobs)))
        clips = []
        for job in jobs:
            if stop.is_set():
                raise CancelledError
            clips.append(speak_clip(*job))
        return clips

    def at_once(jobs: list) -> Future:
        done: Future = Future()
        done.set_result(speak(jobs))
        return done

    runner = ThreadPoolExecutor(1, thread_name_prefix="audiomlqa-tts") if overlap else None
    try:
        yield (lambda jobs: runner.submit(speak, jobs)) if runner is not None else at_once
    finally:
        stop.set()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if runner is not None:
            runner.shutdown(wait=True, cancel_futures=True)
        if pool is not None:
            pool.shutdown(wait=True)


@dataclass
class Spoken:
    """A batch handed to the TTS: which attempt of which question, how each is spoken, and the clips to come."""

    lang: str
    batch: list[tuple[Question, int]]
    plans: list[AttemptPlan]
    texts: list[str]
    clips: Future
    heard: Future | None = None
    """What the ASR heard (:func:`listen`'s answer) where an engine hears a batch as soon as it is spoken; None:
    the driver listens when it judges the batch."""


def speak_batch(
    lang: str, batch: list[tuple[Question, int]], cfg: SynthesisConfig, voice: Voice, submit, listen_to=None
) -> Spoken:
    """Hand one more attempt at each question of ``batch`` (question, attempt number) to the TTS (and, with
    ``listen_to``, the clips to come straight on to the ASR)."""
    plans = [plan_attempt(voice.voices, cfg.rates, cfg.seed, k) for _, k in batch]
    texts = [text_to_speak(q) for q, _ in batch]
    clips = submit([voice.job(t, lang, p) for t, p in zip(texts, plans)])
    return Spoken(lang, batch, plans, texts, clips, listen_to(lang, texts, clips) if listen_to else None)


def listen(asr, lang: str, texts: Sequence[str], clips: Sequence[tuple]) -> tuple[dict[int, Heard], float]:
    """What the ASR hears in each clip that has audio and text (by position in the batch; a leaked script prompt
    stripped and said), and its seconds per clip."""
    t0 = time.perf_counter()
    audible = [i for i, (speech, _) in enumerate(clips) if len(speech.samples) and texts[i]]
    heard = hear(asr, [clips[i][0].samples for i in audible], lang, [texts[i] for i in audible]) if audible else []
    return dict(zip(audible, heard)), (time.perf_counter() - t0) / max(1, len(audible))
