"""Spoken MLQA questions: TTS → loudness → 16 kHz → ASR → WER/CER → accept, retry or reject.

:func:`synthesize` is the whole job as a library function; ``audiomlqa synthesize`` only builds a
:class:`SynthesisConfig` from a recipe and options. Output directory::

    audio/<pair>/<safe id>-<attempt>.flac   every attempt's audio (the manifest says which one stands)
    manifest[-i-of-N].jsonl                 append-only, one row per attempt, every decision recorded
    questions[-i-of-N].jsonl                the selected questions (context, answers) — self-contained
    run[-i-of-N].json                       configuration, tool and model versions
    summary[-i-of-N].json                   per-pair table (also printed)
    figures/errors[-i-of-N].png             TTS vs human-speech error per language, threshold marked
    figures/pass-rate[-i-of-N].png          pass rate and attempts per pair

Resuming is reading the manifest: a question is finished once an attempt is accepted or
``max_attempts`` were made; a rerun of the same command does the rest. Work is split between
machines by ``shard=(i, N)``: question (pair, id) belongs to shard ``sha256(pair:id) mod N``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from audiomlqa import __version__
from audiomlqa.asr import ASRSettings, FasterWhisperSettings
from audiomlqa.config import Integer, Language, Number, Settings, as_validator, parse
from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import pair_key, parse_pair
from audiomlqa.manifest import (
    Attempt,
    RunRecord,
    ThresholdRule,
    append_rows,
    latest,
    read_manifest,
    repair,
    standing_attempts,
)
from audiomlqa.sources import PACKAGED_SAMPLE, Question, load_questions
from audiomlqa.synthesis.calibration import DEFAULT_QUANTILE, DEFAULT_SCALE, Reference
from audiomlqa.tts import EspeakChoice, KokoroChoice, TTSChoice
from audiomlqa.utils.files import jsonable, write_json, write_jsonl
from audiomlqa.utils.progress import progress_bar
from audiomlqa.utils.tables import Table
from audiomlqa.utils.versions import package_versions

DEFAULT_OUTPUT = "audio-mlqa-sample"
DEFAULT_THRESHOLDS = {"en": 0.2, "de": 0.2, "es": 0.2, "hi": 0.35, "zh": 0.35, "ar": 0.6, "vi": 0.7}
"""WER (en, de, es, vi) or CER (hi, zh, ar) at or below which a clip is accepted. ar and vi are relaxed:
Whisper base cannot check them (see DEFAULT_UNVERIFIED), so the filter only catches gross failures."""
DEFAULT_ASR = {"backend": "faster-whisper", "beam_sizes": {"de": 5, "hi": 5}}
"""Greedy decoding, except beam 5 where it measurably helps Whisper base: on the packaged sample's
Kokoro clips it doubled the clips that pass (de 1 → 5 of 28, hi 2 → 6 of 26)."""
DEFAULT_UNVERIFIED = ["ar", "vi"]
"""Languages whose round trip Whisper base cannot verify: rows are marked ``verified: false``."""


class CalibrationRule(Settings):
    """Thresholds from ``audiomlqa calibrate``: per calibrated language, ``scale`` × the ``quantile`` of the ASR's
    error on human speech (:mod:`audiomlqa.synthesis.calibration`); other languages keep their fixed threshold.

    Validation reads no file: it only recomputes each recorded language's threshold from its recorded errors (so
    an override of ``quantile`` or ``scale`` takes effect). :meth:`loaded` reads the file's measurements in
    (``reference``, ``sha256``, ``asr_settings`` and each language's errors in ``languages``) — when there are none
    yet, or the file's checksum differs from the recorded one — so run.json records them and a resumed run must
    match them; :func:`resolve_calibration` is the one place that calls it."""

    file: str | None = None
    """The calibration file; it may move between a run and its resumption (the record keeps its numbers)."""
    quantile: Number = Field(DEFAULT_QUANTILE, gt=0, le=1)
    scale: Number = Field(DEFAULT_SCALE, gt=0)
    reference: str = ""
    sha256: str = ""
    asr_settings: dict = Field(default_factory=dict)
    languages: dict[Language, dict] = Field(default_factory=dict)
    """Language → threshold and the human-speech numbers behind it, errors included."""

    @model_validator(mode="after")
    def _recompute(self) -> CalibrationRule:
        from audiomlqa.synthesis.calibration import language_numbers

        if self.file is None and not self.languages:
            raise ValueError("give the calibration file: calibration.file or --calibration FILE")
        try:
            self.languages = {
                lang: language_numbers(e["errors"], e["metric"], self.quantile, self.scale)
                for lang, e in self.languages.items()
            }
        except (KeyError, TypeError):
            raise ValueError("the recorded calibration is damaged: give the calibration file again") from None
        return self

    def loaded(self) -> CalibrationRule:
        """This rule with its file's measurements read in (itself when they are already the file's)."""
        from audiomlqa.synthesis.calibration import calibrated_thresholds, read_calibration
        from audiomlqa.utils.files import sha256_file

        sha = sha256_file(self.file) if self.file is not None and Path(self.file).is_file() else None
        if self.languages and (sha is None or sha == self.sha256):
            return self
        if self.file is None:
            raise AudioMLQAError("give the calibration file: calibration.file or --calibration FILE")
        doc = read_calibration(self.file)
        return self.model_copy(
            update={
                "reference": doc["reference"]["name"],
                "sha256": sha or sha256_file(self.file),
                "asr_settings": doc["asr_settings"],
                "languages": calibrated_thresholds(doc, self.quantile, self.scale),
            }
        )

    def describe(self, lang: str) -> str:
        """The rule and numbers behind ``lang``'s threshold, in words (manifest rows, summary, card)."""
        c = self.languages[lang]
        return (
            f"calibrated: {self.scale:g} × p{100 * self.quantile:g} of the ASR's {c['metric'].upper()} on {c['n']} "
            f"human clips ({self.reference}; median {c['median']:.3f}, p90 {c['p90']:.3f})"
        )


def _calibration_file(value):
    return {"file": value} if isinstance(value, (str, Path)) else value


def default_tts_map() -> dict[str, TTSChoice]:
    """The offline default: Kokoro-82M where it is intelligible to Whisper, eSpeak NG for ar and vi
    (Kokoro has no voice for them)."""
    kokoro = {lang: KokoroChoice(backend="kokoro") for lang in ("en", "de", "es", "hi", "zh")}
    return {"default": EspeakChoice(), **kokoro}


class SynthesisConfig(Settings):
    """Everything a synthesis run is made of; a recipe is this as YAML."""

    source: str = PACKAGED_SAMPLE
    source_lang: Annotated[str, BeforeValidator(as_validator(lambda v: (parse_pair(v), v)[1]))] | None = None
    """The language of a SQuAD file whose name does not say it: ``de``, or ``de-en`` (context de, question en)."""
    split: Literal["dev", "validation", "test"] = "dev"
    languages: list[Language] | None = None
    pairs: list[Annotated[str, BeforeValidator(as_validator(parse_pair))]] | None = None
    cross_lingual: bool = False
    per_language: Integer | None = Field(None, ge=1)
    seed: Integer = 0
    limit: Integer | None = Field(None, ge=1)
    output: str = DEFAULT_OUTPUT
    tts: dict[Language | Literal["default"], TTSChoice] = Field(default_factory=default_tts_map)
    """Language → choice, ``default`` for the rest; a recipe's map replaces this one as a whole."""
    unverified: list[Language] = Field(default_factory=lambda: list(DEFAULT_UNVERIFIED))
    rates: list[Number] = Field(default_factory=lambda: [1.0, 0.85], min_length=1)
    asr: ASRSettings = Field(default_factory=lambda: FasterWhisperSettings.model_validate(DEFAULT_ASR))
    metric: dict[Language, Literal["wer", "cer"]] = Field(default_factory=dict)
    thresholds: dict[Language, Number] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    max_attempts: Integer = Field(3, ge=1)
    batch_size: Integer = Field(16, ge=1)
    workers: Integer = Field(1, ge=1)
    shard: tuple[int, int] = (0, 1)
    overlap: bool = True
    """Speak the next batch while the ASR judges this one (same clips, same rows; False: take turns)."""
    calibration: Annotated[CalibrationRule, BeforeValidator(_calibration_file)] | None = None
    """A calibration file (``audiomlqa calibrate``), or ``{file, quantile, scale}``: thresholds from human speech."""

    RUNTIME_ONLY: ClassVar[tuple[str, ...]] = ("workers", "batch_size", "limit", "output", "overlap")
    """Fields that may change between a run and its resumption without changing any result."""

    @field_validator("shard", mode="before")
    @classmethod
    def _shard(cls, value):
        if isinstance(value, str):
            try:
                return parse_shard(value)
            except AudioMLQAError as e:
                raise ValueError(str(e)) from None
        if isinstance(value, (list, tuple)) and len(value) == 2:
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value) or not 0 <= value[0] < value[1]:
                raise ValueError(f"bad shard {value[0]}/{value[1]}: use i/N with 0 ≤ i < N")
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value):
        for lang, t in value.items():
            if t < 0:
                raise ValueError(f"threshold for {lang} must be non-negative, not {t}")
        return value

    @field_validator("rates")
    @classmethod
    def _rates(cls, value):
        if any(r <= 0 for r in value):
            raise ValueError("rates must be positive speed factors")
        return value

    def calibration_problem(self) -> str | None:
        """Why the (loaded) calibration does not hold for this run: it only holds for the ASR judge and metrics it
        was measured with."""
        from audiomlqa.synthesis.calibration import comparable_asr_settings

        cal = self.calibration
        if cal is None:
            return None
        ours = comparable_asr_settings(self.asr.model_dump(mode="json"))
        if ours != cal.asr_settings:
            return (
                f"{cal.file} was measured with ASR {json.dumps(cal.asr_settings)}, this run judges with "
                f"{json.dumps(ours)}: run audiomlqa calibrate with the same --recipe / --asr-model"
            )
        for lang, c in cal.languages.items():
            if c["metric"] != self.metric_for(lang):
                return (
                    f"{cal.file} measured {lang} by {c['metric'].upper()}, this run scores it by "
                    f"{self.metric_for(lang).upper()}: calibrate with the same metric"
                )
        return None

    @classmethod
    def from_dict(cls, data: dict, where: str | None = None) -> SynthesisConfig:
        return resolve_calibration(parse(cls, data, where), where)

    def tts_for(self, lang: str) -> TTSChoice:
        return self.tts.get(lang) or self.tts.get("default") or EspeakChoice()

    def metric_for(self, lang: str) -> str:
        from audiomlqa.asr.text import DEFAULT_METRIC

        return self.metric.get(lang, DEFAULT_METRIC[lang])

    def threshold_for(self, lang: str) -> float:
        if self.calibration is not None and lang in self.calibration.languages:
            return self.calibration.languages[lang]["threshold"]
        return self.thresholds.get(lang, DEFAULT_THRESHOLDS[lang])

    def threshold_rule(self, lang: str) -> str:
        """Where ``lang``'s threshold comes from, in words (manifest rows carry this)."""
        return self.rule_for(lang).rule

    def rule_for(self, lang: str) -> ThresholdRule:
        """Where ``lang``'s threshold comes from, as run.json records it."""
        threshold, metric = self.threshold_for(lang), self.metric_for(lang)
        cal = self.calibration
        if cal is not None and lang in cal.languages:
            numbers = cal.languages[lang]
            return ThresholdRule(
                "calibrated",
                threshold,
                metric,
                cal.describe(lang),
                cal.quantile,
                cal.scale,
                numbers["n"],
                cal.reference,
            )
        why = "; no human reference speech for it in the calibration" if cal is not None else ""
        return ThresholdRule("fixed", threshold, metric, f"fixed: {threshold} ({metric.upper()}{why})")

    def fingerprint(self) -> dict:
        """The settings the results depend on (run.json's ``config``): a resumed run must have the same. A
        calibration file may move; its checksum and numbers may not change."""
        exclude: dict = dict.fromkeys(self.RUNTIME_ONLY, True)
        if self.calibration is not None:
            exclude["calibration"] = {"file"}
        return self.model_dump(mode="json", exclude=exclude)

    @property
    def suffix(self) -> str:
        i, n = self.shard
        return "" if n == 1 else f"-{i}-of-{n}"


def resolve_calibration(cfg: SynthesisConfig, where: str | None = None) -> SynthesisConfig:
    """``cfg`` with its calibration file read in and checked against its judge: the one place a config touches
    a file, after validation (which reads none)."""
    if cfg.calibration is None:
        return cfg
    prefix = f"{where}: calibration: " if where else "calibration: "
    try:
        cfg = cfg.model_copy(update={"calibration": cfg.calibration.loaded()})
    except AudioMLQAError as e:
        raise AudioMLQAError(prefix + str(e)) from None
    problem = cfg.calibration_problem()
    if problem:
        raise AudioMLQAError(prefix + problem)
    return cfg


def load_synthesis_config(
    recipe: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    tts: str | None = None,
    asr_model: str | None = None,
    **options,
) -> SynthesisConfig:
    """A recipe (or the defaults), then command-line options (None: not given), then ``key=value`` overrides.
    ``tts`` names one backend for every language; ``asr_model`` keeps the recipe's ASR settings but its model."""
    from audiomlqa.config import load_yaml, with_overrides

    data = load_yaml(recipe) if recipe else {}
    data.update({k: v for k, v in options.items() if v is not None})
    if tts:
        data["tts"] = {"default": {"backend": tts}}
    if asr_model:
        asr = data.get("asr", DEFAULT_ASR)
        data["asr"] = {**(asr if isinstance(asr, dict) else {}), "model": asr_model}
    where = str(recipe) if recipe else None
    return resolve_calibration(with_overrides(SynthesisConfig, data, overrides, where), where)


def calibrate_filter(
    cfg: SynthesisConfig, reference: Reference, output: str | Path, *, progress: bool = True, asr=None
) -> dict:
    """Calibrate the filter ``cfg`` describes (its ASR settings and metrics) on human speech; write the file."""
    from audiomlqa.synthesis.calibration import calibrate
    from audiomlqa.utils.files import write_json

    output = Path(output)
    if output.is_dir() or not os.access(output.parent if str(output.parent) else ".", os.W_OK):
        raise AudioMLQAError(f"cannot write the calibration to {output}: give a file in a writable folder (-o)")
    metric = {lang: cfg.metric_for(lang) for lang in {c.lang for c in reference.clips}}
    doc = calibrate(
        reference,
        asr or cfg.asr.load(),
        cfg.asr.model_dump(mode="json"),
        metric=metric,
        batch_size=cfg.batch_size,
        progress=progress,
    )
    write_json(output, doc)
    return doc


def parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise AudioMLQAError(f"bad shard {text!r}: write i/N with 0 ≤ i < N, e.g. 0/4")
    return int(m.group(1)), int(m.group(2))


def in_shard(pair: str, qid: str, shard: tuple[int, int]) -> bool:
    i, n = shard
    return n == 1 or int(hashlib.sha256(f"{pair}:{qid}".encode()).hexdigest(), 16) % n == i


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(qid: str) -> str:
    """A file name for a question id that cannot escape its folder and stays unique."""
    name = _UNSAFE.sub("_", qid).lstrip(".")[:100]
    if name != qid or not name:
        name = f"{name}_{hashlib.sha256(qid.encode()).hexdigest()[:10]}"
    return name


def spoken_text(question: str) -> str:
    """What the TTS is given (recorded in every row): the question with whitespace collapsed and the
    literal "\\n" escapes that some MLQA questions carry removed (eSpeak reads them out as "backslash n")."""
    return " ".join(question.replace("\\n", " ").split())


@dataclass(frozen=True)
class AttemptPlan:
    """How attempt ``k`` of a question is spoken."""

    voice: str
    seed: int
    rate: float


def plan_attempt(voices: Sequence[str], rates: Sequence[float], seed: int, k: int) -> AttemptPlan:
    """Attempt ``k`` walks the voices first, then the rates; the seed changes every attempt."""
    return AttemptPlan(voices[k % len(voices)], seed + k, rates[(k // len(voices)) % len(rates)])


def judge(
    error: float, threshold: float, metric: str, *, verified: bool, asr_model: str, lang: str
) -> tuple[bool, str | None]:
    """The filter's decision on one clip: accepted when its error is at most the threshold, and why not (or, for
    a language the ASR cannot verify, why the decision is weak)."""
    ok = error <= threshold
    if not verified:
        return ok, (
            f"unverified: {asr_model} cannot check {lang} reliably; "
            f"{metric} {error:.3f} {'≤' if ok else '>'} relaxed {threshold}"
        )
    return ok, None if ok else f"{metric} {error:.3f} > {threshold}"


# -- TTS, possibly in worker processes ------------------------------------------------------------

_LOADED_TTS: dict = {}
"""Backends loaded in this process (main or worker), so each is loaded once per process."""


def _tts_backend(backend: str, options: dict):
    from audiomlqa.tts import load_backend

    key = backend, repr(sorted(options.items()))
    if key not in _LOADED_TTS:
        _LOADED_TTS[key] = load_backend(backend, **options)
    return _LOADED_TTS[key]


def _tts_job(backend: str, options: dict, text: str, lang: str, plan: AttemptPlan):
    """Synthesize + post-process one clip; runs in the main process or a worker."""
    from audiomlqa.audio import prepare

    t0 = time.perf_counter()
    speech = _tts_backend(backend, options).synthesize(text, lang, plan.voice, seed=plan.seed, rate=plan.rate)
    return prepare(speech), time.perf_counter() - t0


@dataclass
class _Voice:
    """A question language's TTS as loaded for a run: the choice, the voices to walk, what run.json says of it."""

    choice: TTSChoice
    voices: list[str]
    info: dict

    def job(self, text: str, lang: str, plan: AttemptPlan) -> tuple:
        return self.choice.backend, self.choice.constructor_options(), text, lang, plan


def _load_voices(cfg: SynthesisConfig, languages: set[str]) -> dict[str, _Voice]:
    """Every question language's backend, loaded before any work (a missing extra or voice fails early)."""
    out = {}
    for lang in sorted(languages):
        choice = cfg.tts_for(lang)
        backend = _tts_backend(choice.backend, choice.constructor_options())
        voices = choice.voices or backend.voices(lang)
        origin = backend.voice_origin(lang) if hasattr(backend, "voice_origin") else ""  # a plugin may not say
        info = {**backend.describe(), "voices": voices, "license": backend.license, "voice_origin": origin}
        out[lang] = _Voice(choice, voices, info)
    return out


def _clean_start():
    """Worker processes start from a clean interpreter, not a fork of this one: this process runs threads (the
    TTS producer, CTranslate2's) and may hold a CUDA context, and a fork inherits neither safely."""
    import multiprocessing

    return multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )


@contextmanager
def _tts_pool(workers: int, overlap: bool = True) -> Iterator[Callable[[list], Future]]:
    """``submit(jobs)`` → a future of their clips, spoken in ``workers`` processes (or this one). With ``overlap``
    the speaking runs on a background thread, so the ASR can listen to one batch while the next is spoken (TTS
    on CPU, ASR on the GPU: neither waits for the other); the TTS engines and CTranslate2 release the GIL."""
    pool = ProcessPoolExecutor(workers, mp_context=_clean_start()) if workers > 1 else None
    stop = threading.Event()  # set on the way out (an error, Ctrl-C): the batch being spoken stops at its next clip

    def speak(jobs: list) -> list:
        if pool is not None:
            return list(pool.map(_tts_job, *zip(*jobs)))
        clips = []
        for job in jobs:
            if stop.is_set():
                raise CancelledError
            clips.append(_tts_job(*job))
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


# -- the run --------------------------------------------------------------------------------------


@dataclass
class SynthesisResult:
    output: Path
    summary: dict
    rows_written: int
    timing: dict = field(default_factory=dict)
    """Wall seconds of this call: ``total``, ``asr`` (listening and judging), ``waiting_for_tts`` (the ASR side idle
    while a batch was still being spoken) and ``tts`` (summed synthesis time of the clips)."""


def select_questions(cfg: SynthesisConfig) -> list[Question]:
    qs = load_questions(
        cfg.source,
        split=cfg.split,
        languages=cfg.languages,
        pairs=cfg.pairs,
        cross_lingual=cfg.cross_lingual,
        per_language=cfg.per_language,
        seed=cfg.seed,
        lang=cfg.source_lang,
    )
    qs = [q for q in qs if in_shard(q.pair, q.id, cfg.shard)]
    return qs[: cfg.limit] if cfg.limit is not None else qs


def _prepare_output(cfg: SynthesisConfig, out: Path) -> Path:
    """Create ``out`` (or fail in one line) and refuse to resume a run made with other settings."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise AudioMLQAError(f"cannot write to output directory {out}: {e.strerror or e}") from None
    run_file = out / f"run{cfg.suffix}.json"
    if run_file.exists():
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8")).get("config")
        except ValueError:
            previous = None
        if previous is not None:
            changed = _changed_settings(previous, cfg)
            if changed:
                raise AudioMLQAError(
                    f"{out} holds a run with other settings (changed: {', '.join(changed)}); "
                    "resume with the same settings or choose another --output"
                )
    return run_file


def _changed_settings(previous: dict, cfg: SynthesisConfig) -> list[str]:
    """Top-level settings that differ between a saved run's config and ``cfg``. The saved one is read through
    today's schema first, so a run recorded by an earlier version (fewer defaults spelled out) still matches."""
    current = cfg.fingerprint()
    try:
        runtime = {k: getattr(cfg, k) for k in cfg.RUNTIME_ONLY}
        if cfg.calibration is not None and isinstance(previous.get("calibration"), dict):
            previous = {**previous, "calibration": {**previous["calibration"], "file": None}}
        previous = SynthesisConfig.model_validate({**previous, **runtime}).fingerprint()
    except Exception:  # noqa: BLE001 - settings this version no longer knows: compare as saved
        pass
    return sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))


def next_attempt(made: dict[int, Attempt], broken: set[int], max_attempts: int) -> int | None:
    """Which attempt a question needs next (None: it is finished). ``made`` holds its attempts by number;
    ``broken`` the numbers whose clip is missing or damaged. A question with a sound accepted clip is finished;
    a broken attempt is redone under its own number (same voice, seed and rate); else the next number, until
    ``max_attempts``."""
    if any(r.accepted and k not in broken for k, r in made.items()):
        return None
    if broken:
        return min(broken)
    return len(made) if len(made) < max_attempts else None


@dataclass
class _Questions:
    """Every selected question's attempts so far, and which of their clips need redoing."""

    made: dict[tuple[str, str], dict[int, Attempt]]
    broken: dict[tuple[str, str], set[int]]
    max_attempts: int

    def next(self, q: Question) -> int | None:
        return next_attempt(self.made.get(q.key, {}), self.broken.get(q.key, set()), self.max_attempts)

    def record(self, row: Attempt) -> None:
        self.made.setdefault(row.key, {})[row.attempt] = row
        self.broken.get(row.key, set()).discard(row.attempt)


def _read_progress(out: Path, manifest: Path, questions: Sequence[Question], max_attempts: int) -> _Questions:
    """The attempts in the manifest, with every clip the selection relies on checked (size and checksum)."""
    from audiomlqa.manifest import clip_problem, latest

    wanted = {q.key for q in questions}
    rows = latest(read_manifest(manifest))
    standing = standing_attempts(rows)  # the clips a dataset takes: the accepted one, else the best rejected one
    state = _Questions({}, {}, max_attempts)
    for r in rows:
        state.made.setdefault(r.key, {})[r.attempt] = r
        relied_on = r.accepted or standing.get(r.key) is r
        if r.key in wanted and relied_on and clip_problem(out, r):
            state.broken.setdefault(r.key, set()).add(r.attempt)
    return state


def synthesize(
    cfg: SynthesisConfig,
    *,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
    asr=None,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
) -> SynthesisResult:
    """Run (or resume) a synthesis into ``cfg.output``; returns the per-pair summary.

    One process writes an output at a time (a second one fails in one line). ``asr`` lets a caller reuse a
    loaded ASR backend (benchmarks, tests); ``on_batch`` is called with the number of rows written after every
    batch (used to test interruption); ``command`` is recorded in run.json (the CLI passes the command line);
    ``log`` receives one-line notes (clips found missing or damaged and redone).
    """
    from audiomlqa.utils.locks import exclusive

    cfg = resolve_calibration(cfg)
    out = Path(cfg.output)
    questions = select_questions(cfg)
    if not questions:
        raise AudioMLQAError(f"no questions selected from {cfg.source} (check languages, pairs, split, shard, limit)")
    # one writer per manifest: shards of one run may share a folder, each with its own files and lock
    with exclusive(out, "audiomlqa synthesize", lock_file=out / f".audiomlqa{cfg.suffix}.lock"):
        return _synthesize(cfg, out, questions, progress, on_batch, asr, command, log or (lambda line: None))


def _synthesize(
    cfg: SynthesisConfig,
    out: Path,
    questions: list[Question],
    progress: bool,
    on_batch,
    asr,
    command: str | None,
    log: Callable[[str], None],
) -> SynthesisResult:
    run_file = _prepare_output(cfg, out)
    manifest = out / f"manifest{cfg.suffix}.jsonl"
    repair(manifest)
    state = _read_progress(out, manifest, questions, cfg.max_attempts)
    broken = sum(len(v) for v in state.broken.values())
    if broken:
        log(f"{broken} clip(s) in {out} are missing or damaged: redoing them")
    todo = [q for q in questions if state.next(q) is not None]
    selection = _write_selection(out / f"questions{cfg.suffix}.jsonl", questions)
    voices = _load_voices(cfg, {q.question_lang for q in questions})
    if todo and asr is None:
        asr = cfg.asr.load()
    if todo or not run_file.exists():  # a rerun with nothing left to do keeps the record of the run that did it
        write_json(run_file, _run_record(cfg, voices, asr, command).to_dict())

    written, timing, started = 0, dict.fromkeys(("asr", "waiting_for_tts", "tts"), 0.0), time.perf_counter()
    # Batches of one question language; a batch's unfinished questions come back as the next batch to speak, so
    # each round makes one more attempt at them. Overlapped, one batch is spoken ahead of the one being judged;
    # taking turns, a batch is spoken only once the one before it is judged (and its retries come first).
    work = deque(
        (lang, group[start : start + cfg.batch_size])
        for lang in dict.fromkeys(q.question_lang for q in todo)
        for group in [[q for q in todo if q.question_lang == lang]]
        for start in range(0, len(group), cfg.batch_size)
    )
    with (
        _tts_pool(cfg.workers if todo else 1, overlap=cfg.overlap) as submit,
        progress_bar("synthesize", len(questions), completed=len(questions) - len(todo), enabled=progress) as bar,
    ):

        def speak_next() -> _Spoken | None:
            """Hand the next batch to the TTS (taking turns, this speaks it: the ASR side waits)."""
            if not work:
                return None
            t = time.perf_counter()
            lang, active = work.popleft()
            spoken = _speak(lang, [(q, state.next(q)) for q in active], cfg, voices[lang], submit)
            timing["waiting_for_tts"] += time.perf_counter() - t
            return spoken

        current = speak_next()
        while current is not None:
            ahead = speak_next() if cfg.overlap else None
            t0 = time.perf_counter()
            clips = current.clips.result()
            t1 = time.perf_counter()
            rows = _judge_batch(current, clips, cfg, voices[current.lang], asr, out)
            for r in rows:
                state.record(r)
            append_rows(manifest, rows)
            timing["waiting_for_tts"] += t1 - t0
            timing["asr"] += time.perf_counter() - t1
            timing["tts"] += sum(seconds for _, seconds in clips)
            written += len(rows)
            bar.advance(sum(state.next(q) is None for q, _ in current.batch))
            if on_batch is not None:
                on_batch(written)
            again = [q for q, _ in current.batch if state.next(q) is not None]
            if again:
                work.appendleft((current.lang, again))
            current = ahead if ahead is not None else speak_next()
    timing["total"] = time.perf_counter() - started
    from audiomlqa.synthesis.figures import write_figures

    human = cfg.calibration.languages if cfg.calibration is not None else {}
    wanted = set(selection)
    rows = [r for r in read_manifest(manifest) if r.key in wanted]
    summary = summarize(rows, selection, human=human)
    write_json(out / f"summary{cfg.suffix}.json", summary)
    write_figures(out / "figures", rows, {k: v["errors"] for k, v in human.items()}, suffix=cfg.suffix)
    return SynthesisResult(out, summary, written, {k: round(v, 4) for k, v in timing.items()})


def _write_selection(path: Path, questions: Sequence[Question]) -> list[tuple[str, str]]:
    """questions.jsonl holds every question this output was ever asked to speak: a rerun with a smaller
    ``limit`` adds nothing and removes nothing, so publishing takes all that was done."""
    rows = {}
    if path.exists():
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                    rows[(row["pair"], row["id"])] = row
                except (ValueError, KeyError, TypeError):
                    raise AudioMLQAError(
                        f"{path}: line {i} is not a question row; fix or delete that line, then rerun"
                    ) from None
    for q in questions:
        rows.setdefault(q.key, q.to_dict())
    write_jsonl(path, list(rows.values()))
    return list(rows)


@dataclass
class _Spoken:
    """A batch handed to the TTS: which attempt of which question, how each is spoken, and the clips to come."""

    lang: str
    batch: list[tuple[Question, int]]
    plans: list[AttemptPlan]
    texts: list[str]
    clips: Future


def _speak(lang: str, batch: list[tuple[Question, int]], cfg: SynthesisConfig, voice: _Voice, submit) -> _Spoken:
    """Hand one more attempt at each question of ``batch`` (question, attempt number) to the TTS."""
    plans = [plan_attempt(voice.voices, cfg.rates, cfg.seed, k) for _, k in batch]
    texts = [spoken_text(q.question) for q, _ in batch]
    return _Spoken(lang, batch, plans, texts, submit([voice.job(t, lang, p) for t, p in zip(texts, plans)]))


def _judge_batch(spoken: _Spoken, clips: list, cfg: SynthesisConfig, voice: _Voice, asr, out: Path) -> list[Attempt]:
    """Listen to a spoken batch, judge every clip and write its audio: the manifest rows of these attempts."""
    from audiomlqa.asr import SAMPLE_RATE
    from audiomlqa.asr.text import error_rate, normalize_for_asr
    from audiomlqa.audio import write_flac

    lang, batch, plans, texts = spoken.lang, spoken.batch, spoken.plans, spoken.texts
    t0 = time.perf_counter()
    audible = [i for i, (speech, _) in enumerate(clips) if len(speech.samples) and texts[i]]
    heard = asr.transcribe([clips[i][0].samples for i in audible], lang, [texts[i] for i in audible]) if audible else []
    transcripts = dict(zip(audible, heard))
    asr_seconds = (time.perf_counter() - t0) / max(1, len(audible))
    metric, threshold, verified = cfg.metric_for(lang), cfg.threshold_for(lang), lang not in cfg.unverified
    rule = cfg.threshold_rule(lang)
    rows = []
    for i, ((q, k), plan, (speech, tts_seconds)) in enumerate(zip(batch, plans, clips)):
        row = Attempt(
            id=q.id,
            pair=q.pair,
            context_lang=q.context_lang,
            question_lang=q.question_lang,
            attempt=k,
            backend=voice.choice.backend,
            voice=plan.voice,
            seed=plan.seed,
            rate=plan.rate,
            text=q.question,
            spoken_text=texts[i],
            duration=round(speech.duration, 4),
            sample_rate=SAMPLE_RATE,
            asr_model=asr.model_id,
            metric=metric,
            threshold=threshold,
            threshold_rule=rule,
            verified=verified,
            tts_license=voice.info["license"],
            tts_seconds=round(tts_seconds, 4),
            asr_seconds=round(asr_seconds, 4) if i in transcripts else 0.0,
        )
        if not texts[i]:
            row.reason = "empty question text"
        elif i not in transcripts:
            row.reason = "TTS produced no audio"
        else:
            rel = Path("audio") / q.pair / f"{safe_name(q.id)}-{k}.flac"
            row.audio_bytes, row.audio_sha256 = write_flac(out / rel, speech)
            ref, hyp = normalize_for_asr(texts[i], lang), normalize_for_asr(transcripts[i], lang)
            err = error_rate(ref, hyp, metric)
            row.accepted, row.reason = judge(
                err, threshold, metric, verified=verified, asr_model=asr.model_id, lang=lang
            )
            row.audio, row.transcript, row.reference_norm, row.transcript_norm = (
                rel.as_posix(),
                transcripts[i],
                ref,
                hyp,
            )
            row.error = round(err, 6)
        rows.append(row)
    return rows


def _run_record(cfg: SynthesisConfig, voices: dict[str, _Voice], asr, command: str | None) -> RunRecord:
    return RunRecord(
        command=command,
        thresholds={lang: cfg.rule_for(lang) for lang in voices},
        config=jsonable(cfg.fingerprint()),
        runtime={"workers": cfg.workers, "batch_size": cfg.batch_size, "limit": cfg.limit, "overlap": cfg.overlap},
        audiomlqa_version=__version__,
        python=platform.python_version(),
        tts={lang: v.info for lang, v in voices.items()},
        asr=asr.describe() if asr is not None else None,
        packages=package_versions(
            (
                "espeakng-loader",
                "faster-whisper",
                "ctranslate2",
                "whisper-normalizer",
                "jiwer",
                "opencc",
                "soxr",
                "pydub",
                "transformers",
                "torch",
            )
        ),
    )


def summarize(
    rows: Sequence[Attempt], selection: Iterable[tuple[str, str]] | None = None, human: dict | None = None
) -> dict:
    """Per-pair table from manifest rows: attempted, accepted, pass rate, median error of the
    standing attempt, accepted audio hours, real-time factor (TTS + ASR seconds / audio seconds), the threshold,
    and — from a calibration (``human``: language → its numbers) — the ASR's median error on human speech."""
    best = standing_attempts(rows)
    wanted = set(selection) if selection is not None else set(best)
    per_pair: dict[str, dict] = {}
    for (pair, qid), r in sorted(best.items()):
        if (pair, qid) not in wanted:
            continue
        s = per_pair.setdefault(
            pair,
            {
                "metric": r.metric,
                "verified": r.verified,
                "backend": r.backend,
                "threshold": r.threshold,
                "threshold_source": r.threshold_source,
                "human_median_error": (human or {}).get(r.question_lang, {}).get("median"),
                "human_clips": (human or {}).get(r.question_lang, {}).get("n", 0),
                "attempted": 0,
                "accepted": 0,
                "errors": [],
                "audio_seconds": 0.0,
            },
        )
        s["attempted"] += 1
        s["accepted"] += bool(r.accepted)
        if r.error is not None:
            s["errors"].append(r.error)
        if r.accepted:
            s["audio_seconds"] += r.duration
    for pair, s in per_pair.items():
        pair_rows = [r for r in latest(rows) if r.pair == pair and r.key in wanted]
        compute = sum(r.tts_seconds + r.asr_seconds for r in pair_rows)
        audio = sum(r.duration for r in pair_rows)
        errors = s.pop("errors")
        s.update(
            attempts=len(pair_rows),
            pass_rate=s["accepted"] / s["attempted"] if s["attempted"] else 0.0,
            median_error=statistics.median(errors) if errors else None,
            audio_hours=s.pop("audio_seconds") / 3600,
            real_time_factor=compute / audio if audio else None,
        )
    return {"pairs": {k: per_pair[k] for k in sorted(per_pair, key=pair_key)}}


def summary_table(summary: dict) -> Table:
    """The per-pair summary as the table ``synthesize`` prints."""
    rows = [
        [
            pair,
            s["backend"],
            "yes" if s["verified"] else "[yellow]no[/yellow]",
            str(s["attempted"]),
            str(s["accepted"]),
            f"{100 * s['pass_rate']:.0f}%",
            s["metric"].upper(),
            "—" if s["median_error"] is None else f"{s['median_error']:.3f}",
            "—" if s.get("human_median_error") is None else f"{s['human_median_error']:.3f}",
            f"{round(s.get('threshold', 0), 3):g}" + ("*" if s.get("threshold_source") == "calibrated" else ""),
            f"{s['audio_hours']:.3f}",
            "—" if s["real_time_factor"] is None else f"{s['real_time_factor']:.2f}",
            str(s["attempts"]),
        ]
        for pair, s in summary["pairs"].items()
    ]
    unverified = [p for p, s in summary["pairs"].items() if not s["verified"]]
    notes = (
        [
            f"[yellow]unverified: {', '.join(unverified)} — the ASR model cannot check these languages reliably; "
            "their rows carry verified: false and a relaxed threshold[/yellow]"
        ]
        if unverified
        else []
    )
    if any(s.get("threshold_source") == "calibrated" for s in summary["pairs"].values()):
        notes.append(
            "threshold* = calibrated on human speech (the quantile of the ASR's error on it); human = the ASR's "
            "median error on human speech of the question language"
        )
    return Table(
        "Audio-MLQA synthesis: median WER/CER of each question's standing attempt; "
        "RTF = compute s per audio s; checked = the ASR can verify the language",
        [
            "pair",
            "tts",
            "checked",
            "asked",
            "kept",
            "pass",
            "metric",
            "median",
            "human",
            "threshold",
            "audio h",
            "RTF",
            "tries",
        ],
        rows,
        left={0, 1, 2, 6},
        notes=notes,
    )
