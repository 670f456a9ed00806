"""Reading model predictions for scoring.

Question ids repeat across MLQA's 49 pair files (the same question is asked in every question
language), so predictions are kept per (context, question) pair. Three layouts are accepted:

* a flat JSON object ``{question id: answer}`` — for one dataset file;
* a JSON object keyed by pair ``{"de": {id: answer}, "de-en": {...}}`` (``C`` or ``C-Q``, context
  language first);
* a directory of flat files, one per pair, named ``<pair>.json`` (``de.json``, ``de-en.json``, as
  ``audiomlqa score MODEL.json`` writes them) or after the MLQA file (``…context-de-question-en….json``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import parse_pair
from audiomlqa.sources import languages_from_name
from audiomlqa.utils.files import read_json

PredictionMap = Mapping[str, str]


@dataclass(frozen=True)
class Predictions:
    """Predictions as loaded: either one flat mapping or one mapping per (context, question) pair."""

    source: Path
    flat: PredictionMap | None
    by_pair: dict[tuple[str, str], PredictionMap]
    files: dict[str, str]  # file name -> sha256, for provenance


def looks_like_model_spec(doc: object) -> bool:
    """Model specs (``models/*.json``) are objects with a ``kind`` naming the model type."""
    return isinstance(doc, dict) and isinstance(doc.get("kind"), str) and "name" in doc


def _json_type(value: object) -> str:
    """What JSON calls ``value``'s type, for messages."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return {int: "a number", float: "a number", list: "a list", dict: "an object"}.get(type(value), "text")


def _flat_mapping(doc: object, where: str) -> PredictionMap:
    """``doc`` as {question id: answer}, or one line naming the first entry that is not an answer string."""
    if not isinstance(doc, dict):
        raise AudioMLQAError(
            f"{where}: not a predictions mapping (expected a JSON object {{question id: answer string}}, "
            f"got {_json_type(doc)})"
        )
    for qid, answer in doc.items():
        if not isinstance(answer, str):
            raise AudioMLQAError(
                f"{where}: entry {qid!r}: the answer is {_json_type(answer)}, not a string: write every answer as "
                'text ("" for none)'
            )
    return doc


def load_predictions(path: str | Path) -> Predictions:
    """Load predictions from a file (flat or keyed by pair) or a directory of per-pair files."""
    path = Path(path)
    if path.is_dir():
        by_pair: dict[tuple[str, str], PredictionMap] = {}
        files = {}
        for f in sorted(path.glob("*.json")):
            pair = languages_from_name(f)
            if pair is None:
                try:
                    pair = parse_pair(f.stem)
                except AudioMLQAError:
                    continue  # not a predictions file (e.g. a scores.json beside them)
            if pair in by_pair:
                raise AudioMLQAError(f"{path}: two prediction files for pair {'-'.join(pair)}; keep one")
            by_pair[pair] = _flat_mapping(read_json(f), str(f))
            files[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
        if not by_pair:
            raise AudioMLQAError(f"{path}: no prediction files (expected <pair>.json, e.g. de.json or de-en.json)")
        return Predictions(path, None, by_pair, files)
    doc = read_json(path)
    files = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    if looks_like_model_spec(doc):
        raise AudioMLQAError(
            f"{path}: this is a model spec (kind {doc['kind']!r}), not predictions: "
            f"run it with `audiomlqa score {path} --dataset …`"
        )
    if not isinstance(doc, dict):
        raise AudioMLQAError(
            f"{path}: not a predictions mapping (expected {{question id: answer}} or {{pair: {{question id: answer}}}}"
            f", got {_json_type(doc)})"
        )
    if not any(isinstance(v, dict) for v in doc.values()):  # {question id: answer}
        return Predictions(path, _flat_mapping(doc, str(path)), {}, files)
    by_pair = {}
    for key, answers in doc.items():  # {pair: {question id: answer}}
        try:
            pair = parse_pair(key)
        except AudioMLQAError as e:
            raise AudioMLQAError(f"{path}: not a predictions mapping keyed by language pair ({e})") from None
        by_pair[pair] = _flat_mapping(answers, f"{path}: pair {key!r}")
    return Predictions(path, None, by_pair, files)
