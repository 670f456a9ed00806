"""Spoken MLQA questions: TTS → loudness → 16 kHz → ASR → WER/CER → accept, retry or reject.

:func:`synthesize` is the whole job as a library function; ``audiomlqa synthesize`` only builds a
:class:`SynthesisConfig` from a recipe and options. Output directory::

    audio/<pair>/<safe id>-<attempt>.flac   every attempt's audio (the manifest says which one stands)
    manifest[-i-of-N].jsonl                 append-only, one row per attempt, every decision recorded
    questions[-i-of-N].jsonl                the selected questions (context, answers) — self-contained
    run[-i-of-N].json                       configuration, tool and model versions
    summary[-i-of-N].json                   per-pair table (also printed)

Resuming is reading the manifest: a question is finished once an attempt is accepted or
``max_attempts`` were made; a rerun of the same command does the rest. Work is split between
machines by ``shard=(i, N)``: question (pair, id) belongs to shard ``sha256(pair:id) mod N``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from audiomlqa import LANGUAGES, __version__
from audiomlqa.errors import AudioMLQAError
from audiomlqa.manifest import append_rows, final_rows, read_manifest, repair, write_json_atomic
from audiomlqa.sources import Question, check_language, load_questions

PACKAGED_SAMPLE = str(Path(__file__).with_name("data") / "mlqa-sample")
DEFAULT_OUTPUT = "audio-mlqa-sample"
DEFAULT_THRESHOLDS = {"en": 0.2, "de": 0.2, "es": 0.2, "hi": 0.35, "zh": 0.35, "ar": 0.6, "vi": 0.7}
"""WER (en, de, es, vi) or CER (hi, zh, ar) at or below which a clip is accepted. ar and vi are relaxed:
Whisper base cannot check them (see DEFAULT_UNVERIFIED), so the filter only catches gross failures."""
DEFAULT_ASR = {"backend": "faster-whisper", "beam_sizes": {"de": 5, "hi": 5}}
"""Greedy decoding, except beam 5 where it measurably helps Whisper base: on the packaged sample's
Kokoro clips it doubled the clips that pass (de 1 → 5 of 28, hi 2 → 6 of 26)."""
DEFAULT_UNVERIFIED = ["ar", "vi"]
"""Languages whose round trip Whisper base cannot verify: rows are marked ``verified: false``."""


@dataclass
class TTSChoice:
    """Which backend speaks a language, with which voices (retries walk them) and backend options."""

    backend: str = "espeak"
    voices: list[str] | None = None
    options: dict = field(default_factory=dict)


def default_tts_map() -> dict[str, TTSChoice]:
    """The offline default: Kokoro-82M where it is intelligible to Whisper, eSpeak NG for ar and vi
    (Kokoro has no voice for them)."""
    return {"default": TTSChoice("espeak"), **{lang: TTSChoice("kokoro") for lang in ("en", "de", "es", "hi", "zh")}}


@dataclass
class SynthesisConfig:
    source: str = PACKAGED_SAMPLE
    split: str = "dev"
    languages: list[str] | None = None
    pairs: list[str] | None = None
    cross_lingual: bool = False
    per_language: int | None = None
    seed: int = 0
    limit: int | None = None
    output: str = DEFAULT_OUTPUT
    # language -> choice, "default" for the rest; a recipe's map replaces this one as a whole.
    tts: dict[str, TTSChoice] = field(default_factory=lambda: default_tts_map())
    unverified: list[str] = field(default_factory=lambda: list(DEFAULT_UNVERIFIED))
    rates: list[float] = field(default_factory=lambda: [1.0, 0.85])
    asr: dict = field(default_factory=lambda: dict(DEFAULT_ASR))
    metric: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    max_attempts: int = 3
    batch_size: int = 16
    workers: int = 1
    shard: tuple[int, int] = (0, 1)

    # Fields that may change between a run and its resumption without changing any result.
    RUNTIME_ONLY = ("workers", "batch_size", "limit", "output")

    @classmethod
    def from_dict(cls, data: dict) -> SynthesisConfig:
        from audiomlqa.recipes import check_settings

        check_settings(cls, data, "synthesis")
        data = dict(data)
        if "tts" in data:
            data["tts"] = {lang: c if isinstance(c, TTSChoice) else TTSChoice(**c) for lang, c in (data["tts"] or {}).items()}
        if "shard" in data and not isinstance(data["shard"], tuple):
            data["shard"] = parse_shard(str(data["shard"]))
        cfg = cls(**data)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for lang in [*(self.languages or []), *self.thresholds, *self.metric, *self.unverified, *(k for k in self.tts if k != "default")]:
            check_language(lang)
        if self.max_attempts < 1 or self.batch_size < 1 or self.workers < 1:
            raise AudioMLQAError("max_attempts, batch_size and workers must be at least 1")
        for lang, t in self.thresholds.items():
            if isinstance(t, bool) or not isinstance(t, (int, float)) or t < 0:
                hint = " (YAML reads 1.0e9 as text: write 1.0e+9)" if isinstance(t, str) else ""
                raise AudioMLQAError(f"threshold for {lang} must be a non-negative number, not {t!r}{hint}")
        if not self.rates or any(isinstance(r, (bool, str)) or r <= 0 for r in self.rates):
            raise AudioMLQAError("rates must be a non-empty list of positive speed factors")
        for m in self.metric.values():
            if m not in ("wer", "cer"):
                raise AudioMLQAError(f"unknown error metric {m!r}: use wer or cer")
        i, n = self.shard
        if not 0 <= i < n:
            raise AudioMLQAError(f"bad shard {i}/{n}: use i/N with 0 ≤ i < N")

    def tts_for(self, lang: str) -> TTSChoice:
        return self.tts.get(lang) or self.tts.get("default") or TTSChoice()

    def metric_for(self, lang: str) -> str:
        from audiomlqa.text import DEFAULT_METRIC

        return self.metric.get(lang, DEFAULT_METRIC[lang])

    def threshold_for(self, lang: str) -> float:
        return self.thresholds.get(lang, DEFAULT_THRESHOLDS[lang])

    def fingerprint(self) -> dict:
        d = dataclasses.asdict(self)
        for k in self.RUNTIME_ONLY:
            d.pop(k, None)
        d["shard"] = list(self.shard)
        return d

    @property
    def suffix(self) -> str:
        i, n = self.shard
        return "" if n == 1 else f"-{i}-of-{n}"


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
class Attempt:
    voice: str
    seed: int
    rate: float


def plan_attempt(voices: Sequence[str], rates: Sequence[float], seed: int, k: int) -> Attempt:
    """Attempt ``k`` walks the voices first, then the rates; the seed changes every attempt."""
    return Attempt(voices[k % len(voices)], seed + k, rates[(k // len(voices)) % len(rates)])


# -- TTS, possibly in worker processes ------------------------------------------------------------

_WORKER_BACKENDS: dict = {}
"""Backends loaded in this process (main or worker), so each is loaded once per process."""


def _backend_key(backend: str, options: dict) -> tuple[str, str]:
    return backend, repr(sorted(options.items()))


def _tts_job(backend: str, options: dict, text: str, lang: str, attempt: Attempt):
    """Synthesize + post-process one clip; runs in the main process or a worker."""
    from audiomlqa.audio import prepare
    from audiomlqa.tts import load_backend

    key = _backend_key(backend, options)
    if key not in _WORKER_BACKENDS:
        _WORKER_BACKENDS[key] = load_backend(backend, **options)
    t0 = time.perf_counter()
    speech = _WORKER_BACKENDS[key].synthesize(text, lang, attempt.voice, seed=attempt.seed, rate=attempt.rate)
    return prepare(speech), time.perf_counter() - t0


# -- the run --------------------------------------------------------------------------------------


@dataclass
class SynthesisResult:
    output: Path
    summary: dict
    rows_written: int


def select_questions(cfg: SynthesisConfig) -> list[Question]:
    qs = load_questions(
        cfg.source, split=cfg.split, languages=cfg.languages, pairs=cfg.pairs, cross_lingual=cfg.cross_lingual,
        per_language=cfg.per_language, seed=cfg.seed,
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
        current = _jsonable(cfg.fingerprint())
        if previous is not None and previous != current:
            changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
            raise AudioMLQAError(
                f"{out} holds a run with other settings (changed: {', '.join(changed)}); resume with the same settings or choose another --output"
            )
    return run_file


def _jsonable(obj):
    return json.loads(json.dumps(obj))


def synthesize(
    cfg: SynthesisConfig,
    *,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
    asr=None,
    command: str | None = None,
) -> SynthesisResult:
    """Run (or resume) a synthesis into ``cfg.output``; returns the per-pair summary.

    ``asr`` lets a caller reuse a loaded ASR backend (benchmarks, tests); ``on_batch`` is called with
    the number of rows written after every batch (used to test interruption); ``command`` is recorded
    in run.json (the CLI passes the command line).
    """
    from audiomlqa.asr import SAMPLE_RATE, load_asr
    from audiomlqa.audio import write_flac
    from audiomlqa.text import error_rate, normalize_for_asr
    from audiomlqa.tts import load_backend

    cfg.validate()
    out = Path(cfg.output)
    questions = select_questions(cfg)
    run_file = _prepare_output(cfg, out)
    manifest = out / f"manifest{cfg.suffix}.jsonl"
    repair(manifest)
    rows = read_manifest(manifest)
    attempts: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        attempts.setdefault((r["pair"], r["id"]), []).append(r)

    def finished(q: Question) -> bool:
        made = attempts.get((q.pair, q.id), [])
        return any(r["accepted"] for r in made) or len(made) >= cfg.max_attempts

    todo = [q for q in questions if not finished(q)]
    _write_questions(out / f"questions{cfg.suffix}.jsonl", questions)

    backends = {lang: cfg.tts_for(lang) for lang in {q.question_lang for q in questions}}
    tts_info, voices = {}, {}
    for lang, choice in backends.items():
        key = _backend_key(choice.backend, choice.options)
        if key not in _WORKER_BACKENDS:  # load here, before any work: a missing extra fails early
            _WORKER_BACKENDS[key] = load_backend(choice.backend, **choice.options)
        backend = _WORKER_BACKENDS[key]
        voices[lang] = choice.voices or backend.voices(lang)
        tts_info[lang] = {**backend.describe(), "voices": voices[lang], "license": backend.license}
    if todo and asr is None:
        asr_opts = {k: v for k, v in cfg.asr.items() if k != "backend"}
        asr = load_asr(cfg.asr.get("backend", "faster-whisper"), **asr_opts)
    if todo or not run_file.exists():  # a rerun with nothing left to do keeps the record of the run that did it
        write_json_atomic(run_file, _run_record(cfg, tts_info, asr, command))

    pool = ProcessPoolExecutor(cfg.workers) if cfg.workers > 1 and todo else None
    written = 0
    bar = _progress(len(questions), len(questions) - len(todo)) if progress else None
    try:
        by_lang: dict[str, list[Question]] = {}
        for q in todo:
            by_lang.setdefault(q.question_lang, []).append(q)
        for lang, group in by_lang.items():
            choice = backends[lang]
            metric, threshold = cfg.metric_for(lang), cfg.threshold_for(lang)
            verified = lang not in cfg.unverified
            for start in range(0, len(group), cfg.batch_size):
                active = group[start : start + cfg.batch_size]
                while active:
                    batch = [(q, len(attempts.get((q.pair, q.id), []))) for q in active]
                    jobs = [(choice.backend, choice.options, spoken_text(q.question), lang, plan_attempt(voices[lang], cfg.rates, cfg.seed, k)) for q, k in batch]
                    clips = list(pool.map(_tts_job, *zip(*jobs))) if pool else [_tts_job(*j) for j in jobs]
                    t0 = time.perf_counter()
                    texts = [j[2] for j in jobs]
                    audible = [i for i, (speech, _) in enumerate(clips) if len(speech.samples) and texts[i]]
                    heard = asr.transcribe([clips[i][0].samples for i in audible], lang, [texts[i] for i in audible]) if audible else []
                    transcripts = dict(zip(audible, heard))
                    asr_seconds = (time.perf_counter() - t0) / max(1, len(audible))
                    new_rows = []
                    for i, ((q, k), (speech, tts_seconds), job) in enumerate(zip(batch, clips, jobs)):
                        attempt = job[4]
                        rel = Path("audio") / q.pair / f"{safe_name(q.id)}-{k}.flac"
                        row = {
                            "id": q.id, "pair": q.pair, "context_lang": q.context_lang, "question_lang": q.question_lang,
                            "attempt": k, "backend": choice.backend, "voice": attempt.voice, "seed": attempt.seed,
                            "rate": attempt.rate, "text": q.question, "spoken_text": job[2], "audio": None,
                            "duration": round(speech.duration, 4), "sample_rate": SAMPLE_RATE,
                            "asr_model": asr.model_id, "transcript": None, "reference_norm": None, "transcript_norm": None,
                            "metric": metric, "error": None, "threshold": threshold, "verified": verified, "accepted": False, "reason": None,
                            "tts_license": tts_info[lang]["license"],
                            "tts_seconds": round(tts_seconds, 4), "asr_seconds": round(asr_seconds, 4) if i in transcripts else 0.0,
                        }
                        if not job[2]:
                            row["reason"] = "empty question text"
                        elif i not in transcripts:
                            row["reason"] = "TTS produced no audio"
                        else:
                            write_flac(out / rel, speech)
                            ref, hyp = normalize_for_asr(job[2], lang), normalize_for_asr(transcripts[i], lang)
                            err = error_rate(ref, hyp, metric)
                            ok = err <= threshold
                            reason = None if ok else f"{metric} {err:.3f} > {threshold}"
                            if not verified:
                                reason = f"unverified: {asr.model_id} cannot check {lang} reliably; {metric} {err:.3f} {'≤' if ok else '>'} relaxed {threshold}"
                            row.update(audio=rel.as_posix(), transcript=transcripts[i], reference_norm=ref, transcript_norm=hyp,
                                       error=round(err, 6), accepted=ok, reason=reason)
                        new_rows.append(row)
                        attempts.setdefault((q.pair, q.id), []).append(row)
                    append_rows(manifest, new_rows)
                    written += len(new_rows)
                    done_now = [q for q in active if finished(q)]
                    if bar is not None:
                        bar[0].advance(bar[1], len(done_now))
                    if on_batch is not None:
                        on_batch(written)
                    active = [q for q in active if not finished(q)]
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar[0].stop()
    summary = summarize(read_manifest(manifest), questions)
    write_json_atomic(out / f"summary{cfg.suffix}.json", summary)
    return SynthesisResult(out, summary, written)


def _run_record(cfg: SynthesisConfig, tts_info: dict, asr, command: str | None) -> dict:
    return {
        "command": command,
        "config": _jsonable(cfg.fingerprint()),
        "runtime": {"workers": cfg.workers, "batch_size": cfg.batch_size, "limit": cfg.limit},
        "audiomlqa_version": __version__,
        "python": platform.python_version(),
        "tts": tts_info,
        "asr": asr.describe() if asr is not None else None,
        "packages": _package_versions(),
    }


def _write_questions(path: Path, questions: Sequence[Question]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps({"pair": q.pair, **dataclasses.asdict(q)}, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("espeakng-loader", "faster-whisper", "ctranslate2", "whisper-normalizer", "jiwer", "opencc", "soxr", "pydub", "transformers", "torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _progress(total: int, completed: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    p = Progress(TextColumn("synthesize"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=False)
    task = p.add_task("questions", total=total, completed=completed)
    p.start()
    return p, task


def summarize(rows: Sequence[dict], questions: Sequence[Question] | None = None) -> dict:
    """Per-pair table from manifest rows: attempted, accepted, pass rate, median error of the
    standing attempt, accepted audio hours, real-time factor (TTS + ASR seconds / audio seconds)."""
    best = final_rows(rows)
    wanted = {(q.pair, q.id) for q in questions} if questions is not None else set(best)
    per_pair: dict[str, dict] = {}
    for (pair, qid), r in sorted(best.items()):
        if (pair, qid) not in wanted:
            continue
        s = per_pair.setdefault(pair, {"metric": r["metric"], "verified": r.get("verified", True), "backend": r["backend"],
                                       "attempted": 0, "accepted": 0, "errors": [], "audio_seconds": 0.0})
        s["attempted"] += 1
        s["accepted"] += bool(r["accepted"])
        if r["error"] is not None:
            s["errors"].append(r["error"])
        if r["accepted"]:
            s["audio_seconds"] += r["duration"]
    for pair, s in per_pair.items():
        pair_rows = [r for r in rows if r["pair"] == pair and (r["pair"], r["id"]) in wanted]
        compute = sum(r["tts_seconds"] + r["asr_seconds"] for r in pair_rows)
        audio = sum(r["duration"] for r in pair_rows)
        errors = s.pop("errors")
        s.update(
            attempts=len(pair_rows),
            pass_rate=s["accepted"] / s["attempted"] if s["attempted"] else 0.0,
            median_error=statistics.median(errors) if errors else None,
            audio_hours=s.pop("audio_seconds") / 3600,
            real_time_factor=compute / audio if audio else None,
        )
    order = {lang: i for i, lang in enumerate(LANGUAGES)}
    return {"pairs": {k: per_pair[k] for k in sorted(per_pair, key=lambda p: (len(p), [order.get(x, 9) for x in p.split("-")]))}}


def print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Audio-MLQA synthesis: median WER/CER of each question's standing attempt; "
                        "RTF = compute s per audio s; checked = the ASR can verify the language")
    for col in ("pair", "tts", "checked", "asked", "kept", "pass", "metric", "median", "audio h", "RTF", "tries"):
        table.add_column(col, justify="left" if col in ("pair", "tts", "checked", "metric") else "right")
    for pair, s in summary["pairs"].items():
        table.add_row(
            pair, s["backend"], "yes" if s["verified"] else "[yellow]no[/yellow]", str(s["attempted"]), str(s["accepted"]),
            f"{100 * s['pass_rate']:.0f}%", s["metric"].upper(),
            "—" if s["median_error"] is None else f"{s['median_error']:.3f}", f"{s['audio_hours']:.3f}",
            "—" if s["real_time_factor"] is None else f"{s['real_time_factor']:.2f}", str(s["attempts"]),
        )
    console = Console()
    if not console.is_terminal:  # logs and pipes: keep every column readable rather than 80 wide
        console = Console(width=132)
    console.print(table)
    unverified = [p for p, s in summary["pairs"].items() if not s["verified"]]
    if unverified:
        console.print(f"[yellow]unverified: {', '.join(unverified)} — the ASR model cannot check these languages reliably; "
                      "their rows carry verified: false and a relaxed threshold[/yellow]")
