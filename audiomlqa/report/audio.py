"""The clips a page plays: each published example's audio bytes written beside the pages (``audio/<config>/<id>.flac``)
and linked relatively, so ``index.html`` opened from disk plays them with no server, and the folder can be zipped or
put on any static host as it is."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.sources import HF_SPLIT, SPLITS
from audiomlqa.utils.hf_datasets import load_dataset

AUDIO = "audio"
CLIP_COLUMNS = (
    "asr_transcript",
    "error_rate",
    "error_metric",
    "threshold",
    "tts_voice",
    "tts_backend",
    "duration",
    "accepted",
    "attempt",
    "spoken_text",
)
"""Published columns a page shows beside the clip."""


@dataclass
class Clip:
    href: str
    """The clip's path relative to the site's folder (forward slashes)."""
    columns: dict = field(default_factory=dict)


def clip_name(qid: str, suffix: str) -> str:
    """A file name for a question id: the id when it is a plain name, else a readable part and a hash (ids from
    instruction sets can hold anything)."""
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", qid) and not qid.startswith("."):
        return qid + suffix
    digest = hashlib.sha256(qid.encode()).hexdigest()[:12]
    return re.sub(r"[^A-Za-z0-9_-]+", "_", qid)[:40] + "-" + digest + suffix


def write_clip(site: Path, config: str, qid: str, data: bytes, suffix: str = ".flac") -> str:
    """Write one clip under ``site/audio/<config>/`` and return its relative link."""
    folder = site / AUDIO / re.sub(r"[^A-Za-z0-9_-]", "_", config)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / clip_name(qid, suffix)
    path.write_bytes(data)
    return path.relative_to(site).as_posix()


def is_published(dataset: str | Path) -> bool:
    """A published dataset folder (parquet configs), as opposed to MLQA's text files: only it has audio."""
    path = Path(dataset)
    return path.is_dir() and (path / "README.md").is_file() and any(path.glob("**/*.parquet"))


def hf_split_of(config: str, split: str) -> str:
    """The Hugging Face split a config's questions are in: an instruction set's are always ``test``."""
    if config.startswith("instruct-"):
        return "test"
    if split not in SPLITS:
        raise AudioMLQAError(f"unknown split {split!r}: use dev (validation) or test")
    return HF_SPLIT[SPLITS[split]]


REJECTED = "rejected"
"""publish --include-rejected's questions: files under ``data/rejected/``, which the card declares as no config."""


def load_config(datasets, dataset: str | Path, config: str, split: str | None = None):
    """One config of a published dataset (one split, or all); ``rejected`` by its files, since the card leaves it
    out of the configs a harness loops over (a dataset published before that still reads the same way)."""
    if config != REJECTED:
        return load_dataset(dataset, config, split=split)
    if split is not None:
        files = {split: f"data/{REJECTED}/{split}-*.parquet"}
    else:
        found = sorted({p.name.split("-")[0] for p in (Path(dataset) / "data" / REJECTED).glob("*.parquet")})
        files = {s: f"data/{REJECTED}/{s}-*.parquet" for s in found}
    return datasets.load_dataset(str(dataset), data_files=files, split=split)


def published_clips(
    dataset: str | Path, split: str, configs: Iterable[str], site: Path, *, with_audio: bool = True
) -> dict[tuple[str, str], Clip]:
    """Every example of ``configs`` in a published dataset: its clip written under ``site`` (unless ``with_audio`` is
    false) and the columns pages show, keyed by (config, id)."""
    try:
        import datasets
    except ImportError:
        raise AudioMLQAError("playing a dataset's clips needs 'datasets': pip install 'audiomlqa[hf]'") from None
    out: dict[tuple[str, str], Clip] = {}
    for config in configs:
        hf_split = hf_split_of(config, split)  # `rejected` too: publish puts it in its runs' split
        try:
            ds = load_config(datasets, dataset, config, hf_split)
        except (OSError, ValueError) as e:
            raise AudioMLQAError(
                f"{dataset}: cannot read config {config!r} split {hf_split!r} ({e.__class__.__name__}): "
                "give the published dataset the predictions were scored on (--dataset)"
            ) from None
        ds = ds.cast_column("audio", datasets.Audio(decode=False))
        keep = [c for c in ("id", "audio", *CLIP_COLUMNS) if c in ds.column_names]
        for row in ds.select_columns(keep):
            audio = row.get("audio") or {}
            href = ""
            if with_audio and audio.get("bytes"):
                suffix = Path(audio.get("path") or "x.flac").suffix or ".flac"
                href = write_clip(site, config, row["id"], audio["bytes"], suffix)
            out[(config, row["id"])] = Clip(href, {c: row[c] for c in CLIP_COLUMNS if c in row})
    return out
