"""Bootstrap confidence intervals and the paired bootstrap test, for scores averaged over questions.

A score is the mean of per-question values (F1 or EM on MLQA's 0–100 scale, a judge's 0–5), or the macro average
over configs (*strata*) of each config's mean. Questions asked about one paragraph are not independent: a model that
misreads the paragraph misses all of them. So the bootstrap resamples *clusters* (paragraphs) with replacement, each
stratum on its own (its k clusters drawn k times), and a stratum's resampled statistic is the sum of the values in the
drawn clusters over the number of questions in them (the ratio estimator). The interval is the percentile interval.

The paired test resamples the same clusters for both systems (question-aligned), so what the two share (hard
paragraphs) cancels in the difference; its two-sided p-value comes from the bootstrap distribution of the difference
shifted to zero.

Everything is vectorised over resamples (one ``multinomial`` draw per stratum); one ``numpy.random.default_rng(seed)``
is used in strata order, so a result is reproducible to the float for a given seed.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from audiomlqa.errors import AudioMLQAError

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
_TIE = 1e-9
"""Relative tolerance under which two resampled differences count as a tie (float noise of the ratio estimator)."""


@dataclass(frozen=True, eq=False)
class Sample:
    """One stratum's (config's) per-question values, with each question's cluster index (0..k-1).

    The clusters are renumbered 0..k-1 in order of first appearance, so two samples with the same grouping of
    questions have equal ``clusters`` arrays (what the paired test checks). ``eq=False``: arrays do not compare as
    one truth value."""

    values: np.ndarray
    clusters: np.ndarray

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=float).reshape(-1)
        clusters = np.asarray(self.clusters).reshape(-1)
        if values.shape != clusters.shape:
            raise AudioMLQAError(
                f"a bootstrap sample has {values.size} values but {clusters.size} cluster labels: give one per question"
            )
        if not np.isfinite(values).all():
            raise AudioMLQAError("a bootstrap sample holds a missing or infinite value: give a number per question")
        _, first, inverse = np.unique(clusters, return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first))  # label rank by first appearance
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "clusters", order[inverse.reshape(-1)].astype(np.intp))

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def k(self) -> int:
        """The number of clusters."""
        return int(self.clusters.max()) + 1 if self.values.size else 0


def sample(values: Sequence[float], clusters: Sequence[Hashable] | None = None) -> Sample:
    """A :class:`Sample` from per-question values and any hashable cluster label per question (the paragraph's
    context text); without ``clusters``, every question is its own cluster."""
    values = np.asarray(values, dtype=float).reshape(-1)
    if clusters is None:
        return Sample(values, np.arange(values.size))
    index: dict[Hashable, int] = {}
    labels = [index.setdefault(c, len(index)) for c in clusters]
    return Sample(values, np.asarray(labels, dtype=np.intp))


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval around ``estimate`` (the statistic on the data as it is)."""

    estimate: float
    low: float
    high: float
    level: float
    resamples: int
    seed: int

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class PairedTest:
    """``a - b``: the observed difference, its percentile interval and the two-sided bootstrap p-value."""

    difference: float
    low: float
    high: float
    p_value: float
    level: float
    resamples: int
    seed: int

    def to_dict(self) -> dict:
        return {"difference": self.difference, "low": self.low, "high": self.high, "p_value": self.p_value}


def _check(strata: Sequence[Sample], resamples: int, level: float) -> None:
    """Refuse what has no bootstrap: no strata, an empty stratum (refused, not skipped: a caller leaves out a config
    with no scored question, so that the macro average it reports is over the same configs), a bad level or count."""
    if not strata:
        raise AudioMLQAError("a bootstrap needs at least one config's values; none were given")
    if any(len(s) == 0 for s in strata):
        raise AudioMLQAError("a bootstrap stratum has no questions: leave configs without scored questions out")
    if not 0 < level < 1:
        raise AudioMLQAError(f"a confidence level must lie between 0 and 1 (e.g. 0.95), not {level!r}")
    if int(resamples) != resamples or resamples < 1:
        raise AudioMLQAError(f"the number of bootstrap resamples must be a positive integer, not {resamples!r}")


def _estimate(strata: Sequence[Sample]) -> float:
    """The macro average of the strata's means."""
    return float(np.mean([s.values.mean() for s in strata]))


def _resampled(groups: Sequence[Sequence[Sample]], resamples: int, seed: int) -> np.ndarray:
    """The statistic of each group (strata sharing their clusters, stratum by stratum) in each resample, shape
    (groups, resamples); each stratum's cluster counts are drawn once and used for every group."""
    rng = np.random.default_rng(seed)
    strata = len(groups[0])
    total = np.zeros((len(groups), resamples))
    for i in range(strata):
        first = groups[0][i]
        k = first.k
        counts = rng.multinomial(k, [1.0 / k] * k, size=resamples).astype(float)
        sizes = counts @ np.bincount(first.clusters, minlength=k)
        for g, group in enumerate(groups):
            s = group[i]
            sums = np.bincount(s.clusters, weights=s.values, minlength=k)
            # a weighted mean lies within the values' range; clip the last bit of float noise
            total[g] += np.clip(counts @ sums / sizes, s.values.min(), s.values.max())
    return total / strata


def _percentiles(stats: np.ndarray, level: float) -> tuple[float, float]:
    low, high = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(low), float(high)


def bootstrap_interval(
    strata: Sequence[Sample], *, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL
) -> Interval:
    """The percentile interval of the macro average over ``strata`` (one stratum: its mean), by the stratified
    cluster bootstrap."""
    _check(strata, resamples, level)
    low, high = _percentiles(_resampled([list(strata)], int(resamples), seed)[0], level)
    return Interval(_estimate(strata), low, high, level, int(resamples), seed)


def bootstrap_intervals(
    metrics: Mapping[str, Sequence[Sample]], *, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL
) -> dict[str, Interval]:
    """:func:`bootstrap_interval` of each metric's strata, equal to one call per metric, but metrics whose strata
    share their clusters (EM, F1, raw EM, raw F1 of the same questions) share the resamples' draws: one draw
    for all of them, which is where the time goes."""
    groups: dict[tuple, list[str]] = {}
    for name, strata in metrics.items():
        _check(strata, resamples, level)
        key = tuple(s.clusters.tobytes() for s in strata)
        groups.setdefault(key, []).append(name)
    out = {}
    for names in groups.values():
        stats = _resampled([list(metrics[n]) for n in names], int(resamples), seed)
        for name, row in zip(names, stats):
            low, high = _percentiles(row, level)
            out[name] = Interval(_estimate(metrics[name]), low, high, level, int(resamples), seed)
    return {name: out[name] for name in metrics}


def _check_aligned(a: Sequence[Sample], b: Sequence[Sample]) -> None:
    if len(a) != len(b):
        raise AudioMLQAError(
            f"a paired bootstrap needs the same configs on both sides: {len(a)} against {len(b)}; score both on the "
            "same configs"
        )
    for i, (x, y) in enumerate(zip(a, b)):
        if len(x) != len(y) or not np.array_equal(x.clusters, y.clusters):
            raise AudioMLQAError(
                f"a paired bootstrap needs the same questions on both sides: config {i + 1} has {len(x)} against "
                f"{len(y)} (or other paragraphs); score both on the same questions, in the same order"
            )


def paired_bootstrap(
    a: Sequence[Sample], b: Sequence[Sample], *, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL
) -> PairedTest:
    """The difference ``a - b`` of two systems' macro averages over the same questions, its percentile interval and
    the two-sided p-value of "no difference": ``(1 + #{|d* - d| >= |d|}) / (resamples + 1)``, the resampled
    differences ``d*`` shifted by the observed ``d`` (identical systems give 1; one better by the same amount on
    every question gives the smallest, ``1 / (resamples + 1)``)."""
    _check(a, resamples, level)
    _check(b, resamples, level)
    _check_aligned(a, b)
    stats = _resampled([list(a), list(b)], int(resamples), seed)
    resampled = stats[0] - stats[1]
    observed = _estimate(a) - _estimate(b)
    tie = _TIE * max(1.0, abs(observed))
    extreme = int(np.count_nonzero(np.abs(resampled - observed) >= abs(observed) - tie))
    low, high = _percentiles(resampled, level)
    p_value = (1 + extreme) / (int(resamples) + 1)
    return PairedTest(observed, low, high, p_value, level, int(resamples), seed)
