"""The two pictures thresholds are chosen from: error distributions (TTS clips beside human speech, threshold
marked) and pass rate with attempts per pair. ``synthesize`` writes them next to its summary; ``publish`` draws
them again from every merged run and the dataset card shows them.

Files (``suffix`` is a shard's, e.g. ``-0-of-4``)::

    errors{suffix}.png      per question language: share of clips by WER/CER, TTS vs human, threshold dashed;
                            a language without human reference says so, an unverified one is marked in red
    pass-rate{suffix}.png   per pair: share of questions kept, and attempts made per question
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import language_key, pair_key
from audiomlqa.manifest import Attempt, latest, standing_attempts
from audiomlqa.utils.files import atomic_output

ERRORS_PNG = "errors"
PASS_RATE_PNG = "pass-rate"
_TTS_COLOUR, _HUMAN_COLOUR, _THRESHOLD_COLOUR = "#3b6ea5", "#d9822b", "#333333"
_UNVERIFIED_COLOUR = "#b22222"


def write_figures(
    folder: str | Path, rows: Sequence[Attempt], human: dict[str, list[float]] | None = None, *, suffix: str = ""
) -> list[Path]:
    """Draw both figures from manifest rows (each question's standing attempt) and, per question language,
    the ASR's errors on human speech (a calibration's clips). Returns the files written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AudioMLQAError("figures need matplotlib: pip install 'audiomlqa[synth]'") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    standing = list(standing_attempts(rows).values())
    if not standing:
        return []
    paths = [folder / f"{ERRORS_PNG}{suffix}.png", folder / f"{PASS_RATE_PNG}{suffix}.png"]
    with plt.rc_context({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False}):
        _save(plt, _error_figure(plt, standing, human or {}), paths[0])
        _save(plt, _pass_rate_figure(plt, standing, latest(rows)), paths[1])
    return paths


def _save(plt, fig, path: Path) -> None:
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def _error_figure(plt, standing: list[Attempt], human: dict[str, list[float]]):
    import numpy as np

    languages = sorted({r.question_lang for r in standing}, key=language_key)
    cols = min(4, len(languages))
    rows = -(-len(languages) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[len(languages) :]:
        ax.set_visible(False)
    for ax, lang in zip(axes.flat, languages):
        clips = [r for r in standing if r.question_lang == lang]
        tts = [r.error for r in clips if r.error is not None]
        ours = human.get(lang) or []
        top = max([1.0, *tts, *ours])
        bins = np.linspace(0.0, min(top, 2.0), 21)
        for values, colour, label in ((tts, _TTS_COLOUR, f"TTS (n={len(tts)})"), (ours, _HUMAN_COLOUR, None)):
            if values:
                weights = np.full(len(values), 1.0 / len(values))
                ax.hist(
                    np.clip(values, 0, bins[-1]),
                    bins=bins,
                    weights=weights,
                    histtype="stepfilled",
                    alpha=0.45,
                    color=colour,
                    label=label or f"human (n={len(values)})",
                )
        thresholds = sorted(r.threshold for r in clips)
        threshold, source = thresholds[len(thresholds) // 2], clips[0].threshold_source
        per_clip = thresholds[0] != thresholds[-1]  # the per-token rule: each clip its own threshold
        line = "median threshold (per token)" if per_clip else "threshold"
        ax.axvline(threshold, color=_THRESHOLD_COLOUR, linestyle="--", linewidth=1, label=line)
        if not ours:
            ax.text(
                0.98,
                0.55,
                "no human reference:\nthreshold not measured",
                transform=ax.transAxes,
                ha="right",
                fontsize=7,
                color=_HUMAN_COLOUR,
            )
        verified = all(r.verified for r in clips)
        title = f"{lang}: threshold {threshold:.3g} ({source})" if verified else f"{lang}: UNVERIFIED judge"
        ax.set_title(title, fontsize=8, color="#333333" if verified else _UNVERIFIED_COLOUR)
        if not verified:
            ax.set_facecolor("#fbeaea")
            ax.text(
                0.98,
                0.35,
                "decisions do not measure\nintelligibility",
                transform=ax.transAxes,
                ha="right",
                fontsize=7,
                color=_UNVERIFIED_COLOUR,
            )
        ax.set_xlabel(clips[0].metric.upper())
        ax.set_ylabel("share of clips")
        ax.legend(fontsize=7, frameon=False, loc="upper right")
    measured = sorted(lang for lang in languages if human.get(lang))
    fig.suptitle(
        "ASR round-trip error of each question's kept (or best) clip"
        + (
            f", beside the ASR's error on human speech ({', '.join(measured)})"
            if measured
            else ": no human reference speech was measured (run audiomlqa calibrate)"
        ),
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _pass_rate_figure(plt, standing: list[Attempt], attempts: list[Attempt]):
    pairs = sorted({r.pair for r in standing}, key=pair_key)
    asked = {p: sum(r.pair == p for r in standing) for p in pairs}
    kept = {p: sum(r.pair == p and r.accepted for r in standing) for p in pairs}
    tries = {p: sum(r.pair == p for r in attempts) / asked[p] for p in pairs}
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(6.0, 0.55 * len(pairs) + 3), 2.8))
    x = range(len(pairs))
    unverified = {r.pair for r in standing if not r.verified}
    bars = left.bar(x, [100 * kept[p] / asked[p] for p in pairs], color=_TTS_COLOUR)
    for bar, p in zip(bars, pairs):
        if p in unverified:  # a pass rate the judge cannot vouch for
            bar.set(color="#cccccc", hatch="//", edgecolor=_UNVERIFIED_COLOUR)
    left.bar_label(bars, labels=[f"{kept[p]}/{asked[p]}" + ("?" if p in unverified else "") for p in pairs], fontsize=7)
    if unverified:
        left.set_title("hatched, ?: unverified judge", fontsize=7, color=_UNVERIFIED_COLOUR)
    left.set_ylim(0, 110)
    left.set_ylabel("questions kept (%)")
    right.bar(x, [tries[p] for p in pairs], color=_HUMAN_COLOUR)
    right.set_ylabel("attempts per question")
    for ax in (left, right):
        ax.set_xticks(list(x), pairs, rotation=45 if len(pairs) > 8 else 0)
    fig.suptitle("Pass rate and attempts per pair", fontsize=10)
    fig.tight_layout()
    return fig
