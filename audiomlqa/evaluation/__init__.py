"""Running models on Audio-MLQA and scoring them.

* :mod:`.specs` — model specs: their kinds and fields, :func:`load_spec`, where a model runs (:func:`placement`);
* :mod:`.runners` — the :class:`Runner` interface, the built-in runners, :func:`load_runner`;
* :mod:`.prompts` — the one short-answer prompt and answer extraction every model gets;
* :mod:`.cache` — the predictions and judgement caches, and the one guard that refuses a cache made otherwise;
* :mod:`.run` — :func:`evaluate_model` (one spec: answer, cache, score) and :func:`compare_models` (several);
* :mod:`.judge` — the LLM judge's 0–5 score beside F1/EM, a runner like every model;
* :mod:`.report` — the reports: scores per config, comparison tables and charts;
* :mod:`.inputs` — :func:`score`, ``audiomlqa score`` as a function: model specs or predictions, told apart.
"""

from audiomlqa.evaluation.inputs import ScoredPredictions, is_model_spec, score
from audiomlqa.evaluation.judge import (
    JUDGE_PROMPT_SHA256,
    JUDGE_PROMPT_VERSION,
    OVER_WINDOW,
    Judge,
    ToJudge,
    judge_answers,
    judge_prediction_files,
    judge_prompt,
    judge_table,
    parse_score,
    run_judge_check,
    spearman,
    summarize,
)
from audiomlqa.evaluation.prompts import PROMPT_VERSION, extract_answer, fill_question, short_answer_prompt
from audiomlqa.evaluation.report import (
    Comparison,
    ConfigScore,
    ModelReport,
    comparison_table,
    scores_frame,
    write_charts,
)
from audiomlqa.evaluation.run import compare_models, dataset_configs, evaluate_model, length_batches
from audiomlqa.evaluation.runners import RUNNERS, Answers, Item, Runner, as_answers, load_runner
from audiomlqa.evaluation.specs import (
    AUDIOCHAT_CONFIG_FILES,
    MAX_BATCH_CHARS,
    ModelSpec,
    Placement,
    load_spec,
    placed_asr,
    placement,
    preflight,
)

__all__ = [
    "AUDIOCHAT_CONFIG_FILES",
    "JUDGE_PROMPT_SHA256",
    "JUDGE_PROMPT_VERSION",
    "MAX_BATCH_CHARS",
    "OVER_WINDOW",
    "PROMPT_VERSION",
    "RUNNERS",
    "Answers",
    "Comparison",
    "ConfigScore",
    "Item",
    "Judge",
    "ModelReport",
    "ModelSpec",
    "Placement",
    "Runner",
    "ScoredPredictions",
    "ToJudge",
    "as_answers",
    "compare_models",
    "comparison_table",
    "dataset_configs",
    "evaluate_model",
    "extract_answer",
    "fill_question",
    "is_model_spec",
    "judge_answers",
    "judge_prediction_files",
    "judge_prompt",
    "judge_table",
    "length_batches",
    "load_runner",
    "load_spec",
    "parse_score",
    "placed_asr",
    "placement",
    "preflight",
    "run_judge_check",
    "score",
    "scores_frame",
    "short_answer_prompt",
    "spearman",
    "summarize",
    "write_charts",
]
