"""A synthesis run's two records: the append-only manifest (one :class:`Attempt` per JSON line, safe against
``kill -9``) and ``run.json`` (:class:`RunRecord`: the settings, voices, judge and threshold rules of the run).

Rows are appended and fsynced batch by batch. A run killed mid-write leaves at most one truncated
last line; :func:`read_manifest` drops it (and :func:`repair` cuts it off before appending), so a
rerun resumes exactly where the last complete row ended. A damaged line anywhere else is not
guessed at: it is reported with its line number and nothing is changed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from audiomlqa.audio import SAMPLE_RATE
from audiomlqa.errors import AudioMLQAError
from audiomlqa.utils.files import inside, sha256_file


@dataclass
class Attempt:
    """One try at speaking one question, and everything the round-trip filter decided about it.

    A question (``pair``, ``id``) has one or more attempts; its **standing attempt** is the one a
    dataset takes (:func:`standing_attempts`). Rows written by earlier versions read as well: fields
    they lack take the defaults below.
    """

    id: str
    pair: str
    context_lang: str
    question_lang: str
    attempt: int
    """0, 1, …: the how-manieth try at this question (it picks the voice, rate and seed)."""
    backend: str
    voice: str
    seed: int
    rate: float
    text: str
    """The question as written in the source."""
    spoken_text: str
    """What the TTS was given (whitespace collapsed, escapes removed)."""
    audio: str | None = None
    """The clip, relative to the output folder (None when no audio was made)."""
    audio_bytes: int | None = None
    audio_sha256: str | None = None
    """Size and checksum of the clip as written: resuming and publishing check it is still the same file."""
    duration: float = 0.0
    sample_rate: int = SAMPLE_RATE
    asr_model: str = ""
    transcript: str | None = None
    reference_norm: str | None = None
    transcript_norm: str | None = None
    metric: str = "wer"
    error: float | None = None
    threshold: float = 0.0
    threshold_rule: str | None = None
    """Where the threshold came from: ``fixed: …`` or ``calibrated: …`` with the human-speech numbers behind it."""
    verified: bool = True
    """False where the ASR model cannot check the language: the threshold only catches gross failures."""
    accepted: bool = False
    reason: str | None = None
    tts_license: str = ""
    tts_seconds: float = 0.0
    asr_seconds: float = 0.0

    @property
    def key(self) -> tuple[str, str]:
        return self.pair, self.id

    @property
    def threshold_source(self) -> str:
        """``calibrated`` or ``fixed`` (rows of earlier versions had fixed thresholds only)."""
        return "calibrated" if (self.threshold_rule or "").startswith("calibrated") else "fixed"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> Attempt:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in known})


@dataclass(frozen=True)
class ThresholdRule:
    """Where a language's threshold came from: ``fixed`` (the recipe's number) or ``calibrated`` (``scale`` × the
    ``quantile`` of the ASR's error on ``clips`` human clips of ``reference``); ``rule`` says it in words."""

    kind: Literal["fixed", "calibrated"]
    threshold: float | None
    metric: str | None
    rule: str
    quantile: float | None = None
    scale: float | None = None
    clips: int | None = None
    reference: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None or k == "threshold"}

    @classmethod
    def from_dict(cls, doc: dict) -> ThresholdRule:
        """Records before ``kind`` existed said it only in words (``calibrated: …`` or ``fixed: …``)."""
        rule = doc.get("rule") or f"fixed: {doc.get('threshold', '?')}"
        kind = doc.get("kind") or ("calibrated" if rule.startswith("calibrated") else "fixed")
        known = {f.name for f in dataclasses.fields(cls)} - {"kind", "rule"}
        return cls(kind=kind, rule=rule, **{k: doc.get(k) for k in known})


@dataclass
class RunRecord:
    """``run.json``: what a synthesis run was made with. Records of earlier versions read as well: a record
    without threshold rules gets fixed ones from its config's thresholds."""

    config: dict
    """The settings the results depend on (``SynthesisConfig.fingerprint``): a resumed run must have the same."""
    thresholds: dict[str, ThresholdRule] = field(default_factory=dict)
    command: str | None = None
    runtime: dict = field(default_factory=dict)
    audiomlqa_version: str | None = None
    python: str | None = None
    tts: dict[str, dict] = field(default_factory=dict)
    """Question language → what its TTS backend says of itself (engine, voices, licence, voice origin)."""
    asr: dict | None = None
    packages: dict[str, str] = field(default_factory=dict)

    @property
    def split(self) -> str:
        return self.config.get("split", "dev")

    @property
    def source_lang(self) -> str | None:
        return self.config.get("source_lang")

    @property
    def calibration(self) -> dict:
        """The calibration the run's thresholds came from (its numbers, reference and sha256), or {}."""
        return self.config.get("calibration") or {}

    def to_dict(self) -> dict:
        return {
            "command": self.command,
            "thresholds": {lang: rule.to_dict() for lang, rule in self.thresholds.items()},
            "config": self.config,
            "runtime": self.runtime,
            "audiomlqa_version": self.audiomlqa_version,
            "python": self.python,
            "tts": self.tts,
            "asr": self.asr,
            "packages": self.packages,
        }

    @classmethod
    def from_dict(cls, doc: dict) -> RunRecord:
        if not isinstance(doc, dict) or not isinstance(doc.get("config", {}), dict):
            raise ValueError("not a run record")
        config = doc.get("config") or {}
        thresholds = doc.get("thresholds")
        if not thresholds:
            fixed = config.get("thresholds") or {}
            thresholds = {
                lang: {"threshold": fixed.get(lang), "rule": f"fixed: {fixed.get(lang, '?')}"}
                for lang in doc.get("tts") or {}
            }
        return cls(
            config=config,
            thresholds={lang: ThresholdRule.from_dict(t) for lang, t in thresholds.items()},
            command=doc.get("command"),
            runtime=doc.get("runtime") or {},
            audiomlqa_version=doc.get("audiomlqa_version"),
            python=doc.get("python"),
            tts=doc.get("tts") or {},
            asr=doc.get("asr"),
            packages=doc.get("packages") or {},
        )


def read_manifest(path: Path) -> list[Attempt]:
    """All complete rows; a truncated final line (from a killed run) is ignored."""
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = Attempt.from_dict(json.loads(line))
        except (ValueError, TypeError, AttributeError):
            if i == len(lines):  # no newline after it: an interrupted append
                break
            raise AudioMLQAError(
                f"{path}: line {i} is not a JSON row; the manifest is damaged (fix or delete that line, then rerun)"
            ) from None
        rows.append(row)
    return rows


def repair(path: Path) -> None:
    """Cut off an incomplete last line so that new rows start on a line of their own."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def append_rows(path: Path, rows: Iterable[Attempt]) -> None:
    """Append rows durably (one write, then fsync). A failed write (a full disk) leaves at most a truncated last
    line, which the next run cuts off."""
    payload = "".join(json.dumps(r.to_dict(), ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    if not payload:
        return
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise AudioMLQAError(f"cannot append to {path}: {e.strerror or e}; free space and rerun to resume") from None


def clip_problem(root: Path, row: Attempt) -> str | None:
    """Why the clip of ``row`` cannot be relied on (None when it can): missing, outside ``root``, or not the file
    that was written (size or checksum changed). Rows of earlier versions have no checksum: existence is checked."""

    if not row.audio:
        return None
    try:
        path = inside(root, row.audio, "audio path")
    except AudioMLQAError as e:
        return str(e)
    if not path.is_file():
        return "missing"
    if row.audio_bytes is not None and path.stat().st_size != row.audio_bytes:
        return "changed size"
    if row.audio_sha256 is not None and sha256_file(path) != row.audio_sha256:
        return "changed content"
    return None


def latest(rows: Iterable[Attempt]) -> list[Attempt]:
    """The manifest as it stands: a redone attempt (same question and attempt number, appended later) replaces the
    earlier row; order of first appearance is kept."""
    out: dict[tuple[str, str, int], Attempt] = {}
    for r in rows:
        out[(r.pair, r.id, r.attempt)] = r
    return list(out.values())


def standing_attempts(rows: Iterable[Attempt]) -> dict[tuple[str, str], Attempt]:
    """Per question (pair, id), the attempt that stands: the accepted one, else the one with the lowest error
    (then the earliest)."""
    best: dict[tuple[str, str], Attempt] = {}
    for r in latest(rows):
        cur = best.get(r.key)
        if cur is None or _rank(r) < _rank(cur):
            best[r.key] = r
    return best


def _rank(row: Attempt) -> tuple:
    return (not row.accepted, float("inf") if row.error is None else row.error, row.attempt)
