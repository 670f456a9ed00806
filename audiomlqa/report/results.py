"""What a report is made of: every model's answer to every question, scored one question at a time.

A report reads what ``audiomlqa score`` leaves behind, never a model: a run's folder (``predictions/``, a folder per
model), one model's folder (``<config>.json``, ``<config>.raw.json``, judge caches, ``scores.json``), a plain
predictions folder of ``<pair>.json`` files (any model's, scored by the same scorer), or a ``score --json`` document
(which names each model's folder). The gold questions come from the dataset the scores record (or ``--dataset``).

Each question gets its EM and F1 on the extracted answer and on the raw output (MLQA's official per-question
:func:`~audiomlqa.scoring.score_answer`, on the 0–100 scale of the config's score) and the judge's score when a judge
cache holds a verdict on this very answer. The config's point scores are the official scorer's
(:func:`~audiomlqa.scoring.score`), so the report's numbers are ``score --json``'s.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.judge import ToJudge
from audiomlqa.languages import pair_key
from audiomlqa.scoring import score, score_answer
from audiomlqa.sources import DatasetFile, read_dataset_files
from audiomlqa.tasks import EXTRACTIVE_QA, INSTRUCTION, parse_config

SCORES = "scores.json"


@dataclass
class Answer:
    """One model's answer to one question, scored."""

    extracted: str
    raw: str | None = None
    transcript: str | None = None
    """What a cascade's ASR heard (its own transcript, not the dataset's)."""
    over_window: bool = False
    exact_match: float | None = None
    f1: float | None = None
    raw_exact_match: float | None = None
    raw_f1: float | None = None
    judge: int | None = None
    judge_status: str | None = None


@dataclass
class ConfigResult:
    """One model on one config: its answers by question id and the official scores of the config."""

    config: str
    answers: dict[str, Answer]
    scores: dict[str, float | None]


@dataclass
class ModelResult:
    name: str
    source: Path
    configs: dict[str, ConfigResult] = field(default_factory=dict)
    judge: str | None = None
    """The judge's name, when a judge scored this model's answers."""
    unparsed: str = "zero"
    """How unparsed verdicts count (``score --unparsed``): 0, or left out."""


@dataclass
class Results:
    models: list[ModelResult]
    gold: dict[str, DatasetFile]
    """The dataset's questions per config, in dataset order."""
    dataset: str
    split: str

    @property
    def configs(self) -> list[str]:
        """Configs any model answered, MLQA's order (monolingual first), instruction configs last."""
        names = {c for m in self.models for c in m.configs}
        return sorted(names, key=lambda c: (parse_config(c).task == INSTRUCTION, pair_key(parse_config(c).pair)))


# -- finding the models -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    name: str
    folder: Path
    dataset: str | None
    split: str | None


def _is_model_folder(folder: Path) -> bool:
    return (folder / SCORES).is_file() or any(_config_of(p) for p in folder.glob("*.json"))


def _config_of(path: Path) -> str | None:
    """The config a predictions file answers (``de.json``, ``de-en.json``, ``instruct-en.json``), else None."""
    if path.name.count(".") != 1:  # de.raw.json, judge-x.json are caches beside the answers
        return None
    try:
        return parse_config(path.stem).name
    except AudioMLQAError:
        return None


def _provenance(folder: Path) -> tuple[str | None, str | None]:
    path = folder / SCORES
    if not path.is_file():
        return None, None
    prov = _read(path).get("provenance") or {}
    return prov.get("dataset"), prov.get("split")


def _read(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise AudioMLQAError(f"{path} is not readable JSON ({e.__class__.__name__}): give score's outputs") from None
    if not isinstance(doc, dict):
        raise AudioMLQAError(f"{path}: not a JSON object: give a predictions folder or a score --json document")
    return doc


def find_models(inputs: Sequence[str | Path]) -> list[_Found]:
    """Every model the inputs hold, in the order given (a run's models by name)."""
    found: list[_Found] = []
    for item in map(Path, inputs):
        if item.is_file():
            found += _from_json(item)
        elif item.is_dir() and _is_model_folder(item):
            found.append(_Found(item.name, item, *_provenance(item)))
        elif item.is_dir():
            subs = sorted(p for p in item.iterdir() if p.is_dir() and (p / SCORES).is_file())
            if not subs:
                raise AudioMLQAError(
                    f"{item}: no predictions here (expected scores.json or <config>.json files, or a folder of "
                    "model folders as `audiomlqa score --predictions-dir` writes)"
                )
            found += [_Found(p.name, p, *_provenance(p)) for p in subs]
        else:
            raise AudioMLQAError(f"{item}: no such file or folder (give a predictions folder or score --json output)")
    names = [f.name for f in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise AudioMLQAError(f"two inputs hold a model named {twice[0]!r}: give each model once")
    return found


def _from_json(path: Path) -> list[_Found]:
    doc = _read(path)
    if isinstance(doc.get("models"), list):  # score SPEC... --json
        out = []
        for m in doc["models"]:
            folder = Path(m.get("output") or path.parent / m.get("model", ""))
            if not _is_model_folder(folder):
                raise AudioMLQAError(
                    f"{path}: model {m.get('model')!r}: its predictions folder {folder} is missing: give the "
                    "predictions folder instead"
                )
            prov = m.get("provenance") or {}
            out.append(_Found(m["model"], folder, prov.get("dataset"), prov.get("split")))
        return out
    source = ((doc.get("provenance") or {}).get("predictions") or {}).get("source")  # score PREDICTIONS --json
    if source and Path(source).is_dir():
        return [_Found(Path(source).name, Path(source), None, None)]
    raise AudioMLQAError(
        f"{path}: neither a score --json document nor predictions: give a predictions folder or score --json output"
    )


# -- reading and scoring ------------------------------------------------------------------------------------


def load_results(inputs: Sequence[str | Path], dataset: str | Path | None = None, split: str | None = None) -> Results:
    """Every model's answers to the dataset's questions, each scored (``dataset``/``split``: default, what the
    scores record)."""
    found = find_models(inputs)
    dataset = str(dataset) if dataset else _agreed("dataset", [f.dataset for f in found])
    split = split or _agreed("split", [f.split for f in found], default="validation")
    wanted = sorted({c for f in found for c in _answered_configs(f.folder)})
    files = read_dataset_files(dataset, split, [parse_config(c).pair for c in wanted if _is_qa(c)] or None)
    files += read_dataset_files(dataset, "test", [c for c in wanted if not _is_qa(c)]) if _instr(wanted) else []
    gold = {f.config: f for f in files}
    models = [_model(f, gold) for f in found]
    return Results(models, gold, dataset, split)


def _is_qa(config: str) -> bool:
    return parse_config(config).task == EXTRACTIVE_QA


def _instr(configs: list[str]) -> bool:
    return any(not _is_qa(c) for c in configs)


def _agreed(what: str, values: list[str | None], default: str | None = None) -> str:
    known = sorted({v for v in values if v})
    if len(known) > 1:
        raise AudioMLQAError(f"the models were scored on different {what}s ({', '.join(known)}): pass --{what}")
    if known:
        return known[0]
    if default is not None:
        return default
    raise AudioMLQAError(f"the inputs do not record their {what}: pass --{what}")


def _answered_configs(folder: Path) -> list[str]:
    return [c for p in sorted(folder.glob("*.json")) if (c := _config_of(p))]


def _model(found: _Found, gold: dict[str, DatasetFile]) -> ModelResult:
    scores = _read(found.folder / SCORES) if (found.folder / SCORES).is_file() else {}
    judge = scores.get("judge") or _judge_of_caches(found.folder)
    model = ModelResult(found.name, found.folder, judge=judge.get("judge"), unparsed=judge.get("unparsed", "zero"))
    verdicts = _verdicts(found.folder) if judge else {}
    for config in _answered_configs(found.folder):
        if config not in gold:
            raise AudioMLQAError(f"{found.folder}: answers for {config!r}, which the dataset lacks: pass --dataset")
        model.configs[config] = _config(found.folder, gold[config], verdicts, scores.get("configs", {}).get(config))
    return model


def _config(folder: Path, gold: DatasetFile, verdicts: dict, recorded: dict | None) -> ConfigResult:
    config = gold.config
    extracted = _read(folder / f"{config}.json")
    cache = _read(folder / f"{config}.raw.json") if (folder / f"{config}.raw.json").is_file() else {}
    raw, transcripts = cache.get("raw"), cache.get("transcripts") or {}
    over = set(cache.get("over_window") or [])
    instruction = gold.task == INSTRUCTION
    answers = {}
    for q in gold.questions:
        if q.id not in extracted and (raw is None or q.id not in raw):
            continue
        a = Answer(str(extracted.get(q.id, "")), None if raw is None else str(raw.get(q.id, "")))
        a.transcript, a.over_window = transcripts.get(q.id), q.id in over
        if not instruction:
            em, f1 = score_answer(a.extracted, q.answer_texts, gold.context_lang)
            a.exact_match, a.f1 = 100.0 * em, 100.0 * f1
            if a.raw is not None:
                em, f1 = score_answer(a.raw, q.answer_texts, gold.context_lang)
                a.raw_exact_match, a.raw_f1 = 100.0 * em, 100.0 * f1
        verdict = _verdict_for(verdicts, config, q, a, gold.task)
        if verdict is not None:
            a.judge, a.judge_status = verdict.get("score"), verdict.get("status")
        answers[q.id] = a
    return ConfigResult(config, answers, _config_scores(gold, extracted, raw, recorded))


def _config_scores(gold: DatasetFile, extracted: dict, raw: dict | None, recorded: dict | None) -> dict:
    """The config's scores: the official scorer's over every question of the config (an unanswered one is 0), and
    the judge's mean as ``score`` recorded it."""
    recorded = recorded or {}
    out: dict[str, float | None] = {k: None for k in ("exact_match", "f1", "raw_exact_match", "raw_f1")}
    if gold.task == EXTRACTIVE_QA:
        s = score(gold.gold, extracted, gold.context_lang)
        out["exact_match"], out["f1"] = s.exact_match, s.f1
        if raw is not None:
            s = score(gold.gold, raw, gold.context_lang)
            out["raw_exact_match"], out["raw_f1"] = s.exact_match, s.f1
    out["judge_mean"] = recorded.get("judge_mean")
    return out


def _judge_of_caches(folder: Path) -> dict:
    """A predictions folder that ``score PREDICTIONS --judge`` judged has no scores.json, only the judge's cache
    (``judge-<name>.json``, ``judge-<name>.v2.json``): the judge is named by it, unparsed verdicts count 0 (score's
    default)."""
    caches = sorted(folder.glob("judge-*.json"))
    return {"judge": caches[0].name.removeprefix("judge-").split(".")[0]} if caches else {}


def _verdicts(folder: Path) -> dict[str, dict]:
    """Every cached verdict of the folder's judge caches, by cache key (v1 and v2 caches together)."""
    out: dict[str, dict] = {}
    for path in sorted(folder.glob("judge-*.json")):
        items = _read(path).get("items")
        if isinstance(items, dict):
            out.update({k: v for k, v in items.items() if isinstance(v, dict)})
    return out


def _verdict_for(verdicts: dict, config: str, q, a: Answer, task: str) -> dict | None:
    """The verdict on this answer: v1 judged the extracted span, v2 the full response (the cache key says which)."""
    if not verdicts:
        return None
    golds = (q.reference or "",) if task == INSTRUCTION else tuple(q.answer_texts)
    judged = [(a.raw or "").strip()] if task == INSTRUCTION else [a.extracted, (a.raw or "").strip()]
    for text in judged:
        key = ToJudge(config, q.id, q.question, golds, text, task).key
        if key in verdicts:
            return verdicts[key]
    return None
