"""The scorer against hand-checked cases, the literal reference algorithm, and properties."""

from __future__ import annotations

import random

import official_mlqa as ref
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiomlqa import LANGUAGES
from audiomlqa.errors import AudioMLQAError
from audiomlqa.scoring import metric as scoring


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("The Cat, a dog!", "en", "cat dog"),
        ("«Los» perros y las gatas", "es", "perros y gatas"),
        ("Der Hund, das Haus", "de", "hund haus"),
        ("những con mèo của tôi", "vi", "con mèo tôi"),
        # The official Arabic pattern removes "ال" everywhere, also inside words.
        ("الكتاب والقلم", "ar", "كتاب و قلم"),
        ("北京大学, in 2008年", "zh", "北 京 大 学 in 2008 年"),
        ("पानी, (हिन्दी)", "hi", "पानी हिन्दी"),
        ("A.B.C.", "en", "abc"),
    ],
)
def test_normalize_known_cases(text, lang, expected):
    assert scoring.normalize_answer(text, lang) == expected
    assert ref.normalize_answer(text, lang) == expected


def test_f1_and_em_on_simple_answers():
    assert scoring.exact_match_score("the Eiffel Tower", "Eiffel tower.", "en")
    assert scoring.f1_score("Eiffel", "the Eiffel Tower", "en") == pytest.approx(2 / 3)
    assert scoring.f1_score("nothing", "the Eiffel Tower", "en") == 0


def test_both_empty_is_exact_but_zero_f1():
    # The documented quirk of the official scorer (a real es dev answer normalises to "").
    assert scoring.score_answer("el", ["la"], "es") == (True, 0)


def test_missing_predictions_score_zero_and_extra_ids_are_ignored():
    gold = [("q1", ["Paris"]), ("q2", ["Berlin"])]
    s = scoring.score(gold, {"q1": "Paris", "other": "Berlin"}, "en")
    assert (s.exact_match, s.f1, s.total, s.answered) == (50.0, 50.0, 2, 1)


def test_unknown_language_is_a_clear_error():
    with pytest.raises(AudioMLQAError, match="unknown language 'fr'"):
        scoring.normalize_answer("x", "fr")


unicode_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
# Text drawn mostly from the characters that matter: CJK, Arabic, Devanagari, Vietnamese, punctuation, articles.
mlqa_text = st.lists(
    st.sampled_from(
        [
            "the",
            "a",
            "an",
            "la",
            "los",
            "der",
            "das",
            "của",
            "những",
            "ال",
            "الكتاب",
            "北京",
            "年",
            "हिन्दी",
            "Việt",
            " ",
            "  ",
            "\t",
            ",",
            "«",
            "»",
            "。",
            "-",
            "'",
            "2008",
            "İ",
            "ß",
            "\u200b",
            "\u3000",
        ]
    ),
    max_size=12,
).map("".join)
any_text = st.one_of(unicode_text, mlqa_text)
language = st.sampled_from(LANGUAGES)


@settings(max_examples=300, deadline=None)
@given(any_text, language)
def test_normaliser_never_crashes_and_equals_reference(text, lang):
    assert scoring.normalize_answer(text, lang) == ref.normalize_answer(text, lang)


@settings(max_examples=300, deadline=None)
@given(any_text, st.lists(any_text, min_size=1, max_size=3), language)
def test_scores_equal_the_reference_algorithm(prediction, golds, lang):
    em, f1 = scoring.score_answer(prediction, golds, lang)
    assert em == ref.metric_max_over_ground_truths(ref.exact_match_score, prediction, golds, lang)
    assert f1 == ref.metric_max_over_ground_truths(ref.f1_score, prediction, golds, lang)


@settings(max_examples=300, deadline=None)
@given(any_text, any_text, language)
def test_exact_match_implies_full_f1_unless_both_empty(prediction, gold, lang):
    if scoring.exact_match_score(prediction, gold, lang):
        both_empty = scoring.normalize_answer(gold, lang) == ""
        assert scoring.f1_score(prediction, gold, lang) == (0 if both_empty else 1.0)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(any_text, any_text), min_size=1, max_size=8, unique_by=lambda t: t[0]), language, st.randoms()
)
def test_scores_do_not_depend_on_prediction_key_order(pairs, lang, rnd: random.Random):
    gold = [(f"q{i}", [g]) for i, (_, g) in enumerate(pairs)]
    preds = [(f"q{i}", p) for i, (p, _) in enumerate(pairs)]
    shuffled = preds[:]
    rnd.shuffle(shuffled)
    assert scoring.score(gold, dict(preds), lang) == scoring.score(gold, dict(shuffled), lang)
