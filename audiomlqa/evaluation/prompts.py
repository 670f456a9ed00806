"""The one short-answer prompt and the one answer-extraction step, applied identically to every model.

A model answers MLQA from the context (always text) and the question (text, a transcript, or audio).
The prompt is written in the context language — the language the answer span is in. Speech LLMs and
chat models answer in sentences, so every report gives both the raw output and the extracted answer:

extraction (``PROMPT_VERSION`` names this exact procedure):
  1. keep the text before the first line break (models go on to invent the next question);
  2. drop a leading answer label ("Short answer:", "Answer:", "A:", or the prompt's label in the
     context language);
  3. strip whitespace, surrounding quotes and brackets, and one trailing sentence stop.

MLQA's own normalisation (punctuation, articles) is applied by the scorer afterwards, as for any system.

An instruction (``INSTRUCTION_PROMPT_VERSION``) is given as it is: the written instruction is the user's whole
message; a model that hears it gets the spoken instruction alone (the audio is the message, as a voice assistant
hears it), a cascade its transcript. Its answer is the whole response, untouched: open-ended answers are judged
in full.
"""

from __future__ import annotations

import re

from audiomlqa.llm import SPEECH
from audiomlqa.tasks import INSTRUCTION

PROMPT_VERSION = "audiomlqa-short-answer-v1"
INSTRUCTION_PROMPT_VERSION = "audiomlqa-instruction-v1"

# instruction, then the labels for context, question and answer, per context language
_TEXT = {
    "en": ("Answer the question with a short span copied from the context.", "Context", "Question", "Short answer"),
    "de": ("Beantworte die Frage mit einer kurzen Textstelle aus dem Kontext.", "Kontext", "Frage", "Kurze Antwort"),
    "es": (
        "Responde a la pregunta con un fragmento breve copiado del contexto.",
        "Contexto",
        "Pregunta",
        "Respuesta breve",
    ),
    "ar": ("أجب عن السؤال بعبارة قصيرة منقولة من السياق.", "السياق", "السؤال", "إجابة قصيرة"),
    "hi": ("संदर्भ से लिए गए एक छोटे अंश से प्रश्न का उत्तर दें।", "संदर्भ", "प्रश्न", "संक्षिप्त उत्तर"),
    "vi": ("Trả lời câu hỏi bằng một đoạn ngắn trích từ ngữ cảnh.", "Ngữ cảnh", "Câu hỏi", "Câu trả lời ngắn"),
    "zh": ("请用从上下文中摘录的简短片段回答问题。", "上下文", "问题", "简短回答"),
}


def short_answer_prompt(context: str, question: str | None, context_lang: str) -> str:
    """The prompt text; ``question=None`` puts the speech placeholder where the question goes."""
    instruction, c, q, a = _TEXT[context_lang]
    return f"{instruction}\n\n{c}: {context.strip()}\n{q}: {SPEECH if question is None else question.strip()}\n{a}:"


def fill_question(speech_prompt: str, question: str) -> str:
    """A prompt with the question placeholder filled in (a cascade puts its transcript there)."""
    return speech_prompt.replace(SPEECH, question.strip(), 1)


_LABELS = sorted({"short answer", "answer", "a", *(t[3].lower() for t in _TEXT.values())}, key=len, reverse=True)
_LEADING_LABEL = re.compile(r"^\s*(?:" + "|".join(re.escape(x) for x in _LABELS) + r")\s*[:：]\s*", re.IGNORECASE)
_QUOTES = "\"'“”‘’«»「」『』()[]（）*"
_STOPS = ".。।؟?!！"


def extract_answer(generated: str) -> str:
    """The answer span in a model's output (see the module docstring for the exact steps)."""
    text = generated.strip().split("\n", 1)[0]
    text = _LEADING_LABEL.sub("", text, count=1).strip()
    text = text.strip(_QUOTES + " ").strip()
    if text and text[-1] in _STOPS:
        text = text[:-1].rstrip()
    return text.strip(_QUOTES + " ").strip()


def instruction_prompt(instruction: str | None) -> str:
    """An instruction as the user's message; ``None``: the spoken instruction alone (the speech placeholder)."""
    return SPEECH if instruction is None else instruction.strip()


def prompt_version(task: str) -> str:
    """The version of the prompt and extraction a task's answers were made with (caches record it)."""
    return INSTRUCTION_PROMPT_VERSION if task == INSTRUCTION else PROMPT_VERSION


def answer_of(task: str, generated: str) -> str:
    """What is scored of an output: the extracted span (extractive QA) or the whole response (an instruction)."""
    return generated.strip() if task == INSTRUCTION else extract_answer(generated)
