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


CHROMIUM = Path(os.environ.get("AUDIOMLQA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # this machine's closed network refuses Chromium's own connections
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",  # a test plays a clip without clicking
]


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, headless, driven by Playwright (which cannot download its own browsers here); one per
    worker. Skips when the README's set-up (which installs it) was not run."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (the README's set-up does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    """``open(path)``: a new page showing ``path`` (a file on disk, as a user double-clicks it); ``page.errors``
    collects the console's errors and the page's uncaught exceptions, which every browser test asserts empty."""
    pages = []

    def open_file(path: Path, *, width: int = 1280, height: int = 900):
        page = chromium.new_page(viewport={"width": width, "height": height})
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto(Path(path).resolve().as_uri())
        pages.append(page)
        return page

    yield open_file
    for page in pages:
        page.close()
