"""The functions behind lm-evaluation-harness's ``audiomlqa_text`` tasks: the text topline, where the model reads the
written question, asked and scored exactly as ``audiomlqa score`` asks and scores it.

The task YAMLs (:data:`audiomlqa.harness.LM_EVAL_TASKS`) name these functions by their import path, so the folder
works wherever audiomlqa is installed. Each task is one Audio-MLQA config (``audiomlqa_text_de`` is ``de``,
``audiomlqa_text_de_en`` is ``de-en``); its questions come from ``--metadata dataset=…`` (a published Audio-MLQA
folder or Hub id, an MLQA_V1 directory), read by audiomlqa's own reader, so lm-eval sees the gold ``audiomlqa score``
scores against, in the same order. The prompt is :func:`~audiomlqa.evaluation.prompts.short_answer_prompt`, the
answer :func:`~audiomlqa.evaluation.prompts.extract_answer` of the output, each question's EM/F1
:func:`~audiomlqa.scoring.score_answer`, and :func:`official_mean` aggregates them as the official scorer does
(``100 × sum / count``, summed in dataset order), so a task's F1/EM equal ``audiomlqa score`` on the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.prompts import PROMPT_VERSION, extract_answer, short_answer_prompt
from audiomlqa.scoring import score_answer
from audiomlqa.sources import PACKAGED_SAMPLE, SPLITS, read_dataset_files
from audiomlqa.tasks import EXTRACTIVE_QA, parse_config

SPLIT_KEY = "questions"
"""The split name the tasks evaluate (``test_split`` in the YAML); ``--metadata split=dev|test`` picks MLQA's."""
TASK_PREFIX = "audiomlqa_text"


def task_name(config: str) -> str:
    """An Audio-MLQA config's lm-eval task: ``de`` → ``audiomlqa_text_de``, ``de-en`` → ``audiomlqa_text_de_en``."""
    return f"{TASK_PREFIX}_{config.replace('-', '_')}"


def load_questions(config: str, dataset: str | None = None, split: str = "dev", **_: object):
    """lm-eval's ``custom_dataset``: one config's questions as a ``datasets.DatasetDict`` with one split.

    lm-eval passes every ``--metadata`` key (and the model's arguments) here; ``dataset`` and ``split`` are ours."""
    import datasets

    if not dataset:
        raise AudioMLQAError(
            f"{task_name(config)} needs the questions: pass --metadata dataset=<published Audio-MLQA folder, Hub id or "
            f"MLQA_V1 directory> (the packaged MLQA sample: {PACKAGED_SAMPLE})"
        )
    if str(split) not in SPLITS:
        raise AudioMLQAError(f"--metadata split={split!r} is not a split: use dev or test")
    cfg = parse_config(config)
    if cfg.task != EXTRACTIVE_QA:
        raise AudioMLQAError(f"{config!r} is not an extractive-QA config: the text topline answers MLQA questions")
    (gold,) = read_dataset_files(str(dataset), str(split), [cfg.pair])
    rows = [
        {
            "id": q.id,
            "config": gold.config,
            "context_lang": q.context_lang,
            "question_lang": q.question_lang,
            "title": q.title,
            "context": q.context,
            "question": q.question,
            "answers": q.answer_texts,
        }
        for q in gold.questions
    ]
    return datasets.DatasetDict({SPLIT_KEY: datasets.Dataset.from_list(rows)})


def doc_to_text(doc: dict) -> str:
    """audiomlqa's short-answer prompt with the written question (the ``text`` kind's prompt)."""
    return short_answer_prompt(doc["context"], doc["question"], doc["context_lang"])


def doc_to_target(doc: dict) -> str:
    """The first gold answer (lm-eval logs it; scoring takes every gold answer)."""
    return doc["answers"][0]


def process_results(doc: dict, results: Sequence[str]) -> dict[str, float]:
    """The question's EM and F1 (0–1) on the answer extracted from the model's output."""
    em, f1 = score_answer(extract_answer(results[0]), doc["answers"], doc["context_lang"])
    return {"exact_match": float(em), "f1": f1}


def official_mean(values: Sequence[float]) -> float:
    """MLQA's official aggregation on the 0–100 scale: ``100 × sum / count``, summed in order as the scorer sums."""
    total = 0
    for v in values:
        total += v
    return 100.0 * total / len(values) if values else 0.0


__all__ = [
    "PROMPT_VERSION",
    "SPLIT_KEY",
    "doc_to_target",
    "doc_to_text",
    "load_questions",
    "official_mean",
    "process_results",
    "task_name",
]
