"""Spoken MLQA questions: TTS → loudness → 16 kHz → ASR → WER/CER → accept, retry or reject.

:func:`synthesize` is the whole job as a library function; ``audiomlqa synthesize`` only builds a
:class:`~audiomlqa.synthesis.config.SynthesisConfig` from a recipe and options. This module is the loop and what
it reads and writes; the settings are :mod:`.config`, the speaking :mod:`.speaking`, the summary :mod:`.summary`.
:func:`calibrate_filter` runs the same judge on human speech (:mod:`.calibration`). Output directory::

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
import os
import platform
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from audiomlqa import __version__
from audiomlqa.asr import SAMPLE_RATE, Heard
from audiomlqa.asr.text import normalize_for_asr
from audiomlqa.audio import Speech, write_flac
from audiomlqa.errors import AudioMLQAError
from audiomlqa.instructions import read_instructions
from audiomlqa.manifest import (
    Alignment,
    Attempt,
    DamagedRecord,
    RunRecord,
    append_rows,
    clip_problem,
    latest,
    read_manifest,
    read_run_record,
    repair,
    settings_hash,
    standing_attempts,
)
from audiomlqa.sources import Question, load_questions, read_question_rows
from audiomlqa.synthesis.alignment import align
from audiomlqa.synthesis.calibration import calibrate
from audiomlqa.synthesis.config import SynthesisConfig, in_shard, resolve_calibration
from audiomlqa.synthesis.figures import write_figures
from audiomlqa.synthesis.on_ray import asr_judge, ray_engine
from audiomlqa.synthesis.reference import Reference
from audiomlqa.synthesis.speaking import AttemptPlan, Spoken, Voice, listen, load_voices, speak_batch, tts_pool
from audiomlqa.synthesis.summary import summarize
from audiomlqa.tasks import INSTRUCTION
from audiomlqa.utils.files import inside, jsonable, read_json, write_json, write_jsonl
from audiomlqa.utils.locks import exclusive
from audiomlqa.utils.progress import Bar, progress_bar
from audiomlqa.utils.versions import package_versions


@dataclass
class SynthesisResult:
    output: Path
    summary: dict
    rows_written: int
    timing: dict = field(default_factory=dict)
    """Wall seconds of this call: ``total``, ``asr`` (listening and judging), ``waiting_for_tts`` (the ASR side idle
    while a batch was still being spoken) and ``tts`` (summed synthesis time of the clips)."""
    pools: dict = field(default_factory=dict)
    """On Ray: each actor pool's size, calls, busy seconds and busy share of the wall time (``tts``, ``asr``)."""


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
    cfg = resolve_calibration(cfg)
    out = Path(cfg.output)
    questions, left_out = select(cfg)
    if not questions:
        raise AudioMLQAError(f"no questions selected from {cfg.source} (check languages, pairs, split, shard, limit)")
    # one writer per manifest: shards of one run may share a folder, each with its own files and lock
    with exclusive(out, "audiomlqa synthesize", lock_file=out / f".audiomlqa{cfg.suffix}.lock"):
        return _synthesize(cfg, out, questions, left_out, progress, on_batch, asr, command, log or (lambda line: None))


def _synthesize(
    cfg: SynthesisConfig,
    out: Path,
    questions: list[Question],
    left_out: dict | None,
    progress: bool,
    on_batch,
    asr,
    command: str | None,
    log: Callable[[str], None],
) -> SynthesisResult:
    run_file, settings, intact = _prepare_output(cfg, out, log)
    if left_out is not None:  # what the source holds that no voice can speak, and why (the card says it)
        write_json(out / f"left-out{cfg.suffix}.json", left_out)
    manifest = out / f"manifest{cfg.suffix}.jsonl"
    repair(manifest)
    state = _read_progress(out, manifest, questions, cfg.max_attempts)
    broken = sum(len(v) for v in state.broken.values())
    if broken:
        log(f"{broken} clip(s) in {out} are missing or damaged: redoing them")
    todo = [q for q in questions if state.next(q) is not None]
    voices = load_voices(cfg, {q.question_lang for q in questions})
    if todo:  # everything that can fail at the start fails before the output records anything
        _check_voices(cfg, voices)
    with _engine(cfg, asr, todo) as engine:
        selection = _write_selection(out / f"questions{cfg.suffix}.jsonl", questions)
        if todo or not intact:  # a rerun with nothing left to do keeps the record of the run that did it
            write_json(run_file, _run_record(cfg, settings, voices, engine.asr, command).to_dict())
        timing, started = dict.fromkeys(("asr", "waiting_for_tts", "tts"), 0.0), time.perf_counter()
        with progress_bar("synthesize", len(questions), completed=len(questions) - len(todo), enabled=progress) as bar:
            batches = _Batches(cfg, state, voices, engine, _language_batches(todo, cfg.batch_size), timing)
            written = _speak_and_judge(batches, engine, out, manifest, bar, on_batch, settings_hash(settings))
        timing["total"] = time.perf_counter() - started
        pools = engine.stats() if engine.stats is not None else {}
    summary = _write_summary(cfg, out, manifest, selection)
    return SynthesisResult(out, summary, written, {k: round(v, 4) for k, v in timing.items()}, pools)


# -- the engines: where the speaking and listening happen -------------------------------------------------------------


@dataclass
class _Engine:
    """``submit(jobs)`` → a future of the clips; ``listen(lang, texts, clips)`` → a future of what the ASR heard,
    or None where the driver listens with ``asr`` as it judges; ``depth`` batches in flight at most."""

    submit: Callable[[list], Future]
    listen: Callable | None
    asr: object
    depth: int
    stats: Callable[[], dict] | None = None


@contextmanager
def _engine(cfg: SynthesisConfig, asr, todo: list) -> Iterator[_Engine]:
    """The local engine (TTS worker processes, the ASR here), or Ray's (:mod:`.on_ray`). A run with nothing left to
    do starts neither a cluster nor an ASR."""
    if cfg.engine == "ray" and todo:
        if asr is not None:
            raise AudioMLQAError("a loaded ASR cannot be sent to Ray actors: leave asr out with engine ray")
        run = str(Path(cfg.output).resolve())
        with ray_engine(cfg.asr, tts_actors=cfg.workers, address=cfg.ray_address, run=run) as ray:
            yield _Engine(ray.submit, ray.listen, ray.asr, ray.depth, ray.stats)
        return
    if todo and asr is None:
        asr = cfg.asr.load()
    with tts_pool(cfg.workers if todo else 1, overlap=cfg.overlap) as submit:
        yield _Engine(submit, None, asr, 2 if cfg.overlap else 1)


# -- the loop: speak a batch, judge the one before --------------------------------------------------------------------


def _language_batches(todo: Sequence[Question], batch_size: int) -> deque[tuple[str, list[Question]]]:
    """The questions still to do as batches of one question language, in order of first appearance."""
    return deque(
        (lang, group[start : start + batch_size])
        for lang in dict.fromkeys(q.question_lang for q in todo)
        for group in [[q for q in todo if q.question_lang == lang]]
        for start in range(0, len(group), batch_size)
    )


@dataclass
class _Batches:
    """The batches still to speak. A batch's unfinished questions come back as the next batch to speak, so each
    round makes one more attempt at them. Overlapped, one batch is spoken ahead of the one being judged; taking
    turns, a batch is spoken only once the one before it is judged (and its retries come first)."""

    cfg: SynthesisConfig
    state: _Progress
    voices: dict[str, Voice]
    engine: _Engine
    work: deque[tuple[str, list[Question]]]
    timing: dict[str, float]

    def speak_next(self) -> Spoken | None:
        """Hand the next batch to the TTS (taking turns, this speaks it: the ASR side waits)."""
        if not self.work:
            return None
        t = time.perf_counter()
        lang, active = self.work.popleft()
        batch = [(q, self.state.next(q)) for q in active]
        spoken = speak_batch(lang, batch, self.cfg, self.voices[lang], self.engine.submit, self.engine.listen)
        self.timing["waiting_for_tts"] += time.perf_counter() - t
        return spoken

    def retry(self, spoken: Spoken) -> None:
        """Put the questions of a judged batch that are not finished first in line."""
        again = [q for q, _ in spoken.batch if self.state.next(q) is not None]
        if again:
            self.work.appendleft((spoken.lang, again))


def _speak_and_judge(
    batches: _Batches, engine: _Engine, out: Path, manifest: Path, bar: Bar, on_batch, settings: str
) -> int:
    """Speak and judge batch after batch until every question is finished, with ``engine.depth`` batches handed
    out (the one being judged included: 2, one spoken while another is judged; 1, taking turns), appending each
    batch's rows (marked with the ``settings`` hash they were judged under) to the manifest as it is judged;
    returns the number of rows written. A batch's unfinished questions are spoken again before anything not yet
    handed out."""
    cfg, state, timing, written = batches.cfg, batches.state, batches.timing, 0
    flight: deque[Spoken] = deque()

    def fill() -> None:
        while len(flight) < engine.depth and (spoken := batches.speak_next()) is not None:
            flight.append(spoken)

    fill()
    while flight:
        current = flight.popleft()
        t0 = time.perf_counter()
        clips = current.clips.result()
        t1 = time.perf_counter()
        rows = _judge_batch(current, clips, cfg, batches.voices[current.lang], engine.asr, out)
        for r in rows:
            r.settings = settings
            state.record(r)
        append_rows(manifest, rows)
        timing["waiting_for_tts"] += t1 - t0
        timing["asr"] += time.perf_counter() - t1
        timing["tts"] += sum(seconds for _, seconds in clips)
        written += len(rows)
        bar.advance(sum(state.next(q) is None for q, _ in current.batch))
        if on_batch is not None:
            on_batch(written)
        batches.retry(current)
        fill()
    return written


# -- judging a batch --------------------------------------------------------------------------------------------------


def _judge_batch(spoken: Spoken, clips: list, cfg: SynthesisConfig, voice: Voice, asr, out: Path) -> list[Attempt]:
    """Listen to a spoken batch, judge every clip and write its audio: the manifest rows of these attempts."""
    lang, texts = spoken.lang, spoken.texts
    transcripts, asr_seconds = spoken.heard.result() if spoken.heard is not None else listen(asr, lang, texts, clips)
    metric, (verified, evidence), rule = cfg.metric_for(lang), cfg.verification(lang), cfg.threshold_rule(lang)
    rows = []
    for i, ((q, k), plan, (speech, tts_seconds)) in enumerate(zip(spoken.batch, spoken.plans, clips)):
        reference = normalize_for_asr(texts[i], lang)
        tokens = len(reference.replace(" ", "")) if metric == "cer" else len(reference.split())
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
            threshold=cfg.threshold_for(lang, tokens),
            threshold_rule=rule,
            verified=verified,
            verification=evidence,
            tts_license=voice.info["license"],
            tts_seconds=round(tts_seconds, 4),
            asr_seconds=round(asr_seconds, 4) if i in transcripts else 0.0,
        )
        if not texts[i]:
            row.reason = "empty question text"
        elif i not in transcripts:
            row.reason = "TTS produced no audio"
        else:
            _judge_clip(row, speech, transcripts[i], reference, lang, out, evidence)
        rows.append(row)
    return rows


def _judge_clip(
    row: Attempt, speech: Speech, heard: Heard, reference: str, lang: str, out: Path, evidence: str
) -> None:
    """Write the clip of an attempt the ASR heard, and fill in its row: what was heard, how it lines up with what
    was spoken, the error, the decision."""
    rel = Path("audio") / row.pair / f"{safe_name(row.id)}-{row.attempt}.flac"
    row.audio_bytes, row.audio_sha256 = write_flac(inside(out, rel, "audio path"), speech)  # no link out
    transcript, row.prompt_leaked = heard
    hyp = normalize_for_asr(transcript, lang)
    row.alignment = align(row.spoken_text, reference, hyp, lang, row.metric)  # one alignment: the error and why
    err = row.alignment.rate
    row.accepted, row.reason = judge(err, row.threshold, row.metric, verified=row.verified, evidence=evidence)
    if row.alignment.missed and not row.accepted:
        row.reason += "; " + missed_words(row.alignment)
    row.audio, row.transcript, row.reference_norm, row.transcript_norm = rel.as_posix(), transcript, reference, hyp
    row.error = round(err, 6)


def missed_words(alignment: Alignment, most: int = 8) -> str:
    """``missed: kuechly, panthers (names: Kuechly)`` — what a rejected row's reason ends with."""
    more = len(alignment.missed) - most
    words = ", ".join(alignment.missed[:most]) + (f" and {more} more" if more > 0 else "")
    return f"missed: {words}" + (f" (names: {', '.join(alignment.names)})" if alignment.names else "")


def judge(
    error: float, threshold: float, metric: str, *, verified: bool, evidence: str = ""
) -> tuple[bool, str | None]:
    """The filter's decision on one clip: accepted when its error is at most the threshold, and why not (or, for
    a language the judge cannot verify, why the decision is weak: ``evidence``)."""
    ok = error <= threshold
    if not verified:
        return ok, f"unverified: {evidence}; {metric} {error:.3f} {'≤' if ok else '>'} {threshold:.3g}"
    return ok, None if ok else f"{metric} {error:.3f} > {threshold:.3g}"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(qid: str) -> str:
    """A file name for a question id that cannot escape its folder and stays unique."""
    name = _UNSAFE.sub("_", qid).lstrip(".")[:100]
    if name != qid or not name:
        name = f"{name}_{hashlib.sha256(qid.encode()).hexdigest()[:10]}"
    return name


# -- what an output folder already holds: settings, attempts, questions -----------------------------------------------


def select_questions(cfg: SynthesisConfig) -> list[Question]:
    """This shard's part of the whole selection (:func:`select`)."""
    return select(cfg)[0]


def select(cfg: SynthesisConfig) -> tuple[list[Question], dict | None]:
    """This shard's part of the whole selection: every shard selects as an unsharded run would (``per_language`` and
    ``limit`` included), then keeps its questions, so N shards together speak exactly what one run would. For an
    instruction set, also what was left out unspoken and why (counted over the whole source; None for MLQA)."""
    left_out = None
    if cfg.task == INSTRUCTION:
        found = read_instructions(cfg.source, cfg.instructions)
        left_out = {
            "label": found.label,
            "sha256": found.sha256,
            "total": found.total,
            "left_out": found.left_out,
            "ids": found.left_out_ids,
        }
        qs = found.selected(cfg.per_language, cfg.seed, cfg.limit)
    else:
        qs = load_questions(
            cfg.source,
            split=cfg.split,
            languages=cfg.languages,
            pairs=cfg.pairs,
            cross_lingual=cfg.cross_lingual,
            per_language=cfg.per_language,
            seed=cfg.seed,
            limit=cfg.limit,
            lang=cfg.source_lang,
        )
    mine = [q for q in qs if in_shard(q.pair, q.id, cfg.shard)]
    if not mine:
        i, n = cfg.shard
        raise AudioMLQAError(
            f"shard {i}/{n} holds none of the {len(qs)} selected question(s) (sha256(pair:id) mod {n}): "
            "run fewer shards or select more questions (--limit, --per-language)"
        )
    return mine, left_out


def _prepare_output(cfg: SynthesisConfig, out: Path, log: Callable[[str], None]) -> tuple[Path, dict, bool]:
    """Create ``out`` (or fail in one line) and refuse to resume a run made with other settings. Returns run.json's
    path, the settings to record (the saved ones where they match ``cfg``, so rows keep one hash across versions),
    and whether run.json is intact.

    A missing or damaged run.json beside a manifest with rows is rebuilt only when the manifest proves the
    settings: every row records the hash of this run's settings. Otherwise the record is gone, and with it what the
    rows were judged under: refused. A manifest without rows judged nothing: any record there is replaced."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise AudioMLQAError(f"cannot write to output directory {out}: {e.strerror or e}") from None
    run_file, manifest = out / f"run{cfg.suffix}.json", out / f"manifest{cfg.suffix}.jsonl"
    rows = read_manifest(manifest)
    current = jsonable(cfg.fingerprint())
    try:
        previous, problem = (read_run_record(run_file).config, None) if run_file.exists() else (None, "is missing")
    except DamagedRecord as e:
        previous, problem = None, str(e)
    changed = _changed_settings(previous, cfg) if previous is not None else []
    if not rows:
        if previous is None or changed:  # a start that failed, or a record of nothing: begin afresh
            (out / f"questions{cfg.suffix}.jsonl").unlink(missing_ok=True)
        return run_file, current, previous is not None and not changed
    if changed:
        raise AudioMLQAError(
            f"{out} holds a run with other settings (changed: {', '.join(changed)}); "
            "resume with the same settings or choose another --output"
        )
    settings = previous if previous is not None else current
    expected, recorded = settings_hash(settings), {r.settings for r in rows}
    if previous is None and recorded != {expected}:
        raise AudioMLQAError(
            f"{run_file} {problem}, and the {len(rows)} row(s) of {manifest.name} do not prove this run's "
            f"settings (rows: {_hashes(recorded)}, this run: {expected[:12]}): restore {run_file.name} from a backup, "
            "or start a new --output"
        )
    if recorded - {expected, None}:
        raise AudioMLQAError(
            f"{manifest}: rows were judged under other settings ({_hashes(recorded - {expected, None})}, this run: "
            f"{expected[:12]}); resume with the same settings or choose another --output"
        )
    if previous is None:
        log(f"{run_file} {problem}: rebuilt from this run's settings, which every row of {manifest.name} records")
    return run_file, settings, previous is not None


def _hashes(hashes: set[str | None]) -> str:
    """Settings hashes for a message: short, and rows of earlier versions (no hash) named as such."""
    return ", ".join(sorted(h[:12] if h else "none recorded" for h in hashes))


def _changed_settings(previous: dict, cfg: SynthesisConfig) -> list[str]:
    """Top-level settings that differ between a saved run's config and ``cfg``. The saved one is read through
    today's schema first, so a run recorded by an earlier version (fewer defaults spelled out) still matches."""
    current = cfg.fingerprint()
    try:
        runtime = {k: getattr(cfg, k) for k in cfg.RUNTIME_ONLY}
        if cfg.calibration is not None and isinstance(previous.get("calibration"), dict):
            # a record from before the per-token rule was judged by the per-clip one
            saved = {"rule": "per-clip", **previous["calibration"], "file": None}
            previous = {**previous, "calibration": saved}
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
class _Progress:
    """Every selected question's attempts so far, and which of their clips need redoing."""

    made: dict[tuple[str, str], dict[int, Attempt]]
    broken: dict[tuple[str, str], set[int]]
    max_attempts: int

    def next(self, q: Question) -> int | None:
        return next_attempt(self.made.get(q.key, {}), self.broken.get(q.key, set()), self.max_attempts)

    def record(self, row: Attempt) -> None:
        self.made.setdefault(row.key, {})[row.attempt] = row
        self.broken.get(row.key, set()).discard(row.attempt)


def _read_progress(out: Path, manifest: Path, questions: Sequence[Question], max_attempts: int) -> _Progress:
    """The attempts in the manifest, with every clip the selection relies on checked (size and checksum)."""
    wanted = {q.key for q in questions}
    rows = latest(read_manifest(manifest))
    standing = standing_attempts(rows)  # the clips a dataset takes: the accepted one, else the best rejected one
    state = _Progress({}, {}, max_attempts)
    for r in rows:
        state.made.setdefault(r.key, {})[r.attempt] = r
        relied_on = r.accepted or standing.get(r.key) is r
        if r.key in wanted and relied_on and clip_problem(out, r):
            state.broken.setdefault(r.key, set()).add(r.attempt)
    return state


def _write_selection(path: Path, questions: Sequence[Question]) -> list[tuple[str, str]]:
    """questions.jsonl holds every question this output was ever asked to speak: a rerun with a smaller
    ``limit`` adds nothing and removes nothing, so publishing takes all that was done."""
    rows = read_question_rows(path) if path.exists() else {}
    for q in questions:
        rows.setdefault(q.key, q.to_dict())
    write_jsonl(path, list(rows.values()))
    return list(rows)


# -- the records of a run ---------------------------------------------------------------------------------------------


def _check_voices(cfg: SynthesisConfig, voices: dict[str, Voice]) -> None:
    """Speak a word with every voice the settings name, so that a voice the TTS lacks fails before the output
    records anything (the backends' own voice lists are trusted)."""
    with tts_pool(1, overlap=False) as submit:
        for lang, voice in voices.items():
            for name in voice.choice.voices or []:
                try:
                    submit([voice.job("a", lang, AttemptPlan(name, cfg.seed, cfg.rates[0]))]).result()
                except AudioMLQAError:
                    raise
                except Exception as e:  # noqa: BLE001 - a backend's own error for a voice it lacks: one line
                    detail = " ".join(str(e).split())[:200] or e.__class__.__name__
                    raise AudioMLQAError(
                        f"{voice.choice.backend} cannot speak {lang} with voice {name!r} ({detail}); "
                        f"name a voice it has (tts.{lang}.voices)"
                    ) from None


def _run_record(cfg: SynthesisConfig, settings: dict, voices: dict[str, Voice], asr, command: str | None) -> RunRecord:
    """run.json: ``settings`` (the fingerprint the rows' hash is of) and what the run was made with."""
    return RunRecord(
        command=command,
        thresholds={lang: cfg.rule_for(lang) for lang in voices},
        config=settings,
        runtime={
            "workers": cfg.workers,
            "batch_size": cfg.batch_size,
            "limit": cfg.limit,
            "overlap": cfg.overlap,
            "engine": cfg.engine,
            **({"ray_address": cfg.ray_address} if cfg.engine == "ray" else {}),
        },
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


def _write_summary(cfg: SynthesisConfig, out: Path, manifest: Path, selection: list[tuple[str, str]]) -> dict:
    """summary.json and the figures, over every question this output was asked to speak: the summary."""
    human = cfg.calibration.languages if cfg.calibration is not None else {}
    wanted = set(selection)
    rows = [r for r in read_manifest(manifest) if r.key in wanted]
    summary = summarize(rows, selection, human=human)
    left_out = out / f"left-out{cfg.suffix}.json"
    if left_out.is_file():
        summary["left_out"] = read_json(left_out)
    write_json(out / f"summary{cfg.suffix}.json", summary)
    write_figures(out / "figures", rows, {k: v["errors"] for k, v in human.items()}, suffix=cfg.suffix)
    return summary


# -- the same judge on human speech -----------------------------------------------------------------------------------


def calibrate_filter(
    cfg: SynthesisConfig,
    reference: Reference,
    output: str | Path,
    *,
    progress: bool = True,
    asr=None,
    allow_implausible: bool = False,
) -> dict:
    """Calibrate the filter ``cfg`` describes (its ASR settings and metrics) on human speech; write the file
    (an implausible language is refused, or marked with ``allow_implausible``: :func:`.calibration.calibrate`)."""
    output = Path(output)
    if output.is_dir() or not os.access(output.parent if str(output.parent) else ".", os.W_OK):
        raise AudioMLQAError(f"cannot write the calibration to {output}: give a file in a writable folder (-o)")
    metric = {lang: cfg.metric_for(lang) for lang in {c.lang for c in reference.clips}}
    with nullcontext(asr) if asr is not None else asr_judge(cfg.asr, engine=cfg.engine, address=cfg.ray_address) as asr:
        doc = calibrate(
            reference,
            asr,
            cfg.asr.model_dump(mode="json"),
            metric=metric,
            batch_size=cfg.batch_size,
            progress=progress,
            allow_implausible=allow_implausible,
        )
    write_json(output, doc)
    return doc
