"""MLQA's seven languages, the (context, question) pairs named after them, and the one order they are shown in."""

from __future__ import annotations

from audiomlqa.errors import AudioMLQAError

LANGUAGES = ("en", "ar", "de", "es", "hi", "vi", "zh")
"""The seven MLQA languages, in MLQA's own order (every table and listing follows it)."""
EXTRA_LANGUAGES = ("id",)
"""Languages outside MLQA that a spoken instruction set needs (Indonesian: OpenHermes-ID). eSpeak speaks them and
Whisper hears them; MLQA's scorer does not know them (no extractive QA in them)."""
SPOKEN_LANGUAGES = LANGUAGES + EXTRA_LANGUAGES
_ORDER = {lang: i for i, lang in enumerate(LANGUAGES)}
_SPOKEN = {lang: i for i, lang in enumerate(SPOKEN_LANGUAGES)}


def check_language(lang: str) -> str:
    """Return ``lang`` if it is an MLQA language, else raise a one-line error listing them."""
    if lang not in _ORDER:
        raise AudioMLQAError(f"unknown language {lang!r}: MLQA languages are {', '.join(LANGUAGES)}")
    return lang


def check_spoken_language(lang: str) -> str:
    """Return ``lang`` if audiomlqa can speak and hear it (MLQA's seven and :data:`EXTRA_LANGUAGES`), else raise."""
    if lang not in _SPOKEN:
        raise AudioMLQAError(
            f"unknown language {lang!r}: MLQA languages are {', '.join(LANGUAGES)}; an instruction set may also be in "
            f"{', '.join(EXTRA_LANGUAGES)}"
        )
    return lang


def pair_name(context_lang: str, question_lang: str) -> str:
    """The name used in file and config names: ``de`` when monolingual, else ``de-en`` (context first)."""
    return context_lang if context_lang == question_lang else f"{context_lang}-{question_lang}"


def parse_pair(name: str) -> tuple[str, str]:
    """``"de"`` → ``("de", "de")``; ``"de-en"`` → context de, question en."""
    parts = name.strip().split("-")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise AudioMLQAError(f"bad language pair {name!r}: write a language (de) or context-question (de-en)")
    return check_language(parts[0]), check_language(parts[1])


def language_key(lang: str) -> int:
    """Position in MLQA's order; languages outside MLQA (e.g. ``id``) sort after them."""
    return _SPOKEN.get(lang, len(_SPOKEN))


def pair_key(pair: str | tuple[str, str]) -> tuple:
    """Monolingual pairs first, then cross-lingual ones, each in MLQA's language order; other names last."""
    if isinstance(pair, str):
        parts = pair.split("-")
        if not 1 <= len(parts) <= 2 or not all(p in _ORDER for p in parts):
            return (2, pair)
        pair = (parts[0], parts[-1])
    context, question = pair
    return (int(context != question), language_key(context), language_key(question))
