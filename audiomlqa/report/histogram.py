"""The data explorer's error distributions as hand-written SVG (the same style as :mod:`.svg`): one panel per question
language, the share of TTS clips per error bin beside the share of human recordings (the judge on human speech),
the threshold dashed. It is the picture ``synthesize`` draws as ``figures/errors.png``
(:mod:`audiomlqa.synthesis.figures`), redrawn as SVG so a page inlines it and a test reads every bar: each bin
carries its range and share in ``data-`` attributes; a language without human reference says so in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from audiomlqa.report.svg import document

BINS = 20
MAX_ERROR = 2.0
"""The axis ends at the largest error shown, at least 1 and at most 2 (beyond 2 the ASR heard another text):
larger errors land in the last bin, as in the PNG figure."""
TTS_COLOUR, HUMAN_COLOUR, THRESHOLD_COLOUR, UNVERIFIED_COLOUR = "#3b6ea5", "#d9822b", "#333333", "#b22222"


@dataclass
class Panel:
    """One language: the clips' errors, the human errors (None: no human reference) and the threshold."""

    lang: str
    metric: str
    tts: list[float]
    human: list[float] | None
    human_source: str = ""
    threshold: float | None = None
    """The median threshold of the clips (the per-token rule gives each clip its own)."""
    per_clip_threshold: bool = False
    verified: bool = True


def edges(values: Sequence[float]) -> list[float]:
    """Bin edges from 0 to the axis' end (:data:`MAX_ERROR`)."""
    top = min(max([1.0, *values]), MAX_ERROR)
    return [top * i / BINS for i in range(BINS + 1)]


def shares(values: Sequence[float], bin_edges: Sequence[float]) -> list[float]:
    """Share of ``values`` in each bin (the last bin closed and holding everything beyond it); sums to 1."""
    counts = [0] * (len(bin_edges) - 1)
    width = bin_edges[-1] / (len(bin_edges) - 1)
    for v in values:
        counts[min(int(max(v, 0.0) / width), len(counts) - 1)] += 1
    return [c / len(values) for c in counts] if values else counts


def error_histograms(panels: Sequence[Panel], title: str) -> str:
    """Panels side by side (wrapping after three), each: TTS bars, the human distribution as an outline, the
    threshold as a dashed line (an arrow at the edge when it lies beyond the axis)."""
    pw, ph, left, top, gap = 260, 130, 40, 48, 60
    cols = max(1, min(3, len(panels)))
    rows = -(-len(panels) // cols) if panels else 1
    body = []
    for n, panel in enumerate(panels):
        x0, y0 = left + (pw + gap) * (n % cols), top + (ph + gap + 40) * (n // cols)
        body.append(_panel(panel, x0, y0, pw, ph))
    if not panels:
        body.append(f"<text x='{left}' y='{top + 20}'>no clip has an error to draw</text>")
    return document(left + (pw + gap) * cols, top + (ph + gap + 40) * rows - gap + 10, body, title, "histograms")


def _panel(p: Panel, x0: float, y0: float, w: float, h: float) -> str:
    human = p.human or []
    bin_edges = edges([*p.tts, *human])
    tts_shares, human_shares = shares(p.tts, bin_edges), shares(human, bin_edges)
    ymax = max([0.25, *tts_shares, *human_shares])
    bw, top = w / BINS, bin_edges[-1]

    def y(share: float) -> float:
        return y0 + h - h * share / ymax

    colour = "#333333" if p.verified else UNVERIFIED_COLOUR
    head = f"{p.lang}" + ("" if p.verified else ": UNVERIFIED judge")
    out = [
        f"<g class='panel' data-lang='{escape(p.lang)}' data-tts-n='{len(p.tts)}' data-human-n='{len(human)}'>",
        f"<text x='{x0}' y='{y0 - 8}' font-weight='600' fill='{colour}'>{escape(head)}</text>",
        f"<line x1='{x0}' y1='{y0 + h}' x2='{x0 + w}' y2='{y0 + h}' stroke='#333'/>",
        f"<text x='{x0}' y='{y0 + h + 14}' text-anchor='middle'>0</text>",
        f"<text x='{x0 + w}' y='{y0 + h + 14}' text-anchor='middle'>{top:g}</text>",
        f"<text x='{x0 + w / 2}' y='{y0 + h + 28}' text-anchor='middle'>{escape(p.metric.upper())}</text>",
        f"<text x='{x0 - 4}' y='{y(ymax) + 4:.1f}' text-anchor='end'>{ymax:.0%}</text>",
    ]
    for i, share in enumerate(tts_shares):
        lo, hi = bin_edges[i], bin_edges[i + 1]
        out.append(
            f"<rect class='bin tts' x='{x0 + bw * i:.1f}' y='{y(share):.1f}' width='{bw - 1:.1f}' "
            f"height='{y0 + h - y(share):.1f}' fill='{TTS_COLOUR}' fill-opacity='0.6' data-low='{lo!r}' "
            f"data-high='{hi!r}' data-share='{share!r}'><title>TTS {lo:.2f}–{hi:.2f}: {share:.0%}</title></rect>"
        )
    if p.human:
        path = f"M{x0:.1f},{y0 + h:.1f}" + "".join(
            f"V{y(s):.1f}H{x0 + bw * (i + 1):.1f}" for i, s in enumerate(human_shares)
        )
        out.append(
            f"<path class='human' d='{path}V{y0 + h:.1f}' fill='none' stroke='{HUMAN_COLOUR}' stroke-width='2' "
            f"data-shares='{' '.join(f'{s:.4f}' for s in human_shares)}'><title>human speech "
            f"({escape(p.human_source)}), n={len(human)}</title></path>"
        )
        legend = f"— human speech (n={len(human)})"
    else:
        legend = "no human reference: threshold not measured"
    out.append(
        f"<rect x='{x0}' y='{y0 + h + 36}' width='10' height='10' fill='{TTS_COLOUR}' fill-opacity='0.6'/>"
        f"<text x='{x0 + 14}' y='{y0 + h + 45}'>TTS clips (n={len(p.tts)})</text>"
        f"<text class='human-legend' x='{x0 + w}' y='{y0 + h + 45}' text-anchor='end' fill='{HUMAN_COLOUR}'>"
        f"{escape(legend)}</text>"
    )
    out.append(_threshold(p, x0, y0, w, h, top))
    out.append("</g>")
    return "".join(out)


def _threshold(p: Panel, x0: float, y0: float, w: float, h: float, top: float) -> str:
    if p.threshold is None:
        return ""
    label = ("median threshold " if p.per_clip_threshold else "threshold ") + f"{p.threshold:.3g}"
    beyond = p.threshold > top
    x = x0 + w * min(p.threshold, top) / top
    return (
        f"<g class='threshold' data-value='{p.threshold!r}'><line x1='{x:.1f}' y1='{y0}' x2='{x:.1f}' y2='{y0 + h}' "
        f"stroke='{THRESHOLD_COLOUR}' stroke-dasharray='4 3'/><text x='{x0 + w}' y='{y0 - 8}' text-anchor='end'>"
        f"{escape(label)}{' (off the axis) →' if beyond else ''}</text></g>"
    )
