"""Shared fixtures: the packaged MLQA sample and, when present, the full MLQA dev set beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "audiomlqa" / "data" / "mlqa-sample"
SHARED_MLQA = Path(os.environ.get("AUDIOMLQA_MLQA_DIR", ROOT.parent / "shared" / "data" / "mlqa" / "MLQA_V1"))


@pytest.fixture
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture
def mlqa_dev_dir() -> Path:
    if not (SHARED_MLQA / "dev").is_dir():
        pytest.skip(f"full MLQA dev not found at {SHARED_MLQA}")
    return SHARED_MLQA
