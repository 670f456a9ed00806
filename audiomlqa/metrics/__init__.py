"""Metric modules loadable with ``evaluate.load(<local path>)``."""

from pathlib import Path

MLQA_METRIC_PATH = str(Path(__file__).with_name("mlqa"))
"""Pass to ``evaluate.load`` to get the MLQA metric offline."""
