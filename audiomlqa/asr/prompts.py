"""A script prompt must never be scored as speech: find a leaked copy of it in a transcript and strip it.

Why: forced to Hindi without a prompt, Whisper base writes what it hears in Urdu or Latin script, so the judge
gets an initial prompt in Devanagari (likewise zh, ar). On speech it cannot hear, it then transcribes the *prompt*
(``प्रश्न है।``, ``这位置是普通话的句子。``), and the filter would score the prompt, not the clip. Decoding without a
prompt, the script forced by suppressing other scripts' tokens, was measured and rejected: Whisper base escapes
into other scripts or loops on punctuation, and clean Kokoro Hindi got worse (median CER 0.38 → 0.49). So the
prompt stays and every transcript is checked after decoding: :func:`strip_leaked_prompt` removes a leaked copy
and says so (:class:`Heard`), for the manifest to record.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import NamedTuple

__all__ = ["Heard", "checked", "strip_leaked_prompt"]


class Heard(NamedTuple):
    """One transcript, and whether a leaked copy of the initial prompt was stripped from it."""

    text: str
    prompt_leaked: bool = False


# -- a leaked prompt ---------------------------------------------------------------------------------------

_SIMILAR = 0.75
_SHARE, _SHARE_AT_EDGE = 0.5, 0.3
_UNSPACED = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3040, 0x30FF), (0x3400, 0x9FFF), (0xF900, 0xFAFF))
"""Scripts written without spaces between words (Thai, Lao, Myanmar, Khmer, kana, CJK): compared letter by letter."""


def _is_letter(c: str) -> bool:
    return unicodedata.category(c)[0] in "LMN"  # marks too: Devanagari vowel signs, Arabic harakat


def _by_character(prompt: str) -> bool:
    letters = [ord(c) for c in prompt if _is_letter(c)]
    return 2 * sum(any(lo <= c <= hi for lo, hi in _UNSPACED) for c in letters) > len(letters)


def _units(text: str, by_character: bool) -> list[tuple[int, int, str]]:
    """``(start, end, form)`` of each word (or, for a language written without spaces, each letter)."""
    text = unicodedata.normalize("NFC", text)
    if by_character:
        return [(i, i + 1, c.casefold()) for i, c in enumerate(text) if _is_letter(c)]
    units, start = [], None
    for i, c in enumerate(text + " "):
        if _is_letter(c):
            start = i if start is None else start
        elif start is not None:
            units.append((start, i, text[start:i].casefold()))
            start = None
    return units


def _match(word: str, prompt: list[str], after: int, last: bool) -> int | None:
    """Index (> ``after``) of the prompt word ``word`` is a copy of (fuzzy; for the transcript's last word, which the
    length cap may have cut, a prefix of at least two letters also counts)."""
    for k in range(after + 1, len(prompt)):
        p = prompt[k]
        if word == p or SequenceMatcher(None, word, p, autojunk=False).ratio() >= _SIMILAR:
            return k
        if last and len(word) >= 2 and len(word) < len(p) and p.startswith(word):
            return k
    return None


def _runs(words: list[str], prompt: list[str]) -> list[tuple[int, int, list[int]]]:
    """Maximal runs ``(first, end, prompt indices)`` of consecutive transcript words that copy prompt words in the
    prompt's order."""
    runs, i = [], 0
    while i < len(words):
        k = _match(words[i], prompt, -1, i == len(words) - 1)
        if k is None:
            i += 1
            continue
        first, matched = i, [k]
        i += 1
        while i < len(words) and (k := _match(words[i], prompt, matched[-1], i == len(words) - 1)) is not None:
            matched.append(k)
            i += 1
        runs.append((first, i, matched))
    return runs


def _leaked(run: tuple[int, int, list[int]], n_words: int, weights: list[int]) -> bool:
    """A run is the prompt, not speech, when it copies half the prompt, or 30% of it touching the transcript's
    start or end, where Whisper continues or ends with its prompt (``प्रश्न सो लव्व …``)."""
    first, end, matched = run
    share = sum(weights[k] for k in matched) / sum(weights)
    at_edge = first == 0 or end == n_words
    return share >= _SHARE or (at_edge and share >= _SHARE_AT_EDGE)


def _mostly_prompt(runs: list[tuple[int, int, list[int]]], n_words: int, weights: list[int]) -> bool:
    """Whether the transcript is nothing but prompt words, or half prompt words (two or more, 30% of the prompt):
    a mix such as ``प्रश्ने में परश्न के वा`` is the prompt, scrambled, not speech."""
    n_matched = sum(end - first for first, end, _ in runs)
    if n_matched == n_words:
        return True
    share = sum(weights[k] for k in {k for *_, matched in runs for k in matched}) / sum(weights)
    return n_matched >= 2 and 2 * n_matched >= n_words and share >= _SHARE_AT_EDGE


def _spoken(run: tuple[int, int, list[int]], words: list[str], reference: list[str]) -> bool:
    """Whether the reference says the run's words too, in order (then they may well have been heard)."""
    at = -1
    for word in words[run[0] : run[1]]:
        found = _match(word, reference, at, False)
        if found is None:
            return False
        at = found
    return True


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` without ``spans`` (and the punctuation right after each), spaces collapsed."""
    kept, at = [], 0
    for start, stop in spans:
        while stop < len(text) and not _is_letter(text[stop]) and not text[stop].isspace():
            stop += 1
        kept.append(text[at:start])
        at = stop
    kept.append(text[at:])
    rest = " ".join("".join(kept).split())
    return rest if any(_is_letter(c) for c in rest) else ""


def strip_leaked_prompt(text: str, prompt: str | None, reference: str | None = None) -> tuple[str, bool]:
    """``(text without a leaked copy of prompt, whether one was found)``.

    A leak is a run of transcript words that copies prompt words in order (fuzzily: ``अप्रश्न`` for ``प्रश्न``)
    and covers half of the prompt, or 30% of it at the transcript's start or end; a transcript
    made only of prompt words (``यह है।``, ``प्रश्न हैं प्रश्न हैं``), or of half prompt words covering 30% of it
    (``प्रश्ने में परश्न के वा``), is stripped of all of them. Words are letters for
    a prompt written without spaces (Chinese). Ordinary speech that shares a word or two with the prompt
    (``किस शहर में है?``) is left alone, and so is a run the ``reference`` (what was read) says too: a question
    about "हिंदी में" may contain the prompt's words."""
    if not prompt or not text:
        return text, False
    original, text = text, unicodedata.normalize("NFC", text)
    by_character = _by_character(prompt)
    prompt_words = [u[2] for u in _units(prompt, by_character)]
    units = _units(text, by_character)
    if not prompt_words or not units:
        return original, False
    words = [u[2] for u in units]
    runs = _runs(words, prompt_words)
    weights = [len(w) for w in prompt_words]
    if not _mostly_prompt(runs, len(words), weights):  # judge run by run
        runs = [r for r in runs if _leaked(r, len(words), weights)]
    if reference:
        said = [u[2] for u in _units(reference, by_character)]
        runs = [r for r in runs if not _spoken(r, words, said)]
    if not runs:
        return original, False
    return _cut(text, [(units[first][0], units[end - 1][1]) for first, end, _ in runs]), True


def checked(texts: Sequence[str], prompt: str | None, references: Sequence[str]) -> list[Heard]:
    """Each transcript with a leaked copy of ``prompt`` stripped, and whether one was."""
    return [Heard(*strip_leaked_prompt(t, prompt, r)) for t, r in zip(texts, references)]
