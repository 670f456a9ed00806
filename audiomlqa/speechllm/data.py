"""ASR-only training data: (audio, transcript, language), read lazily from any source.

Sources: an ``audiomlqa synthesize`` output directory (its manifest's clips and the text that was
spoken), or any Hugging Face dataset (local folder or Hub id) with audio, transcript and language
columns — names configurable, or one ``language`` for a single-language corpus.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import Field

from audiomlqa.audio import SAMPLE_RATE, read_flac
from audiomlqa.config import Integer, Language, Number, Settings
from audiomlqa.errors import AudioMLQAError, first_line
from audiomlqa.manifest import read_manifest
from audiomlqa.utils.files import inside, open_regular
from audiomlqa.utils.hf_datasets import load_dataset


class SourceConfig(Settings):
    """One ASR corpus and how to read it."""

    source: str = "audio-mlqa-smoke"
    config: str | None = None
    revision: str | None = None
    """A Hub branch, tag or commit: ``refs/convert/parquet`` reads the Hub's parquet export of a dataset that
    ships a loading script (which ``datasets`` 4+ refuses)."""
    data_dir: str | None = None
    """A folder inside the dataset: one config of a parquet export (``vi_vn``), whose folders are configs."""
    split: str = "train"
    audio_column: str = "audio"
    text_column: str = "text"
    language_column: str = "language"
    language: str | None = None
    """The language of every utterance, for a corpus without a language column."""
    language_map: dict[str, Language] = Field(default_factory=dict)
    """Source language codes → bank languages (Common Voice's ``zh-CN: zh``); codes neither mapped nor in the
    bank are left out, and counted."""
    voice_column: str = "voice"
    """The speaker or voice of each utterance, when the data has one: validation holds out whole voices."""
    accepted_only: bool = True
    """From a synthesis output, only clips the ASR round trip accepted."""
    limit: Integer | None = Field(None, ge=1)


class MixPart(SourceConfig):
    weight: Number = Field(1.0, gt=0.0)
    """How often each of its training utterances comes per epoch, relative to the others (2: twice; 0.5: half of
    them, chosen by a seeded hash)."""


class DataConfig(SourceConfig):
    """The training data: one source (the fields above), or several mixed by weight (``mix``)."""

    mix: list[MixPart] = Field(default_factory=list)
    """Several corpora, each with its own fields and a ``weight``; when given, the fields above are not read."""
    workers: Integer = Field(2, ge=0)
    """DataLoader processes that read, decode and turn utterances into features ahead of the training step
    (0: in the training process)."""
    validation: Number = Field(0.0, ge=0.0, lt=1.0)
    """The share of each language held out for validation: whole voices where the data names two or more per
    language (the gate is then judged on voices it never heard), else single utterances."""


@dataclass
class Utterance:
    audio: np.ndarray  # 16 kHz mono float32
    text: str
    language: str

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass
class AsrCorpus:
    """Indexable utterances; audio is read when an item is asked for."""

    items: list = field(default_factory=list)  # (reader, key, text, language, voice)
    source: str = ""
    seconds: object = None
    """``seconds(i)``: item ``i``'s duration, read from its file's header (None: unknown)."""
    counts: dict = field(default_factory=dict)
    """How many rows were kept and how many left out, by reason."""

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Utterance:
        reader, key, text, language, _ = self.items[i]
        return Utterance(reader(key), text, language)

    def languages(self) -> list[str]:
        return sorted({x[3] for x in self.items})


def _from_synthesis(directory: Path, cfg: SourceConfig) -> AsrCorpus:
    """The clips of an output's manifests: each inside the folder (links followed) and a regular file itself,
    checked here so that a planted link fails in one line before training, and again when it is read."""
    items, durations = [], []
    reader = ClipReader(str(directory))
    for manifest in sorted(directory.glob("manifest*.jsonl")):
        for row in read_manifest(manifest):
            if row.audio and (row.accepted or not cfg.accepted_only):
                what = f"{manifest.name}: audio path {row.audio!r}"
                path = inside(directory, row.audio, f"{manifest.name}: audio path")
                if path.is_symlink() or (path.exists() and not path.is_file()):
                    raise AudioMLQAError(f"{what} is a link (or not a regular file): refused; copy the file in instead")
                items.append((reader, path, row.spoken_text, row.question_lang, row.voice))
                durations.append(row.duration or None)
    return AsrCorpus(items, str(directory), seconds=lambda i: durations[i])


class ClipReader:
    """Reads a synthesis clip as a regular file, never through a final link, from inside its output folder only
    (checked on the opened file: a clip swapped for a link after loading is refused too). Picklable, for
    DataLoader workers."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def __call__(self, path: Path) -> np.ndarray:
        with open_regular(path, f"clip {path}", within=self.directory) as f:
            return read_flac(f)


class _HFReader:
    """Reads one row's audio from a datasets object (decoded and resampled to 16 kHz by datasets)."""

    def __init__(self, ds, column: str) -> None:
        self.ds, self.column = ds, column

    def __call__(self, i: int) -> np.ndarray:
        audio = self.ds[i][self.column]
        return np.asarray(audio["array"], dtype=np.float32).reshape(-1)


def _from_hf(cfg: SourceConfig) -> AsrCorpus:
    try:
        import datasets
    except ImportError:
        raise AudioMLQAError("Hugging Face ASR data needs 'datasets': pip install 'audiomlqa[hf]'") from None
    try:
        ds = load_dataset(cfg.source, cfg.config, split=cfg.split, revision=cfg.revision, data_dir=cfg.data_dir)
    except Exception as e:  # noqa: BLE001 - hub, file and config errors come in many types
        where = f"config {cfg.config}, split {cfg.split}" + (f", data_dir {cfg.data_dir}" if cfg.data_dir else "")
        raise AudioMLQAError(f"cannot load ASR data {cfg.source!r} ({where}): {first_line(e)}") from None
    wanted = [cfg.audio_column, cfg.text_column] + ([] if cfg.language else [cfg.language_column])
    missing = [c for c in wanted if c not in ds.column_names]
    if missing:
        raise AudioMLQAError(
            f"{cfg.source}: no column(s) {', '.join(missing)} (it has {', '.join(ds.column_names)}); "
            "set data.audio_column / text_column / language_column, or data.language"
        )
    ds = ds.cast_column(cfg.audio_column, datasets.Audio(sampling_rate=SAMPLE_RATE))
    texts = ds[cfg.text_column]
    languages = [cfg.language] * len(ds) if cfg.language else ds[cfg.language_column]
    voices = ds[cfg.voice_column] if cfg.voice_column in ds.column_names else [None] * len(ds)
    reader = _HFReader(ds, cfg.audio_column)
    rows = zip(texts, languages, voices)
    items = [(reader, i, t, lang, v) for i, (t, lang, v) in enumerate(rows)]
    undecoded = ds.select_columns([cfg.audio_column]).cast_column(cfg.audio_column, datasets.Audio(decode=False))
    return AsrCorpus(items, cfg.source, seconds=lambda i: _header_seconds(undecoded[i][cfg.audio_column]))


def _header_seconds(audio: dict) -> float | None:
    """A clip's duration from its file header alone (no decoding); None when the header cannot tell."""
    import io

    import soundfile as sf

    try:
        info = sf.info(io.BytesIO(audio["bytes"])) if audio.get("bytes") else sf.info(audio["path"])
    except Exception:  # noqa: BLE001 - a format soundfile cannot read: unknown, decoded when used
        return None
    return info.frames / info.samplerate


def _load_source(cfg: SourceConfig, languages: list[str], max_seconds: float | None) -> tuple[list, dict]:
    """One source's utterances in ``languages`` (after its ``language_map``), none longer than ``max_seconds`` (the
    encoder's window: a longer clip would be cut while its transcript stays whole), and the counts of what is left
    out."""
    path = Path(cfg.source)
    corpus = _from_synthesis(path, cfg) if path.is_dir() and any(path.glob("manifest*.jsonl")) else _from_hf(cfg)
    counts = {"rows": len(corpus.items), "empty_text": 0, "language_not_in_bank": {}, "longer_than_window": 0}
    kept = []
    for i, (reader, key, text, language, voice) in enumerate(corpus.items):
        language = cfg.language_map.get(language, language)
        if language not in languages:
            counts["language_not_in_bank"][language] = counts["language_not_in_bank"].get(language, 0) + 1
        elif not str(text).strip():
            counts["empty_text"] += 1
        elif max_seconds is not None and corpus.seconds is not None and (corpus.seconds(i) or 0.0) > max_seconds:
            counts["longer_than_window"] += 1
        else:
            kept.append((reader, key, text, language, voice))
    if cfg.limit is not None:
        counts["over_limit"] = max(0, len(kept) - cfg.limit)
        kept = kept[: cfg.limit]
    if not kept:
        raise AudioMLQAError(
            f"{cfg.source}: no utterances in {', '.join(languages)} to train on"
            + (" (run `audiomlqa synthesize` or `audiomlqa asr-corpus` to make some)" if not path.exists() else "")
            + (
                f" (its languages: {', '.join(sorted(counts['language_not_in_bank']))}; "
                "map them with data.language_map)"
                if counts["language_not_in_bank"]
                else ""
            )
        )
    return kept, counts


def weighted(items: list, weight: float) -> list:
    """Each item ``⌊weight⌋`` times, and a seeded-hash share ``weight - ⌊weight⌋`` of them once more."""
    import hashlib

    whole, part = int(weight), weight - int(weight)
    rank = lambda x: int(hashlib.sha256(f"{x[1]}|{x[2]}".encode()).hexdigest()[:8], 16) / 16**8  # noqa: E731
    return [x for x in items for _ in range(whole)] + [x for x in items if rank(x) < part]


def load_asr_corpus(
    cfg: DataConfig, languages: list[str], max_seconds: float | None = None
) -> tuple[AsrCorpus, AsrCorpus]:
    """The training and validation utterances of ``cfg.source`` (or of every ``cfg.mix`` part, weighted) in
    ``languages``; what is left out is counted in ``counts``. Validation is held out before weighting: a repeated
    utterance never lands on both sides."""
    parts = cfg.mix or [cfg]
    loaded = [_load_source(part, languages, max_seconds) for part in parts]
    counts = (
        loaded[0][1]
        if not cfg.mix
        else {
            "rows": sum(c["rows"] for _, c in loaded),
            "empty_text": sum(c["empty_text"] for _, c in loaded),
            "longer_than_window": sum(c["longer_than_window"] for _, c in loaded),
            "language_not_in_bank": _sum_counts([c["language_not_in_bank"] for _, c in loaded]),
            "mix": {part.source: {"weight": part.weight, **c, "kept": len(k)} for part, (k, c) in zip(parts, loaded)},
        }
    )
    kept = [x for items, _ in loaded for x in items]
    held = held_out(kept, cfg.validation)
    train_items, start = [], 0
    for part, (items, _) in zip(parts, loaded):
        mine = [x for i, x in enumerate(items, start) if i not in held]
        train_items += weighted(mine, getattr(part, "weight", 1.0))
        start += len(items)
    train = AsrCorpus(train_items, cfg.source if not cfg.mix else "+".join(p.source for p in parts))
    validation = AsrCorpus([x for i, x in enumerate(kept) if i in held], train.source)
    counts.update(train=len(train), validation=len(validation), validation_by=_split_by(kept) if held else None)
    train.counts = validation.counts = counts
    return train, validation


def _sum_counts(dicts: list[dict]) -> dict:
    total: dict = {}
    for d in dicts:
        for k, v in d.items():
            total[k] = total.get(k, 0) + v
    return total


def _split_by(items: list) -> str:
    """``voice`` where every language names two or more voices for all its items, ``utterance`` where none does,
    else ``voice where named`` (a corpus without speakers, FLEURS or YODAS, mixed with one that has them)."""
    voices: dict[str, set] = {}
    for x in items:
        voices.setdefault(x[3], set()).add(x[4])
    if all(None not in v and len(v) >= 2 for v in voices.values()):
        return "voice"
    return "voice where named" if any(len(v - {None}) >= 2 for v in voices.values()) else "utterance"


def held_out(items: list, share: float) -> set[int]:
    """Indices of the items held out: per language, whole voices (in a seeded order) until ``share`` of the
    language's items is reached, never all of them; in a language without two or more named voices, single
    utterances, and so are the items whose corpus names no voice."""
    import hashlib

    if share <= 0:
        return set()
    rank = lambda s: hashlib.sha256(str(s).encode()).hexdigest()  # noqa: E731
    held: set[int] = set()
    for language in sorted({x[3] for x in items}):
        idx = [i for i, x in enumerate(items) if x[3] == language]
        by_voice = len({items[i][4] for i in idx} - {None}) >= 2
        groups: dict[str, list[int]] = {}
        for i in idx:
            voice = items[i][4] if by_voice else None
            groups.setdefault(voice if voice is not None else f"{items[i][1]}|{items[i][2]}", []).append(i)
        order = sorted(groups, key=rank)
        taken: list[int] = []
        for g in order[:-1]:  # the last group always trains
            if len(taken) >= share * len(idx):
                break
            taken += groups[g]
        held.update(taken)
    return held


def batch_indices(
    n: int, step: int, micro: int, *, batch_size: int, accumulation: int, rank: int, world: int, seed: int
) -> list[int]:
    """Which utterances micro-batch ``micro`` of optimizer step ``step`` reads on process ``rank``.

    A pure function of its arguments (epochs are seeded permutations), so a resumed run reads
    exactly what an uninterrupted one would, with no sampler state to save.
    """
    per_step = batch_size * accumulation * world
    start = step * per_step + (micro * world + rank) * batch_size
    out = []
    for pos in range(start, start + batch_size):
        epoch, offset = divmod(pos, n)
        out.append(int(_permutation(n, seed, epoch)[offset]))
    return out


@functools.lru_cache(maxsize=2)  # the current epoch and, at a boundary, the next
def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)
