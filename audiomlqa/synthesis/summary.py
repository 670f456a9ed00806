"""A synthesis output at a glance: :func:`summarize` turns manifest rows into the per-pair numbers that
``summary.json`` holds (attempted, kept, pass rate, median error, audio hours, real-time factor, the threshold
and where it came from), and :func:`summary_table` renders them as the table ``audiomlqa synthesize`` prints.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from audiomlqa.languages import pair_key
from audiomlqa.manifest import Attempt, latest, standing_attempts
from audiomlqa.synthesis.alignment import rejected_for_names
from audiomlqa.utils.tables import Table


def summarize(
    rows: Sequence[Attempt], selection: Iterable[tuple[str, str]] | None = None, human: dict | None = None
) -> dict:
    """Per-pair table from manifest rows: attempted, accepted, pass rate, median error of the
    standing attempt, accepted audio hours, real-time factor (TTS + ASR seconds / audio seconds), the threshold,
    and — from a calibration (``human``: language → its numbers) — the ASR's median error on human speech."""
    best = standing_attempts(rows)
    wanted = set(selection) if selection is not None else set(best)
    per_pair: dict[str, dict] = {}
    for (pair, qid), r in sorted(best.items()):
        if (pair, qid) not in wanted:
            continue
        s = per_pair.setdefault(
            pair,
            {
                "metric": r.metric,
                "verified": r.verified,
                "verification": _evidence(r),
                "backend": r.backend,
                "threshold": r.threshold,
                "threshold_source": r.threshold_source,
                "human_median_error": (human or {}).get(r.question_lang, {}).get("median"),
                "human_clips": (human or {}).get(r.question_lang, {}).get("n", 0),
                "attempted": 0,
                "accepted": 0,
                "rejected_for_names": 0,
                "prompt_leaks": 0,
                "errors": [],
                "audio_seconds": 0.0,
            },
        )
        s["attempted"] += 1
        s["accepted"] += bool(r.accepted)
        s["rejected_for_names"] += rejected_for_names(r)
        s["prompt_leaks"] += r.prompt_leaked
        if r.alignment is not None and r.threshold_rule and "per token" in r.threshold_rule:
            s["per_token"] = True
            s.setdefault("thresholds", []).append(r.threshold)
        if r.error is not None:
            s["errors"].append(r.error)
        if r.accepted:
            s["audio_seconds"] += r.duration
    for pair, s in per_pair.items():
        pair_rows = [r for r in latest(rows) if r.pair == pair and r.key in wanted]
        compute = sum(r.tts_seconds + r.asr_seconds for r in pair_rows)
        audio = sum(r.duration for r in pair_rows)
        errors = s.pop("errors")
        if s.get("thresholds"):  # per-token: each clip has its own; the summary shows their median
            s["threshold"] = statistics.median(s.pop("thresholds"))
        s.update(
            attempts=len(pair_rows),
            pass_rate=s["accepted"] / s["attempted"] if s["attempted"] else 0.0,
            median_error=statistics.median(errors) if errors else None,
            audio_hours=s.pop("audio_seconds") / 3600,
            real_time_factor=compute / audio if audio else None,
        )
    return {"pairs": {k: per_pair[k] for k in sorted(per_pair, key=pair_key)}}


def _evidence(row: Attempt) -> str | None:
    """Why the judge can or cannot verify the row's language (rows of earlier versions: from the reason)."""
    if row.verification:
        return row.verification
    return row.reason.removeprefix("unverified: ") if not row.verified and row.reason else None


def summary_table(summary: dict) -> Table:
    """The per-pair summary as the table ``synthesize`` prints."""
    rows = [
        [
            pair,
            s["backend"],
            "yes" if s["verified"] else "[yellow]no[/yellow]",
            str(s["attempted"]),
            str(s["accepted"]),
            f"{100 * s['pass_rate']:.0f}%",
            s["metric"].upper(),
            "—" if s["median_error"] is None else f"{s['median_error']:.3f}",
            "—" if s.get("human_median_error") is None else f"{s['human_median_error']:.3f}",
            ("~" if s.get("per_token") else "")
            + f"{round(s.get('threshold', 0), 3):g}"
            + ("*" if s.get("threshold_source") == "calibrated" else ""),
            f"{s['audio_hours']:.3f}",
            "—" if s["real_time_factor"] is None else f"{s['real_time_factor']:.2f}",
            str(s["attempts"]),
            str(s.get("rejected_for_names", 0)),
        ]
        for pair, s in summary["pairs"].items()
    ]
    evidence = {p.split("-")[-1]: s.get("verification") for p, s in summary["pairs"].items() if not s["verified"]}
    notes = [
        f"[yellow]unverified {lang}: {why or 'the judge cannot check it'}[/yellow]" for lang, why in evidence.items()
    ]
    if evidence:
        notes.append("unverified rows carry verified: false: their decisions do not measure intelligibility")
    if any(s.get("per_token") for s in summary["pairs"].values()):
        notes.append(
            "~threshold = the median of the clips' own thresholds (per-token rule: each allows the human "
            "quantile of errors for its length)"
        )
    if any(s.get("rejected_for_names") for s in summary["pairs"].values()):
        notes.append(
            "names = rejected clips that would have been kept if their misses on names and foreign words "
            "were not counted"
        )
    if any(s.get("threshold_source") == "calibrated" for s in summary["pairs"].values()):
        notes.append(
            "threshold* = calibrated on human speech (the quantile of the ASR's error on it); human = the ASR's "
            "median error on human speech of the question language"
        )
    return Table(
        "Audio-MLQA synthesis: median WER/CER of each question's standing attempt; "
        "RTF = compute s per audio s; checked = the ASR can verify the language",
        [
            "pair",
            "tts",
            "checked",
            "asked",
            "kept",
            "pass",
            "metric",
            "median",
            "human",
            "threshold",
            "audio h",
            "RTF",
            "tries",
            "names",
        ],
        rows,
        left={0, 1, 2, 6},
        notes=notes,
    )
