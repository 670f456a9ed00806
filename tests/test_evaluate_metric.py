"""The `evaluate` module loads from its folder with no network and returns the scorer's numbers."""

from __future__ import annotations

import pytest

from audiomlqa.scoring import metric as scoring
from audiomlqa.sources import read_mlqa_dir

evaluate = pytest.importorskip("evaluate")


@pytest.mark.parametrize("lang", ["zh", "es"])
def test_metric_equals_scorer_offline(monkeypatch, sample_dir, lang):
    from audiomlqa.scoring import MLQA_METRIC_PATH

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    f = read_mlqa_dir(sample_dir, "dev", [(lang, lang)])[0]
    preds = {q.id: (q.answers[0].text if i % 2 else q.question[:12]) for i, q in enumerate(f.questions)}
    metric = evaluate.load(MLQA_METRIC_PATH, lang)
    got = metric.compute(
        predictions=[{"id": k, "prediction_text": v} for k, v in preds.items()],
        references=[
            {"id": q.id, "answers": {"text": q.answer_texts, "answer_start": [a.answer_start for a in q.answers]}}
            for q in f.questions
        ],
    )
    want = scoring.score(f.gold, preds, lang)
    assert got == {"exact_match": want.exact_match, "f1": want.f1}
    assert 0 < got["f1"] < 100
