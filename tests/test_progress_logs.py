"""Progress a log can show: with stderr not a terminal (a cluster job's log file), a plain status line every
AUDIOMLQA_STATUS_SECONDS and a last one, and no third-party bar's carriage returns."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_one_line, audiomlqa

from audiomlqa.errors import AudioMLQAError
from audiomlqa.utils.progress import STATUS_SECONDS, progress_bar

ROOT = Path(__file__).resolve().parents[1]
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
RAW_BAR = ("\r", "%|", "it/s]", "examples/s]", "\x1b[")
"""What a tqdm (or rich) bar leaves in a file: carriage returns, its bar's edge, its rate's bracket, colours."""


def status_lines(log: str, label: str) -> list[str]:
    return [line for line in log.splitlines() if re.fullmatch(rf"{STAMP}{re.escape(label)}: .*", line)]


def assert_no_raw_bars(log: str) -> None:
    for mark in RAW_BAR:
        assert mark not in log, f"{mark!r} in the log:\n{log[-3000:]}"


def test_with_every_step_asked_each_step_prints_done_total_rate_and_eta_and_the_end_a_last_line(monkeypatch, capsys):
    monkeypatch.setenv(STATUS_SECONDS, "0")
    with progress_bar("speak", 4, completed=1, unit="q") as bar:
        bar.advance()
        bar.advance(2)
        bar.update(note="loss 0.5")
    err = capsys.readouterr().err
    lines = status_lines(err, "speak")
    assert len(lines) == 4 and len(err.splitlines()) == 4, err
    assert re.search(r"speak: 2/4 \(50%\), [\d.e+]+ q/s, ETA \d:\d\d:\d\d$", lines[0]), lines[0]
    assert re.search(r"speak: 4/4 \(100%\), [\d.e+]+ q/s, ETA 0:00:00$", lines[1]), lines[1]
    assert lines[2].endswith(", loss 0.5")
    assert re.search(r"speak: done 4/4 \(100%\) in \d:\d\d:\d\d, [\d.e+]+ q/s, loss 0.5$", lines[3]), lines[3]
    assert_no_raw_bars(err)


def test_a_short_job_under_the_interval_leaves_only_its_last_line(monkeypatch, capsys):
    monkeypatch.setenv(STATUS_SECONDS, "3600")
    with progress_bar("filter", 3) as bar:
        for _ in range(3):
            bar.advance()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and re.fullmatch(rf"{STAMP}filter: done 3/3 \(100%\) in 0:00:00, [\d.e+]+/s", lines[0])


def test_the_interval_defaults_to_30_seconds_and_quiet_prints_nothing(monkeypatch, capsys):
    monkeypatch.delenv(STATUS_SECONDS, raising=False)
    with progress_bar("train", 2) as bar:
        bar.update(completed=1, note="loss 1.0")  # within the first 30 s: no line yet
        bar.update(completed=2)
    assert len(capsys.readouterr().err.splitlines()) == 1
    with progress_bar("train", 2, enabled=False) as bar:
        bar.advance(2)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("bad", ["soon", "-1", "nan", "inf"])
def test_a_bad_interval_fails_in_one_line_when_a_bar_opens(monkeypatch, bad):
    monkeypatch.setenv(STATUS_SECONDS, bad)
    with pytest.raises(AudioMLQAError, match=rf"{STATUS_SECONDS}='{bad}' is not a number of seconds >= 0"):
        with progress_bar("speak", 1):
            pass


def test_a_bad_interval_fails_the_command_in_one_line_before_any_work(tmp_path):
    """stderr is a pipe here, not a terminal: the CLI checks the value first thing, before any model loads."""
    out = audiomlqa("synthesize", "--languages", "en", "--limit", "1", "-o", tmp_path / "s", env={STATUS_SECONDS: "5s"})
    assert_one_line(out, f"{STATUS_SECONDS}='5s' is not a number of seconds >= 0", "unset it")
    assert not (tmp_path / "s").exists()


def test_a_plain_tqdm_bar_stays_out_of_a_log_once_the_cli_started(tmp_path):
    """transformers' GGUF de-quantizing bar is a plain tqdm no library flag governs: TQDM_DISABLE, set before tqdm
    loads and inherited by child processes, silences it (checked by hand on models/text-only.json, ~1 min)."""
    code = (
        "from audiomlqa.utils.progress import quiet_third_party_bars\n"
        "quiet_third_party_bars()\n"
        "from tqdm.auto import tqdm\n"
        "for _ in tqdm(range(50), desc='Converting and de-quantizing GGUF tensors...'): pass\n"
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, '-c', 'from tqdm import tqdm; list(tqdm(range(5), desc=\"child\"))'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "FORCE_COLOR")}
    with open(tmp_path / "log", "w") as log:
        subprocess.run([sys.executable, "-c", code], stderr=log, env=env, check=True, timeout=60)
    assert (tmp_path / "log").read_text() == ""


def _log_of(tmp_path: Path, name: str, *args) -> tuple[subprocess.CompletedProcess, str]:
    """The command run as a cluster job runs it: stderr into a file (no terminal, no --quiet), a line per step; with
    an empty datasets cache of its own, so that datasets generates the dataset's split (and would draw its bar)."""
    log = tmp_path / f"{name}.log"
    cache = {"HF_DATASETS_CACHE": str(tmp_path / f"{name}-datasets-cache")}
    with open(log, "w") as stderr:
        out = subprocess.run(
            [sys.executable, "-m", "audiomlqa", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=300,
            env={**os.environ, STATUS_SECONDS: "0", **cache},
        )
    return out, log.read_bytes().decode()  # as written: read_text would turn carriage returns into newlines


def test_a_log_of_synthesize_shows_a_status_line_per_batch_and_no_raw_bar(tmp_path):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("espeakng_loader")
    args = ["--languages", "en", "--tts", "espeak", "--per-language", "3", "--batch-size", "1", "--max-attempts", "1"]
    out, log = _log_of(tmp_path, "synthesize", "synthesize", *args, "-o", tmp_path / "s")
    assert out.returncode == 0, log
    lines = status_lines(log, "synthesize")
    assert [re.search(r"synthesize: (\d+/3) ", line)[1] for line in lines[:-1]] == ["1/3", "2/3", "3/3"], log
    assert all(re.search(r", [\d.e+]+/s, ETA \d:\d\d:\d\d$", line) for line in lines[:-1]), log
    assert re.search(r"synthesize: done 3/3 \(100%\) in ", lines[-1]), log
    assert_no_raw_bars(log)


@pytest.mark.slow
def test_a_log_of_score_shows_status_lines_and_no_raw_bars(tmp_path, spoken_dataset):
    """Scoring predictions on a published dataset not yet in datasets' cache draws its "Generating validation split"
    bar (without the silencing); running a spec prints a status line per batch."""
    pytest.importorskip("transformers")
    dataset = spoken_dataset(["en", "de"], 2)  # the one test_judging reads; en alone is scored here
    spec = ROOT / "models" / "tiny-text.json"
    preds = tmp_path / "p"
    args = [spec, "--dataset", dataset, "--configs", "en", "--predictions-dir", preds, "--set", "batch_size=1"]
    out, log = _log_of(tmp_path, "spec", "score", *args)
    assert out.returncode == 0, log
    lines = status_lines(log, "tiny-text (1 config)")
    assert [re.search(r": (\d+/2) ", line)[1] for line in lines[:-1]] == ["1/2", "2/2"], log
    assert re.search(r": done 2/2 \(100%\) in .* q/s$", lines[-1]), log
    assert_no_raw_bars(log)
    out, log = _log_of(tmp_path, "predictions", "score", preds / "tiny-text", "--dataset", dataset)
    assert out.returncode == 0 and "scored predictions" in log, log
    assert_no_raw_bars(log)
