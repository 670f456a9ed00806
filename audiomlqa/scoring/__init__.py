"""MLQA's official F1 / exact match float-for-float (:mod:`.metric`), predictions files, the per-pair scorecard,
and the same metric as an ``evaluate`` module.

``MLQA_METRIC_PATH`` is the folder to pass to ``evaluate.load`` for the metric offline."""

from pathlib import Path

MLQA_METRIC_PATH = str(Path(__file__).with_name("mlqa"))
