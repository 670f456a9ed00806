"""Prompts as the audio chat models were trained to see them (issue 26, item 5): with ``"prompt": "official"`` the
audio goes where the family's official examples put it (first, for Qwen2-Audio) with their generation settings,
the shared prompt stays the default, and every report records which was used."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from helpers import assert_one_line, audiomlqa  # noqa: E402

from audiomlqa.errors import AudioMLQAError  # noqa: E402
from audiomlqa.evaluation import load_runner, load_spec, short_answer_prompt  # noqa: E402
from audiomlqa.llm import SPEECH  # noqa: E402
from audiomlqa.llm.audiochat import FAMILIES, AudioChatLLM, message, placed_text  # noqa: E402
from audiomlqa.llm.names import resolve  # noqa: E402
from audiomlqa.llm.official_prompts import AT_THE_QUESTION, USAGES, official_usage  # noqa: E402

CONTEXT = "Berlin ist die Hauptstadt Deutschlands und hat etwa 3,7 Millionen Einwohner."
PROMPT = short_answer_prompt(CONTEXT, None, "de")
CLIP = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)


def spec(tmp_path: Path, **fields) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"name": "m", "kind": "audiochat", "checkpoint": "tiny-random/qwen2-audio", **fields}))
    return path


@pytest.fixture(scope="module")
def qwen2_audio():
    """The tiny Qwen2-Audio asked both ways (the spec's ``generation`` keeps the official run short)."""
    location = resolve("tiny-random/qwen2-audio")
    return {
        "shared": AudioChatLLM(location, max_new_tokens=4),
        "official": AudioChatLLM(location, max_new_tokens=4, prompt="official", generation={"max_new_tokens": 3}),
    }


def audio_span(llm: AudioChatLLM, ids) -> tuple[int, int]:
    """The first and last position of the processor's audio tokens in ``ids``."""
    audio_id = llm.tokenizer.convert_tokens_to_ids(llm.processor.audio_token)
    where = (ids == audio_id).nonzero().flatten().tolist()
    assert where, "no audio tokens in the prompt"
    return where[0], where[-1]


def test_the_official_conversation_puts_the_audio_first_and_keeps_the_text_whole():
    family = FAMILIES["qwen2_audio"]
    [official] = message(PROMPT, CLIP, family, None, "first")
    assert [p["type"] for p in official["content"]] == ["audio", "text"]
    assert official["content"][1]["text"] == PROMPT.replace(SPEECH, "")  # the placeholder gone, nothing else

    [shared] = message(PROMPT, CLIP, family, None)
    assert [p["type"] for p in shared["content"]] == ["text", "audio", "text"]
    assert shared["content"][0]["text"].endswith(": ") and "Kontext: Berlin" in shared["content"][0]["text"]

    [last] = message(PROMPT, CLIP, family, None, "last")
    assert [p["type"] for p in last["content"]] == ["text", "audio"]


def test_a_text_only_template_gets_the_audio_token_where_the_usage_puts_it():
    """Phi-4's template takes text: its audio token moves like the audio part does."""
    assert placed_text(PROMPT, "<|audio|>", "first") == "<|audio|>" + PROMPT.replace(SPEECH, "")
    assert placed_text(PROMPT, "<|audio|>", "last") == PROMPT.replace(SPEECH, "") + "<|audio|>"
    assert placed_text(PROMPT, "<|audio|>") == PROMPT.replace(SPEECH, "<|audio|>")


def around_audio(llm) -> tuple[str, str]:
    """The prompt's tokens before and after the audio tokens, decoded."""
    ids = llm.inputs([PROMPT], [CLIP])["input_ids"][0]
    first, last = audio_span(llm, ids)
    decode = lambda part: llm.tokenizer.decode(part, skip_special_tokens=False)  # noqa: E731
    return decode(ids[:first]), decode(ids[last + 1 :])


def test_the_processor_puts_the_audio_tokens_before_the_prompts_first_text_token(qwen2_audio):
    llm = qwen2_audio["official"]
    before, after = around_audio(llm)
    assert PROMPT.split("\n")[0] not in before and "Kontext" not in before  # no text of the prompt yet
    assert PROMPT.replace(SPEECH, "") in after  # all of it after the audio, unchanged


def test_phi_4s_audio_token_comes_first_in_its_text_only_template_with_the_official_prompt():
    llm = AudioChatLLM(resolve("tiny-random/phi-4-multimodal"), max_new_tokens=2, prompt="official")
    ids = llm.inputs([PROMPT], [CLIP])["input_ids"][0]
    first, last = audio_span(llm, ids)
    assert llm.tokenizer.decode(ids[:first], skip_special_tokens=False) == "<|user|>"  # as in the model card
    assert PROMPT.replace(SPEECH, "") in llm.tokenizer.decode(ids[last + 1 :], skip_special_tokens=False)


def test_the_shared_default_keeps_the_audio_where_the_question_goes(qwen2_audio):
    llm = qwen2_audio["shared"]
    before, after = around_audio(llm)
    assert "Kontext: Berlin ist die Hauptstadt" in before and "Frage:" in before
    assert "Kurze Antwort:" in after and "Kontext" not in after
    described = llm.describe()
    assert (described["prompt"], described["audio_placement"], described["usage"]) == ("shared", AT_THE_QUESTION, None)


def test_official_generation_settings_go_over_the_specs_and_its_explicit_generation_wins(qwen2_audio):
    described = qwen2_audio["official"].describe()
    recorded = (described["prompt"], described["audio_placement"], described["usage"])
    assert recorded == ("official", "first", "qwen2-audio")
    assert "QwenLM/Qwen2-Audio" in described["usage_source"]
    generation = described["generation"]
    assert generation["min_new_tokens"] == 1 and generation["do_sample"] is False  # the official evaluation's
    assert generation["max_new_tokens"] == 3  # the spec's explicit generation, not the usage's 256 nor its 4
    assert len(qwen2_audio["official"].generate([PROMPT], [CLIP])) == 1


def test_seallms_audio_is_told_apart_from_qwen2_audio_by_its_hub_id_or_by_name():
    assert official_usage("official", "qwen2-audio", "Qwen/Qwen2-Audio-7B-Instruct").name == "qwen2-audio"
    seallms = official_usage("official", "qwen2-audio", "SeaLLMs/SeaLLMs-Audio-7B")
    assert seallms.name == "seallms-audio" and seallms.audio == "first"
    assert seallms.generation["repetition_penalty"] == 1.1 and seallms.generation["max_new_tokens"] == 2048
    assert official_usage("seallms-audio", "qwen2-audio", "/models/local-copy").name == "seallms-audio"
    assert official_usage("shared", "qwen2-audio", "SeaLLMs/SeaLLMs-Audio-7B") is None
    assert official_usage("official", None, "someone/remote-code-model") is None  # unknown: shared placement


def test_every_family_has_an_official_usage_with_its_source():
    families = {f.name for f in FAMILIES.values()}
    assert families <= {u.family for u in USAGES.values()}
    for usage in USAGES.values():
        assert usage.family in families and usage.audio in ("first", "last", "unknown")
        assert usage.source.startswith("https://") and usage.generation.get("max_new_tokens")


def test_a_usage_of_another_family_is_refused_before_any_weight_loads(tmp_path):
    voxtral = spec(tmp_path, checkpoint="tiny-random/voxtral", prompt="seallms-audio")
    with pytest.raises(AudioMLQAError, match="official usage of a qwen2-audio checkpoint, but this one is voxtral"):
        load_runner(load_spec(voxtral))


def test_an_unknown_prompt_is_refused_in_one_line(tmp_path):
    out = audiomlqa("score", spec(tmp_path, prompt="offical"), "--dataset", tmp_path / "none")
    assert_one_line(out, "prompt", "official")


@pytest.mark.slow
def test_a_score_run_with_the_official_prompt_records_it_in_scores_json(tmp_path, spoken_dataset):
    dataset = spoken_dataset(["en"], 2)
    path = spec(tmp_path, name="tiny-official", prompt="official", generation={"max_new_tokens": 3}, batch_size=2)
    out = audiomlqa("score", path, "--dataset", dataset, "--configs", "en", "--predictions-dir", tmp_path / "p")
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "p" / "tiny-official" / "scores.json").read_text())
    runner = report["provenance"]["runner"]
    assert (runner["prompt"], runner["audio_placement"], runner["usage"]) == ("official", "first", "qwen2-audio")
    assert runner["generation"]["max_new_tokens"] == 3 and runner["generation"]["min_new_tokens"] == 1
    assert "QwenLM/Qwen2-Audio" in runner["usage_source"]
    raw = json.loads((tmp_path / "p" / "tiny-official" / "en.raw.json").read_text())
    assert len(raw["raw"]) == 2 and raw["runner"]["audio_placement"] == "first"  # the cache records it too
