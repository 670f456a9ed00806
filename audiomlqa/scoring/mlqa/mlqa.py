"""MLQA's official F1 / exact match as a Hugging Face ``evaluate`` metric.

Load it offline from this folder: ``evaluate.load(audiomlqa.scoring.MLQA_METRIC_PATH, "de")``; the
config name is the scoring (context) language. The numbers are those of ``audiomlqa.scoring.metric``,
identical to MLQA's ``mlqa_evaluation_v1.py``.
"""

import datasets
import evaluate

from audiomlqa.scoring.metric import score

_DESCRIPTION = """MLQA v1 exact match and token F1 (0-100) with language-specific normalisation: Unicode
punctuation removed, articles removed for en/es/de/vi/ar, Chinese scored per character. Predictions:
[{"id", "prediction_text"}]; references: [{"id", "answers": {"text": [...], "answer_start": [...]}}].
Every reference counts; a reference without a prediction scores 0."""

_CITATION = """@inproceedings{lewis2020mlqa,
  title={MLQA: Evaluating Cross-lingual Extractive Question Answering},
  author={Lewis, Patrick and O{\\u{g}}uz, Barlas and Rinott, Ruty and Riedel, Sebastian and Schwenk, Holger},
  booktitle={ACL}, year={2020}}"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of {"id": str, "prediction_text": str}
    references: list of {"id": str, "answers": {"text": list[str], "answer_start": list[int]}}
Returns:
    {"exact_match": float, "f1": float} in 0-100, scored in the config's language.
Example:
    >>> m = evaluate.load(MLQA_METRIC_PATH, "en")
    >>> m.compute(predictions=[{"id": "1", "prediction_text": "the cat"}],
    ...           references=[{"id": "1", "answers": {"text": ["Cat"], "answer_start": [0]}}])
    {'exact_match': 100.0, 'f1': 100.0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Mlqa(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": {"id": datasets.Value("string"), "prediction_text": datasets.Value("string")},
                    "references": {
                        "id": datasets.Value("string"),
                        "answers": datasets.features.Sequence(
                            {"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}
                        ),
                    },
                }
            ),
            reference_urls=["https://github.com/facebookresearch/MLQA"],
        )

    def _compute(self, predictions, references):
        lang = self.config_name if self.config_name != "default" else "en"
        pred = {p["id"]: p["prediction_text"] for p in predictions}
        gold = [(r["id"], list(r["answers"]["text"])) for r in references]
        result = score(gold, pred, lang)
        return {"exact_match": result.exact_match, "f1": result.f1}
