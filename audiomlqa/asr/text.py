"""Language-aware text normalisation and error rates for the ASR round-trip filter.

Not the MLQA answer normalisation (that is :mod:`audiomlqa.scoring.metric`): here we compare what was
written with what Whisper heard. Per language:

* ``en`` — whisper-normalizer's English normaliser (spellings, number words → digits);
* ``hi`` — whisper-normalizer's Hindi normaliser, then symbols removed *keeping* Unicode marks
  (the basic normaliser would strip Devanagari vowel signs);
* others — the basic normaliser keeping marks; digits on both sides spoken out with ``num2words``
  (de, es, vi, ar) so "2008" and "zweitausendacht" agree;
* ``zh`` — traditional → simplified (OpenCC), Chinese numerals → digits (cn2an), scored by CER.

The error metric (WER or CER) and its threshold per language come from the recipe;
:data:`DEFAULT_METRIC` is the fallback.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import warnings

from audiomlqa.errors import AudioMLQAError

DEFAULT_METRIC = {
    "en": "wer",
    "de": "wer",
    "es": "wer",
    "vi": "wer",
    "ar": "cer",
    "hi": "cer",
    "zh": "cer",
    "id": "wer",
}
_SPELL_OUT = {"de", "es", "vi", "ar", "id"}
_DIGITS = re.compile(r"\d+")


def _missing(extra_package: str) -> AudioMLQAError:
    return AudioMLQAError(f"ASR scoring needs {extra_package}: pip install 'audiomlqa[synth]'")


@functools.cache
def _normalizer(lang: str):
    try:
        from whisper_normalizer.basic import BasicTextNormalizer
        from whisper_normalizer.english import EnglishTextNormalizer
        from whisper_normalizer.indic import HindiNormalizer
    except ImportError:
        raise _missing("whisper-normalizer") from None
    if lang == "en":
        return EnglishTextNormalizer()
    basic = BasicTextNormalizer(preserve_marks=True)
    if lang == "hi":
        hindi = HindiNormalizer()
        return lambda s: basic(hindi.normalize(s))
    return basic


@functools.cache
def _to_simplified():
    try:
        import opencc
    except ImportError:
        raise _missing("opencc") from None
    return opencc.OpenCC("t2s").convert


def _ascii_digits(text: str) -> str:
    """Any Unicode decimal digit (Devanagari, Arabic-Indic, full-width) → ASCII."""
    return "".join(str(unicodedata.digit(c)) if c.isdecimal() and not c.isascii() else c for c in text)


def _spell_numbers(text: str, lang: str) -> str:
    from num2words import num2words

    return _DIGITS.sub(
        lambda m: f" {num2words(int(m.group()), lang=lang)} " if len(m.group()) < 16 else m.group(), text
    )


def normalize_for_asr(text: str, lang: str) -> str:
    """The form of ``text`` that WER/CER compares (language-aware, see module docstring)."""
    text = _ascii_digits(unicodedata.normalize("NFKC", text))
    if lang == "zh":
        import cn2an

        text = _to_simplified()(text)
        with warnings.catch_warnings():  # cn2an warns, and sometimes raises, on numerals it cannot read
            warnings.simplefilter("ignore")
            try:
                text = cn2an.transform(text, "cn2an")
            except Exception:  # keep the text as it is then
                pass
    elif lang in _SPELL_OUT:
        text = _spell_numbers(text, lang)
    text = _normalizer(lang)(text)
    if lang == "zh":
        text = text.replace(" ", "")
    return " ".join(text.split())


def error_rate(reference: str, hypothesis: str, metric: str) -> float:
    """WER or CER of already normalised strings (jiwer); an empty reference counts every hypothesis
    word as an error (1.0 if the hypothesis is non-empty, else 0.0)."""
    import jiwer

    if metric not in ("wer", "cer"):
        raise AudioMLQAError(f"unknown error metric {metric!r}: use wer or cer")
    if not reference:
        return 0.0 if not hypothesis else 1.0
    if metric == "cer":
        return float(jiwer.cer(reference.replace(" ", ""), hypothesis.replace(" ", "")))
    return float(jiwer.wer(reference, hypothesis))
