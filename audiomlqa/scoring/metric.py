"""MLQA's official F1 / exact-match scorer, float-for-float.

This is the algorithm of ``mlqa_evaluation_v1.py`` (Lewis et al., 2020): lower-case, delete every
Unicode punctuation character (category P*) and ``string.punctuation``, replace the language's
articles with a space, tokenise on whitespace (Chinese: every CJK ideograph U+4E00–U+9FA5 is a
token), then token-multiset F1 and string equality, maxed over the gold answers and averaged over
*all* questions of the dataset file (a missing prediction scores 0).

It is faster than the original without changing a float: punctuation is removed with one
``str.translate``, article patterns are compiled once, gold answers are normalised once per
question, and the prediction once per question rather than once per gold answer and metric.
Sums are accumulated in dataset order with the original's arithmetic, so results are identical.
"""

from __future__ import annotations

import functools
import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import check_language

SCORER_VERSION = "mlqa_evaluation_v1"
"""The algorithm this module reproduces; bump only if the algorithm changes."""

_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    # The official pattern, quirk included: every "ال" becomes a space, even inside a word.
    "ar": re.compile(r"\sال^|ال"),
    "zh": None,
}
_CJK_IDEOGRAPH = re.compile("([\u4e00-\u9fa5])")


@functools.cache
def _punctuation_table() -> dict[int, None]:
    """str.translate table deleting the official PUNCT set (built on first use: ~0.3 s)."""
    # range(sys.maxunicode) as in the original, which never looks at the last code point.
    punct = {i for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
    punct.update(ord(c) for c in string.punctuation)
    return dict.fromkeys(punct)


def answer_tokens(text: str, lang: str) -> list[str]:
    """The official normalised token list of ``text`` scored in language ``lang``."""
    articles = _ARTICLES[check_language(lang)]
    text = text.lower().translate(_punctuation_table())
    if articles is not None:
        text = articles.sub(" ", text)
    if lang == "zh":
        # Equal to the official mixed_segmentation once punctuation is gone: ideographs stand alone.
        text = _CJK_IDEOGRAPH.sub(r" \1 ", text)
    return text.split()


def normalize_answer(text: str, lang: str) -> str:
    """The official ``normalize_answer``: the normalised tokens joined by single spaces."""
    return " ".join(answer_tokens(text, lang))


def _f1(prediction_tokens: Sequence[str], gold_tokens: Sequence[str]) -> float:
    common = Counter(prediction_tokens) & Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def exact_match_score(prediction: str, gold: str, lang: str) -> bool:
    """Official EM of one prediction against one gold answer (both empty after normalising ⇒ True)."""
    return answer_tokens(prediction, lang) == answer_tokens(gold, lang)


def f1_score(prediction: str, gold: str, lang: str) -> float:
    """Official token F1 of one prediction against one gold answer, in [0, 1]."""
    return _f1(answer_tokens(prediction, lang), answer_tokens(gold, lang))


def score_answer(prediction: str, golds: Sequence[str], lang: str) -> tuple[bool, float]:
    """(EM, F1) of one prediction, each maxed over the gold answers as the official scorer does."""
    if not golds:
        raise AudioMLQAError("a question has no gold answers: MLQA scoring needs at least one")
    pred = answer_tokens(prediction, lang)
    gold_tokens = [answer_tokens(g, lang) for g in golds]
    return max(pred == g for g in gold_tokens), max(_f1(pred, g) for g in gold_tokens)


@dataclass(frozen=True)
class Score:
    """Scores of one dataset file: EM and F1 in 0–100 over ``total`` questions."""

    exact_match: float
    f1: float
    total: int
    answered: int

    @property
    def missing(self) -> int:
        return self.total - self.answered


def score(gold: Iterable[tuple[str, Sequence[str]]], predictions: Mapping[str, str], lang: str) -> Score:
    """Score ``predictions`` (question id → answer) against ``gold`` ((id, answer texts) in file order).

    Exactly the official ``evaluate``: unanswered questions count as 0, ids not in ``gold`` are ignored.
    """
    check_language(lang)
    exact_match = f1 = total = answered = 0
    for qid, golds in gold:
        total += 1
        if qid not in predictions:
            continue
        answered += 1
        em_q, f1_q = score_answer(predictions[qid], golds, lang)
        exact_match += em_q
        f1 += f1_q
    if total == 0:
        raise AudioMLQAError("the dataset has no questions to score")
    return Score(100.0 * exact_match / total, 100.0 * f1 / total, total, answered)
