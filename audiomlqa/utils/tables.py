"""Result tables, built once and rendered three ways: a terminal table, Markdown, or a pandas frame (CSV)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    left: set[int] = field(default_factory=lambda: {0})
    """Columns aligned left (the others, numbers, right)."""
    notes: list[str] = field(default_factory=list)
    """Lines printed after the table (rich markup allowed; stripped in Markdown)."""

    def to_markdown(self) -> str:
        align = ["---" if i in self.left else "---:" for i in range(len(self.header))]
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.header) + " |", "|" + "|".join(align) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines + [""] + [_plain(n) for n in self.notes])

    def to_rich(self):
        from rich.table import Table as RichTable

        table = RichTable(title=self.title)
        for i, h in enumerate(self.header):
            table.add_column(h, justify="left" if i in self.left else "right")
        for r in self.rows:
            table.add_row(*r)
        return table

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.header)


def _plain(markup: str) -> str:
    from rich.text import Text

    return Text.from_markup(markup).plain


def print_tables(tables: Sequence[Table], *, markdown: bool = False, console=None) -> None:
    """Tables on stdout: Markdown, or rich tables (132 columns wide when stdout is not a terminal, so a log or a
    pipe keeps every column readable)."""
    from rich.console import Console

    if markdown:
        print("\n".join(t.to_markdown() for t in tables))
        return
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=132)
    for t in tables:
        console.print(t.to_rich())
        for note in t.notes:
            console.print(note)
