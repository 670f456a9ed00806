"""What a run reports: each model's scores per config (:class:`ModelReport`, written as ``scores.json``), and
several models side by side (:class:`Comparison`): one long table (``score --csv``), a table per metric with
configs as rows and models as columns, and a bar chart per config.

Each config's score is MLQA's official EM/F1 on the extracted answer and on the raw output, with the questions over
the model's context window counted; with a judge (:mod:`audiomlqa.evaluation.judge`), also its mean score 0–5, the
share scored 4–5 and its agreement with F1. The JSON report adds a bootstrap 95% interval to each of these
(:mod:`audiomlqa.scoring.intervals`: paragraphs resampled, configs as strata for the macro average).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

from audiomlqa.languages import pair_key
from audiomlqa.scoring.intervals import Sample, bootstrap_intervals, sample
from audiomlqa.scoring.scorecard import BOOTSTRAP, low_high
from audiomlqa.tasks import EXTRACTIVE_QA
from audiomlqa.utils.tables import Table


@dataclass
class ConfigScore:
    config: str
    exact_match: float | None
    f1: float | None
    raw_exact_match: float | None
    raw_f1: float | None
    """None for an instruction config: open answers have no span to match (only a judge scores them)."""
    total: int
    over_window: int = 0
    """Questions whose prompt did not fit the model's context window: not answered, scored as no answer."""
    judge_mean: float | None = None
    """The judge's mean score 0–5 over the answers it scored (``--judge``), with the share scored 4–5, how many
    it scored and failed to, and the Spearman correlation of its scores with F1 per answer."""
    judge_share_4_5: float | None = None
    judge_parsed: int | None = None
    judge_unparsed: int | None = None
    judge_over_window: int | None = None
    """Of the unparsed: judge prompts that did not fit the judge's context window (never sent)."""
    judge_f1_spearman: float | None = None
    task: str = EXTRACTIVE_QA
    samples: dict[str, Sample] = field(default_factory=dict, repr=False)
    """Per-question values of each metric that has them (on the metric's scale), clustered by paragraph: what the
    bootstrap intervals resample. Not written as such: ``intervals`` in the JSON report comes from them."""


METRICS = ("exact_match", "f1", "raw_exact_match", "raw_f1")
JUDGE_METRICS = ("judge_mean", "judge_share_4_5")
INTERVAL_METRICS = (*METRICS, "judge_mean")


@dataclass
class ModelReport:
    model: str
    spec: str
    configs: list[ConfigScore]
    provenance: dict
    reused: int
    generated: int

    judge: dict | None = None
    """The judge's description and its per-model figures (all answers pooled), when one judged."""
    output: str | None = None
    """The model's predictions folder (answers, caches, ``scores.json``): where ``audiomlqa report`` finds them."""
    _intervals: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def average(self, key: str) -> float | None:
        values = [getattr(c, key) for c in self.configs if getattr(c, key) is not None]
        return fmean(values) if values else None

    @property
    def over_window(self) -> int:
        """Questions over the model's context window, all configs together."""
        return sum(c.over_window for c in self.configs)

    def intervals(self) -> tuple[dict[str, dict], dict]:
        """Bootstrap intervals: per config (a stratum each), and of the macro average over the configs that have
        the metric (stratified); computed once per set of samples (``scores.json`` and ``--json`` show the same)."""
        key = tuple((c.config, m, s) for c in self.configs for m, s in c.samples.items())
        if self._intervals is None or self._intervals[0] != key:
            metrics = [m for m in INTERVAL_METRICS if self.judge or not m.startswith("judge")]
            per_config = {
                c.config: low_high(bootstrap_intervals({m: [c.samples[m]] for m in metrics if _has(c, m)}))
                for c in self.configs
            }
            strata = {m: [c.samples[m] for c in self.configs if _has(c, m)] for m in metrics}
            macro = low_high(bootstrap_intervals({m: s for m, s in strata.items() if s}))
            self._intervals = (key, (per_config, macro))
        return self._intervals[1]

    def to_dict(self) -> dict:
        per_config, macro = self.intervals()
        hidden = {"config", "samples"}
        return {
            "model": self.model,
            "spec": self.spec,
            "configs": {
                c.config: {
                    **{k: v for k, v in c.__dict__.items() if k not in hidden and (self.judge or "judge" not in k)},
                    "intervals": per_config[c.config],
                }
                for c in self.configs
            },
            "macro_average": {k: self.average(k) for k in (*METRICS, *(JUDGE_METRICS if self.judge else ()))},
            "macro_average_intervals": macro,
            "bootstrap": dict(BOOTSTRAP),
            "over_window": self.over_window,
            **({"output": self.output} if self.output else {}),
            **({"judge": self.judge} if self.judge else {}),
            "provenance": self.provenance,
        }


def judge_sample(scores: Sequence[int | None], clusters: Sequence, unparsed: str) -> Sample:
    """A config's judge scores (0–5) as a bootstrap sample: an unparsed verdict as 0 (``unparsed="zero"``) or left
    out (``"skip"``), as :func:`~audiomlqa.evaluation.judge.summarize` counts it in the mean."""
    kept = [(0 if s is None else s, k) for s, k in zip(scores, clusters) if s is not None or unparsed == "zero"]
    return sample([s for s, _ in kept], [k for _, k in kept])


def _has(c: ConfigScore, metric: str) -> bool:
    """Whether config ``c`` has per-question values of ``metric`` to resample (an instruction has no F1; a judge that
    parsed none of a config's verdicts, its unparsed left out, has no judge score)."""
    return getattr(c, metric) is not None and len(c.samples.get(metric, ())) > 0


def scores_frame(reports: Sequence[ModelReport]):
    """Every model's scores as one long pandas table: a row per (model, config), and one per model for the
    macro average (config ``macro avg``); columns ``model, config`` and the metrics. ``score --csv`` writes it."""
    import pandas as pd

    metrics = [*METRICS, *(JUDGE_METRICS if any(r.judge for r in reports) else ())]
    rows = [
        {"model": r.model, "config": c.config, **{k: getattr(c, k) for k in metrics}, "total": c.total}
        for r in reports
        for c in r.configs
    ]
    rows += [
        {
            "model": r.model,
            "config": "macro avg",
            **{k: r.average(k) for k in metrics},
            "total": sum(c.total for c in r.configs),
        }
        for r in reports
    ]
    return pd.DataFrame(rows, columns=["model", "config", *metrics, "total"])


def comparison_table(reports: Sequence[ModelReport], metric: str = "f1") -> Table:
    """Rows: configs (then the macro average); columns: models, extracted-answer ``metric`` (raw in brackets)."""
    frame = scores_frame(reports)
    models = list(dict.fromkeys(r.model for r in reports))
    scored = frame[frame[metric].notna()]  # an instruction config has no F1/EM, and no judge score unjudged
    configs = sorted({c for c in scored["config"] if c != "macro avg"}, key=pair_key) + ["macro avg"]
    if metric == "judge_mean":  # mean 0–5 (share of answers scored 4–5)
        pairs = zip(frame["judge_mean"], frame["judge_share_4_5"])
        cells = frame.assign(cell=["—" if m != m or m is None else f"{m:.2f} ({s:.0%})" for m, s in pairs])
    else:
        cells = frame.assign(
            cell=[
                "—" if e != e or e is None else f"{e:.1f} ({r:.1f})"
                for e, r in zip(frame[metric], frame["raw_" + metric])
            ]
        )
    wide = cells.pivot(index="config", columns="model", values="cell").reindex(index=configs, columns=models)
    rows = [[config, *("—" if not isinstance(v, str) else v for v in wide.loc[config])] for config in configs]
    title = f"Audio-MLQA {'F1' if metric == 'f1' else 'EM'}: extracted answer (raw output in brackets)"
    if metric == "judge_mean":
        judges = sorted({r.judge["judge"] for r in reports if r.judge})
        title = f"Audio-MLQA judge score 0–5 ({', '.join(judges)}; share scored 4–5 in brackets)"
    return Table(title, ["config", *models], rows)


def write_charts(reports: Sequence[ModelReport], directory: Path, metric: str = "f1") -> list[Path]:
    """One bar chart per config (and one for the macro average): a bar per model, extracted ``metric``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    table = comparison_table(reports, metric)
    written = []
    for row in table.rows:
        if all(cell == "—" for cell in row[1:]):
            continue
        values = [float(cell.split(" ")[0]) if cell != "—" else float("nan") for cell in row[1:]]
        fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(values), 3.2))
        bars = ax.bar(table.header[1:], values, color="#4C72B0")  # a missing value: no bar, a dash, never 0
        judge = metric == "judge_mean"
        ax.bar_label(bars, labels=["—" if v != v else f"{v:.2f}" if judge else f"{v:.1f}" for v in values])
        ax.set_ylim(0, 5 if judge else 100)
        ax.set_ylabel("judge score 0–5" if judge else f"{metric.upper()} (extracted)")
        ax.set_title(f"Audio-MLQA {row[0]}")
        fig.tight_layout()
        path = directory / f"{row[0].replace(' ', '-')}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


@dataclass
class Comparison:
    """``audiomlqa score SPEC...``: every model's report, the charts, and how to show them."""

    reports: list[ModelReport]
    charts: list[Path]
    seconds: float = 0.0
    primary: bool = True
    """False in every process of a multi-process run but the first: only the first reports."""
    judge_check: dict | None = None

    def to_dict(self) -> dict:
        return {
            "models": [r.to_dict() for r in self.reports],
            "charts": [str(c) for c in self.charts],
            **({"judge_check": self.judge_check} if self.judge_check else {}),
        }

    def frame(self):
        """Every model's scores as one long pandas table (:func:`scores_frame`; ``score --csv``)."""
        return scores_frame(self.reports)

    def tables(self) -> list[Table]:
        qa = any(c.task == EXTRACTIVE_QA for r in self.reports for c in r.configs)
        metrics = [
            *(["f1", "exact_match"] if qa else []),
            *(["judge_mean"] if any(r.judge for r in self.reports) else []),
        ]
        tables = [comparison_table(self.reports, m) for m in metrics]
        for t in tables[: 2 if qa else 0]:
            t.notes += over_window_notes(self.reports)
        if self.judge_check:
            c = self.judge_check
            for task, t in (c.get("tasks") or {"": c}).items():
                tables[-1].notes.append(
                    f"judge check ({c['judge']}{', ' + task if task else ''}, {t['n']} questions): gold answers "
                    f"{two_decimals(t['gold_mean'])}, wrong answers {two_decimals(t['wrong_mean'])} "
                    f"({t['unparsed']} unparsed); a usable judge gives about 5 and 0"
                )
        return tables


def over_window_notes(reports: Sequence[ModelReport]) -> list[str]:
    """A line per model with questions over its context window: how many, per config (none: no line)."""
    return [
        f"{r.model}: over window: {r.over_window} "
        f"({', '.join(f'{c.config} {c.over_window}' for c in r.configs if c.over_window)}): prompt and answer longer "
        "than the model's context window, not answered, scored as no answer"
        for r in reports
        if r.over_window
    ]


def two_decimals(x: float | None) -> str:
    """A judge's mean score as tables show it (— for none)."""
    return "—" if x is None else f"{x:.2f}"
