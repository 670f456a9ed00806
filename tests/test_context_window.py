"""Context windows, one rule everywhere: a prompt whose tokens plus ``max_new_tokens`` do not fit the model's window
is never generated from; its question gets no answer, is counted as over window per config and in total (report,
``--json``, tables, the predictions cache, a rerun), and scores as no answer. The same for every in-process model, for
a judge, and through a server (see also tests/test_api.py, which compares `transformers serve` with in-process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("datasets")

from audiomlqa.evaluation import short_answer_prompt  # noqa: E402
from audiomlqa.llm.window import context_window, fits  # noqa: E402
from audiomlqa.sources import Question, load_questions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "audiomlqa" / "data" / "mlqa-sample"
TINY_WINDOW = 512


def text_dataset(root: Path, configs: dict[str, list[Question]]) -> Path:
    """A dataset in the published layout (parquet per config, configs in the card's header) without audio: enough for
    models that read the written question, and made in a second."""
    import datasets

    header = ["---", "configs:"]
    for config, questions in configs.items():
        rows = {
            "id": [q.id for q in questions],
            "title": [q.title for q in questions],
            "context": [q.context for q in questions],
            "question": [q.question for q in questions],
            "answers": [
                {"text": [a.text for a in q.answers], "answer_start": [a.answer_start for a in q.answers]}
                for q in questions
            ],
        }
        (root / "data" / config).mkdir(parents=True)
        datasets.Dataset.from_dict(rows).to_parquet(root / "data" / config / "validation-00000-of-00001.parquet")
        header += [f"- config_name: {config}", "  data_files:", "  - split: validation"]
        header += [f"    path: data/{config}/validation-*.parquet"]
    (root / "README.md").write_text("\n".join([*header, "---", ""]), encoding="utf-8")
    return root


def sample_questions(config: str, ids: list[str]) -> list[Question]:
    by_id = {q.id[:8]: q for q in load_questions(SAMPLE, pairs=[config])}
    return [by_id[i] for i in ids]


# en: 249 prompt tokens for the tiny model (fits), 736 and 1051 (over its 512); de: 120 and 145 (fit)
OVER = {"en": ["1cca4efb", "6eaf6cdc", "8f176f07"], "de": ["d47ad617", "ba61ff97"]}


@pytest.fixture(scope="module")
def mixed_dataset(tmp_path_factory) -> Path:
    """en: one question that fits the tiny model's window and two that do not; de: two that fit."""
    root = tmp_path_factory.mktemp("window")
    return text_dataset(root / "dataset", {c: sample_questions(c, ids) for c, ids in OVER.items()})


@pytest.fixture(scope="module")
def tiny_text():
    from audiomlqa.llm.text import TextLLM

    return TextLLM("tiny-random/llm", max_new_tokens=6, device="cpu")


def test_the_window_comes_from_the_text_config_else_from_a_real_tokenizer_limit():
    from transformers import GPT2Config, LlamaConfig, PretrainedConfig, Qwen2AudioConfig

    assert context_window(LlamaConfig(max_position_embeddings=512)) == 512
    assert context_window(GPT2Config(n_positions=1024)) == 1024
    audio = Qwen2AudioConfig(text_config={"model_type": "qwen2", "max_position_embeddings": 4096})
    assert context_window(audio) == 4096, "a multimodal model's window is its language model's"

    class Tokenizer:
        model_max_length = 2048

    class Unlimited:
        model_max_length = int(1e30)  # transformers' placeholder for "no limit"

    assert context_window(PretrainedConfig(), Tokenizer()) == 2048
    assert context_window(PretrainedConfig(), Unlimited()) is None and context_window(None, None) is None


def test_a_prompt_fits_when_its_tokens_and_max_new_tokens_fit_the_window(tiny_text):
    def prompt_of(tokens: int) -> str:
        for n in range(tokens):
            prompt = "a" + " a" * n
            length = len(tiny_text.tokenizer(tiny_text.render(prompt), add_special_tokens=False).input_ids)
            if length == tokens:
                return prompt
        raise AssertionError(f"no prompt of {tokens} tokens")

    room = tiny_text.generation["max_new_tokens"]
    assert tiny_text.window == TINY_WINDOW and fits(TINY_WINDOW - room, room, TINY_WINDOW)
    edge, over = prompt_of(TINY_WINDOW - room), prompt_of(TINY_WINDOW - room + 1)
    answers = tiny_text.generate([over, edge, over])
    assert answers[0] is None and answers[2] is None and isinstance(answers[1], str), answers
    assert tiny_text.describe()["context_window"] == TINY_WINDOW


def test_over_window_questions_get_no_answer_and_are_counted_per_config_in_total_and_on_rerun(mixed_dataset, tmp_path):
    from audiomlqa.evaluation import compare_models, load_spec

    spec = load_spec(ROOT / "models" / "tiny-text.json", ["device=cpu"])
    first = compare_models([spec], str(mixed_dataset), output=tmp_path / "p", progress=False)
    report = first.reports[0]
    assert {c.config: c.over_window for c in report.configs} == {"de": 0, "en": 2} and report.over_window == 2
    doc = report.to_dict()
    assert doc["over_window"] == 2 and doc["configs"]["en"]["over_window"] == 2 and doc["configs"]["en"]["total"] == 3
    cache = json.loads((tmp_path / "p" / "tiny-text" / "en.raw.json").read_text())
    over_ids = {q.id for q in sample_questions("en", OVER["en"][1:])}
    assert set(cache["over_window"]) == over_ids and all(cache["raw"][i] == "" for i in over_ids)
    assert json.loads((tmp_path / "p" / "tiny-text" / "scores.json").read_text())["over_window"] == 2
    notes = [n for t in first.tables()[:2] for n in t.notes]
    assert notes and all(n.startswith("tiny-text: over window: 2 (en 2)") for n in notes)

    again = compare_models([spec], str(mixed_dataset), output=tmp_path / "p", progress=False).reports[0]
    assert again.generated == 0 and again.reused == 5 and again.to_dict()["configs"] == doc["configs"]


@pytest.mark.slow
def test_the_score_command_shows_over_window_in_its_tables_and_its_json(mixed_dataset, tmp_path):
    from helpers import audiomlqa

    spec = ROOT / "models" / "tiny-text.json"
    out = audiomlqa(
        "score",
        spec,
        "--dataset",
        mixed_dataset,
        "--predictions-dir",
        tmp_path,
        "--markdown",
        "--output",
        tmp_path / "r",
    )
    assert out.returncode == 0, out.stderr
    assert "tiny-text: over window: 2 (en 2)" in out.stdout and "2 over the context window" in out.stderr
    doc = json.loads((tmp_path / "r").read_text())["models"][0]  # what --json prints
    assert doc["over_window"] == 2 and {c: v["over_window"] for c, v in doc["configs"].items()} == {"en": 2, "de": 0}


def test_an_over_window_judge_prompt_is_never_judged_and_counts_as_unparsed(tmp_path):
    from audiomlqa.evaluation import OVER_WINDOW, Judge, ToJudge, judge_answers, load_spec, summarize

    judge = Judge(load_spec(ROOT / "models" / "judge-tiny.json", ["device=cpu"]))
    short = ToJudge("en", "q1", "Who wrote Faust?", ("Goethe",), "Goethe")
    rambling = ToJudge("en", "q2", "Who wrote Faust?", ("Goethe",), "Goethe, " * 600)
    verdicts = judge_answers(judge, [short, rambling], tmp_path / "judge.json")
    assert verdicts[rambling.key] == {"score": None, "raw": "", "status": OVER_WINDOW, "pair": "en", "id": "q2"}
    assert verdicts[short.key]["status"] in ("ok", "unparsed")
    stats = summarize([verdicts[x.key]["score"] for x in (short, rambling)], [1.0, 1.0], over_window=1)
    assert stats["judge_unparsed"] >= 1 and stats["judge_over_window"] == 1
    assert judge.describe()["context_window"] == TINY_WINDOW


def test_a_speech_llm_counts_its_speech_tokens_against_the_llms_window():
    from audiomlqa.speechllm import SpeechLLM, SpeechLLMConfig

    model = SpeechLLM.from_config(
        SpeechLLMConfig.from_dict({"languages": ["en", "de"], "num_banks": 2, "num_queries": 8, "gate_hidden": 16})
    )
    [question] = sample_questions("en", ["1cca4efb"])
    fitting = short_answer_prompt(question.context, None, "en")
    too_long = short_answer_prompt(question.context * 3, None, "en")
    audio = np.zeros(16000, dtype=np.float32)
    answers = model.generate([audio, audio], [too_long, fitting], max_new_tokens=4)
    assert model.window == TINY_WINDOW and answers[0] is None and isinstance(answers[1], str)


def test_an_audio_chat_model_counts_its_audio_tokens_against_its_window():
    from audiomlqa.llm.audiochat import AudioChatLLM
    from audiomlqa.llm.names import resolve

    llm = AudioChatLLM(resolve("tiny-random/qwen2-audio"), max_new_tokens=4)
    too_long = short_answer_prompt("Berlin. " * (llm.window // 2), None, "en")
    fitting = short_answer_prompt("Berlin ist die Hauptstadt.", None, "de")
    audio = np.zeros(16000, dtype=np.float32)
    answers = llm.generate([too_long, fitting], [audio, audio])
    assert llm.window == 8192 and answers[0] is None and isinstance(answers[1], str)


def test_a_served_model_is_over_window_when_its_server_refuses_the_prompt_or_lists_a_window_it_exceeds(tmp_path):
    from test_api import free_port, wait_for

    from audiomlqa.llm.api import ChatAPI

    port = free_port()
    proc = subprocess.Popen([sys.executable, ROOT / "tests" / "scripted_server.py", str(port), "window"], cwd=tmp_path)
    try:
        wait_for(f"http://127.0.0.1:{port}/v1/models", proc)
        api = ChatAPI(f"http://127.0.0.1:{port}/v1", "scripted", max_tokens=10, concurrency=1)
        api.check()
        assert api.window == 100, "read from the server's /v1/models (max_model_len)"
        exact, band, long = "q: " + "y" * 87, "x" * 91 + ": band", "x" * 150 + ": long"
        assert (len(exact), len(band)) == (90, 97)  # + 10 new tokens: 100 fits, 107 does not (but 97 alone does)
        assert api.complete(["q: short", exact, band, long]) == ["short", "y" * 87, None, None]
        sent = (tmp_path / "requests.jsonl").read_text().splitlines()
        assert len(sent) == 4, "the refusal is not retried; the answer past the window is dropped, not asked again"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
