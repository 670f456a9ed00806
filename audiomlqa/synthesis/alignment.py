"""Why a clip failed, not only by how much: the transcript aligned with what was spoken.

:func:`align` lines up the two normalised strings in the metric's units (words for WER, characters for CER, as
:func:`audiomlqa.asr.text.error_rate` counts them) and names the reference words the judge missed, so a row says
``missed: kuechly`` rather than ``0.43``.

Names and foreign words are where a judge fails most on readings that are otherwise clear, so their misses are
counted apart (:func:`name_words`). The treatment, by script:

* Latin-script languages (en, es, vi, de): a word written with a capital that does not start a sentence. German
  capitalises every noun, so in de this counts nouns too: read it as an upper bound on the misses due to names.
* Other scripts (hi, zh, ar): a word written in Latin letters (``Kuechly`` inside a Hindi question).
"""

from __future__ import annotations

import re

from audiomlqa.asr.text import normalize_for_asr
from audiomlqa.manifest import Alignment, Attempt

_LATIN_SCRIPT = {"en", "es", "vi", "de"}
_WORD = re.compile(r"[\w'’-]+", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?;:。！？।؟]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def name_words(text: str, lang: str) -> list[str]:
    """The names and foreign words of ``text`` as written (see the module docstring for the treatment)."""
    names, start = [], True
    for m in re.finditer(rf"{_WORD.pattern}|{_SENTENCE_END.pattern}", text):
        token = m.group()
        if _SENTENCE_END.fullmatch(token):
            start = True
            continue
        if lang in _LATIN_SCRIPT:
            if not start and token[:1].isupper():
                names.append(token)
        else:
            names += _LATIN_WORD.findall(token)
        start = False
    return names


def align(spoken: str, reference_norm: str, transcript_norm: str, lang: str, metric: str) -> Alignment:
    """The alignment of the judge's transcript with the spoken text, both normalised as the filter scores them;
    ``spoken`` (as written) tells which words are names."""
    import jiwer

    names = {normalize_for_asr(w, lang): w for w in name_words(spoken, lang)}
    names.pop("", None)
    if metric == "cer":
        ref, hyp = reference_norm.replace(" ", ""), transcript_norm.replace(" ", "")
        words, is_name = _character_words(reference_norm, names)
    else:
        ref, hyp = reference_norm, transcript_norm
        words = reference_norm.split()
        is_name = [w in names for w in words]
        words = [[i] for i in range(len(words))]
    unit = "char" if metric == "cer" else "word"
    if not ref:
        inserted = len(hyp.split()) if unit == "word" else len(hyp)
        return Alignment(unit=unit, tokens=0, hits=0, substitutions=0, deletions=0, insertions=inserted)
    units = ref.split() if unit == "word" else list(ref)
    if not hyp:  # nothing heard: every unit deleted (jiwer wants a non-empty hypothesis)
        chunks, (hits, subs, dels, ins) = [("delete", 0, len(units))], (0, 0, len(units), 0)
    else:
        out = jiwer.process_words(ref, hyp) if unit == "word" else jiwer.process_characters(ref, hyp)
        chunks = [(c.type, c.ref_start_idx, c.ref_end_idx) for c in out.alignments[0]]
        hits, subs, dels, ins = out.hits, out.substitutions, out.deletions, out.insertions
    wrong = {i for kind, a, b in chunks if kind in ("substitute", "delete") for i in range(a, b)}
    missed = [_unit_text(units, group, unit) for group in words if any(i in wrong for i in group)]
    missed_names = [
        names.get(_unit_text(units, group, unit), _unit_text(units, group, unit))
        for group in words
        if any(i in wrong for i in group) and all(is_name[i] for i in group)
    ]
    return Alignment(
        unit=unit,
        tokens=len(units),
        hits=hits,
        substitutions=subs,
        deletions=dels,
        insertions=ins,
        missed=missed,
        names=missed_names,
        name_errors=sum(1 for i in wrong if is_name[i]),
    )


def _unit_text(units: list[str], group: list[int], unit: str) -> str:
    return (" " if unit == "word" else "").join(units[i] for i in group)


def _character_words(reference_norm: str, names: dict[str, str]) -> tuple[list[list[int]], list[bool]]:
    """For CER: the character positions (spaces removed) of each reference word, and whether each character
    belongs to a name. Text without spaces (zh) has no words: each name is found by its characters, and each
    stretch between names is one "word" per character."""
    positions, is_name, start = [], [], 0
    if " " in reference_norm:
        for word in reference_norm.split():
            positions.append(list(range(start, start + len(word))))
            is_name += [word in names] * len(word)
            start += len(word)
        return positions, is_name
    text = reference_norm
    is_name = [False] * len(text)
    for name in sorted(names, key=len, reverse=True):
        for m in re.finditer(re.escape(name.replace(" ", "")), text):
            for i in range(m.start(), m.end()):
                is_name[i] = True
    i = 0
    while i < len(text):
        j = i + 1
        if is_name[i]:
            while j < len(text) and is_name[j]:
                j += 1
        positions.append(list(range(i, j)))
        i = j
    return positions, is_name


def rejected_for_names(row: Attempt) -> bool:
    """A rejected clip that its errors on names alone turned away: without them it would have been kept."""
    a = row.alignment
    if row.accepted or a is None or not a.name_errors or not a.tokens:
        return False
    return (a.errors - a.name_errors) / a.tokens <= row.threshold
