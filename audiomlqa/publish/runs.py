"""The synthesis runs a dataset is made from: :func:`find_runs` reads every run in the output folders (a folder may
hold several shards), :func:`select_rows` takes each question's standing attempt and checks it (one run per question,
its clip present and unchanged), and :func:`pair_statistics` counts what was asked and kept per pair and split.
:func:`public_path` and :func:`public_command` cut what the runs recorded to what may travel with the data.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import shlex
import stat
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import pair_key
from audiomlqa.manifest import (
    Attempt,
    DamagedRecord,
    RunRecord,
    clip_problem,
    read_manifest,
    read_run_record,
    standing_attempts,
)
from audiomlqa.sources import HF_SPLIT, SPLITS, read_question_rows
from audiomlqa.synthesis.alignment import rejected_for_names

REJECTED_CONFIG = "rejected"


@dataclass
class SynthesisRun:
    """One run inside an output directory: ``manifest{suffix}.jsonl`` with its questions and run record."""

    directory: Path
    suffix: str
    record: RunRecord
    rows: list[Attempt]
    questions: dict[tuple[str, str], dict]

    @functools.cached_property
    def standing(self) -> dict[tuple[str, str], Attempt]:
        """Each of this run's questions' standing attempt (attempts outside its selection are left out)."""
        return {key: row for key, row in standing_attempts(self.rows).items() if key in self.questions}

    @property
    def split(self) -> str:
        return HF_SPLIT[SPLITS[self.record.split]]

    @property
    def name(self) -> str:
        return f"{self.directory}{'/manifest' + self.suffix if self.suffix else ''}"


def find_runs(outputs: Sequence[str | Path], held: contextlib.ExitStack | None = None) -> list[SynthesisRun]:
    """Every run in ``outputs`` (a directory may hold several shards' manifests), its rows checked against its
    record. With ``held``, each run's synthesis lock is taken into it first (see :func:`_not_being_written`)."""
    runs = []
    for out in map(Path, outputs):
        if not out.is_dir():
            raise AudioMLQAError(f"{out}: not a synthesis output directory (no such folder)")
        manifests = sorted(out.glob("manifest*.jsonl"))
        if not manifests:
            raise AudioMLQAError(f"{out}: no manifest*.jsonl; run `audiomlqa synthesize -o {out}` first")
        for manifest in manifests:
            suffix = manifest.name[len("manifest") : -len(".jsonl")]
            run_file, questions_file = out / f"run{suffix}.json", out / f"questions{suffix}.jsonl"
            for f in (run_file, questions_file):
                if not f.exists():
                    raise AudioMLQAError(
                        f"{out}: {manifest.name} has no {f.name} beside it; rerun the synthesis command to complete it"
                    )
            if held is not None:
                held.enter_context(_not_being_written(out, suffix))
            try:
                record = read_run_record(run_file)
            except DamagedRecord as e:
                raise AudioMLQAError(
                    f"{run_file} {e}: restore it from a backup, or rerun the synthesis command on {out} (it rebuilds "
                    "the record only where the manifest proves the settings)"
                ) from None
            questions = read_question_rows(questions_file)  # one message, one fix: the same as synthesize's
            rows = read_manifest(manifest)
            _check_settings(manifest, run_file, record, rows)
            runs.append(SynthesisRun(out, suffix, record, rows, questions))
    return runs


def _check_settings(manifest: Path, run_file: Path, record: RunRecord, rows: Sequence[Attempt]) -> None:
    """Every row was judged under the settings run.json states (rows of earlier versions record none)."""
    hashes = sorted({r.settings for r in rows} - {None})
    if len(hashes) > 1:
        raise AudioMLQAError(
            f"{manifest}: rows were judged under different settings ({hashes[0][:12]} and {hashes[1][:12]}): a run "
            "resumed with other settings; publish only an output made with one setting"
        )
    if hashes and hashes[0] != record.settings_hash:
        raise AudioMLQAError(
            f"{manifest}: rows were judged under settings {hashes[0][:12]} but {run_file.name} states "
            f"{record.settings_hash[:12]}: the record is not this run's; restore the right {run_file.name}"
        )


@contextlib.contextmanager
def _not_being_written(out: Path, suffix: str) -> Iterator[None]:
    """Hold a shared lock on the synthesis lock of a run (``.audiomlqa{suffix}.lock``) while publishing it: a run
    that a synthesize still writes is refused, and none starts until publish is done. An output without a lock
    file (copied from elsewhere) has no writer; a lock file is only read, so a read-only output publishes."""
    path = out / f".audiomlqa{suffix}.lock"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        yield
        return
    except OSError as e:
        raise AudioMLQAError(
            f"{path}: cannot open the synthesis lock ({e.strerror or e}); remove it if no run is writing there"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AudioMLQAError(
                f"{path}: the synthesis lock is not a regular file; remove it if no run is writing there"
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AudioMLQAError(
                f"{out} is being written by synthesize ({_holder(fd)}); wait for it to finish, then publish"
            ) from None
        yield
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """Who holds a lock, as its holder wrote it (pid, host, start)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {int(info['pid'])} on {info['host']} since {info['since']}"
    except (ValueError, KeyError, TypeError, OSError):
        return "holder unknown"


@dataclass
class Selected:
    """A standing attempt chosen for the dataset, with where it came from."""

    config: str
    split: str
    run: SynthesisRun
    row: Attempt


def select_rows(runs: Sequence[SynthesisRun], include_rejected: bool = False) -> list[Selected]:
    """Each question's standing attempt, checked: one run per question, audio present. Raises with the
    first offenders before anything is read or written."""
    chosen: dict[tuple[str, str, str], Selected] = {}
    duplicates, missing = [], []
    for run in runs:
        for (pair, qid), row in run.standing.items():
            if row.accepted:
                config = pair
            elif include_rejected:
                config = REJECTED_CONFIG
            else:
                continue
            key = (run.split, pair, qid)
            if key in chosen:
                duplicates.append(f"{pair}/{qid} ({chosen[key].run.name} and {run.name})")
                continue
            problem = "no audio" if not row.audio else clip_problem(run.directory, row)
            if problem:
                missing.append(f"{pair}/{qid} ({problem})")
                continue
            chosen[key] = Selected(config, run.split, run, row)
    if duplicates:
        raise AudioMLQAError(
            f"{len(duplicates)} question(s) appear in more than one run, e.g. {'; '.join(duplicates[:3])}: "
            "publish each shard once (outputs of the same run twice?)"
        )
    if missing:
        raise AudioMLQAError(
            f"{len(missing)} clip(s) to publish are missing or damaged, e.g. {'; '.join(missing[:3])}: "
            "rerun the synthesis command on that output to redo them"
        )
    return sorted(chosen.values(), key=lambda s: (s.config, s.split, pair_key(s.row.pair), s.row.id))


def pair_statistics(runs: Sequence[SynthesisRun], selected: Sequence[Selected]) -> dict:
    """Per pair and split: questions attempted, accepted, pass rate, median error, audio hours, TTS."""
    kept = {(s.split, *s.row.key) for s in selected if s.row.accepted}
    stats: dict[str, dict] = {}
    for run in runs:
        for (pair, qid), row in run.standing.items():
            s = stats.setdefault(
                f"{pair}/{run.split}",
                {
                    "pair": pair,
                    "split": run.split,
                    "attempted": 0,
                    "accepted": 0,
                    "metric": row.metric,
                    "errors": [],
                    "audio_seconds": 0.0,
                    "verified": row.verified,
                    "verification": row.verification,
                    "rejected_for_names": 0,
                    "tts": set(),
                },
            )
            s["attempted"] += 1
            s["rejected_for_names"] += rejected_for_names(row)
            if row.error is not None:
                s["errors"].append(row.error)
            if (run.split, pair, qid) in kept:
                s["accepted"] += 1
                s["audio_seconds"] += row.duration
                s["tts"].add(f"{row.backend} ({row.tts_license or 'licence not recorded'})")
    for s in stats.values():
        errors = s.pop("errors")
        s["pass_rate"] = s["accepted"] / s["attempted"] if s["attempted"] else 0.0
        s["median_error"] = statistics.median(errors) if errors else None
        s["audio_hours"] = s.pop("audio_seconds") / 3600
        s["tts"] = sorted(s["tts"])
    return dict(sorted(stats.items(), key=lambda kv: (pair_key(kv[1]["pair"]), kv[1]["split"])))


def human_errors(runs: Sequence[SynthesisRun]) -> dict[str, list[float]]:
    """Per question language, the ASR's errors on human speech from the runs' calibrations (first run wins)."""
    out: dict[str, list[float]] = {}
    for run in runs:
        for lang, entry in (run.record.calibration.get("languages") or {}).items():
            out.setdefault(lang, list(entry.get("errors") or []))
    return out


def public_command(command: str | None) -> str | None:
    """A recorded command line fit for a card: absolute paths cut to their name (a recipe to ``recipes/…``), so
    no local folder or user name travels with the data."""
    if not command:
        return command
    try:
        tokens = shlex.split(command)
    except ValueError:
        return None
    out = []
    for token in tokens:
        if "=" in token and not token.startswith(("/", "~")):  # --output=/x, or an override asr.model=/x
            key, eq, value = token.partition("=")
        elif token.startswith("-") and not token.startswith("--") and len(token) > 2:  # -o/x
            key, eq, value = token[:2], "", token[2:]
        else:
            key, eq, value = "", "", token
        out.append(key + eq + public_path(value))
    return shlex.join(out)


def public_path(value: str) -> str:
    """An absolute path cut to its name (a recipe to ``recipes/…``); anything else as it is."""
    if not (value.startswith(("/", "~")) or (len(value) > 2 and value[1] == ":" and value[2] in "/\\")):
        return value
    parts = Path(value).parts
    return "/".join(parts[parts.index("recipes") :]) if "recipes" in parts else Path(value).name or value
