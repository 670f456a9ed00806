"""Progress bars on stderr, and only when stderr is a terminal: stdout carries results alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


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


def _rate_column(unit: str):
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text("" if task.speed is None else f"{task.speed:.2f} {unit}/s")

    return Rate()


@contextmanager
def progress_bar(label: str, total: int, *, completed: int = 0, enabled: bool = True, unit: str = "") -> Iterator[Bar]:
    """A bar counting ``total`` things, with their rate per second when ``unit`` names them."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = stderr_console()
    if not enabled or not console.is_terminal:
        yield Bar()
        return
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), *([_rate_column(unit)] if unit else [])]
    columns += [TextColumn("{task.fields[note]}"), TimeRemainingColumn()]
    with Progress(*columns, console=console) as p:
        yield Bar(p, p.add_task("", total=total, completed=completed, note=""))
