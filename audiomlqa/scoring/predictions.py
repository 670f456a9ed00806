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


def _is_flat(doc: object) -> bool:
    return isinstance(doc, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items())


def looks_like_model_spec(doc: object) -> bool:
    """Model specs (``models/*.json``) are objects with a ``kind`` naming the model type."""
    return isinstance(doc, dict) and isinstance(doc.get("kind"), str) and "name" in doc


def _flat_mapping(doc: object, where: Path) -> PredictionMap:
    if not _is_flat(doc):
        raise AudioMLQAError(
            f"{where}: not a predictions mapping (expected a JSON object {{question id: answer string}})"
        )
    return doc  # type: ignore[return-value]


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
            by_pair[pair] = _flat_mapping(read_json(f), f)
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
    if _is_flat(doc):
        return Predictions(path, doc, {}, files)  # type: ignore[arg-type]
    if isinstance(doc, dict) and doc and all(isinstance(v, dict) for v in doc.values()):
        try:
            by_pair = {parse_pair(k): _flat_mapping(v, path) for k, v in doc.items()}
        except AudioMLQAError as e:
            raise AudioMLQAError(f"{path}: not a predictions mapping keyed by language pair ({e})") from None
        return Predictions(path, None, by_pair, files)
    raise AudioMLQAError(
        f"{path}: not a predictions mapping (expected {{question id: answer}} or {{pair: {{question id: answer}}}})"
    )
