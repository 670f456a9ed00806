"""Synthesis outputs → a Hugging Face dataset: finding and selecting runs (:mod:`.runs`), the parquet files
(:mod:`.parquet`), the dataset card (:mod:`.card`), the dataset folder and its record (:mod:`.dataset`), the upload
(:mod:`.upload`).

Callers outside this package import from here; the modules inside import from each other, never from here.
"""

from audiomlqa.publish.card import dataset_card
from audiomlqa.publish.dataset import MARKER, PublishResult, publish
from audiomlqa.publish.parquet import PROVENANCE_COLUMNS, features, write_parquet
from audiomlqa.publish.runs import (
    REJECTED_CONFIG,
    Selected,
    SynthesisRun,
    find_runs,
    pair_statistics,
    public_command,
    public_path,
    select_rows,
)
from audiomlqa.publish.upload import upload

__all__ = [
    "MARKER",
    "PROVENANCE_COLUMNS",
    "REJECTED_CONFIG",
    "PublishResult",
    "Selected",
    "SynthesisRun",
    "dataset_card",
    "features",
    "find_runs",
    "public_command",
    "public_path",
    "publish",
    "select_rows",
    "pair_statistics",
    "upload",
    "write_parquet",
]
