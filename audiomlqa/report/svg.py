"""The report's figures as hand-written SVG: a few kilobytes each, no library, no script, the same file inlined in a
page and exported for a paper (a browser or ``rsvg-convert`` turns it into PDF). Every mark carries its value in a
``data-`` attribute, so a test reads what is drawn; a missing value is drawn as missing (a hatched cell, no bar, a
dash), never as 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD")
"""One colour per model, in the order given (colour-blind-safe enough for ten series)."""
FONT = "font-family='system-ui, sans-serif' font-size='11'"
_MISSING = (
    "<defs><pattern id='missing' width='6' height='6' patternUnits='userSpaceOnUse' patternTransform='rotate(45)'>"
    "<rect width='6' height='6' fill='#f2f2f2'/><line x1='0' y1='0' x2='0' y2='6' stroke='#cccccc' stroke-width='2'/>"
    "</pattern></defs>"
)


def _fmt(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def document(width: float, height: float, body: list[str], title: str, kind: str) -> str:
    """An SVG document: its title drawn on top, the missing-value pattern defined, ``body`` inside."""
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' class='figure {kind}' width='{width:.0f}' height='{height:.0f}' "
        f"viewBox='0 0 {width:.0f} {height:.0f}' role='img' aria-label='{escape(title)}' {FONT}>"
        f"<title>{escape(title)}</title>{_MISSING}"
        f"<text x='{width / 2:.0f}' y='16' text-anchor='middle' font-size='13' font-weight='600'>{escape(title)}</text>"
        + "".join(body)
        + "</svg>"
    )


def _colour(value: float | None, low: float, high: float, diverging: bool) -> str:
    """Sequential white→blue, or diverging red←white→blue around 0."""
    if value is None:
        return "url(#missing)"
    if diverging:
        span = max(abs(low), abs(high)) or 1.0
        t = max(-1.0, min(1.0, value / span))
        r, g, b = (
            (255, int(255 * (1 + t)), int(255 * (1 + t)))
            if t < 0
            else (int(255 * (1 - t)), int(255 * (1 - t * 0.55)), 255)
        )
        return f"rgb({r},{g},{b})"
    t = 0.0 if high == low else max(0.0, min(1.0, (value - low) / (high - low)))
    return f"rgb({int(255 - 200 * t)},{int(255 - 140 * t)},{int(255 - 60 * t)})"


def heatmap(
    matrix: dict[str, dict[str, float | None]],
    title: str,
    *,
    diverging: bool = False,
    scale: tuple[float, float] = (0.0, 100.0),
    digits: int = 1,
) -> str:
    """Rows: context language, columns: question language (MLQA's G-XLT layout), a cell per pair."""
    rows = list(matrix)
    cols = list(next(iter(matrix.values()))) if matrix else []
    cell, left, top = 46, 64, 52
    body = [
        f"<text x='{left + cell * len(cols) / 2:.0f}' y='36' text-anchor='middle'>question language</text>",
        f"<text transform='translate(14,{top + cell * len(rows) / 2:.0f}) rotate(-90)' text-anchor='middle'>"
        "context language</text>",
    ]
    for j, q in enumerate(cols):
        body.append(f"<text x='{left + cell * j + cell / 2:.0f}' y='{top - 4}' text-anchor='middle'>{escape(q)}</text>")
    for i, c in enumerate(rows):
        y = top + cell * i
        body.append(f"<text x='{left - 8}' y='{y + cell / 2 + 4:.0f}' text-anchor='end'>{escape(c)}</text>")
        for j, q in enumerate(cols):
            v = matrix[c].get(q)
            x = left + cell * j
            fill = _colour(v, *scale, diverging)
            data = "" if v is None else f" data-value='{v!r}'"
            body.append(
                f"<g class='cell' data-context='{escape(c)}' data-question='{escape(q)}'{data}>"
                f"<title>context {escape(c)}, question {escape(q)}: {_fmt(v, digits)}</title>"
                f"<rect x='{x}' y='{y}' width='{cell - 2}' height='{cell - 2}' fill='{fill}'/>"
                f"<text x='{x + cell / 2 - 1:.0f}' y='{y + cell / 2 + 3:.0f}' text-anchor='middle'>"
                f"{_fmt(v, digits)}</text>"
                "</g>"
            )
    return document(left + cell * len(cols) + 12, top + cell * len(rows) + 10, body, title, "heatmap")


def bars(
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[tuple[float | None, float | None, float | None]]]],
    title: str,
    *,
    ymax: float = 100.0,
    ylabel: str = "",
    digits: int = 1,
) -> str:
    """Grouped bars: a group per config, a bar per series (model) with its interval as a whisker; ``series`` holds
    (value, low, high) per group, None where the model has no value (no bar; a dash)."""
    n = max(1, len(series))
    bar, gap, left, top, plot_h = 14, 18, 48, 40, 200
    group_w = bar * n + gap
    width = max(380, left + group_w * len(groups) + 20)
    group_w = (width - left - 20) / max(1, len(groups))  # a few groups spread over the least width
    per_row = max(1, int((width - left) // 150))
    legend_y = top + plot_h + 40
    height = legend_y + 16 * ((len(series) + per_row - 1) // per_row) + 8

    def y(v: float) -> float:
        return top + plot_h - plot_h * max(0.0, min(v, ymax)) / ymax

    body = [f"<line x1='{left}' y1='{top + plot_h}' x2='{width - 10}' y2='{top + plot_h}' stroke='#333'/>"]
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        v = ymax * t
        body.append(
            f"<line x1='{left}' y1='{y(v):.1f}' x2='{width - 10}' y2='{y(v):.1f}' stroke='#e5e5e5'/>"
            f"<text x='{left - 4}' y='{y(v) + 4:.1f}' text-anchor='end'>{v:g}</text>"
        )
    if ylabel:
        body.append(
            f"<text transform='translate(12,{top + plot_h / 2:.0f}) rotate(-90)' text-anchor='middle'>"
            f"{escape(ylabel)}</text>"
        )
    for g, group in enumerate(groups):
        x0 = left + gap / 2 + group_w * g
        body.append(
            f"<text x='{x0 + bar * n / 2:.0f}' y='{top + plot_h + 14}' text-anchor='middle'>{escape(group)}</text>"
        )
        for s, (name, values) in enumerate(series):
            value, low, high = values[g]
            x = x0 + bar * s
            attrs = f"class='bar' data-model='{escape(name)}' data-group='{escape(group)}'"
            if value is None:
                body.append(f"<text {attrs} x='{x + bar / 2:.0f}' y='{top + plot_h - 4}' text-anchor='middle'>—</text>")
                continue
            tip = f"{name}, {group}: {_fmt(value, digits)}" + (
                f" [{_fmt(low, digits)}, {_fmt(high, digits)}]" if low is not None else ""
            )
            body.append(
                f"<g {attrs} data-value='{value!r}'><title>{escape(tip)}</title>"
                f"<rect x='{x:.1f}' y='{y(value):.1f}' width='{bar - 2}' height='{top + plot_h - y(value):.1f}' "
                f"fill='{PALETTE[s % len(PALETTE)]}'/>"
            )
            if low is not None and high is not None:
                cx = x + (bar - 2) / 2
                body.append(
                    f"<path d='M{cx:.1f},{y(low):.1f}V{y(high):.1f}M{cx - 3:.1f},{y(low):.1f}h6"
                    f"M{cx - 3:.1f},{y(high):.1f}h6' stroke='#222' fill='none'/>"
                )
            body.append("</g>")
    body += _legend([name for name, _ in series], left, legend_y, per_row)
    return document(width, height, body, title, "bars")


def _legend(names: Sequence[str], left: float, top: float, per_row: int = 2) -> list[str]:
    out = []
    for i, name in enumerate(names):
        x, y = left + 150 * (i % per_row), top + 16 * (i // per_row)
        out.append(
            f"<rect x='{x}' y='{y - 9}' width='10' height='10' fill='{PALETTE[i % len(PALETTE)]}'/>"
            f"<text x='{x + 14}' y='{y}'>{escape(name)}</text>"
        )
    return out


def scatter(
    points: Sequence[tuple[str, int, float, float]],
    names: Sequence[str],
    title: str,
    *,
    xlabel: str,
    ylabel: str,
    xmax: float = 100.0,
    ymax: float = 5.0,
) -> str:
    """Points (label, series index, x, y), coloured by series, labelled on hover."""
    left, top, w, h = 52, 36, 360, 240
    body = [
        f"<rect x='{left}' y='{top}' width='{w}' height='{h}' fill='none' stroke='#333'/>",
        f"<text x='{left + w / 2:.0f}' y='{top + h + 32}' text-anchor='middle'>{escape(xlabel)}</text>",
        f"<text transform='translate(14,{top + h / 2:.0f}) rotate(-90)' text-anchor='middle'>{escape(ylabel)}</text>",
    ]
    for t in (0, 0.5, 1.0):
        body.append(f"<text x='{left + w * t:.0f}' y='{top + h + 14}' text-anchor='middle'>{xmax * t:g}</text>")
        body.append(f"<text x='{left - 4}' y='{top + h - h * t + 4:.0f}' text-anchor='end'>{ymax * t:g}</text>")
    for label, s, x, y in points:
        cx, cy = left + w * min(x, xmax) / xmax, top + h - h * min(y, ymax) / ymax
        body.append(
            f"<circle class='point' cx='{cx:.1f}' cy='{cy:.1f}' r='4' fill='{PALETTE[s % len(PALETTE)]}' "
            f"data-x='{x!r}' data-y='{y!r}'><title>{escape(names[s])}, {escape(label)}: "
            f"{x:.1f}, {y:.2f}</title></circle>"
        )
    body += _legend(names, left, top + h + 52)
    return document(left + w + 20, top + h + 60 + 16 * ((len(names) + 1) // 2), body, title, "scatter")
