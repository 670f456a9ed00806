"""A synthesis run's two records: the append-only manifest (one :class:`Attempt` per JSON line, safe against
``kill -9``) and ``run.json`` (:class:`RunRecord`: the settings, voices, judge and threshold rules of the run).

The two are bound together: every row records the hash of the settings it was judged under (:func:`settings_hash`
of run.json's ``config``), and run.json carries a checksum of its own content, so a damaged, deleted or swapped
record is found out (:func:`read_run_record`) instead of silently describing rows it did not make.

Rows are appended and fsynced batch by batch. A run killed mid-write leaves at most one truncated
last line; :func:`read_manifest` drops it (and :func:`repair` cuts it off before appending), so a
rerun resumes exactly where the last complete row ended. A damaged line anywhere else is not
guessed at: it is reported with its line number and nothing is changed.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, Strict, StrictBool, StrictInt, StrictStr, TypeAdapter, ValidationError

from audiomlqa.audio import SAMPLE_RATE
from audiomlqa.errors import AudioMLQAError
from audiomlqa.utils.files import inside, open_regular, sha256_of

Count = Annotated[StrictInt, Field(ge=0)]
NonNegative = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
"""A non-negative finite number (an int is a number too; a bool or a string is not)."""
Positive = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]


@dataclass
class Alignment:
    """The judge's transcript lined up with what was spoken, in the metric's units (words for WER, characters for
    CER): why a clip failed, not only by how much (:func:`audiomlqa.synthesis.alignment.align`)."""

    unit: Literal["word", "char"]
    tokens: Count
    """Units of the spoken text: the ``n`` the per-token rule judges the errors against."""
    hits: Count
    substitutions: Count
    deletions: Count
    insertions: Count
    missed: list[StrictStr] = field(default_factory=list)
    """The spoken words (for zh: characters or names) the judge got wrong or did not hear, in order."""
    names: list[StrictStr] = field(default_factory=list)
    """Those of ``missed`` that are names or foreign words (the module's documented treatment), as written."""
    name_errors: Count = 0
    """Errors (in units) on names: what the error would lose if names were not counted."""

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """The filter's WER or CER (:func:`audiomlqa.asr.text.error_rate`): errors per spoken unit; with nothing
        spoken, 1.0 if anything was heard, else 0.0."""
        return self.errors / self.tokens if self.tokens else float(self.insertions > 0)


@dataclass
class Attempt:
    """One try at speaking one question, and everything the round-trip filter decided about it.

    A question (``pair``, ``id``) has one or more attempts; its **standing attempt** is the one a
    dataset takes (:func:`standing_attempts`). Rows written by earlier versions read as well: fields
    they lack take the defaults below.
    """

    id: StrictStr
    pair: StrictStr
    context_lang: StrictStr
    question_lang: StrictStr
    attempt: Count
    """0, 1, …: the how-manieth try at this question (it picks the voice, rate and seed)."""
    backend: StrictStr
    voice: StrictStr
    seed: StrictInt
    rate: Positive
    text: StrictStr
    """The question as written in the source."""
    spoken_text: StrictStr
    """What the TTS was given (whitespace collapsed, escapes removed)."""
    audio: StrictStr | None = None
    """The clip, relative to the output folder (None when no audio was made)."""
    audio_bytes: Count | None = None
    audio_sha256: StrictStr | None = None
    """Size and checksum of the clip as written: resuming and publishing check it is still the same file."""
    duration: NonNegative = 0.0
    sample_rate: Annotated[StrictInt, Field(gt=0)] = SAMPLE_RATE
    asr_model: StrictStr = ""
    transcript: StrictStr | None = None
    prompt_leaked: StrictBool = False
    """The judge wrote its script prompt instead of (or beside) the speech, and that copy was stripped from
    ``transcript`` before scoring (:mod:`audiomlqa.asr.prompts`)."""
    reference_norm: StrictStr | None = None
    transcript_norm: StrictStr | None = None
    metric: StrictStr = "wer"
    error: NonNegative | None = None
    threshold: Annotated[float, Strict(), Field(ge=0)] = 0.0
    threshold_rule: StrictStr | None = None
    """Where the threshold came from: ``fixed: …`` or ``calibrated: …`` with the human-speech numbers behind it."""
    verified: StrictBool = True
    """False where the ASR model cannot check the language: the threshold only catches gross failures."""
    verification: StrictStr | None = None
    """The evidence for ``verified``: the judge's measured error on human speech of the language, or why there is
    none (None in rows of earlier versions)."""
    accepted: StrictBool = False
    reason: StrictStr | None = None
    alignment: Alignment | None = None
    """Which spoken words the judge missed (None in rows of earlier versions and clips it did not hear)."""
    tts_license: StrictStr = ""
    tts_seconds: NonNegative = 0.0
    asr_seconds: NonNegative = 0.0
    settings: StrictStr | None = None
    """:func:`settings_hash` of the settings the row was judged under (None in rows of earlier versions): a run
    resumed or published with other settings is found out."""

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
        """A row read back, its types and ranges checked (unknown fields, as of later versions, are ignored);
        raises pydantic's ``ValidationError``."""
        return _attempt_adapter().validate_python(row)


@functools.cache
def _attempt_adapter() -> TypeAdapter:
    return TypeAdapter(Attempt)


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
    cap: float | None = None
    """A calibrated threshold's ceiling (``THRESHOLD_CAP``); ``capped``: whether the rule's value was above it."""
    capped: bool | None = None
    method: Literal["per-token", "per-clip"] | None = None
    """A calibrated rule's kind (:mod:`audiomlqa.synthesis.rules`): per-token rows each record their own threshold."""

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

    @property
    def settings_hash(self) -> str:
        """What every row of this run records as its ``settings``."""
        return settings_hash(self.config)

    def to_dict(self) -> dict:
        """The record as run.json holds it, with the checksum of its content."""
        doc = {
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
        return {**doc, "checksum": canonical_sha256(doc)}

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


def canonical_sha256(doc: object) -> str:
    """sha256 of ``doc`` as canonical JSON (sorted keys, no spaces, ASCII): the same for any layout of the file."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def settings_hash(config: dict) -> str:
    """The hash of a run's settings (run.json's ``config``) that every row judged under them records."""
    return canonical_sha256(config)


class DamagedRecord(AudioMLQAError):
    """run.json is there but cannot be trusted (not JSON, not a record, or its checksum does not match)."""


def read_run_record(path: Path) -> RunRecord:
    """run.json, its checksum verified (records of earlier versions have none and are read as they are). Raises
    :class:`DamagedRecord` (whose message says what is wrong, in a few words) for a damaged one."""
    try:
        doc = json.loads(path.read_bytes())
    except OSError as e:
        raise DamagedRecord(f"cannot be read ({e.strerror or e})") from None
    except ValueError:
        raise DamagedRecord("is damaged (not JSON)") from None
    try:
        record = RunRecord.from_dict(doc)
    except (ValueError, TypeError, AttributeError):
        raise DamagedRecord("is damaged (not a run record)") from None
    checksum = doc.pop("checksum", None)
    if checksum is not None and checksum != canonical_sha256(doc):
        raise DamagedRecord("is damaged (its checksum does not match its content: edited or corrupted)")
    return record


def read_manifest(path: Path) -> list[Attempt]:
    """All complete rows, their types checked; a truncated final line (from a killed run) is ignored. A row that is
    not JSON, or holds a value of the wrong type or out of range, fails in one line naming the file and line."""
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            if i == len(lines):  # no newline after it: an interrupted append
                break
            raise AudioMLQAError(
                f"{path}: line {i} is not a JSON row; the manifest is damaged (fix or delete that line, then rerun)"
            ) from None
        rows.append(_row(path, i, doc))
    return rows


def _row(path: Path, line: int, doc: object) -> Attempt:
    if not isinstance(doc, dict):
        raise AudioMLQAError(
            f"{path}: line {line} is not a JSON row (an object); the manifest is damaged "
            "(fix or delete that line, then rerun)"
        )
    try:
        return Attempt.from_dict(doc)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(map(str, err["loc"])) or "the row"
        got = f" (got {json.dumps(err['input'], ensure_ascii=True)[:40]})" if err["type"] != "missing" else ""
        raise AudioMLQAError(
            f"{path}: line {line}: {where}: {err['msg'].lower()}{got}; the manifest is damaged "
            "(fix or delete that line, then rerun)"
        ) from None


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


FLAC_MAGIC = b"fLaC"
"""The first four bytes of every FLAC file: what a clip must start with to be published or trained on."""


def clip_problem(root: Path, row: Attempt) -> str | None:
    """Why the clip of ``row`` cannot be relied on (None when it can): missing, not FLAC, or not the file that was
    written (size or checksum changed); rows of earlier versions have no checksum, the rest is checked. A clip
    outside ``root`` (as written or through a link), a link itself or not a regular file is no damage a rerun
    repairs but a planted entry: refused in one line (AudioMLQAError) naming the row."""

    if not row.audio:
        return None
    try:
        path = inside(root, row.audio, "audio path")
        with open_regular(path, f"audio path {row.audio!r}", within=root) as f:
            if row.audio_bytes is not None and os.fstat(f.fileno()).st_size != row.audio_bytes:
                return f"{row.audio}: changed size"
            if f.read(len(FLAC_MAGIC)) != FLAC_MAGIC:
                return f"{row.audio}: not a FLAC file"
            f.seek(0)
            if row.audio_sha256 is not None and sha256_of(f) != row.audio_sha256:
                return f"{row.audio}: changed content"
    except AudioMLQAError as e:
        raise AudioMLQAError(f"row {row.pair}/{row.id} (attempt {row.attempt}): {e}") from None
    except FileNotFoundError:
        return f"{row.audio}: missing"
    except OSError as e:
        return f"{row.audio}: unreadable ({e.strerror or e})"
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
