"""Human speech to calibrate the judge on: a folder of audio + transcript pairs (``../shared/data/fleurs``) or a
Hugging Face dataset with audio, text and language columns (FLEURS, Common Voice), one or several configs, read
as :class:`Reference` clips whose audio loads when needed (16 kHz mono float32), in MLQA's languages only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiomlqa.audio import SAMPLE_RATE, Speech, prepare
from audiomlqa.errors import AudioMLQAError, first_line
from audiomlqa.languages import LANGUAGES, check_language
from audiomlqa.utils.hf_datasets import load_dataset

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
    per_language: int | None = None,
) -> Reference:
    """A folder of ``<name>.<audio>`` + ``<name>.txt`` pairs (language from ``lang``, else from a language code in
    the file or folder name, e.g. ``fleurs-de-000.ogg`` or ``de/000.wav``), or a Hugging Face dataset (``config``
    may name several, comma-separated: ``en_us,de_de`` for FLEURS); ``per_language`` keeps each language's first
    clips."""
    path = Path(reference)
    if path.is_dir() and not _is_hf_folder(path):
        ref = _read_folder(path, lang)
    elif path.exists() and not path.is_dir():
        raise AudioMLQAError(f"{reference}: a reference is a folder of audio + .txt pairs or a dataset, not a file")
    else:
        ref = _read_hf(str(reference), lang, config, split, text_column, language_column)
    if per_language is not None:
        taken: dict[str, int] = {}
        kept = []
        for clip in ref.clips:
            taken[clip.lang] = taken.get(clip.lang, 0) + 1
            if taken[clip.lang] <= per_language:
                kept.append(clip)
        ref.clips = kept
    return ref


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
            parts = [load_dataset(name, c or None, split=split) for c in (config or "").split(",")]
            ds = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
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


def _skipped(skipped: dict[str, int]) -> str:
    return ", ".join(f"{n} in {label}" for label, n in sorted(skipped.items()))
