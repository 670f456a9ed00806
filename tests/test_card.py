"""The dataset card as a user and a harness read it: the load snippet names what to load (the Hub repo when pushed,
the folder when local), a Data Fields section lists every column of the parquet files, the BibTeX is complete, and
the rejected questions are no config a loader lists (but load by the path the card gives).

The synthesis output is built by hand (rows, run.json and FLAC tones: test_data_explorer's ``make_output``) and
published for real.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("datasets")
pytest.importorskip("soundfile")

from test_data_explorer import make_output  # noqa: E402

from audiomlqa.publish import publish  # noqa: E402
from audiomlqa.publish.parquet import features  # noqa: E402


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Path:
    return make_output(tmp_path_factory.mktemp("synth") / "out")


@pytest.fixture(scope="module")
def dataset(output, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("published") / "audio-mlqa"
    publish([output], dest, include_rejected=True)
    return dest


def card_of(folder: Path) -> tuple[dict, str]:
    text = (folder / "README.md").read_text(encoding="utf-8")
    return yaml.safe_load(text.split("---")[1]), text


def section(card: str, title: str) -> str:
    return card.split(f"\n## {title}\n")[1].split("\n## ")[0]


def test_the_rejected_questions_are_no_config_a_loader_lists_but_load_by_the_path_the_card_gives(dataset):
    import datasets

    header, card = card_of(dataset)
    assert datasets.get_dataset_config_names(str(dataset)) == ["en", "de"]  # what a harness loops over
    assert [c["config_name"] for c in header["configs"]] == ["en", "de"]
    assert [c["config_name"] for c in header["dataset_info"]] == ["en", "de"]
    snippet = re.search(r'rejected = load_dataset\("audio-mlqa", data_files=(\{.*\})\)', card)
    assert snippet, section(card, "Contents")
    files = yaml.safe_load(snippet.group(1))
    rejected = datasets.load_dataset(str(dataset), data_files=files, split="validation")
    assert sorted(rejected["id"]) == ["d2", "z1"] and not any(rejected["accepted"])
    assert "not part of the benchmark" in card and "as config `rejected`" not in card


def test_the_load_snippet_names_the_folder_when_local_and_the_hub_repo_when_pushed(dataset, output, tmp_path):
    _, card = card_of(dataset)
    assert 'load_dataset("audio-mlqa", "en", split="validation")' in card
    assert "--dataset audio-mlqa`" in card and "PATH_OR_REPO_ID" not in card

    pushed = subprocess.run(  # offline: the push fails in one line, the folder (and its card) is kept
        [sys.executable, "-m", "audiomlqa", "publish", output, "--to", tmp_path / "ds", "--push-to-hub", "me/amlqa"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert pushed.returncode == 2 and "me/amlqa" in pushed.stderr
    _, card = card_of(tmp_path / "ds")
    assert 'load_dataset("me/amlqa", "en", split="validation")' in card and "--dataset me/amlqa`" in card
    assert 'load_dataset("ds"' not in card


def test_the_data_fields_section_lists_every_column_of_the_features_with_its_type_and_meaning(dataset):
    _, card = card_of(dataset)
    rows = [line.split(" | ") for line in section(card, "Data Fields").splitlines() if line.startswith("| `")]
    columns = {row[0].strip("| `"): (row[1], row[2].rstrip(" |")) for row in rows}
    assert list(columns) == list(features())  # every column, in the files' order, none invented
    assert all(len(meaning) > 10 for _, meaning in columns.values()), columns
    assert columns["answers"][0] == "{text: list of string, answer_start: list of int32}"
    assert columns["audio"][0] == "audio (16000 Hz)" and columns["duration"][0] == "float32"


BIBTEX = re.compile(r"@(\w+)\{([^,]+),\n(.*?)\n\}", re.S)


def test_the_citation_is_complete_bibtex_for_mlqa_the_paper_and_audiomlqa(dataset):
    _, card = card_of(dataset)
    bib = section(card, "Citation").split("```bibtex\n")[1].split("```")[0]
    entries = {key: (kind, dict(re.findall(r"^\s*(\w+) = \{(.*?)\},?$", body, re.M | re.S)))
               for kind, key, body in BIBTEX.findall(bib)}  # fmt: skip
    assert set(entries) == {"lewis2020mlqa", "gopal2026languageaware", "audiomlqa"}
    assert bib.count("{") == bib.count("}")
    kind, mlqa = entries["lewis2020mlqa"]
    assert kind == "inproceedings" and {"title", "author", "booktitle", "pages", "year", "doi", "url"} <= set(mlqa)
    assert mlqa["year"] == "2020" and mlqa["author"].startswith("Lewis, Patrick")
    kind, paper = entries["gopal2026languageaware"]
    assert "Language-Aware Distillation" in paper["title"] and paper["year"] == "2026" and "Gopal" in paper["author"]
    kind, software = entries["audiomlqa"]
    assert kind == "software" and {"title", "author", "version", "year", "url"} <= set(software)
    assert software["url"] == "https://github.com/audiomlqa/audiomlqa"
