"""The two calibrated rules that turn the judge's errors on human speech into a decision on a TTS clip.

``per-clip`` (the first rule): a clip is kept when its error *rate* is at most ``scale`` × the ``quantile`` of the
human clips' rates. Human references are long sentences, questions are short: one misheard name is 3% of a FLEURS
sentence but 14–25% of a 4–7-word question, so one rate for every length is harsh on short clips and lax on none.

``per-token`` (the default): the judge's human errors are modelled per token (word for WER, character for CER). A
human clip of ``n`` tokens with ``k`` errors is a draw from a beta-binomial: each clip has its own error rate
(readers and sentences differ), drawn from a beta distribution with mean ``rate`` and intra-clip correlation
``dispersion`` (0: a plain binomial). A TTS clip of ``n`` tokens is kept when its ``k`` errors are at most the
``quantile`` of that distribution *for n tokens*, :func:`max_errors` — so a 7-word question may lose one name while a
long one stays strict — and its rate is at most the cap. The fit is the method of moments (closed form: it runs in
every leave-one-out round); the beta-binomial's probabilities are written out with ``math.lgamma`` rather than
taken from SciPy, which would be a 40 MB dependency for one formula.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RULES = ("per-token", "per-clip")
DEFAULT_RULE = "per-token"


# -- per clip ---------------------------------------------------------------------------------------------------------


def threshold_rule(errors: Sequence[float], quantile: float, scale: float) -> float:
    """The per-clip rule: ``scale`` × the ``quantile`` of the human errors (linear interpolation)."""
    return scale * float(np.quantile(np.asarray(errors, dtype=float), quantile))


def leave_one_out_acceptance(
    errors: Sequence[float], quantile: float, scale: float, cap: float = math.inf
) -> float | None:
    """Share of human clips the per-clip rule keeps when each is judged at the threshold calibrated on the others
    (at most ``cap``)."""
    if len(errors) < 2:
        return None
    kept = sum(
        e <= min(cap, threshold_rule([x for j, x in enumerate(errors) if j != i], quantile, scale))
        for i, e in enumerate(errors)
    )
    return round(kept / len(errors), 6)


# -- per token --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenModel:
    """The judge's errors on human speech per token: a beta-binomial of mean ``rate`` and intra-clip correlation
    ``dispersion``, fitted on ``clips`` human clips of ``tokens`` tokens in all."""

    rate: float
    dispersion: float
    clips: int
    tokens: int

    def max_errors(self, n: int, quantile: float) -> int:
        """The most errors a clip of ``n`` tokens may have: the ``quantile`` of the human distribution for ``n``."""
        return _max_errors(n, round(self.rate, 12), round(self.dispersion, 12), quantile)

    def threshold(self, n: int, quantile: float, cap: float) -> float:
        """The per-token rule as an error rate for a clip of ``n`` tokens (what its manifest row records)."""
        if n <= 0:
            return 0.0
        return min(self.max_errors(n, quantile) / n, cap)

    def to_dict(self) -> dict:
        return {"rate": round(self.rate, 6), "dispersion": round(self.dispersion, 6), "tokens": self.tokens}


def fit_tokens(counts: Sequence[tuple[int, int]]) -> TokenModel:
    """Fit the per-token model to human clips' ``(errors, tokens)`` by the method of moments: the pooled rate
    (with half an error of prior, so a judge that made no error on a few clips is not taken as perfect), and the
    dispersion from the spread of the clips' rates around it beyond what a binomial explains (Kleinman's weighted
    estimator), clamped to [0, 0.99]. Errors above a clip's tokens (insertions) count as ``tokens``."""
    pairs = [(min(k, n), n) for k, n in counts if n > 0]
    if not pairs:
        raise ValueError("no human clip with tokens to fit")
    k = np.array([p[0] for p in pairs], dtype=float)
    n = np.array([p[1] for p in pairs], dtype=float)
    total = float(n.sum())
    rate = (k.sum() + 0.5) / (total + 1.0)
    spread = float((n * (k / n - rate) ** 2).sum()) / (rate * (1 - rate))
    weight = 1 - n / total
    base, slope = float(weight.sum()), float(((n - 1) * weight).sum())
    dispersion = (spread - base) / slope if slope > 0 else 0.0
    return TokenModel(rate, min(max(dispersion, 0.0), 0.99), len(pairs), int(total))


@functools.lru_cache(maxsize=4096)
def _max_errors(n: int, rate: float, dispersion: float, quantile: float) -> int:
    cumulative = 0.0
    for k, p in enumerate(_pmf(n, rate, dispersion)):
        cumulative += p
        if cumulative >= quantile - 1e-12:
            return k
    return n


def _pmf(n: int, rate: float, dispersion: float) -> list[float]:
    """P(k errors in n tokens), k = 0..n: binomial when ``dispersion`` is 0, else beta-binomial."""
    if dispersion <= 0:
        logs = [_log_choose(n, k) + k * math.log(rate) + (n - k) * math.log1p(-rate) for k in range(n + 1)]
    else:
        a, b = rate * (1 / dispersion - 1), (1 - rate) * (1 / dispersion - 1)
        base = _log_beta(a, b)
        logs = [_log_choose(n, k) + _log_beta(k + a, n - k + b) - base for k in range(n + 1)]
    top = max(logs)
    weights = [math.exp(x - top) for x in logs]
    total = sum(weights)
    return [w / total for w in weights]


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def per_token_leave_one_out(counts: Sequence[tuple[int, int]], quantile: float, cap: float = math.inf) -> float | None:
    """Share of human clips the per-token rule keeps when each is judged by the model fitted on the others (a clip
    whose others have no tokens to fit on, e.g. beside an empty reference, is not kept)."""
    if len(counts) < 2:
        return None
    kept = 0
    for i, (k, n) in enumerate(counts):
        others = [c for j, c in enumerate(counts) if j != i]
        if not any(tokens > 0 for _, tokens in others):
            continue
        model = fit_tokens(others)
        kept += n > 0 and k <= model.max_errors(n, quantile) and k / n <= cap
    return round(kept / len(counts), 6)
