"""A published folder is read for what it holds now: ``datasets`` keys its cache of a folder's declared config by
the folder's name, so a second folder of the same name, or the same folder published again, would be scored
against the first one's questions (audiomlqa/utils/hf_datasets.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiomlqa.sources import read_hf_dataset
from audiomlqa.utils.hf_datasets import declared_data_files, load_dataset

CARD = """---
configs:
- config_name: en
  default: true
  data_files:
  - split: validation
    path: data/en/validation-*.parquet
- config_name: de-en
  data_files:
  - split: validation
    path: data/de-en/validation-*.parquet
  - split: test
    path: data/de-en/test-*.parquet
---
# Audio-MLQA
"""


def publish_questions(folder: Path, question: str) -> Path:
    """A folder laid out as ``audiomlqa publish`` writes one: a card declaring the configs, one parquet file each."""
    import datasets

    for config, splits in (("en", ["validation"]), ("de-en", ["validation", "test"])):
        (folder / "data" / config).mkdir(parents=True, exist_ok=True)
        for split in splits:
            rows = {
                "id": [f"{config}-{split}-1"],
                "title": ["Bern"],
                "context": ["Bern is the capital of Switzerland."],
                "question": [question],
                "answers": [{"text": ["Bern"], "answer_start": [0]}],
            }
            datasets.Dataset.from_dict(rows).to_parquet(
                str(folder / "data" / config / f"{split}-00000-of-00001.parquet")
            )
    (folder / "README.md").write_text(CARD, encoding="utf-8")
    return folder


def test_two_folders_of_the_same_name_are_each_read_for_their_own_questions(tmp_path):
    first = publish_questions(tmp_path / "one" / "audio-mlqa", "What is the capital?")
    second = publish_questions(tmp_path / "two" / "audio-mlqa", "Which city is the seat of government?")
    cache = tmp_path / "hf-cache"
    assert load_dataset(first, "en", split="validation", cache_dir=cache)["question"] == ["What is the capital?"]
    assert load_dataset(second, "en", split="validation", cache_dir=cache)["question"] == [
        "Which city is the seat of government?"
    ]
    # the scorer's gold goes the same way
    (gold,) = read_hf_dataset(str(second), "validation", ["de-en"])
    assert [q.question for q in gold.questions] == ["Which city is the seat of government?"]


def test_a_folder_published_again_is_read_again_not_from_the_cache(tmp_path):
    folder = publish_questions(tmp_path / "audio-mlqa", "What is the capital?")
    cache = tmp_path / "hf-cache"
    assert load_dataset(folder, "de-en", split="test", cache_dir=cache)["question"] == ["What is the capital?"]
    publish_questions(folder, "Where does the government sit?")
    assert load_dataset(folder, "de-en", split="test", cache_dir=cache)["question"] == [
        "Where does the government sit?"
    ]
    every_split = load_dataset(folder, "de-en", cache_dir=cache)
    assert sorted(every_split) == ["test", "validation"]


def test_the_declared_files_of_a_config_are_read_from_the_card_and_anything_else_is_left_to_datasets(tmp_path):
    folder = publish_questions(tmp_path / "ds", "q")
    assert declared_data_files(folder, "de-en") == {
        "validation": ["data/de-en/validation-*.parquet"],
        "test": ["data/de-en/test-*.parquet"],
    }
    assert declared_data_files(folder, "zh") is None  # not declared: datasets says so in its own words
    assert declared_data_files(folder, None) is None  # two configs, none named
    assert declared_data_files(tmp_path, "en") is None  # no card
    with pytest.raises(ValueError):
        load_dataset(folder, "de-en", split="train", cache_dir=tmp_path / "hf-cache")


def test_scoring_a_split_runs_the_configs_the_card_gives_that_split_and_names_them_when_none_has_it(tmp_path):
    from audiomlqa.errors import AudioMLQAError
    from audiomlqa.evaluation.run import dataset_configs

    folder = str(publish_questions(tmp_path / "ds", "q"))  # en: validation; de-en: validation and test
    assert dataset_configs(folder, None, "validation") == ["en", "de-en"]  # in the card's order
    assert dataset_configs(folder, None, "test") == ["de-en"]
    assert dataset_configs(folder, ["en"], "test") == ["en"]  # asked for by name: its own error comes later
    with pytest.raises(AudioMLQAError, match="has no config with a train split"):
        dataset_configs(folder, None, "train")
