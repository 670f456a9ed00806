"""How wrong is the ASR judge on *human* speech? Calibrating the round-trip filter's thresholds.

A TTS clip that "fails" at WER 0.2 may be as intelligible as a native speaker reading the same words: the
filter's error mixes the voice's quality with the ASR model's own error. :func:`calibrate` measures the second
part on real speech (a folder of audio + transcript pairs such as ``../shared/data/fleurs``, or a Hugging Face
dataset with audio, text and language columns such as FLEURS or Common Voice), clip by clip and per language, with
exactly the ASR settings and text normalisation synthesis uses (:mod:`.reference` reads the speech). The
calibration file it writes keeps every clip's error, its tokens and errors, so any rule can be applied later;
:func:`calibrated_thresholds` applies one of the two rules of :mod:`.rules` (per token, the default, or per clip),
never above :data:`THRESHOLD_CAP`. The leave-one-out acceptance (each human clip judged by the rule calibrated on
the *other* clips of its language) says how much real speech a rule would turn away.

It also says whether the judge can verify each language (:func:`verification`: its median error on the human
speech), with the measured reason. A calibration can be wrong: a reference whose transcripts do not match its
audio gives clips no working judge gets wrong by that much. Such a language (:func:`implausibility`) is refused,
when measured and when read, unless the file marks it as allowed (``calibrate --allow-implausible``), and the
dataset card then says so in bold.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audiomlqa import __version__
from audiomlqa.asr import hear
from audiomlqa.asr.text import DEFAULT_METRIC, normalize_for_asr
from audiomlqa.config import Language, describe_error
from audiomlqa.errors import AudioMLQAError, first_line
from audiomlqa.languages import LANGUAGES
from audiomlqa.synthesis.alignment import align
from audiomlqa.synthesis.reference import Reference, ReferenceClip
from audiomlqa.synthesis.rules import (
    DEFAULT_RULE,
    fit_tokens,
    leave_one_out_acceptance,
    per_token_leave_one_out,
    threshold_rule,
)
from audiomlqa.utils.progress import progress_bar
from audiomlqa.utils.tables import Table

FORMAT = "audiomlqa-calibration/1"
SHIPPED_CALIBRATION = "whisper-base-fleurs"
"""The calibration that comes with the package (``--calibration whisper-base-fleurs``): the default judge (Whisper
base, default settings) on the 30 shared FLEURS clips of en, de and es (CC BY 4.0), measured by
``audiomlqa calibrate``; the evidence behind the default judge's verified languages."""
DEFAULT_QUANTILE = 0.9
DEFAULT_SCALE = 1.0
VERIFIABLE_MEDIAN = 0.35
"""The highest median error on human speech at which the judge can still verify a language: Whisper base's median
on native FLEURS readers is 0.08–0.14 in en, de and es. A judge that mishears more than a third of a typical native
reading cannot tell a clear voice from a poor one (its p90 reaches the cap): such a language is *unverified*, with
the measured reason, in rows, summary, card and figures (:func:`verification`)."""
IMPLAUSIBLE_CLIP = 1.5
"""The highest error of any one human clip: above 1 the ASR heard more wrong words than the reference has, and
above 1.5 it is hearing another text (a shifted transcript, a hallucination), which also drags the p90 up."""
THRESHOLD_CAP = 0.6
"""The loosest threshold a calibration may give (WER or CER): at 0.6 most words (characters) of a clip may
already be misheard, the loosest fixed threshold of a language we ship (ar) short of vi, which Whisper base cannot
verify at all. A rule asking for more says more about the reference or the judge than about the voice, and would
make the filter accept nearly everything."""
_ASR_RUNTIME = ("device", "cpu_threads")
"""ASR settings that change where the judge runs, not what it hears: a calibration holds across them."""


def judge_name(model: object) -> str:
    """What verification reasons call the judge: a local model folder by its name only (reasons reach dataset
    cards, which never locate files), a Hub id or a description as it is."""
    text = str(model or "the ASR")
    return Path(text).name if Path(text).is_absolute() or Path(text).exists() else text


def shipped_calibration(file: str | Path) -> str:
    """The path of a calibration file: a packaged calibration's name (:data:`SHIPPED_CALIBRATION`) → its file."""
    if str(file) == SHIPPED_CALIBRATION:
        return str(resources.files("audiomlqa") / "data" / "calibration" / f"{SHIPPED_CALIBRATION}.json")
    return str(file)


# -- the measurement --------------------------------------------------------------------------------


def calibrate(
    reference: Reference,
    asr,
    asr_settings: dict,
    *,
    metric: dict[str, str] | None = None,
    batch_size: int = 16,
    progress: bool = True,
    allow_implausible: bool = False,
) -> dict:
    """Transcribe every reference clip with ``asr`` (its language forced, as in synthesis), score it with the
    filter's normalisation and metric, and return the calibration document (what ``calibration.json`` holds).
    An implausible language (:func:`implausibility`) is refused, or with ``allow_implausible`` marked in the
    document and warned about on stderr."""
    by_lang: dict[str, list[ReferenceClip]] = {}
    for clip in reference.clips:
        by_lang.setdefault(clip.lang, []).append(clip)
    languages = {}
    with progress_bar("calibrate", len(reference.clips), enabled=progress) as bar:
        for lang in sorted(by_lang, key=LANGUAGES.index):
            m = (metric or {}).get(lang, DEFAULT_METRIC[lang])
            results = []
            for start in range(0, len(by_lang[lang]), batch_size):
                batch = by_lang[lang][start : start + batch_size]
                heard = hear(asr, [c.read() for c in batch], lang, [c.text for c in batch])
                for clip, (hyp, leaked) in zip(batch, heard):
                    ref_norm, hyp_norm = normalize_for_asr(clip.text, lang), normalize_for_asr(hyp, lang)
                    lined = align(clip.text, ref_norm, hyp_norm, lang, m)
                    err = lined.rate
                    results.append(
                        {
                            "id": clip.id,
                            "error": round(err, 6),
                            "tokens": lined.tokens,
                            "edits": lined.errors,
                            "text": clip.text,
                            "transcript": hyp,
                            **({"prompt_leaked": True} if leaked else {}),
                        }
                    )
                bar.advance(len(batch))
            errors = [r["error"] for r in results]
            counts = [(r["edits"], r["tokens"]) for r in results]
            verified, why = verification(errors, m, lang, judge_name(asr.describe().get("model")))
            languages[lang] = {
                "n": len(errors),
                "metric": m,
                **error_statistics(errors),
                "verified": verified,
                "verification": why,
                "leave_one_out_acceptance": leave_one_out_acceptance(
                    errors, DEFAULT_QUANTILE, DEFAULT_SCALE, THRESHOLD_CAP
                ),
                "leave_one_out": leave_one_out_both(errors, counts, DEFAULT_QUANTILE, DEFAULT_SCALE),
                "clips": results,
            }
    check_plausible(languages, reference.name, allow=allow_implausible)
    return {
        "format": FORMAT,
        "reference": {"name": reference.name, "clips": len(reference.clips), "skipped": reference.skipped},
        "asr": asr.describe(),
        "asr_settings": comparable_asr_settings(asr_settings),
        "normalisation": "audiomlqa.asr.text.normalize_for_asr (the filter's own)",
        "audiomlqa_version": __version__,
        "languages": languages,
    }


def implausibility(errors: Sequence[float], metric: str, texts: Sequence[object] = ()) -> str | None:
    """Why one language's errors on human speech are implausible for a working judge, in words (None: they are
    plausible): an empty reference transcript, or a clip's error above :data:`IMPLAUSIBLE_CLIP` or not finite. (A
    high median is not implausible: it says the judge cannot verify the language, :func:`verification`.)"""
    m = metric.upper()
    reasons = []
    empty = sum(isinstance(t, str) and not any(ch.isalnum() for ch in t) for t in texts)
    if empty:
        reasons.append(f"{empty} empty reference transcript(s)")
    e = np.asarray(errors, dtype=float)
    if not np.isfinite(e).all():
        return "; ".join([*reasons, f"a {m} that is not a finite number"])
    if float(e.max()) > IMPLAUSIBLE_CLIP:
        reasons.append(f"max {m} {float(e.max()):.3g} > {IMPLAUSIBLE_CLIP:g}")
    return "; ".join(reasons) or None


def verification(errors: Sequence[float], metric: str, lang: str, judge: str) -> tuple[bool, str]:
    """Whether the judge can verify ``lang``, and the measured reason in words: its median error on the human
    clips is at most :data:`VERIFIABLE_MEDIAN`."""
    median, n, m = float(np.median(np.asarray(errors, dtype=float))), len(errors), metric.upper()
    if median <= VERIFIABLE_MEDIAN:
        return True, f"{judge}'s median {m} on {n} human clip(s) of {lang} is {median:.3f} (≤ {VERIFIABLE_MEDIAN:g})"
    return False, (
        f"{judge} cannot verify {lang}: its median {m} on {n} human clip(s) is {median:.3f} (> {VERIFIABLE_MEDIAN:g}; "
        "or the reference's transcripts do not match its audio)"
    )


def leave_one_out_both(errors: Sequence[float], counts: Sequence[tuple[int, int]] | None, quantile, scale) -> dict:
    """The human clips each rule keeps when each clip is judged by a rule calibrated on the others."""
    return {
        "per-clip": leave_one_out_acceptance(errors, quantile, scale, THRESHOLD_CAP),
        "per-token": per_token_leave_one_out(counts, quantile, THRESHOLD_CAP) if counts else None,
    }


def implausible_message(where: str, problems: dict[str, str], then: str) -> str:
    """The one line that refuses implausible languages: what, the likely cause, what to do (``then``)."""
    said = ", ".join(f"{lang} ({why})" for lang, why in problems.items())
    return (
        f"{where}: the ASR's error on human speech is implausible for a working judge in {said}: the reference's "
        f"transcripts likely do not match its audio, or the ASR cannot hear {'/'.join(problems)}; {then}"
    )


def check_plausible(languages: dict[str, dict], where: str, *, allow: bool = False) -> None:
    """Refuse measured languages (``calibrate``'s entries) whose numbers are implausible; with ``allow``, mark each
    (``"implausible": "median WER 1.14 > 0.5"``) and warn loudly on stderr instead."""
    problems = {
        lang: why
        for lang, entry in languages.items()
        if (why := implausibility([c["error"] for c in entry["clips"]], entry["metric"], _texts(entry)))
    }
    if not problems:
        return
    if not allow:
        then = "fix the reference, or pass --allow-implausible to write the calibration marked as implausible"
        raise AudioMLQAError(implausible_message(where, problems, then))
    for lang, why in problems.items():
        languages[lang]["implausible"] = why
    then = (
        "written anyway (--allow-implausible), marked 'implausible' in the file; thresholds from it are capped and "
        "the dataset card will say so"
    )
    print("WARNING: " + implausible_message(where, problems, then), file=sys.stderr)


def _texts(entry: dict) -> list[object]:
    return [c.get("text") for c in entry["clips"]]


def comparable_asr_settings(settings: dict) -> dict:
    """The ASR settings a calibration depends on (not where it ran), with unset options dropped."""
    return {k: v for k, v in sorted(settings.items()) if v is not None and k not in _ASR_RUNTIME}


def error_statistics(errors: Sequence[float]) -> dict:
    e = np.asarray(errors, dtype=float)
    return {
        "median": round(float(np.median(e)), 6),
        "mean": round(float(e.mean()), 6),
        "p90": round(float(np.quantile(e, 0.9)), 6),
        "max": round(float(e.max()), 6),
    }


_Finite = Field(None, ge=0, allow_inf_nan=False)


class _Clip(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    error: float = Field(ge=0, allow_inf_nan=False)
    tokens: int | None = Field(None, ge=0)
    edits: int | None = Field(None, ge=0)
    text: str | None = None


class _LanguageEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    metric: Literal["wer", "cer"]
    clips: list[_Clip] = Field(min_length=1)
    n: int | None = Field(None, ge=1)
    median: float | None = _Finite
    mean: float | None = _Finite
    p90: float | None = _Finite
    max: float | None = _Finite
    leave_one_out_acceptance: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    verified: bool | None = None
    verification: str | None = None
    implausible: str | None = Field(None, min_length=1)
    """Set by ``calibrate --allow-implausible``: why its numbers are implausible, and that they were kept anyway."""


class _Reference(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


class _Document(BaseModel):
    """What :func:`read_calibration` insists on; the rest of the file is kept as written."""

    model_config = ConfigDict(extra="allow")
    format: Literal["audiomlqa-calibration/1"]
    reference: _Reference
    asr_settings: dict
    languages: dict[Language, _LanguageEntry] = Field(min_length=1)


def read_calibration(path: str | Path) -> dict:
    """A calibration file, checked to the leaves, so a wrong or damaged file is one line, not a traceback later
    (or a threshold silently NaN); an implausible language the file does not mark as allowed is refused, so a
    file edited by hand cannot bypass :func:`calibrate`'s check."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise AudioMLQAError(f"cannot read calibration file {path}: {getattr(e, 'strerror', None) or e}") from None
    except ValueError as e:
        raise AudioMLQAError(f"{path} is not JSON ({first_line(e)}); rerun audiomlqa calibrate") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise AudioMLQAError(f"{path} is not an audiomlqa calibration file ({FORMAT}); make one: audiomlqa calibrate")
    try:
        _Document.model_validate(doc)
    except ValidationError as e:
        raise AudioMLQAError(f"{describe_error(e, str(path))}; rerun audiomlqa calibrate") from None
    problems = {
        lang: why
        for lang, entry in doc["languages"].items()
        if not entry.get("implausible")
        and (why := implausibility([c["error"] for c in entry["clips"]], entry["metric"], _texts(entry)))
    }
    if problems:
        then = (
            "the file does not mark them as allowed: fix the reference and rerun audiomlqa calibrate "
            "(--allow-implausible marks them)"
        )
        raise AudioMLQAError(implausible_message(str(path), problems, then))
    return doc


def clip_counts(entry: dict, lang: str) -> list[tuple[int, int]] | None:
    """Each human clip's (errors, tokens) for the per-token rule: as recorded, or (files of earlier versions) from
    its text and transcript; None when a clip has neither."""
    counts = []
    for clip in entry["clips"]:
        if isinstance(clip.get("edits"), int) and isinstance(clip.get("tokens"), int):
            counts.append((clip["edits"], clip["tokens"]))
        elif isinstance(clip.get("text"), str) and isinstance(clip.get("transcript"), str):
            ref, hyp = normalize_for_asr(clip["text"], lang), normalize_for_asr(clip["transcript"], lang)
            lined = align(clip["text"], ref, hyp, lang, entry["metric"])
            counts.append((lined.errors, lined.tokens))
        else:
            return None
    return counts


def language_numbers(
    errors: Sequence[float],
    metric: str,
    quantile: float,
    scale: float,
    implausible: str | None = None,
    *,
    counts: Sequence[Sequence[int]] | None = None,
    rule: str = DEFAULT_RULE,
    lang: str = "",
    judge: str = "the ASR",
) -> dict:
    """One calibrated language as a synthesis run records it: the rule, its parameters (the per-clip threshold,
    capped at :data:`THRESHOLD_CAP`, or the per-token model), whether the judge can verify the language and why,
    the share of human clips each rule keeps (leave-one-out), and the measurement behind it all (errors and
    counts kept, so another rule can be applied to the same measurement). Implausible numbers are refused
    (ValueError) unless ``implausible`` says they were allowed, and then kept with it."""
    why = implausibility(errors, metric)
    if why and not implausible:
        raise ValueError(f"the ASR's error on human speech is implausible ({why}): rerun audiomlqa calibrate")
    pairs = [(int(k), int(n)) for k, n in counts] if counts else None
    if rule == "per-token" and not pairs:
        raise ValueError("no per-token counts: rerun audiomlqa calibrate, or choose calibration.rule=per-clip")
    per_clip = threshold_rule(errors, quantile, scale)
    verified, reason = verification(errors, metric, lang, judge)
    if implausible:
        verified, reason = False, f"implausible calibration ({implausible})"
    both = leave_one_out_both(errors, pairs, quantile, scale)
    numbers = {
        "rule": rule,
        "threshold": min(per_clip, THRESHOLD_CAP) if rule == "per-clip" else None,
        "cap": THRESHOLD_CAP,
        "capped": rule == "per-clip" and not per_clip <= THRESHOLD_CAP,
        "uncapped": per_clip if rule == "per-clip" and math.isfinite(per_clip) else None,
        "n": len(errors),
        "metric": metric,
        **{k: v for k, v in error_statistics(errors).items() if k in ("median", "p90")},
        "verified": verified,
        "verification": reason,
        "leave_one_out_acceptance": both[rule],
        "leave_one_out": both,
        "errors": list(errors),
        **({"counts": [list(p) for p in pairs]} if pairs else {}),
        **({"model": fit_tokens(pairs).to_dict()} if rule == "per-token" else {}),
        **({"implausible": implausible} if implausible else {}),
    }
    return numbers


def calibrated_thresholds(doc: dict, quantile: float, scale: float, rule: str = DEFAULT_RULE) -> dict[str, dict]:
    """Per calibrated language of a calibration file: :func:`language_numbers` under the rule."""
    judge = judge_name((doc.get("asr") or {}).get("model"))
    out = {}
    for lang, entry in doc["languages"].items():
        counts = clip_counts(entry, lang)
        if rule == "per-token" and counts is None:
            raise AudioMLQAError(
                f"the calibration of {lang} keeps no transcripts or per-token counts: rerun audiomlqa calibrate, or "
                "choose calibration.rule=per-clip"
            )
        errors = [c["error"] for c in entry["clips"]]
        out[lang] = language_numbers(
            errors,
            entry["metric"],
            quantile,
            scale,
            entry.get("implausible"),
            counts=counts,
            rule=rule,
            lang=lang,
            judge=judge,
        )
    return out


def calibration_table(doc: dict):
    """The calibration as ``audiomlqa calibrate`` prints it."""
    rows = [
        [
            lang + (" (IMPLAUSIBLE)" if e.get("implausible") else ""),
            str(e["n"]),
            e["metric"].upper(),
            f"{e['median']:.3f}",
            f"{e['p90']:.3f}",
            f"{e['max']:.3f}",
            _share((e.get("leave_one_out") or {}).get("per-clip", e["leave_one_out_acceptance"])),
            _share((e.get("leave_one_out") or {}).get("per-token")),
            "yes" if e.get("verified", True) and not e.get("implausible") else "[yellow]no[/yellow]",
        ]
        for lang, e in doc["languages"].items()
    ]
    return Table(
        f"{doc['asr'].get('model', '?')} on human speech ({doc['reference']['name']}): error per clip",
        ["lang", "clips", "metric", "median", "p90", "max", "kept per clip", "kept per token", "verifies"],
        rows,
        left={0, 2, 8},
        notes=[
            "kept = share of these human clips the rule keeps, each judged by the rule calibrated on the others "
            f"(leave-one-out): per clip = p{100 * DEFAULT_QUANTILE:g} of the clips' error rates; per token = the "
            f"p{100 * DEFAULT_QUANTILE:g} of a beta-binomial of the judge's errors per token, for the clip's length"
        ]
        + [
            f"[yellow]{lang}: {e['verification']}[/yellow]"
            for lang, e in doc["languages"].items()
            if e.get("verified") is False
        ],
    )


def _share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"
