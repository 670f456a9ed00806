"""How wrong is the ASR judge on *human* speech? Calibrating the round-trip filter's thresholds.

A TTS clip that "fails" at WER 0.2 may be as intelligible as a native speaker reading the same words: the
filter's error mixes the voice's quality with the ASR model's own error. :func:`calibrate` measures the second
part on real speech (a folder of audio + transcript pairs such as ``../shared/data/fleurs``, or a Hugging Face
dataset with audio, text and language columns such as FLEURS or Common Voice), clip by clip and per language, with
exactly the ASR settings and text normalisation synthesis uses. The calibration file it writes keeps every clip's
error, so any rule can be applied later; :func:`calibrated_thresholds` applies the documented one:

    threshold(lang) = scale × quantile_q(human errors of lang)     (default q = 0.9, scale = 1.0)

i.e. a TTS clip is kept when the ASR makes no more errors on it than on the best 90% of human readings, and
never above :data:`THRESHOLD_CAP`. The leave-one-out acceptance (each human clip judged at the threshold
calibrated on the *other* clips of its language) says how much real speech that rule would turn away.

A calibration can be wrong: a reference whose transcripts do not match its audio (or an ASR that cannot hear the
language) gives errors no working judge makes on human speech, and thresholds that accept anything. Such a
language (:func:`implausibility`) is refused, when measured and when read, unless the file marks it as allowed
(``calibrate --allow-implausible``), and the dataset card then says so in bold.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audiomlqa import __version__
from audiomlqa.asr.text import DEFAULT_METRIC, error_rate, normalize_for_asr
from audiomlqa.audio import SAMPLE_RATE, Speech, prepare
from audiomlqa.config import Language, describe_error
from audiomlqa.errors import AudioMLQAError, first_line
from audiomlqa.languages import LANGUAGES, check_language
from audiomlqa.utils.progress import progress_bar
from audiomlqa.utils.tables import Table

FORMAT = "audiomlqa-calibration/1"
DEFAULT_QUANTILE = 0.9
DEFAULT_SCALE = 1.0
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3")
TEXT_COLUMNS = ("raw_transcription", "transcription", "sentence", "text", "normalized_text")
LANGUAGE_COLUMNS = ("language", "locale", "lang")
_NAMES = {
    "english": "en",
    "arabic": "ar",
    "german": "de",
    "spanish": "es",
    "hindi": "hi",
    "vietnamese": "vi",
    "chinese": "zh",
    "mandarin chinese": "zh",
    "mandarin": "zh",
    "cmn": "zh",
}
IMPLAUSIBLE_MEDIAN = 0.5
"""The highest median error a working judge makes on human speech: Whisper base's median on native FLEURS readers
is at most 0.3 in en, de and es. Above 0.5 most readings lose half their words: the reference's transcripts do not
match its audio, or the ASR cannot hear the language."""
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


_NOT_MANDARIN = ("yue", "zh-hk", "zh_hk", "zh-yue")
"""Cantonese labels (Common Voice ``zh-HK``, FLEURS ``yue_hant_hk``): not MLQA's zh, which is Mandarin."""


def reference_language(value: object) -> str | None:
    """An MLQA language code from a dataset's language label: ``de``, ``de_de``, ``de-DE``, ``German``,
    ``cmn_hans_cn``; None for a language MLQA does not have (Cantonese included)."""
    text = str(value).strip().lower()
    if text.startswith(_NOT_MANDARIN):
        return None
    if text in _NAMES:
        return _NAMES[text]
    code = re.split(r"[-_ ]", text)[0]
    code = _NAMES.get(code, code)
    return code if code in LANGUAGES else None


@dataclass(frozen=True)
class ReferenceClip:
    """One human recording and what was said; ``read`` loads its audio (16 kHz mono float32) when needed."""

    id: str
    lang: str
    text: str
    read: Callable[[], np.ndarray]


@dataclass
class Reference:
    name: str
    """What the calibration file and dataset cards call it: a folder's name or a dataset id, never a local path."""
    clips: list[ReferenceClip]
    skipped: dict[str, int]
    """Clips left out, by their language label (languages MLQA does not have)."""

    def __post_init__(self) -> None:
        if not self.clips:  # nothing to calibrate: said before any model loads
            raise AudioMLQAError(
                f"{self.name}: no clip in an MLQA language ({', '.join(LANGUAGES)})"
                + (f"; skipped {_skipped(self.skipped)}" if self.skipped else "")
            )


def read_reference(
    reference: str | Path,
    *,
    lang: str | None = None,
    config: str | None = None,
    split: str = "test",
    text_column: str | None = None,
    language_column: str | None = None,
) -> Reference:
    """A folder of ``<name>.<audio>`` + ``<name>.txt`` pairs (language from ``lang``, else from a language code in
    the file or folder name, e.g. ``fleurs-de-000.ogg`` or ``de/000.wav``), or a Hugging Face dataset."""
    path = Path(reference)
    if path.is_dir() and not _is_hf_folder(path):
        return _read_folder(path, lang)
    if path.exists() and not path.is_dir():
        raise AudioMLQAError(f"{reference}: a reference is a folder of audio + .txt pairs or a dataset, not a file")
    return _read_hf(str(reference), lang, config, split, text_column, language_column)


def _is_hf_folder(path: Path) -> bool:
    return any((path / f).exists() for f in ("dataset_info.json", "dataset_dict.json", "state.json"))


def _read_audio(path: Path) -> np.ndarray:
    import soundfile as sf

    try:
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - libsndfile reports unreadable files as several types
        raise AudioMLQAError(f"cannot read reference audio {path}: {first_line(e)}") from None
    return prepare(Speech(samples.mean(axis=1), rate)).samples


def _language_token(path: Path, root: Path) -> str:
    """The first language code a clip's name or folders spell (``fleurs-de-000``, ``de/000``), or ''."""
    tokens = [t for part in path.relative_to(root).with_suffix("").parts for t in re.split(r"[-_.]", part.lower())]
    return next((t for t in tokens if t in LANGUAGES or t in _NAMES or t in _KNOWN_OTHER), "")


_KNOWN_OTHER = {"fr", "pt", "it", "ja", "ko", "ru", "nl", "pl", "tr", "sv"}
"""Common language codes outside MLQA: a clip named with one is skipped (and counted), not an error."""


def _read_folder(root: Path, lang: str | None) -> Reference:
    if lang is not None:
        check_language(lang)
    clips, skipped = [], {}
    audio = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not audio:
        raise AudioMLQAError(f"{root}: no audio files ({', '.join(AUDIO_SUFFIXES)}) with .txt transcripts")
    for path in audio:
        name = path.relative_to(root).with_suffix("").as_posix()
        transcript = path.with_suffix(".txt")
        if not transcript.exists():
            raise AudioMLQAError(f"{path} has no transcript {transcript.name} beside it; add it or remove the clip")
        token = lang or _language_token(path, root)
        if not token:
            raise AudioMLQAError(
                f"cannot tell the language of {name}: pass --lang, or name files or folders by language "
                "(fleurs-de-000.ogg, de/000.wav)"
            )
        code = reference_language(token)
        if code is None:
            skipped[token] = skipped.get(token, 0) + 1
            continue
        try:
            text = transcript.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise AudioMLQAError(f"cannot read transcript {transcript}: {first_line(e)} (save it as UTF-8)") from None
        clips.append(ReferenceClip(name, code, text, _loader(path)))
    return Reference(root.resolve().name, clips, skipped)


def _loader(path: Path) -> Callable[[], np.ndarray]:
    return lambda: _read_audio(path)


def _read_hf(
    name: str,
    lang: str | None,
    config: str | None,
    split: str,
    text_column: str | None,
    language_column: str | None,
) -> Reference:
    try:
        import datasets
    except ImportError:
        raise AudioMLQAError("a Hugging Face reference needs 'datasets': pip install 'audiomlqa[hf]'") from None
    try:
        if Path(name).is_dir():
            ds = datasets.load_from_disk(name)
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise AudioMLQAError(f"{name}: no split {split!r} (it has {', '.join(ds)}); pass --split")
                ds = ds[split]
        else:
            ds = datasets.load_dataset(name, config, split=split)
    except AudioMLQAError:
        raise
    except Exception as e:  # noqa: BLE001 - hub, file and config errors come in many types
        raise AudioMLQAError(f"cannot load reference dataset {name!r}: {first_line(e)}") from None
    audio_column = next((c for c, f in ds.features.items() if isinstance(f, datasets.Audio)), None)
    text_column = text_column or next((c for c in TEXT_COLUMNS if c in ds.column_names), None)
    language_column = language_column or next((c for c in LANGUAGE_COLUMNS if c in ds.column_names), None)
    missing = [
        what
        for what, col in (("audio", audio_column), ("text (--text-column)", text_column))
        + ((("language (--language-column or --lang)", language_column),) if lang is None else ())
        if col is None or col not in ds.column_names
    ]
    if missing:
        raise AudioMLQAError(f"{name}: no {' or '.join(missing)} column (it has {', '.join(ds.column_names)})")
    ds = ds.cast_column(audio_column, datasets.Audio(sampling_rate=SAMPLE_RATE))
    labels = [lang] * len(ds) if lang else ds[language_column]
    ids = ds["id"] if "id" in ds.column_names else list(range(len(ds)))
    clips, skipped = [], {}
    for i, (label, text, clip_id) in enumerate(zip(labels, ds[text_column], ids)):
        code = reference_language(label)
        if code is None:
            skipped[str(label)] = skipped.get(str(label), 0) + 1
            continue
        clips.append(ReferenceClip(f"{split}/{clip_id}", code, str(text), _hf_loader(ds, i, audio_column)))
    return Reference(name.rstrip("/").split("/")[-1] if Path(name).is_dir() else name, clips, skipped)


def _hf_loader(ds, i: int, column: str) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        audio = ds[i][column]
        return prepare(Speech(np.asarray(audio["array"], dtype=np.float32).reshape(-1), audio["sampling_rate"])).samples

    return read


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
                heard = asr.transcribe([c.read() for c in batch], lang, [c.text for c in batch])
                for clip, hyp in zip(batch, heard):
                    ref_norm, hyp_norm = normalize_for_asr(clip.text, lang), normalize_for_asr(hyp, lang)
                    err = error_rate(ref_norm, hyp_norm, m)
                    results.append({"id": clip.id, "error": round(err, 6), "text": clip.text, "transcript": hyp})
                bar.advance(len(batch))
            errors = [r["error"] for r in results]
            languages[lang] = {
                "n": len(errors),
                "metric": m,
                **error_statistics(errors),
                "leave_one_out_acceptance": leave_one_out_acceptance(
                    errors, DEFAULT_QUANTILE, DEFAULT_SCALE, THRESHOLD_CAP
                ),
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
    plausible): an empty reference transcript, a median above :data:`IMPLAUSIBLE_MEDIAN`, or a clip's error above
    :data:`IMPLAUSIBLE_CLIP` or not finite."""
    m = metric.upper()
    reasons = []
    empty = sum(isinstance(t, str) and not any(ch.isalnum() for ch in t) for t in texts)
    if empty:
        reasons.append(f"{empty} empty reference transcript(s)")
    e = np.asarray(errors, dtype=float)
    if not np.isfinite(e).all():
        return "; ".join([*reasons, f"a {m} that is not a finite number"])
    median = float(np.median(e))
    if median > IMPLAUSIBLE_MEDIAN:
        reasons.append(f"median {m} {median:.3g} > {IMPLAUSIBLE_MEDIAN:g}")
    if float(e.max()) > IMPLAUSIBLE_CLIP:
        reasons.append(f"max {m} {float(e.max()):.3g} > {IMPLAUSIBLE_CLIP:g}")
    return "; ".join(reasons) or None


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


def _skipped(skipped: dict[str, int]) -> str:
    return ", ".join(f"{n} in {label}" for label, n in sorted(skipped.items()))


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


def threshold_rule(errors: Sequence[float], quantile: float, scale: float) -> float:
    """The documented rule: ``scale`` × the ``quantile`` of the human errors (linear interpolation)."""
    return scale * float(np.quantile(np.asarray(errors, dtype=float), quantile))


def leave_one_out_acceptance(
    errors: Sequence[float], quantile: float, scale: float, cap: float = math.inf
) -> float | None:
    """Share of human clips accepted when each is judged at the threshold calibrated on the others (at most
    ``cap``)."""
    if len(errors) < 2:
        return None
    kept = sum(
        e <= min(cap, threshold_rule([x for j, x in enumerate(errors) if j != i], quantile, scale))
        for i, e in enumerate(errors)
    )
    return round(kept / len(errors), 6)


_Finite = Field(None, ge=0, allow_inf_nan=False)


class _Clip(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    error: float = Field(ge=0, allow_inf_nan=False)
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


def language_numbers(
    errors: Sequence[float], metric: str, quantile: float, scale: float, implausible: str | None = None
) -> dict:
    """One calibrated language as a synthesis run records it: the threshold the rule gives, capped at
    :data:`THRESHOLD_CAP` (``capped`` says whether it was, ``uncapped`` what the rule gave), and the human-speech
    numbers behind it (the errors kept, so another rule can be applied to the same measurement). Implausible
    numbers are refused (ValueError) unless ``implausible`` says they were allowed, and then kept with it."""
    why = implausibility(errors, metric)
    if why and not implausible:
        raise ValueError(f"the ASR's error on human speech is implausible ({why}): rerun audiomlqa calibrate")
    rule = threshold_rule(errors, quantile, scale)
    return {
        "threshold": min(rule, THRESHOLD_CAP),
        "cap": THRESHOLD_CAP,
        "capped": not rule <= THRESHOLD_CAP,
        "uncapped": rule if math.isfinite(rule) else None,
        "n": len(errors),
        "metric": metric,
        **{k: v for k, v in error_statistics(errors).items() if k in ("median", "p90")},
        "leave_one_out_acceptance": leave_one_out_acceptance(errors, quantile, scale, THRESHOLD_CAP),
        "errors": list(errors),
        **({"implausible": implausible} if implausible else {}),
    }


def calibrated_thresholds(doc: dict, quantile: float, scale: float) -> dict[str, dict]:
    """Per calibrated language of a calibration file: :func:`language_numbers` under the rule."""
    return {
        lang: language_numbers(
            [c["error"] for c in entry["clips"]], entry["metric"], quantile, scale, entry.get("implausible")
        )
        for lang, entry in doc["languages"].items()
    }


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
            "—" if e["leave_one_out_acceptance"] is None else f"{100 * e['leave_one_out_acceptance']:.0f}%",
        ]
        for lang, e in doc["languages"].items()
    ]
    return Table(
        f"{doc['asr'].get('model', '?')} on human speech ({doc['reference']['name']}): error per clip",
        ["lang", "clips", "metric", "median", "p90", "max", "kept at p90 (leave-one-out)"],
        rows,
        left={0, 2},
    )
