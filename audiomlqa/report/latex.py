"""The leaderboard and G-XLT matrices as LaTeX tables for a paper: booktabs rules, the best value per column in bold,
the 95% interval beside each value, a missing value as ``--`` (never 0). Needs ``\\usepackage{booktabs}``."""

from __future__ import annotations

from audiomlqa.report.stats import METRICS, Cell, Leaderboard

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}  # fmt: skip


def escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def _value(cell: Cell | None) -> float | None:
    return None if cell is None else cell.value


def _cell(cell: Cell | None, digits: int, best: bool) -> str:
    if cell is None or cell.value is None:
        return "--"
    value = f"{cell.value:.{digits}f}"
    value = rf"\textbf{{{value}}}" if best else value
    if cell.low is None or cell.high is None:
        return value
    return rf"{value} {{\scriptsize[{cell.low:.{digits}f}, {cell.high:.{digits}f}]}}"


def leaderboard_table(board: Leaderboard, metric: str, columns: list[str] | None = None) -> str:
    """Models as rows, ``columns`` (default: overall and every config) as columns, one metric."""
    columns = columns or board.columns
    digits = 2 if metric == "judge_mean" else 1
    best = board.best(metric)
    lines = [
        r"\begin{tabular}{l" + "r" * len(columns) + "}",
        r"\toprule",
        "Model & " + " & ".join(escape(c) for c in columns) + r" \\",
        r"\midrule",
    ]
    for m in board.models:
        cells = board.cells.get(m, {}).get(metric, {})
        row = [_cell(cells.get(c), digits, best[c] is not None and _value(cells.get(c)) == best[c]) for c in columns]
        lines.append(escape(m) + " & " + " & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    caption = (
        f"% {METRICS[metric]} per config and overall (macro average over configs); bracketed: bootstrap 95% interval "
        "resampling paragraphs; -- : no value."
    )
    return caption + "\n" + "\n".join(lines) + "\n"


def matrix_table(matrix: dict[str, dict[str, float | None]], digits: int = 1) -> str:
    """A G-XLT matrix: rows context language, columns question language."""
    cols = list(next(iter(matrix.values())))
    lines = [
        r"\begin{tabular}{l" + "r" * len(cols) + "}",
        r"\toprule",
        r"c\textbackslash q & " + " & ".join(cols) + r" \\",
        r"\midrule",
    ]
    for c, row in matrix.items():
        lines.append(c + " & " + " & ".join("--" if row[q] is None else f"{row[q]:.{digits}f}" for q in cols) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
