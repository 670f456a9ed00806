"""Shared fixtures: the packaged MLQA sample and, when present, the full MLQA dev set beside the repo; what several
modules build once per session (a spoken dataset, a tiny Whisper); and the ``slow`` marker of the two tiers:
``pytest -m "not slow"`` (the quick tier, under 3 minutes on 2 cores, every module still exercised) and ``pytest``
(everything)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "audiomlqa" / "data" / "mlqa-sample"
SHARED_MLQA = Path(os.environ.get("AUDIOMLQA_MLQA_DIR", ROOT.parent / "shared" / "data" / "mlqa" / "MLQA_V1"))

if "PYTEST_XDIST_WORKER" in os.environ:  # one worker per core already: a thread pool each would only oversubscribe
    for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_threads, "1")  # inherited by the CLI processes the tests start, too


def pytest_configure(config: pytest.Config) -> None:
    if "PYTEST_XDIST_WORKER" in os.environ and "torch" in sys.modules:  # imported before this file was
        sys.modules["torch"].set_num_threads(1)
    config.addinivalue_line(
        "markers",
        "slow: left out of the quick tier (pytest -m 'not slow'): training runs, launches of several processes,"
        " kills and resumes, Whisper base on many clips, and the tests that need a spoken dataset or a served model"
        " built for them; the quick tier keeps a cheaper test of every module",
    )


@pytest.fixture
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture
def mlqa_dev_dir() -> Path:
    if not (SHARED_MLQA / "dev").is_dir():
        pytest.skip(f"full MLQA dev not found at {SHARED_MLQA}")
    return SHARED_MLQA


@pytest.fixture(scope="session")
def spoken_dataset(tmp_path_factory):
    """``spoken_dataset(languages, per_language)``: a published Audio-MLQA spoken by eSpeak
    (``helpers.publish_spoken``), built once per session for each choice and shared by the modules that ask for the
    same one; tests read it and write their predictions elsewhere."""
    from helpers import publish_spoken

    built: dict[tuple, Path] = {}

    def get(languages: list[str], per_language: int) -> Path:
        key = (tuple(languages), per_language)
        if key not in built:
            built[key] = publish_spoken(tmp_path_factory.mktemp("spoken"), list(languages), per_language)
        return built[key]

    return get


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory) -> Path:
    """A tiny random multilingual Whisper with the full 30 s window (``tiny_models.make_tiny_whisper``), built once;
    the tests load it, never change it."""
    from tiny_models import make_tiny_whisper

    return make_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))


def scripted_server(tmp_path: Path, mode: str):
    """tests/scripted_server.py in ``mode`` on 127.0.0.1 (yields its base URL; requests land in tmp_path), stopped by
    its pid."""
    from test_api import free_port, wait_for

    port = free_port()
    proc = subprocess.Popen([sys.executable, ROOT / "tests" / "scripted_server.py", str(port), mode], cwd=tmp_path)
    wait_for(f"http://127.0.0.1:{port}/health", proc)  # up in every mode
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def judge_server(tmp_path):
    """An OpenAI-compatible judge that answers a score."""
    yield from scripted_server(tmp_path, "judge")


@pytest.fixture
def verdict_server(tmp_path):
    """An OpenAI-compatible v2 judge that answers a fenced JSON verdict (``verdict`` mode)."""
    yield from scripted_server(tmp_path, "verdict")
