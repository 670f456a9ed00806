"""No prompt, no surprise code: a model folder that ships its own Python code (an ``auto_map`` in its config,
tokenizer or processor config) is refused in one line before transformers reads it, for every kind that loads a
model here (text, cascade, a judge, audiochat), even when a pipe on stdin would answer transformers' "run the custom
code? [y/N]" with yes; the custom code is never imported (it would leave a marker file). A model type transformers
implements loads with transformers' own classes, whatever its ``auto_map`` says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("datasets")

from helpers import assert_one_line, audiomlqa  # noqa: E402
from test_context_window import sample_questions, text_dataset  # noqa: E402

from audiomlqa.llm.names import resolve  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CUSTOM_CODE = """import pathlib

pathlib.Path(__file__).with_name("IMPORTED").write_text("the repository's code ran")

from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast


class CustomConfig(LlamaConfig):
    model_type = "{model_type}"


class CustomModel(LlamaForCausalLM):
    config_class = CustomConfig


class CustomTokenizer(PreTrainedTokenizerFast):
    pass
"""
AUTO_MAPS = {
    "config.json": {"AutoConfig": "custom.CustomConfig", "AutoModelForCausalLM": "custom.CustomModel"},
    "tokenizer_config.json": {"AutoTokenizer": [None, "custom.CustomTokenizer"]},
}
YES = "y\ny\ny\ny\n"
"""What a user might answer to every "run the custom code? [y/N]" (stdin a pipe, not a terminal)."""


def custom_code_llm(target: Path, where: str = "config.json", model_type: str = "tiny_custom_llm") -> Path:
    """The tiny LLM with a model type of its own, whose code (``custom.py``, named by the ``auto_map`` of
    ``where``) writes ``IMPORTED`` beside itself when imported."""
    shutil.copytree(resolve("tiny-random/llm"), target)
    (target / "custom.py").write_text(CUSTOM_CODE.format(model_type=model_type))
    config = json.loads((target / "config.json").read_text())
    config["model_type"] = model_type
    (target / "config.json").write_text(json.dumps(config))
    data = json.loads((target / where).read_text())
    data["auto_map"] = AUTO_MAPS[where]
    (target / where).write_text(json.dumps(data))
    return target


def spec(tmp_path: Path, name: str, **fields) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"name": name, "device": "cpu", "max_new_tokens": 4, **fields}))
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return text_dataset(tmp_path_factory.mktemp("remote") / "dataset", {"en": sample_questions("en", ["688e43ec"])})


def assert_refused_unrun(out, folder: Path, *fragments: str) -> None:
    assert_one_line(out, "runs Python code from its repository", *fragments)
    assert "[y/N]" not in out.stdout + out.stderr, "transformers was never asked"
    assert not (folder / "IMPORTED").exists(), "the repository's code was imported"


@pytest.mark.parametrize("where", ["config.json", pytest.param("tokenizer_config.json", marks=pytest.mark.slow)])
def test_a_text_llm_that_ships_its_own_code_is_refused_in_one_line_and_never_imported(where, tmp_path, dataset):
    folder = custom_code_llm(tmp_path / "custom", where)
    out = audiomlqa(
        "score", spec(tmp_path, "t", kind="text", llm=str(folder)), "--dataset", dataset,
        "--predictions-dir", tmp_path / "p", input=YES,
    )  # fmt: skip
    assert_refused_unrun(out, folder, where, "model types transformers implements")
    assert not (tmp_path / "p").exists(), "refused before anything was written"


@pytest.mark.slow
def test_a_cascades_llm_that_ships_its_own_code_is_refused_before_its_asr_loads(tmp_path, dataset):
    folder = custom_code_llm(tmp_path / "custom")
    asr = {"backend": "transformers", "model": str(tmp_path / "no-such-whisper")}  # loading it would fail otherwise
    out = audiomlqa(
        "score", spec(tmp_path, "c", kind="cascade", llm=str(folder), asr=asr), "--dataset", dataset,
        "--predictions-dir", tmp_path / "p", input=YES,
    )  # fmt: skip
    assert_refused_unrun(out, folder, "config.json: AutoConfig, AutoModelForCausalLM")


@pytest.mark.slow
def test_a_judge_that_ships_its_own_code_is_refused_in_one_line_and_never_imported(tmp_path):
    from audiomlqa.sources import read_mlqa_dir

    folder = custom_code_llm(tmp_path / "custom")
    [gold] = read_mlqa_dir(ROOT / "audiomlqa" / "data" / "mlqa-sample", "dev", [("en", "en")])
    predictions = tmp_path / "en.json"
    predictions.write_text(json.dumps({q.id: q.answer_texts[0] for q in gold.questions[:2]}))
    judge = spec(tmp_path, "judge", kind="text", llm=str(folder))
    out = audiomlqa("score", predictions, "--dataset", gold.path, "--judge", judge, input=YES)
    assert_refused_unrun(out, folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["custom", "en.json", "judge.json"], "no judgement cache"


@pytest.mark.slow
def test_an_audio_chat_model_that_ships_its_own_code_is_refused_in_one_line_and_never_imported(tmp_path, dataset):
    folder = tmp_path / "custom"
    shutil.copytree(resolve("tiny-random/qwen2-audio"), folder)
    (folder / "custom.py").write_text(CUSTOM_CODE.format(model_type="tiny_custom_audio"))
    for name in ("config.json", "processor_config.json"):
        data = json.loads((folder / name).read_text())
        data |= {"model_type": "tiny_custom_audio"} if name == "config.json" else {}
        data["auto_map"] = {"AutoConfig": "custom.CustomConfig", "AutoProcessor": "custom.CustomTokenizer"}
        (folder / name).write_text(json.dumps(data))
    out = audiomlqa(
        "score", spec(tmp_path, "a", kind="audiochat", checkpoint=str(folder)), "--dataset", dataset,
        "--predictions-dir", tmp_path / "p", input=YES,
    )  # fmt: skip
    assert_refused_unrun(out, folder, "config.json: AutoConfig", "processor_config.json", '"trust_remote_code": true')


def test_a_model_type_transformers_implements_loads_its_own_classes_whatever_its_auto_map_says(tmp_path):
    from audiomlqa.llm.text import TextLLM

    folder = custom_code_llm(tmp_path / "llama", model_type="llama")  # an old repository keeps its auto_map
    llm = TextLLM(str(folder), max_new_tokens=2)
    assert type(llm.model).__name__ == "LlamaForCausalLM" and len(llm.generate(["Question: x"])) == 1
    assert not (folder / "IMPORTED").exists()
