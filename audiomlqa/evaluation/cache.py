"""The caches beside every run: what a model answered, and what a judge said of it, reused only when made alike.

A predictions cache, ``OUTPUT/<model>/<config>.raw.json``, holds a model's raw outputs, the transcripts it heard (a
cascade's) and the ids over its context window, with the spec (its sha256: :attr:`ModelSpec.sha256`), the prompt
version and the precision they came from; a judgement cache (:mod:`audiomlqa.evaluation.judge`) holds the judge's
verdicts with the judge spec and prompt. :func:`read_cache` is the one guard both go through: a damaged cache, or one
made with another spec, prompt or precision, is refused with the reason (pass ``--overwrite``) rather than mixed in.
What a cache holds is typed when read (:class:`PredictionsRecord`; the judge's in its module): an answer that is a
number, a list where a mapping belongs or a missing key fails in one line naming the file and the entry, never later
as a traceback or a wrong score.

:func:`write_predictions` writes one config's cache (after every batch: a killed run loses at most one), and
:func:`merge_parts` joins the parts that each process of a multi-process run wrote apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audiomlqa.config import describe_error
from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.prompts import PROMPT_VERSION
from audiomlqa.evaluation.specs import ModelSpec
from audiomlqa.utils.files import write_json


@dataclass(frozen=True)
class MadeWith:
    """Fields a cache must hold these values in to be reused; ``refusal(doc)`` says what it holds instead."""

    expected: Mapping[str, object]
    refusal: Callable[[dict], str]
    unrecorded_ok: bool = False
    """A cache made before these fields were recorded is taken as it is."""

    def matches(self, doc: dict) -> bool:
        return all(doc.get(k, v if self.unrecorded_ok else None) == v for k, v in self.expected.items())


class Record(BaseModel):
    """A cache's content as JSON holds it, typed strictly (an answer is text, never a number; a score an integer,
    never ``4.0`` or ``"4"``); keys this version does not know are kept."""

    model_config = ConfigDict(strict=True, extra="allow")


R = TypeVar("R", bound=Record)


def typed(record: type[R], data: object, where: str, redo: str) -> R:
    """``data`` as ``record``, or one line: ``where`` (the file, and the entry), the first problem, ``redo``."""
    try:
        return record.model_validate(data)
    except ValidationError as e:
        message = f"{describe_error(e, where)}; {redo}"
    raise AudioMLQAError(" ".join(message.splitlines()))  # a key holding a line break stays on the one line


def read_cache(
    path: Path, made_with: Sequence[MadeWith], record: type[Record] | None = None, redo: str = "pass --overwrite"
) -> dict:
    """The cache at ``path`` ({} when there is none); a damaged one, one not made as ``made_with`` says, or one
    whose content is not a ``record`` is refused in one line (``redo`` says how to make it again)."""
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise AudioMLQAError(f"{path} is damaged ({e.__class__.__name__}): delete it or {redo}") from None
    if not isinstance(doc, dict):
        raise AudioMLQAError(f"{path} is damaged (not a JSON object): delete it or {redo}")
    for check in made_with:
        if not check.matches(doc):
            raise AudioMLQAError(f"{path} holds {check.refusal(doc)}")
    if record is not None:
        typed(record, doc, str(path), f"delete the file or {redo}")
    return doc


class PredictionsRecord(Record):
    """A predictions cache (:func:`write_predictions`) as it must read back: what it was made with, the raw outputs
    and transcripts by question id, and the ids over the model's window."""

    model: str | None = None
    spec_sha256: str
    prompt_version: str
    dtype: str | None = None
    runner: dict | None = None
    world_size: int | None = Field(None, ge=1)
    raw: dict[str, str]
    transcripts: dict[str, str] = Field(default_factory=dict)
    over_window: list[str] = Field(default_factory=list)


REDO_PREDICTIONS = "pass --overwrite to answer again"


def predictions_made_with(spec: ModelSpec, dtype: str, prompt_version: str = PROMPT_VERSION) -> list[MadeWith]:
    """What a predictions cache must have been made with: this spec and prompt version, in this precision."""
    return [
        MadeWith(
            {"spec_sha256": spec.sha256, "prompt_version": prompt_version},
            lambda doc: "predictions of another spec or prompt version: pass --overwrite to redo them",
        ),
        MadeWith(  # caches made before precision was recorded are taken as they are
            {"dtype": dtype},
            lambda doc: (
                f"predictions made in {doc['dtype']}; this run is {dtype}: set dtype in the spec, pass --overwrite, "
                "or use another --predictions-dir"
            ),
            unrecorded_ok=True,
        ),
    ]


def read_predictions(path: Path, spec: ModelSpec, dtype: str, prompt_version: str = PROMPT_VERSION) -> dict:
    """One config's cached predictions ({} when none), refused if made with another spec, prompt or precision."""
    return read_cache(path, predictions_made_with(spec, dtype, prompt_version), PredictionsRecord, REDO_PREDICTIONS)


def write_predictions(
    path: Path,
    spec: ModelSpec,
    dtype: str,
    runner: dict | None,
    raw: dict[str, str],
    transcripts: dict[str, str],
    over_window: Iterable[str],
    world_size: int | None = None,
    prompt_version: str = PROMPT_VERSION,
) -> None:
    """One config's cache: the raw outputs, transcripts and over-window ids, with what they were made with."""
    doc = {
        "model": spec.name,
        "spec_sha256": spec.sha256,
        "prompt_version": prompt_version,
        "dtype": dtype,
        "runner": runner,
        **({"world_size": world_size} if world_size is not None else {}),
        "raw": raw,
        "transcripts": transcripts,
        "over_window": sorted(over_window),
    }
    write_json(path, doc, indent=1)


def merge_parts(
    main: Path,
    parts: Sequence[Path],
    spec: ModelSpec,
    dtype: str,
    overwrite: bool,
    prompt_version: str = PROMPT_VERSION,
) -> None:
    """The caches each process wrote apart (``parts``, in rank order) merged into ``main``, over what it held
    (nothing with ``overwrite``); a later part's answer replaces an earlier one, and its over-window marks too."""
    merged = {} if overwrite else read_predictions(main, spec, dtype, prompt_version)
    raw, heard, runner = dict(merged.get("raw", {})), dict(merged.get("transcripts", {})), merged.get("runner")
    over = set(merged.get("over_window", []))
    for path in parts:
        part = read_predictions(path, spec, dtype, prompt_version)
        raw.update(part.get("raw", {}))
        heard.update(part.get("transcripts", {}))
        over = (over - part.get("raw", {}).keys()) | set(part.get("over_window", []))
        runner = runner or part.get("runner")
    write_predictions(main, spec, dtype, runner, raw, heard, over, world_size=len(parts), prompt_version=prompt_version)
