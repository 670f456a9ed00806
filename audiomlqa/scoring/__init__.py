"""MLQA's official F1 / exact match float-for-float (:mod:`.metric`), predictions files (:mod:`.predictions`), the
per-pair scorecard with MLQA's tables and provenance (:mod:`.scorecard`), bootstrap intervals and the paired
bootstrap test (:mod:`.intervals`), and the same metric as an ``evaluate``
module (``mlqa/``).

``MLQA_METRIC_PATH`` is the folder to pass to ``evaluate.load`` for the metric offline."""

from pathlib import Path

from audiomlqa.scoring.intervals import (
    Interval,
    PairedTest,
    Sample,
    bootstrap_interval,
    bootstrap_intervals,
    paired_bootstrap,
    sample,
)
from audiomlqa.scoring.metric import (
    SCORER_VERSION,
    Score,
    answer_tokens,
    exact_match_score,
    f1_score,
    normalize_answer,
    score,
    score_answer,
)
from audiomlqa.scoring.predictions import PredictionMap, Predictions, load_predictions, looks_like_model_spec
from audiomlqa.scoring.scorecard import (
    BOOTSTRAP,
    PairScore,
    Scorecard,
    paragraphs,
    question_samples,
    score_datasets,
    score_file,
    score_predictions,
    scorecard_tables,
)

MLQA_METRIC_PATH = str(Path(__file__).with_name("mlqa"))

__all__ = [
    "BOOTSTRAP",
    "MLQA_METRIC_PATH",
    "Interval",
    "PairedTest",
    "Sample",
    "bootstrap_interval",
    "bootstrap_intervals",
    "paired_bootstrap",
    "paragraphs",
    "question_samples",
    "sample",
    "SCORER_VERSION",
    "PairScore",
    "PredictionMap",
    "Predictions",
    "Score",
    "Scorecard",
    "answer_tokens",
    "exact_match_score",
    "f1_score",
    "load_predictions",
    "looks_like_model_spec",
    "normalize_answer",
    "score",
    "score_answer",
    "score_datasets",
    "score_file",
    "score_predictions",
    "scorecard_tables",
]
