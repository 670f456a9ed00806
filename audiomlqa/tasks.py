"""What a spoken item asks of a model — its task — and how a dataset config is named after it.

* ``extractive-qa`` (MLQA): a context and a spoken question; the answer is a span, scored by MLQA's F1/EM. Configs
  are named after the (context, question) languages: ``de``, ``de-en``.
* ``instruction`` (AlpacaEval, OpenHermes, AudioBench-style sets): a spoken instruction answered freely, judged
  0–5 against a reference response. Configs are ``instruct-<language>``: ``instruct-en``, ``instruct-id``.

Synthesis, publish and score all name configs through :func:`config_name` and read them with :func:`parse_config`,
so a config's name alone says its task and languages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import check_spoken_language, pair_name, parse_pair

EXTRACTIVE_QA = "extractive-qa"
INSTRUCTION = "instruction"
TASKS = (EXTRACTIVE_QA, INSTRUCTION)
Task = Literal["extractive-qa", "instruction"]
INSTRUCT_PREFIX = "instruct-"


@dataclass(frozen=True, order=True)
class Config:
    """A dataset config: its task and languages (an instruction's context and question language are its one)."""

    task: str
    context_lang: str
    question_lang: str

    @property
    def name(self) -> str:
        return config_name(self.task, self.context_lang, self.question_lang)

    @property
    def pair(self) -> tuple[str, str]:
        return self.context_lang, self.question_lang


def check_task(task: str) -> str:
    if task not in TASKS:
        raise AudioMLQAError(f"unknown task {task!r}: use {' or '.join(TASKS)}")
    return task


def config_name(task: str, context_lang: str, question_lang: str) -> str:
    """``de`` / ``de-en`` for extractive QA, ``instruct-en`` for instructions."""
    if check_task(task) == INSTRUCTION:
        return f"{INSTRUCT_PREFIX}{question_lang}"
    return pair_name(context_lang, question_lang)


def parse_config(name: str) -> Config:
    """The task and languages a config name says (one-line error for a name that is neither kind)."""
    if name.startswith(INSTRUCT_PREFIX):
        lang = check_spoken_language(name.removeprefix(INSTRUCT_PREFIX))
        return Config(INSTRUCTION, lang, lang)
    context, question = parse_pair(name)
    return Config(EXTRACTIVE_QA, context, question)
