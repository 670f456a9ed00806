"""The judge's prompts, kept side by side as typed, versioned, checksummed things, and how a verdict is read back.

* ``v1`` (``audiomlqa-judge-v1``): the first judge. It grades the *extracted* answer to a reading-comprehension
  question against the gold spans and asks for the score alone; its parser takes the first stand-alone digit 0–5.
  Its text, version and checksum never change: caches made with it stay valid.
* ``v2`` (``audiomlqa-judge-v2``): grades the model's *full* response to a question or an instruction against the
  reference answer(s), with one 0–5 rubric for short answers and open-ended ones alike (as AudioBench's and
  MT-bench's judges do), and asks for a structured verdict, one JSON object ``{"score": n, "reason": "…"}``.
  :func:`parse_verdict` reads it robustly: the JSON object (fenced, wrapped in prose, single-quoted, cut short by
  the token budget, ``"3"`` or ``3.0``), else an explicit phrasing ("Score: 3", "3 out of 5", "I'd rate it a 3",
  "**3**", "[[3]]"), else a reply that is only a number. The scale itself ("on a scale of 0 to 5") is never taken
  for a score, and a score outside 0–5 is no score. :attr:`Verdict.how` says which rule read it.

A prompt's checksum covers its version and its template (``sha256("<version>\\n<template>")``); both go into every
report and judgement cache, and a cache made with another prompt is refused.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from audiomlqa.errors import AudioMLQAError

How = Literal["json", "phrase", "bare", "first-digit", "none"]
"""Which rule read a verdict: v2's JSON object, an explicit phrasing or a bare number; v1's first digit; none."""


@dataclass(frozen=True)
class Verdict:
    """A judge's output as read: the score 0–5 (None: unparsed), its one-sentence reason where it gave one, and
    which rule read it."""

    score: int | None
    reason: str | None = None
    how: How = "none"


@dataclass(frozen=True)
class JudgePrompt:
    """One judge prompt: ``render`` fills it in, ``verdict`` reads the judge's output (``parse``: the score only).
    ``min_new_tokens``: the token budget the judge gets at least (a JSON verdict with a reason needs more than a
    digit); it is part of the version: changing it means a new version."""

    version: str
    template: str
    reader: Callable[[str], Verdict] = field(repr=False, compare=False)
    no_answer: str = "(no answer)"
    min_new_tokens: int = 1

    @property
    def sha256(self) -> str:
        return hashlib.sha256(f"{self.version}\n{self.template}".encode()).hexdigest()

    @property
    def name(self) -> str:
        """``v1``, ``v2``: how options and cache names call it."""
        return self.version.rsplit("-", 1)[-1]

    def render(self, question: str, golds: Sequence[str], answer: str) -> str:
        return self.template.format(
            question=question.strip(),
            golds=" | ".join(g.strip() for g in golds),
            answer=answer.strip() or self.no_answer,
        )

    def verdict(self, output: str) -> Verdict:
        return self.reader(output)

    def parse(self, output: str) -> int | None:
        return self.reader(output).score

    def describe(self) -> dict:
        return {"prompt_version": self.version, "prompt_sha256": self.sha256}


# -- v1 -------------------------------------------------------------------------------------------------------

V1_TEMPLATE = """You are grading an answer to a reading-comprehension question. The reference answers are \
correct; the answer to grade may be phrased differently, longer, or in another form (a date, a number, a name).

Question: {question}
Reference answer(s): {golds}
Answer to grade: {answer}

Give one integer score from 0 to 5:
5 = correct and complete (the same answer as a reference, however phrased)
4 = correct, with a small omission or extra detail
3 = partly correct
2 = mostly wrong, with a correct element
1 = wrong, but on topic
0 = wrong, no answer, or not an answer
Reply with the score only.
Score:"""
_FIRST_DIGIT = re.compile(r"(?<![\d.])([0-5])(?!\d|\.\d)")


def first_digit(output: str) -> int | None:
    """v1's parser: the first stand-alone digit 0–5 of the judge's output, else None (unparsed)."""
    found = _FIRST_DIGIT.search(output)
    return int(found.group(1)) if found else None


def _v1_verdict(output: str) -> Verdict:
    score = first_digit(output)
    return Verdict(score, None, "first-digit" if score is not None else "none")


# -- v2 -------------------------------------------------------------------------------------------------------

V2_TEMPLATE = """You are grading a response to a question or an instruction against a reference answer. The \
reference is correct; for an open-ended instruction it is one good response, not the only one. Grade the whole \
response: its content, accuracy, completeness and relevance to the question or instruction, however it is phrased \
and whatever its length or format.

[Question or instruction]
{question}

[Reference answer(s)]
{golds}

[Response to grade]
{answer}

Score the response with one integer from 0 to 5:
5 = fully correct and complete: as accurate and helpful as the reference, however phrased
4 = correct and relevant, with a small omission, inaccuracy or unneeded detail
3 = partly correct or partly helpful: it misses an important part or contains a clear error
2 = mostly wrong or unhelpful, with a correct or relevant element
1 = wrong or irrelevant, though on the topic
0 = no response, a refusal, off the topic, or not a response to the question or instruction
Reply with one JSON object and nothing else: {{"score": <integer 0-5>, "reason": "<one sentence>"}}"""

_NUMBER = r"(\d+(?:\.\d+)?)"
_OVER = r"(?:\s*(?:/|out\s+of)\s*(\d+(?:\.\d+)?))?"
"""An optional denominator after a score (``3/5``, ``3 out of 5``): a score out of anything but 5 is no score."""
_SCALE = re.compile(
    r"(?<![\d.])[01](?:\.0)?\s*(?:-|–|—|to|and|through)\s*5(?:\.0)?(?![\d.]\d)|\b(?:zero|one)\s+to\s+five\b",
    re.IGNORECASE,
)
"""The scale itself (``0 to 5``, ``0-5``, ``between 0 and 5``): replaced by ``range`` before any phrasing is read."""
_OBJECT = re.compile(r"\{[^{}]*\}")
_KEY = re.compile(r"""[{,]\s*["']?score["']?\s*:\s*["']?\s*(-?\d+(?:\.\d+)?)""", re.IGNORECASE)
"""A ``score`` key inside an object that is not valid JSON (cut short by the token budget, unquoted keys)."""
_REASON = re.compile(r"""["']?reason["']?\s*:\s*(["'])(.*?)(?:\1|$)""", re.IGNORECASE | re.DOTALL)
_PHRASES = [
    re.compile(p + _NUMBER + _OVER, re.IGNORECASE)
    for p in (
        # Score: 3 | score of 3 | Rating: 3/5 | **Score:** 3 | final score is a 3 | score (0-5): 4 | scale of 0 to 5: 4
        r"\b(?:score|rating|rated|grade|graded|verdict|mark|scale)\b(?:\s*\([^()\d]*\))?"
        r"(?:\s*(?:of|from|between)?\s*range\b)?[\s*:=\-–—]*"
        r"(?:(?:is|of|would\s+be|should\s+be|will\s+be|be|as)\s+)?(?:an?\s+)?[*\"'\s]*",
        # I give it 3 | I'd give this response a 4 | gives the answer a score of 2
        r"\bgiv(?:e|es|ing|en)\s+(?:it|this|that|them|the\s+\w+|this\s+\w+)\s+(?:an?\s+)?(?:(?:score|rating)\s+"
        r"(?:of\s+)?)?[*\"'\s]*",
        # I'd rate it a 3 | I rate this response 4 | rate it as a 2
        r"\brat(?:e|es|ing)\s+(?:it|this|that|the\s+\w+|this\s+\w+)\s+(?:as\s+)?(?:an?\s+)?[*\"'\s]*",
        # 3 out of 5 | 3/5 (the denominator is required here)
        r"(?<![\d.])(?=\d+(?:\.\d+)?\s*(?:/|out\s+of)\s*5\b)",
        # **3** | [[3]] (MT-bench)
        r"(?:\*\*|\[\[)\s*(?=\d+(?:\.\d+)?\s*(?:\*\*|\]\]))",
    )
]
_BARE = re.compile(r"[\s*\"'`\[\](){}]*" + _NUMBER + r"[\s*\"'`\[\](){}.!]*", re.IGNORECASE)


def _zero_to_five(value: object, over: str | None = None) -> int | None:
    """``value`` as a score 0–5 (an integer, ``3.0``, ``"3"``), else None; ``over`` (a denominator) must be 5."""
    if over is not None and _zero_to_five(over) != 5:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and float(value).is_integer() and 0 <= value <= 5:
        return int(value)
    return None


def _from_object(output: str) -> Verdict | None:
    """A JSON object with a ``score`` (the last one that has it), tolerant of single quotes and a cut-off end."""
    for text in reversed(_OBJECT.findall(output)):
        data = None
        for load in (json.loads, ast.literal_eval):
            try:
                data = load(text)
                break
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
        if isinstance(data, dict):
            keys = {str(k).strip().lower(): v for k, v in data.items()}
            if "score" in keys:
                reason, score = keys.get("reason"), _zero_to_five(keys["score"])
                reason = reason.strip() if isinstance(reason, str) else None
                return Verdict(score, reason, "json" if score is not None else "none")
    keys = list(_KEY.finditer(output))
    if not keys:
        return None
    score = _zero_to_five(keys[-1].group(1))
    found = _REASON.search(output, keys[-1].end())
    reason = found.group(2).strip() if found else None
    return Verdict(score, reason or None, "json" if score is not None else "none")


def _from_phrases(output: str) -> int | None:
    """The last explicit phrasing of a score 0–5 (judges reason first and conclude), with the scale blanked out."""
    text = _SCALE.sub(" range ", output)
    found = []
    for pattern in _PHRASES:
        for m in pattern.finditer(text):
            score = _zero_to_five(m.group(1), m.group(2))
            if score is not None:
                found.append((m.start(1), score))
    return max(found)[1] if found else None


def parse_verdict(output: str) -> Verdict:
    """v2's reader: a JSON object's ``score`` (decisive when there is one), else an explicit phrasing, else a reply
    (or a first line) that is only a number; else unparsed (``how == "none"``)."""
    from_object = _from_object(output)
    if from_object is not None:
        return from_object
    score = _from_phrases(output)
    if score is not None:
        return Verdict(score, None, "phrase")
    lines = output.strip().splitlines()
    bare = _BARE.fullmatch(lines[0]) if lines else None
    if bare and not _SCALE.search(lines[0]):
        score = _zero_to_five(bare.group(1))
        if score is not None:
            return Verdict(score, None, "bare")
    return Verdict(None, None, "none")


JUDGE_PROMPTS: dict[str, JudgePrompt] = {
    "v1": JudgePrompt("audiomlqa-judge-v1", V1_TEMPLATE, _v1_verdict),
    "v2": JudgePrompt("audiomlqa-judge-v2", V2_TEMPLATE, parse_verdict, "(no response)", min_new_tokens=96),
}
"""Every judge prompt by name; ``v1`` stays the default (existing caches and reports are v1's)."""


def judge_prompt_named(name: str | JudgePrompt) -> JudgePrompt:
    """The prompt called ``name`` (``v1``, ``v2``, or its full version string), else one line naming the choices."""
    if isinstance(name, JudgePrompt):
        return name
    for prompt in JUDGE_PROMPTS.values():
        if name in (prompt.name, prompt.version):
            return prompt
    raise AudioMLQAError(f"unknown judge prompt {name!r}: use {' or '.join(JUDGE_PROMPTS)}")
