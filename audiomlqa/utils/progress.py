"""Progress on stderr (stdout carries results alone): a rich bar on a terminal; elsewhere (a cluster job's log file)
a plain status line every few seconds, which a log can show, and third-party bars silenced (they would fill the log
with carriage returns)."""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from audiomlqa.errors import AudioMLQAError

STATUS_SECONDS = "AUDIOMLQA_STATUS_SECONDS"
"""Seconds between two status lines when stderr is not a terminal (0: a line on every step)."""
DEFAULT_STATUS_SECONDS = 30.0

QUIET_BARS_ENV = ("TQDM_DISABLE", "HF_DATASETS_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_PROGRESS_BARS")
"""Read when tqdm, datasets and huggingface_hub are imported (transformers follows huggingface_hub), and inherited
by child processes: setting them before any of those loads silences every tqdm bar at no import cost."""


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal: by the file itself, not by rich's guess (``FORCE_COLOR``, set in many CI
    systems, would make it draw bars with carriage returns into a log)."""
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except ValueError:  # closed
        return False


def status_seconds() -> float:
    """The interval between status lines, from the environment; a bad value fails in one line, before any work."""
    raw = os.environ.get(STATUS_SECONDS, "").strip()
    if not raw:
        return DEFAULT_STATUS_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise AudioMLQAError(
            f"{STATUS_SECONDS}={raw!r} is not a number of seconds >= 0: set it to e.g. 30 (0: a status line on "
            "every step) or unset it"
        )
    return seconds


def quiet_third_party_bars() -> None:
    """When stderr is not a terminal, silence tqdm bars (datasets' "Generating … split" and "Map", huggingface_hub
    downloads, transformers' checkpoint shards and GGUF de-quantizing): our status lines say how far a job is.

    An explicit setting of the user's wins. Libraries already imported (a library caller's process) read their
    variable at import, so they are told directly; none is imported here that is not already."""
    if stderr_is_terminal():
        return
    for name in QUIET_BARS_ENV:
        os.environ.setdefault(name, "1")
    if "datasets" in sys.modules and os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1":
        sys.modules["datasets"].disable_progress_bars()
    if "huggingface_hub" in sys.modules and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1":
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1":
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


class Bar:
    """What a running job needs of a bar: advance it, say something about the current step."""

    def __init__(self, progress=None, task=None) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def update(self, *, completed: int | None = None, note: str | None = None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, note=note or "")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class StatusLines(Bar):
    """A bar for a log file: one plain line (no carriage return, no colour) when ``every`` seconds have passed since
    the last one, checked at each step (no thread), and a last line when the job ends, so even a short job leaves
    one. The rate counts only this run's steps (a resumed job's earlier ones took no time here)."""

    def __init__(self, label: str, total: int, *, completed: int = 0, unit: str = "", every: float) -> None:
        super().__init__()
        self.label, self.total, self.done, self.unit, self.every = label, total, completed, unit, every
        self.note = ""
        self._first = completed
        self._start = self._last = time.monotonic()
        self._lock = threading.Lock()

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            self._maybe_print()

    def update(self, *, completed: int | None = None, note: str | None = None) -> None:
        with self._lock:
            if completed is not None:
                self.done = completed
            if note is not None:
                self.note = note
            self._maybe_print()

    def _maybe_print(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._print(self._line(now))

    def finish(self) -> None:
        """The last line: how much was done, in how long."""
        with self._lock:
            now = time.monotonic()
            line = f"{self.label}: done {self._count()} in {_clock(now - self._start)}, {self._rate(now)}"
            self._print(line + (f", {self.note}" if self.note else ""))

    def _count(self) -> str:
        percent = 100.0 if self.total <= 0 else 100.0 * self.done / self.total
        return f"{self.done}/{self.total} ({percent:.0f}%)"

    def _speed(self, now: float) -> float | None:
        elapsed, steps = now - self._start, self.done - self._first
        return steps / elapsed if elapsed > 0 and steps > 0 else None

    def _rate(self, now: float) -> str:
        speed, per = self._speed(now), f" {self.unit}/s" if self.unit else "/s"
        return f"?{per}" if speed is None else f"{speed:.3g}{per}"

    def _line(self, now: float) -> str:
        speed = self._speed(now)
        eta = "?" if speed is None else _clock(max(self.total - self.done, 0) / speed)
        line = f"{self.label}: {self._count()}, {self._rate(now)}, ETA {eta}"
        return line + (f", {self.note}" if self.note else "")

    @staticmethod
    def _print(line: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        stream = sys.stderr  # looked up at each line: whatever stderr is now (a test's capture, a reopened log)
        stream.write(f"{stamp} {line}\n")
        stream.flush()


def _rate_column(unit: str):
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text("" if task.speed is None else f"{task.speed:.2f} {unit}/s")

    return Rate()


@contextmanager
def progress_bar(label: str, total: int, *, completed: int = 0, enabled: bool = True, unit: str = "") -> Iterator[Bar]:
    """A bar counting ``total`` things, with their rate per second when ``unit`` names them; status lines
    (:class:`StatusLines`) when stderr is not a terminal."""
    if not enabled:
        yield Bar()
        return
    if not stderr_is_terminal():
        bar = StatusLines(label, total, completed=completed, unit=unit, every=status_seconds())
        yield bar  # a failure leaves its one-line error as the last line, not a status line after it
        bar.finish()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), *([_rate_column(unit)] if unit else [])]
    columns += [TextColumn("{task.fields[note]}"), TimeRemainingColumn()]
    with Progress(*columns, console=stderr_console()) as p:
        yield Bar(p, p.add_task("", total=total, completed=completed, note=""))
