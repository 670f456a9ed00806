"""The synthesis runs a dataset is made from: :func:`find_runs` reads every run in the output folders (a folder may
hold several shards), :func:`select_rows` takes each question's standing attempt and checks it (one run per question,
its clip present and unchanged), and :func:`pair_statistics` counts what was asked and kept per pair and split.
:func:`public_path` and :func:`public_command` cut what the runs recorded to what may travel with the data.
"""

from __future__ import annotations

import functools
import json
import shlex
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import pair_key
from audiomlqa.manifest import Attempt, RunRecord, clip_problem, read_manifest, standing_attempts
from audiomlqa.sources import HF_SPLIT, SPLITS

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


def find_runs(outputs: Sequence[str | Path]) -> list[SynthesisRun]:
    """Every run in ``outputs`` (a directory may hold several shards' manifests)."""
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
            try:
                record = RunRecord.from_dict(json.loads(run_file.read_text(encoding="utf-8")))
                questions = {}
                for line in questions_file.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        q = json.loads(line)
                        questions[(q["pair"], q["id"])] = q
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise AudioMLQAError(
                    f"{out}: {run_file.name} or {questions_file.name} is damaged ({e.__class__.__name__}); "
                    "rerun synthesis"
                ) from None
            runs.append(SynthesisRun(out, suffix, record, read_manifest(manifest), questions))
    return runs


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
                    "tts": set(),
                },
            )
            s["attempted"] += 1
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
