"""Scoring predictions for many (context, question) pairs, with MLQA's tables and provenance.

The per-pair numbers come from :func:`audiomlqa.scoring.metric.score`, one dataset file at a time, with the
context language as the scoring language. On top: the monolingual table (context = question), the
generalised cross-lingual (G-XLT) matrix, macro averages, and a provenance block that pins the
dataset files (sha256), predictions, scorer and Python/Unicode versions. ``to_dict`` adds bootstrap 95% intervals
(:mod:`audiomlqa.scoring.intervals`, paragraphs as clusters) to every pair's scores and to the averages.
"""

from __future__ import annotations

import datetime as _dt
import platform
import unicodedata
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from statistics import fmean

from audiomlqa import __version__
from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import LANGUAGES, pair_key, pair_name
from audiomlqa.scoring.intervals import LEVEL, RESAMPLES, SEED, Sample, bootstrap_intervals, sample
from audiomlqa.scoring.metric import SCORER_VERSION, score, score_answer
from audiomlqa.scoring.predictions import PredictionMap, Predictions, load_predictions
from audiomlqa.sources import DatasetFile, read_dataset_files
from audiomlqa.utils.tables import Table

METRICS = ("exact_match", "f1")
BOOTSTRAP = {"level": LEVEL, "resamples": RESAMPLES, "seed": SEED, "unit": "paragraph"}
"""How the intervals in a JSON report were made: what ``bootstrap`` records beside them."""


def paragraphs(questions: Sequence) -> list[Hashable]:
    """Each question's bootstrap cluster: its paragraph (context text), so questions on one paragraph move together;
    a question without a context (an instruction) is a cluster of its own."""
    return [q.context or ("question", q.id) for q in questions]


def question_samples(dataset: DatasetFile, predictions: PredictionMap) -> dict[str, Sample]:
    """Each question's EM and F1 on MLQA's 0–100 scale (no prediction: 0), clustered by paragraph: what the intervals
    resample. Their means are the official scores of :func:`score_file` (up to the last bit of the float sum)."""
    em, f1 = [], []
    for q in dataset.questions:
        answer = predictions.get(q.id)
        hit, overlap = (0, 0.0) if answer is None else score_answer(answer, q.answer_texts, dataset.context_lang)
        em.append(100.0 * hit)
        f1.append(100.0 * overlap)
    clusters = paragraphs(dataset.questions)
    return {"exact_match": sample(em, clusters), "f1": sample(f1, clusters)}


def low_high(intervals: dict) -> dict[str, dict[str, float]]:
    """Intervals as a JSON report shows them: the bounds only (the point shown is the official score)."""
    return {m: {"low": i.low, "high": i.high} for m, i in intervals.items()}


@dataclass(frozen=True)
class PairScore:
    context_lang: str
    question_lang: str
    exact_match: float
    f1: float
    total: int
    answered: int
    dataset_file: str
    dataset_sha256: str

    @property
    def pair(self) -> str:
        return pair_name(self.context_lang, self.question_lang)


@dataclass
class Scorecard:
    pairs: list[PairScore]
    provenance: dict = field(default_factory=dict)
    scored: list[tuple[DatasetFile, PredictionMap]] = field(default_factory=list, repr=False)
    """Each pair's gold file and predictions, in the order of ``pairs``: what the intervals are computed from (only
    when asked: tables do without them)."""

    def _mean(self, metric: str, keep) -> float | None:
        values = [getattr(p, metric) for p in self.pairs if keep(p)]
        return fmean(values) if values else None

    @staticmethod
    def _groups() -> dict:
        return {
            "monolingual": lambda p: p.context_lang == p.question_lang,
            "cross_lingual": lambda p: p.context_lang != p.question_lang,
            "all_pairs": lambda p: True,
        }

    def averages(self) -> dict[str, dict[str, float | None]]:
        """Macro averages over pairs: monolingual (C = Q), cross-lingual (C ≠ Q) and all pairs (G-XLT)."""
        return {g: {m: self._mean(m, keep) for m in METRICS} for g, keep in self._groups().items()}

    def matrix(self, metric: str = "f1") -> dict[str, dict[str, float]]:
        """``matrix[context][question]`` for the pairs scored (MLQA's G-XLT layout)."""
        out: dict[str, dict[str, float]] = {}
        for p in self.pairs:
            out.setdefault(p.context_lang, {})[p.question_lang] = getattr(p, metric)
        return out

    @property
    def headline(self) -> dict[str, float]:
        """The single pair's scores, or the macro average over all pairs scored."""
        if len(self.pairs) == 1:
            return {m: getattr(self.pairs[0], m) for m in METRICS}
        return {m: v for m, v in self.averages()["all_pairs"].items() if v is not None}

    @cached_property
    def intervals(self) -> dict | None:
        """Bootstrap intervals of each pair's EM/F1, of the averages over pairs and of the headline (None without the
        gold files and predictions)."""
        if len(self.scored) != len(self.pairs) or not self.pairs:
            return None
        samples = [question_samples(d, p) for d, p in self.scored]
        per_pair = [low_high(bootstrap_intervals({m: [s[m]] for m in METRICS})) for s in samples]
        averages = {}
        for group, keep in self._groups().items():
            strata = [s for p, s in zip(self.pairs, samples) if keep(p)]
            by_metric = {m: [s[m] for s in strata] for m in METRICS}
            averages[group] = low_high(bootstrap_intervals(by_metric)) if strata else None
        headline = per_pair[0] if len(self.pairs) == 1 else averages["all_pairs"]
        return {"headline": headline, "pairs": per_pair, "averages": averages}

    def to_dict(self) -> dict:
        intervals = self.intervals
        return {
            **self.headline,
            **({"intervals": intervals["headline"]} if intervals else {}),
            "pairs": [
                {"pair": p.pair, **asdict(p), **({"intervals": intervals["pairs"][i]} if intervals else {})}
                for i, p in enumerate(self.pairs)
            ],
            "languages": {
                p.context_lang: {m: getattr(p, m) for m in METRICS}
                for p in self.pairs
                if p.context_lang == p.question_lang
            },
            "matrix": {m: self.matrix(m) for m in METRICS},
            "averages": self.averages(),
            **({"average_intervals": intervals["averages"], "bootstrap": dict(BOOTSTRAP)} if intervals else {}),
            "provenance": self.provenance,
        }

    def frame(self):
        """The per-pair scores as a pandas table (``score --csv``)."""
        import pandas as pd

        return pd.DataFrame([{"pair": p.pair, **asdict(p)} for p in self.pairs])

    def to_markdown(self) -> str:
        return "\n".join(t.to_markdown() for t in scorecard_tables(self))


def provenance(datasets: Sequence[DatasetFile], predictions: Predictions | None = None) -> dict:
    """What a reader needs to reproduce a score: versions, dataset checksums, predictions checksums."""
    return {
        "audiomlqa_version": __version__,
        "scorer": SCORER_VERSION,
        "python": platform.python_version(),
        # The punctuation set comes from Python's Unicode database; pin it with the score.
        "unicode_version": unicodedata.unidata_version,
        "datasets": {d.name: d.sha256 for d in datasets},
        "predictions": {"source": str(predictions.source), "files": predictions.files} if predictions else None,
        "scored_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def score_file(dataset: DatasetFile, predictions: PredictionMap) -> PairScore:
    """Score one dataset file; refuse predictions that share no id with it (almost surely another file)."""
    gold = dataset.gold
    if predictions and not any(qid in predictions for qid, _ in gold):
        raise AudioMLQAError(
            f"none of the {len(predictions)} predicted ids is a question of {dataset.name}: "
            "are these predictions for another file?"
        )
    s = score(gold, predictions, dataset.context_lang)
    return PairScore(
        dataset.context_lang,
        dataset.question_lang,
        s.exact_match,
        s.f1,
        s.total,
        s.answered,
        dataset.name,
        dataset.sha256,
    )


def score_datasets(datasets: Sequence[DatasetFile], predictions: Predictions) -> Scorecard:
    """Score flat predictions against one file, or per-pair predictions against the matching files."""
    if predictions.flat is not None:
        if len(datasets) != 1:
            raise AudioMLQAError(
                f"{predictions.source}: one flat mapping but {len(datasets)} dataset files; give one file per pair "
                "(a directory of <pair>.json) or a {pair: {id: answer}} mapping"
            )
        flat = [(datasets[0], predictions.flat)]
        return Scorecard([score_file(*flat[0])], provenance(datasets, predictions), flat)
    by_file = {(d.context_lang, d.question_lang): d for d in datasets}
    unknown = [pair_name(*p) for p in predictions.by_pair if p not in by_file]
    if unknown:
        raise AudioMLQAError(f"predictions for pairs that the dataset lacks: {', '.join(unknown[:5])}")
    pairs = sorted(predictions.by_pair, key=pair_key)
    used = [(by_file[p], predictions.by_pair[p]) for p in pairs]
    return Scorecard([score_file(*u) for u in used], provenance([d for d, _ in used], predictions), used)


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def scorecard_tables(card: Scorecard) -> list[Table]:
    """The report as tables: per pair, the G-XLT matrix (when cross-lingual pairs are scored), macro averages."""
    per_pair = [
        [p.pair, p.context_lang, p.question_lang, _fmt(p.exact_match), _fmt(p.f1), f"{p.answered}/{p.total}"]
        for p in card.pairs
    ]
    tables = [
        Table("MLQA scores per pair", ["pair", "context", "question", "EM", "F1", "answered"], per_pair, left={0, 1, 2})
    ]
    if any(p.context_lang != p.question_lang for p in card.pairs):
        f1 = card.matrix("f1")
        qs = [x for x in LANGUAGES if any(x in row for row in f1.values())]
        rows = [[c, *(_fmt(f1[c].get(q)) for q in qs)] for c in LANGUAGES if c in f1]
        tables.append(Table("G-XLT F1 (rows: context language, columns: question language)", ["c \\ q", *qs], rows))
    if len(card.pairs) > 1:
        rows = [
            [g.replace("_", " "), _fmt(v["exact_match"]), _fmt(v["f1"])]
            for g, v in card.averages().items()
            if v["f1"] is not None
        ]
        tables.append(Table("Macro averages over pairs", ["group", "EM", "F1"], rows))
    missing = sum(p.total - p.answered for p in card.pairs)
    tables[-1].notes += [f"[yellow]{missing} question(s) had no prediction and scored 0[/yellow]"] if missing else []
    tables[-1].notes.append(f"[dim]{_footer(card)}[/dim]")
    return tables


def _footer(card: Scorecard) -> str:
    prov = card.provenance
    return (
        f"audiomlqa {prov.get('audiomlqa_version')}, scorer {prov.get('scorer')}, Python {prov.get('python')}, "
        f"Unicode {prov.get('unicode_version')}; {len(prov.get('datasets', {}))} dataset file(s) pinned by sha256"
    )


def score_predictions(
    predictions: str | Path, dataset: str | Path, *, split: str = "dev", lang: str | None = None
) -> Scorecard:
    """``audiomlqa score PREDICTIONS --dataset D``: predictions (a file or folder) against their gold files."""
    preds = load_predictions(predictions)
    single_file = Path(dataset).is_file()
    if preds.flat is not None and not single_file:
        raise AudioMLQAError(
            f"{predictions}: a flat {{id: answer}} mapping needs one dataset file (--dataset FILE.json), "
            "not a directory or dataset"
        )
    datasets = read_dataset_files(dataset, split, None if single_file else list(preds.by_pair) or None, lang)
    return score_datasets(datasets, preds)
