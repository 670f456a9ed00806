"""``audiomlqa report --data SOURCE``: the data explorer, one page (``data.html``) where every clip of a synthesis
output or a published dataset plays beside what the round-trip filter decided about it.

    data.html           every clip: its spoken text, the ASR transcript, the error (WER/CER) against the threshold
                        and the rule that set it, voice and backend, accepted or rejected, and (synthesis output) every
                        attempt at its question; the pass rate per voice and per language; the error distribution
                        against human speech per question language
    audio/<pair>/...    the clips, copied beside the page and linked relatively (no server needed)
    figures/errors.svg  the error distributions, for a paper

Sources: a synthesis output (``manifest*.jsonl`` beside ``run*.json`` and ``questions*.jsonl``, read through
:func:`audiomlqa.publish.find_runs`) holds every attempt; a published dataset (parquet configs, the optional
``rejected`` one included) holds each question's standing attempt only, and no threshold rule (the page says so).

A clip of a synthesis output that is missing or damaged does not stop the page: its row says which file and why
(no player), and the log names them; a rerun of ``synthesize`` on the output redoes them. A clip path that leads
outside the output (a planted link) is refused in one line, as publish refuses it.

Human speech: the run's calibration (what ``synthesize``'s figure draws); else the packaged calibration
(:data:`~audiomlqa.synthesis.calibration.SHIPPED_CALIBRATION`) when the clips were judged by the judge it measured
(for an output: the same ASR settings; for a dataset, which records none: the same ASR model by name); else none,
and the page says so for that language.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import language_key, pair_key
from audiomlqa.manifest import Attempt, clip_problem, latest
from audiomlqa.report.audio import REJECTED, hf_split_of, is_published, load_config, write_clip
from audiomlqa.report.histogram import Panel, error_histograms
from audiomlqa.report.site import Site, prepare_folder, publish_folder, render
from audiomlqa.utils.files import inside, open_regular, write_text

NAV = [("data.html", "Data")]
WHAT_TO_GIVE = (
    "give a synthesis output folder (audiomlqa synthesize -o; it holds manifest.jsonl) or a published dataset folder "
    "(audiomlqa publish --to; it holds README.md and data/*/*.parquet)"
)
DATASET_COLUMNS = (
    "id", "audio", "context_lang", "question_lang", "spoken_text", "duration", "tts_backend", "tts_voice",
    "asr_model", "asr_transcript", "error_metric", "error_rate", "threshold", "verified", "accepted", "attempt",
)  # fmt: skip


@dataclass
class Entry:
    """One clip and the filter's verdict on it; ``group`` numbers its question (its attempts share it)."""

    group: int
    pair: str
    id: str
    lang: str
    attempt: int
    voice: str
    backend: str
    text: str
    transcript: str | None
    metric: str
    error: float | None
    threshold: float | None
    rule: str | None
    reason: str | None
    accepted: bool
    standing: bool
    verified: bool
    duration: float
    asr_model: str = ""
    audio: str | None = None
    problem: str | None = None

    def to_json(self, rules: dict[str, int]) -> dict:
        """The page's row, short keys (the full dataset has ~50k): rules are numbered, being few and long."""
        row = {
            "g": self.group, "p": self.pair, "i": self.id, "l": self.lang, "a": self.attempt, "v": self.voice,
            "b": self.backend, "s": self.text, "t": self.transcript, "m": self.metric, "e": self.error,
            "th": self.threshold, "r": rules.setdefault(self.rule, len(rules)) if self.rule else None,
            "ok": self.accepted, "st": self.standing, "d": round(self.duration, 2), "au": self.audio,
        }  # fmt: skip
        if self.reason:
            row["why"] = self.reason
        if self.problem:
            row["pr"] = self.problem
        if not self.verified:
            row["uv"] = True
        return row


@dataclass
class Explorer:
    """What the page shows, read from either source."""

    kind: str
    """``output`` (a synthesis output: every attempt) or ``dataset`` (published: the standing attempts)."""
    source: Path
    entries: list[Entry]
    splits: list[str]
    human: dict[str, tuple[list[float], str]] = field(default_factory=dict)
    """Question language → the judge's errors on human speech and where they come from."""
    has_rejected: bool = True
    problems: list[str] = field(default_factory=list)


def build_data_explorer(
    source: str | Path,
    out: str | Path,
    *,
    split: str | None = None,
    audio: bool = True,
    log: Callable[[str], None] | None = None,
) -> Site:
    """Read ``source`` (a synthesis output or a published dataset), copy its clips and write ``out/data.html``; built
    in a temporary folder and put in place at the end (a failed build leaves the last site)."""
    log = log or (lambda line: None)
    source, out = Path(source), Path(out)
    kind = source_kind(source)
    tmp = prepare_folder(out)
    try:
        explorer = (_from_output if kind == "output" else _from_dataset)(source, split, tmp, audio)
        log(f"{len(explorer.entries)} clip(s) from {source} ({'synthesis output' if kind == 'output' else 'dataset'})")
        if explorer.problems:
            log(
                f"{len(explorer.problems)} clip(s) missing or damaged, shown without audio, e.g. "
                f"{'; '.join(explorer.problems[:3])}: rerun the synthesis command on {source} to redo them"
            )
        site = _write(explorer, tmp)
        publish_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return site.moved(tmp, out)


def source_kind(source: Path) -> str:
    """``output`` or ``dataset``; anything else is refused in one line saying what to give."""
    if not source.is_dir():
        raise AudioMLQAError(f"{source}: no such folder; {WHAT_TO_GIVE}")
    if any(source.glob("manifest*.jsonl")):
        return "output"
    if is_published(source):
        return "dataset"
    raise AudioMLQAError(f"{source} is neither a synthesis output nor a published dataset: {WHAT_TO_GIVE}")


# -- a synthesis output: every attempt ---------------------------------------------------------------------------------


def _from_output(source: Path, split: str | None, folder: Path, audio: bool) -> Explorer:
    from audiomlqa.publish import find_runs
    from audiomlqa.publish.runs import human_errors

    runs = find_runs([source])
    wanted = _hf_split(split)
    chosen = [r for r in runs if wanted is None or r.split == wanted]
    if not chosen:
        have = ", ".join(sorted({r.split for r in runs}))
        raise AudioMLQAError(f"{source} has no run of split {split!r} (it has: {have}): leave --split out")
    explorer = Explorer("output", source, [], sorted({r.split for r in chosen}))
    groups: dict[tuple[str, str], int] = {}
    for run in chosen:
        standing = run.standing
        rows = [r for r in latest(run.rows) if r.key in run.questions]
        for row in sorted(rows, key=lambda r: (pair_key(r.pair), r.id, r.attempt)):
            entry = _output_entry(run, row, groups.setdefault(row.key, len(groups)), standing.get(row.key) is row)
            if audio:
                entry.audio, entry.problem = _copy_clip(run.directory, row, folder)
                if entry.problem and row.audio:  # a row without audio (the TTS made none) says so on its own
                    explorer.problems.append(f"{row.pair}/{row.id} attempt {row.attempt}: {entry.problem}")
            explorer.entries.append(entry)
    calibrated = {lang: (errors, _calibration_label(chosen)) for lang, errors in human_errors(chosen).items() if errors}
    judged_by_default = all(_judged_as_packaged(run.record.config.get("asr") or {}) for run in chosen)
    explorer.human = {**_shipped_human(explorer.entries, by_settings=judged_by_default), **calibrated}
    return explorer


def _output_entry(run, row: Attempt, group: int, standing: bool) -> Entry:
    recorded = run.record.thresholds.get(row.question_lang)
    return Entry(
        group, row.pair, row.id, row.question_lang, row.attempt, row.voice, row.backend, row.spoken_text,
        row.transcript, row.metric, row.error, row.threshold,
        row.threshold_rule or (recorded.rule if recorded else None), row.reason, row.accepted, standing,
        row.verified, row.duration, row.asr_model,
    )  # fmt: skip


def _copy_clip(root: Path, row: Attempt, folder: Path) -> tuple[str | None, str | None]:
    """The clip copied beside the page (its link), or why it cannot be: missing, not FLAC, changed since written.
    A path out of the output is no damage but a planted entry: :func:`clip_problem` refuses it in one line."""
    if not row.audio:
        return None, "no audio was made"
    problem = clip_problem(root, row)
    if problem:
        return None, problem
    path = inside(root, row.audio, "audio path")
    try:
        with open_regular(path, f"audio path {row.audio!r}", within=root) as f:
            data = f.read()
    except OSError as e:
        return None, f"{row.audio}: unreadable ({e.strerror or e})"
    return write_clip(folder, row.pair, Path(row.audio).stem, data, Path(row.audio).suffix or ".flac"), None


def _calibration_label(runs) -> str:
    reference = next((r.record.calibration.get("reference") for r in runs if r.record.calibration), None)
    return f"this run's calibration{f' ({reference})' if reference else ''}"


def _judged_as_packaged(asr: dict) -> bool:
    """Whether ``asr`` (a run's recorded ASR settings) is the judge the packaged calibration measured."""
    from audiomlqa.synthesis.calibration import comparable_asr_settings

    doc = _shipped_calibration()
    return doc is not None and comparable_asr_settings(asr) == doc["asr_settings"]


# -- a published dataset: the standing attempts ------------------------------------------------------------------------


def _from_dataset(source: Path, split: str | None, folder: Path, audio: bool) -> Explorer:
    try:
        import datasets
    except ImportError:
        raise AudioMLQAError("reading a published dataset needs 'datasets': pip install 'audiomlqa[hf]'") from None
    try:
        configs = datasets.get_dataset_config_names(str(source))
    except Exception as e:  # noqa: BLE001 - file and format errors come in many types
        raise AudioMLQAError(f"cannot read the configs of {source} ({e.__class__.__name__}): {WHAT_TO_GIVE}") from None
    has_rejected = any((Path(source) / "data" / REJECTED).glob("*.parquet"))  # not a declared config (the card)
    configs = [c for c in configs if c != REJECTED] + ([REJECTED] if has_rejected else [])
    explorer = Explorer("dataset", source, [], [], has_rejected=has_rejected)
    for config in sorted(configs, key=pair_key):
        for hf_split, ds in _splits(datasets, source, config, split):
            if hf_split not in explorer.splits:
                explorer.splits.append(hf_split)
            for row in ds:
                href = None
                if audio and (row.get("audio") or {}).get("bytes"):
                    suffix = Path(row["audio"].get("path") or "x.flac").suffix or ".flac"
                    href = write_clip(folder, config, f"{hf_split}-{row['id']}", row["audio"]["bytes"], suffix)
                explorer.entries.append(_dataset_entry(config, row, len(explorer.entries), href))
    if not explorer.entries:
        raise AudioMLQAError(f"{source} has no clip{f' in split {split!r}' if split else ''}: {WHAT_TO_GIVE}")
    explorer.human = _shipped_human(explorer.entries, by_settings=False)
    return explorer


def _splits(datasets, source: Path, config: str, split: str | None) -> Iterable[tuple[str, object]]:
    """Each split of ``config`` (only ``split``'s, when given), its audio left undecoded."""
    try:
        parts = load_config(datasets, source, config)
    except (OSError, ValueError) as e:
        raise AudioMLQAError(
            f"{source}: cannot read config {config!r} ({e.__class__.__name__}); publish the dataset again"
        ) from None
    for name in sorted(parts):
        if split is not None and name != hf_split_of(config, split):
            continue
        ds = parts[name].cast_column("audio", datasets.Audio(decode=False))
        yield name, ds.select_columns([c for c in DATASET_COLUMNS if c in ds.column_names])


def _dataset_entry(config: str, row: dict, group: int, href: str | None) -> Entry:
    pair = config if config != "rejected" else _pair(row["context_lang"], row["question_lang"])
    return Entry(
        group, pair, row["id"], row["question_lang"], row.get("attempt") or 0, row.get("tts_voice") or "",
        row.get("tts_backend") or "", row.get("spoken_text") or "", row.get("asr_transcript"),
        row.get("error_metric") or "wer", row.get("error_rate"), row.get("threshold"), None, None,
        bool(row.get("accepted")), True, row.get("verified", True) is not False, row.get("duration") or 0.0,
        row.get("asr_model") or "", href,
    )  # fmt: skip


def _pair(context_lang: str, question_lang: str) -> str:
    return context_lang if context_lang == question_lang else f"{context_lang}-{question_lang}"


def _hf_split(split: str | None) -> str | None:
    return None if split is None else hf_split_of("", split)


# -- human speech ------------------------------------------------------------------------------------------------------


def _shipped_calibration() -> dict | None:
    from audiomlqa.synthesis.calibration import SHIPPED_CALIBRATION, read_calibration, shipped_calibration

    try:
        return read_calibration(shipped_calibration(SHIPPED_CALIBRATION))
    except AudioMLQAError:
        return None


def _shipped_human(entries: list[Entry], *, by_settings: bool) -> dict[str, tuple[list[float], str]]:
    """The packaged calibration's human errors for the languages whose clips its judge scored, by the same metric:
    judged with its settings (``by_settings``: an output records them) or, where none are recorded (a dataset), by
    a model of the same name."""
    from audiomlqa.synthesis.calibration import SHIPPED_CALIBRATION

    doc = _shipped_calibration()
    if doc is None:
        return {}
    judge = (doc.get("asr") or {}).get("model")
    out = {}
    for lang, entry in doc["languages"].items():
        clips = [e for e in entries if e.lang == lang]
        same_judge = by_settings or (bool(clips) and all(e.asr_model == judge for e in clips))
        if clips and same_judge and all(e.metric == entry["metric"] for e in clips):
            how = "the same ASR settings" if by_settings else "the same ASR model"
            out[lang] = ([c["error"] for c in entry["clips"]], f"packaged calibration {SHIPPED_CALIBRATION} ({how})")
    return out


# -- the summaries and the page ----------------------------------------------------------------------------------------


def _rate(kept: int, asked: int) -> float | None:
    return 100.0 * kept / asked if asked else None


def _median(values: Iterable[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def voice_table(entries: list[Entry]) -> list[dict]:
    """Per voice (and backend): clips, accepted, pass rate and median error, over every clip shown (each attempt
    picks a voice, so a voice's pass rate is per attempt)."""
    out: dict[tuple[str, str], list[Entry]] = {}
    for e in entries:
        out.setdefault((e.backend, e.voice), []).append(e)
    return [
        {
            "voice": voice,
            "backend": backend,
            "languages": sorted({e.lang for e in es}, key=language_key),
            "clips": len(es),
            "accepted": sum(e.accepted for e in es),
            "rate": _rate(sum(e.accepted for e in es), len(es)),
            "median_error": _median(e.error for e in es),
        }  # fmt: skip
        for (backend, voice), es in sorted(out.items())
    ]


def language_table(
    entries: list[Entry], human: dict[str, tuple[list[float], str]], *, history: bool = True
) -> list[dict]:
    """Per question language: questions, kept (standing attempt accepted), pass rate, attempts per question (known
    with the ``history`` of an output only), the median error and threshold of the standing attempts, and the
    judge's median error on human speech."""
    out = []
    for lang in sorted({e.lang for e in entries}, key=language_key):
        es = [e for e in entries if e.lang == lang]
        standing = [e for e in es if e.standing]
        errors, kept = human.get(lang, ([], ""))[0], sum(e.accepted for e in standing)
        out.append(
            {
                "lang": lang, "metric": standing[0].metric if standing else es[0].metric, "questions": len(standing),
                "kept": kept, "rate": _rate(kept, len(standing)),
                "attempts": len(es) / len(standing) if standing and history else None,
                "median_error": _median(e.error for e in standing), "threshold": _median(e.threshold for e in standing),
                "human_median": _median(errors), "human_n": len(errors), "verified": all(e.verified for e in es),
            }
        )  # fmt: skip
    return out


def panels(entries: list[Entry], human: dict[str, tuple[list[float], str]]) -> list[Panel]:
    """A histogram panel per question language, of each question's standing clip (as the PNG figure draws it)."""
    out = []
    for lang in sorted({e.lang for e in entries}, key=language_key):
        standing = [e for e in entries if e.lang == lang and e.standing]
        thresholds = sorted(e.threshold for e in standing if e.threshold is not None)
        errors, where = human.get(lang, (None, ""))
        out.append(
            Panel(
                lang, standing[0].metric if standing else "wer", [e.error for e in standing if e.error is not None],
                errors, where, thresholds[len(thresholds) // 2] if thresholds else None,
                bool(thresholds) and thresholds[0] != thresholds[-1], all(e.verified for e in standing),
            )
        )  # fmt: skip
    return out


def _write(explorer: Explorer, folder: Path) -> Site:
    from markupsafe import Markup

    site = Site(folder, [], clips=sum(1 for e in explorer.entries if e.audio))
    svg = error_histograms(panels(explorer.entries, explorer.human), "ASR error per question language: TTS vs human")
    path = folder / "figures" / "errors.svg"
    path.parent.mkdir(exist_ok=True)
    write_text(path, svg)
    site.figures.append(path)
    rules: dict[str, int] = {}
    rows = [e.to_json(rules) for e in explorer.entries]
    data = {"kind": explorer.kind, "rows": rows, "rules": list(rules)}
    what = "synthesis output" if explorer.kind == "output" else "published dataset"
    languages = language_table(explorer.entries, explorer.human, history=explorer.kind == "output")
    name = explorer.source.resolve().name or str(explorer.source)
    site.pages.append(
        render(
            folder, "data", "Data", data, NAV,
            subtitle=f"{name} · {what} · {', '.join(explorer.splits)} · {len(rows)} clip(s)",
            kind=explorer.kind, source=str(explorer.source), name=name,
            has_rejected=explorer.has_rejected,
            voices=voice_table(explorer.entries), languages=languages,
            human={lang: where for lang, (_, where) in explorer.human.items()}, figure=Markup(svg),
            figure_href=path.relative_to(folder).as_posix(), problems=explorer.problems,
            questions=len({e.group for e in explorer.entries}), clips=len(rows),
        )
    )  # fmt: skip
    return site
