"""The functions behind lmms-eval's ``audio_mlqa`` tasks: one Audio-MLQA config each, asked and scored as
``audiomlqa score`` asks and scores it.

The prompt is :func:`~audiomlqa.evaluation.prompts.short_answer_prompt` with the spoken question where the written
one would be: a chat model (``doc_to_messages``) hears the clip there, between the context and the answer label; a
simple model (``doc_to_visual`` + ``doc_to_text``) gets the clip before the text, the placeholder dropped, as its
wrapper places audio. The answer is :func:`~audiomlqa.evaluation.prompts.extract_answer` of the output; each
question's EM/F1 is :func:`~audiomlqa.scoring.score_answer` in the context's language, and the task's F1/EM are
:func:`~audiomlqa.scoring.metric.score` over the task's questions, the official scorer's own arithmetic.

lmms-eval loads this file beside the YAML that names it (``!function utils.…``), so it imports audiomlqa by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audiomlqa.audio import SAMPLE_RATE
from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.prompts import extract_answer, short_answer_prompt
from audiomlqa.llm import SPEECH
from audiomlqa.scoring.metric import score, score_answer


def speech_prompt(doc: dict) -> str:
    """The short-answer prompt in the context's language, :data:`~audiomlqa.llm.SPEECH` where the question goes."""
    return short_answer_prompt(doc["context"], None, doc["context_lang"])


def doc_to_audio(doc: dict) -> list[dict]:
    """The spoken question as lmms-eval's wrappers take audio: ``{"array", "sampling_rate"}`` (16 kHz mono)."""
    audio = doc["audio"]
    return [{"array": np.asarray(audio["array"], dtype=np.float32).reshape(-1), "sampling_rate": SAMPLE_RATE}]


def doc_to_text(doc: dict) -> str:
    """For a simple wrapper, which puts the audio before the text: the prompt with the placeholder dropped."""
    return speech_prompt(doc).replace(SPEECH, "", 1)


def doc_to_messages(doc: dict) -> list[dict]:
    """For a chat wrapper: one user turn, the clip where the question goes (audiomlqa's own audio chat prompt)."""
    before, _, after = speech_prompt(doc).partition(SPEECH)
    content = [{"type": "text", "text": before}] if before.strip() else []
    content += [{"type": "audio", "url": doc_to_audio(doc)[0]}]
    content += [{"type": "text", "text": after}] if after.strip() else []
    return [{"role": "user", "content": content}]


def doc_to_target(doc: dict) -> str:
    """The first gold answer (what lmms-eval logs as the target; scoring takes every gold answer)."""
    return doc["answers"]["text"][0]


def process_results(doc: dict, results: Sequence[str]) -> dict[str, dict]:
    """One question's EM and F1 (``score``, 0–1), with what the official scorer needs to aggregate them (the id, the
    extracted answer, the gold answers, the scoring language); the sample log keeps them, the raw output beside."""
    answer = extract_answer(results[0] if results else "")
    golds = list(doc["answers"]["text"])
    lang = doc["context_lang"]
    em, f1 = score_answer(answer, golds, lang)
    item = {"id": str(doc["id"]), "answer": answer, "golds": golds, "lang": lang}
    return {"exact_match": {**item, "score": float(em)}, "f1": {**item, "score": f1}}


def _official(items: Sequence[dict]):
    """The official scorer over a task's questions, in dataset order (every question answered here)."""
    langs = {i["lang"] for i in items}
    if len(langs) != 1:
        raise AudioMLQAError(f"an audio_mlqa task scores one context language, got {sorted(langs)}")
    predictions = {i["id"]: i["answer"] for i in items}
    return score(((i["id"], i["golds"]) for i in items), predictions, langs.pop())


def official_f1(items: Sequence[dict]) -> float:
    """MLQA's official F1 (0–100) of a task."""
    return _official(items).f1


def official_exact_match(items: Sequence[dict]) -> float:
    """MLQA's official exact match (0–100) of a task."""
    return _official(items).exact_match
