"""The numbers a report shows: every model × metric × (overall, each config) with its bootstrap interval, the paired
bootstrap of each model against a baseline, and the G-XLT matrices.

A point is the official score (``score --json``'s, to the float); its interval resamples the config's paragraphs
(questions on one paragraph move together, :mod:`audiomlqa.scoring.intervals`). Overall is the macro average over the
configs a model answered, resampled config by config. A value that does not exist (no F1 for an instruction config,
no judge score unjudged) is ``None`` everywhere: shown as missing, never as 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean

from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import LANGUAGES
from audiomlqa.report.results import ModelResult, Results
from audiomlqa.scoring.intervals import Sample, bootstrap_intervals, paired_bootstrap, sample
from audiomlqa.scoring.scorecard import paragraphs
from audiomlqa.tasks import EXTRACTIVE_QA, INSTRUCTION, parse_config

METRICS = {
    "f1": "F1",
    "exact_match": "EM",
    "judge_mean": "Judge (0–5)",
    "raw_f1": "raw F1",
    "raw_exact_match": "raw EM",
}
"""Every metric a leaderboard can show, with its label: extracted-answer F1/EM, the judge, and the raw output's."""
OVERALL = "overall"


@dataclass
class Cell:
    value: float | None
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass
class Test:
    """A paired bootstrap of a model against the baseline on the questions both answered."""

    difference: float
    low: float
    high: float
    p_value: float

    def to_dict(self) -> dict:
        return {"difference": self.difference, "low": self.low, "high": self.high, "p_value": self.p_value}


@dataclass
class Leaderboard:
    models: list[str]
    metrics: list[str]
    columns: list[str]
    baseline: str
    cells: dict[str, dict[str, dict[str, Cell]]] = field(default_factory=dict)
    """``cells[model][metric][column]``."""
    tests: dict[str, dict[str, dict[str, Test]]] = field(default_factory=dict)
    """``tests[model][metric][column]`` against the baseline (none for the baseline itself)."""

    def best(self, metric: str) -> dict[str, float | None]:
        """Per column, the highest value of ``metric`` (None where fewer than two models have one: no contest)."""
        out = {}
        for c in self.columns:
            cells = [self.cells.get(m, {}).get(metric, {}).get(c) for m in self.models]
            values = [cell.value for cell in cells if cell is not None and cell.value is not None]
            out[c] = max(values) if len(values) > 1 else None
        return out

    def to_dict(self) -> dict:
        return {
            "models": self.models,
            "metrics": {m: METRICS[m] for m in self.metrics},
            "columns": self.columns,
            "baseline": self.baseline,
            "cells": {
                m: {k: {c: cell.to_dict() for c, cell in v.items()} for k, v in by.items()}
                for m, by in self.cells.items()
            },
            "tests": {
                m: {k: {c: t.to_dict() for c, t in v.items()} for k, v in by.items()} for m, by in self.tests.items()
            },
        }


def _values(results: Results, model: ModelResult, config: str, metric: str) -> dict[str, float] | None:
    """Per-question values of ``metric`` (question id → value) for every question the metric covers, or None when
    the model has no such metric on the config. An unanswered question scores 0 (the official rule); an unparsed
    verdict 0 or left out, as the run counted it."""
    got = model.configs.get(config)
    if got is None:
        return None
    task = parse_config(config).task
    if metric == "judge_mean":
        if model.judge is None:
            return None
        out = {}
        for q in results.gold[config].questions:
            a = got.answers.get(q.id)
            judged = a.judge if a is not None else None
            if judged is not None:
                out[q.id] = float(judged)
            elif model.unparsed == "zero":
                out[q.id] = 0.0
        return out or None
    if task == INSTRUCTION:
        return None
    if metric.startswith("raw_") and any(a.raw is None for a in got.answers.values()):
        return None
    out = {}
    for q in results.gold[config].questions:
        a = got.answers.get(q.id)
        value = getattr(a, metric) if a is not None else None
        out[q.id] = 0.0 if value is None else value
    return out


def _sample(results: Results, config: str, values: dict[str, float], ids: list[str] | None = None) -> Sample:
    keep = [q for q in results.gold[config].questions if q.id in values and (ids is None or q.id in ids)]
    return sample([values[q.id] for q in keep], paragraphs(keep))  # the clusters score --json resamples


def _point(model: ModelResult, config: str, metric: str, values: dict[str, float]) -> float:
    """The official score when recorded or computed (``score --json``'s float), else the values' mean."""
    recorded = model.configs[config].scores.get(metric)
    return recorded if recorded is not None else fmean(values.values())


def leaderboard(results: Results, baseline: str | None = None, *, resamples: int = 1000, seed: int = 0) -> Leaderboard:
    """Every model × metric × column, with intervals, and paired tests against ``baseline`` (default: the first
    model)."""
    names = [m.name for m in results.models]
    baseline = baseline or names[0]
    if baseline not in names:
        raise AudioMLQAError(f"no model named {baseline!r} to compare with (the models: {', '.join(names)})")
    configs = results.configs
    board = Leaderboard(names, [], [OVERALL, *configs], baseline)
    base = next(m for m in results.models if m.name == baseline)
    kw = {"resamples": resamples, "seed": seed}
    for model in results.models:
        values = {
            metric: by_config
            for metric in METRICS
            if (by_config := {c: v for c in configs if (v := _values(results, model, c, metric)) is not None})
        }
        cells = board.cells.setdefault(model.name, {})
        for c in configs:  # the metrics of one config share their resamples' draws (the same questions)
            here = {m: [_sample(results, c, v[c])] for m, v in values.items() if c in v}
            for m, ci in (bootstrap_intervals(here, **kw) if here else {}).items():
                cells.setdefault(m, {})[c] = Cell(_point(model, c, m, values[m][c]), ci.low, ci.high)
        overall = {m: [_sample(results, c, x) for c, x in v.items()] for m, v in values.items()}
        for m, ci in bootstrap_intervals(overall, **kw).items():
            cells[m][OVERALL] = Cell(fmean(cells[m][c].value for c in values[m]), ci.low, ci.high)
        if model is not base:
            for m, v in values.items():
                if tests := _tests(results, model, base, m, v, kw):
                    board.tests.setdefault(model.name, {})[m] = tests
    board.metrics = [m for m in METRICS if any(m in by for by in board.cells.values())]
    return board


def _tests(results: Results, model: ModelResult, base: ModelResult, metric: str, values: dict, kw: dict) -> dict:
    """Per config and overall (the configs both answered): the model minus the baseline, on common questions."""
    out: dict[str, Test] = {}
    pairs = {}
    for c, v in values.items():
        b = _values(results, base, c, metric)
        if b is None:
            continue
        ids = [i for i in v if i in b]
        if ids:
            pairs[c] = (_sample(results, c, v, ids), _sample(results, c, b, ids))
    for c, (a, b) in pairs.items():
        out[c] = _test(paired_bootstrap([a], [b], **kw))
    if pairs:
        out[OVERALL] = _test(paired_bootstrap([a for a, _ in pairs.values()], [b for _, b in pairs.values()], **kw))
    return out


def _test(t) -> Test:
    return Test(t.difference, t.low, t.high, t.p_value)


def gxlt_matrix(results: Results, model: str, metric: str = "f1") -> dict[str, dict[str, float | None]]:
    """``matrix[context][question]`` over MLQA's seven languages (None where the model has no such config)."""
    m = next(x for x in results.models if x.name == model)
    out: dict[str, dict[str, float | None]] = {c: dict.fromkeys(LANGUAGES) for c in LANGUAGES}
    for config, got in m.configs.items():
        cfg = parse_config(config)
        if cfg.task == EXTRACTIVE_QA and cfg.context_lang in out:
            out[cfg.context_lang][cfg.question_lang] = got.scores.get(metric)
    return out


def has_cross_lingual(results: Results) -> bool:
    return any(
        parse_config(c).task == EXTRACTIVE_QA and parse_config(c).context_lang != parse_config(c).question_lang
        for c in results.configs
    )
