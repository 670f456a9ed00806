"""The harness stage: lm-eval's ``audiomlqa_text`` tasks (the text topline) and importing lm-eval / lmms-eval
``--log_samples`` logs as audiomlqa predictions, which score exactly as the harness scored them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import audiomlqa

from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.cache import PredictionsRecord
from audiomlqa.evaluation.prompts import PROMPT_VERSION, short_answer_prompt
from audiomlqa.harness import LM_EVAL_TASKS, import_lm_eval, import_lmms_eval
from audiomlqa.harness.lm_eval_text import doc_to_text, load_questions, official_mean, process_results
from audiomlqa.harness.logs import config_of_task
from audiomlqa.languages import LANGUAGES
from audiomlqa.scoring import score
from audiomlqa.sources import PACKAGED_SAMPLE, read_dataset_files
from audiomlqa.tasks import parse_config

TASKS = Path(LM_EVAL_TASKS) / "audiomlqa_text"
ANSWER = " Martin"
"""What the constant tiny LLM always says: the gold of one de question, half of one en gold ("Max Martin")."""


def _gold(config: str):
    (gold,) = read_dataset_files(PACKAGED_SAMPLE, "dev", [parse_config(config).pair])
    return gold


def _sample(doc_id: int, doc: dict | None, response: str, **extra) -> dict:
    """One line as lm-eval's ``--log_samples`` writes it (lm_eval/evaluator.py; lmms-eval drops ``doc``)."""
    line = {"doc_id": doc_id, "target": "x", "resps": [[response]], "filtered_resps": [response], "filter": "none"}
    return {**line, **({"doc": doc} if doc is not None else {}), **extra}


def _write_log(path: Path, samples: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples), encoding="utf-8")
    return path


def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


# -- the task -------------------------------------------------------------------------------------------------------


def test_the_task_folder_has_a_task_per_config_and_the_monolingual_and_gxlt_groups():
    names = {p.stem for p in TASKS.glob("*.yaml")}
    configs = [c if c == q else f"{c}_{q}" for c in LANGUAGES for q in LANGUAGES]
    assert {f"audiomlqa_text_{c}" for c in configs} | {"audiomlqa_text", "audiomlqa_text_gxlt"} == names
    group = (TASKS / "audiomlqa_text.yaml").read_text()
    assert all(f"  - audiomlqa_text_{lang}\n" in group for lang in LANGUAGES) and "weight_by_size: false" in group
    assert "--metadata dataset=" in (TASKS / "_audiomlqa_text_template_yaml").read_text()


def test_the_task_asks_audiomlqa_s_own_prompt_with_the_written_question():
    gold = _gold("de-en")
    (rows,) = load_questions("de-en", dataset=PACKAGED_SAMPLE).values()
    assert [r["id"] for r in rows] == [q.id for q in gold.questions]  # the scorer's order
    row, q = rows[0], gold.questions[0]
    assert doc_to_text(row) == short_answer_prompt(q.context, q.question, "de")
    assert row["answers"] == q.answer_texts and row["config"] == "de-en"


def test_the_task_s_f1_and_em_equal_audiomlqa_score_float_for_float():
    gold = _gold("en")
    (rows,) = load_questions("en", dataset=PACKAGED_SAMPLE).values()
    outputs = ["Short answer: Max Martin.", "earth and water\nQuestion: next", "", "around the", "400 kilometres"] * 2
    per_doc = [process_results(row, [out]) for row, out in zip(rows, outputs)]
    official = score(
        gold.gold,
        {r["id"]: a for r, a in zip(rows, ["Max Martin", "earth and water", "", "around the", "400 kilometres"] * 2)},
        "en",
    )
    assert official_mean([d["f1"] for d in per_doc]) == official.f1 and official.f1 not in (0.0, 100.0)
    assert official_mean([d["exact_match"] for d in per_doc]) == official.exact_match


def test_the_task_without_a_dataset_says_how_to_give_one_in_one_line():
    with pytest.raises(AudioMLQAError) as e:
        load_questions("en")
    assert "--metadata dataset=" in _one_line(e)


# -- importing logs ---------------------------------------------------------------------------------------------------


def test_task_names_of_both_harnesses_and_of_lm_eval_s_mlqa_name_their_config():
    assert config_of_task("audiomlqa_text_de_en") == "de-en" and config_of_task("audiomlqa_text_zh") == "zh"
    assert config_of_task("audio_mlqa_instruct_en") == "instruct-en" and config_of_task("mlqa_en_en") == "en"
    assert config_of_task("mlqa_hi_de") == "hi-de" and config_of_task("hellaswag") is None


def test_an_lm_eval_log_of_lm_eval_s_own_mlqa_imports_with_the_doc_ids(tmp_path):
    gold = _gold("de-en")
    docs = [{"id": q.id, "context": q.context, "answers": q.answer_texts} for q in gold.questions]
    log = _write_log(
        tmp_path / "run" / "m" / "samples_mlqa_de_en_2026-01-01T00-00-00.000001.jsonl",
        [_sample(i, d, f" {d['answers'][0]}") for i, d in enumerate(docs)],
    )
    got = import_lm_eval(tmp_path / "run", tmp_path / "pred")
    assert got.configs == {"de-en": 10} and got.logs == [log] and got.model == "m"
    answers = json.loads((tmp_path / "pred" / "de-en.json").read_text())
    assert score(gold.gold, answers, "de").exact_match == 100.0
    cache = PredictionsRecord.model_validate(json.loads((tmp_path / "pred" / "de-en.raw.json").read_text()))
    assert cache.prompt_version == "lm-eval:mlqa_de_en" and cache.raw[docs[0]["id"]] == f" {docs[0]['answers'][0]}"


def test_an_lmms_eval_log_without_docs_takes_its_ids_from_the_dataset_by_doc_id(tmp_path):
    gold = _gold("en")
    log = _write_log(
        tmp_path / "2026-01-01T00-00-00_samples_audio_mlqa_en.jsonl",
        [
            {"doc_id": i, "target": "x", "filtered_resps": f"Answer: {q.answer_texts[0]}"}
            for i, q in enumerate(gold.questions)
        ],
    )
    with pytest.raises(AudioMLQAError) as e:
        import_lmms_eval(log, tmp_path / "pred")
    assert "pass --dataset" in _one_line(e)
    got = import_lmms_eval(log, tmp_path / "pred", dataset=PACKAGED_SAMPLE)
    answers = json.loads((tmp_path / "pred" / "en.json").read_text())
    assert got.configs == {"en": 10} and score(gold.gold, answers, "en").f1 == 100.0
    assert json.loads((tmp_path / "pred" / "en.raw.json").read_text())["prompt_version"] == PROMPT_VERSION


def test_an_lmms_eval_log_whose_metrics_carry_the_ids_needs_no_dataset(tmp_path):
    gold = _gold("de")
    # lmms-eval's save_results_samples: no doc, filtered_resps flattened, the metrics' dicts (the audio_mlqa task's)
    lines = [
        {"doc_id": i, "target": q.answer_texts[0], "input": "…", "filtered_resps": f'"{q.answer_texts[0]}"',
         "f1": {"id": q.id, "score": 1.0}, "exact_match": {"id": q.id, "score": 1.0}}
        for i, q in enumerate(gold.questions)
    ]  # fmt: skip
    _write_log(tmp_path / "logs" / "m" / "20260101_000000_samples_audio_mlqa_de.jsonl", lines)
    got = import_lmms_eval(tmp_path / "logs", tmp_path / "pred")
    answers = json.loads((tmp_path / "pred" / "de.json").read_text())
    assert got.configs == {"de": 10} and score(gold.gold, answers, "de").exact_match == 100.0


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("not json at all\n", "line 1 is not JSON"),
        ('{"doc_id": 0}\n', "line 1 is not a lm-eval sample"),
        ("", "no samples in it"),
    ],
)
def test_a_file_that_is_not_a_samples_log_is_refused_in_one_line(tmp_path, content, fragment):
    log = tmp_path / "samples_audiomlqa_text_en_2026-01-01T00-00-00.000001.jsonl"
    log.write_text(content)
    with pytest.raises(AudioMLQAError) as e:
        import_lm_eval(log, tmp_path / "pred")
    assert fragment in _one_line(e) and not (tmp_path / "pred").exists()


def test_a_folder_without_logs_a_foreign_task_and_a_missing_path_are_refused_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    other = _write_log(tmp_path / "samples_hellaswag_2026-01-01T00-00-00.000001.jsonl", [_sample(0, {"q": 1}, "a")])
    for call, fragment in [
        (lambda: import_lm_eval(tmp_path / "empty", tmp_path / "p"), "no lm-eval samples logs in it"),
        (lambda: import_lm_eval(other, tmp_path / "p"), "'hellaswag' is not an Audio-MLQA task"),
        (lambda: import_lm_eval(tmp_path / "nope", tmp_path / "p"), "no such file or directory"),
    ]:
        with pytest.raises(AudioMLQAError) as e:
            call()
        assert fragment in _one_line(e)


def test_answers_from_another_log_are_kept_unless_overwrite(tmp_path):
    q = _gold("en").questions[0]
    doc = {"id": q.id, "config": "en", "context_lang": "en", "answers": q.answer_texts}
    first = _write_log(
        tmp_path / "a" / "samples_audiomlqa_text_en_2026-01-01T00-00-00.000001.jsonl", [_sample(0, doc, "one")]
    )
    second = _write_log(
        tmp_path / "b" / "samples_audiomlqa_text_en_2026-01-02T00-00-00.000001.jsonl", [_sample(0, doc, "two")]
    )
    import_lm_eval(first, tmp_path / "pred")
    import_lm_eval(first, tmp_path / "pred")  # importing the same log again is fine
    with pytest.raises(AudioMLQAError) as e:
        import_lm_eval(second, tmp_path / "pred")
    assert "pass --overwrite" in _one_line(e)
    import_lm_eval(second, tmp_path / "pred", overwrite=True)
    assert json.loads((tmp_path / "pred" / "en.json").read_text()) == {q.id: "two"}


# -- lm-eval itself, offline, on a tiny model -------------------------------------------------------------------------


def make_constant_llm(directory: Path, answer: str = ANSWER) -> Path:
    """The tiny Llama of ``tiny-random/llm`` with weights set so that greedy decoding says ``answer`` (one token) and
    then ends, whatever the prompt: every layer adds nothing, so the last hidden state is the last token's embedding,
    and the head reads it (any token → the answer, the answer → end of text). Real answers give real scores."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from audiomlqa.testing.tiny import build

    source = Path(build("tiny-random/llm"))
    tokenizer = AutoTokenizer.from_pretrained(source)
    (token,) = tokenizer.encode(answer, add_special_tokens=False)
    config = LlamaConfig.from_pretrained(source)
    config.tie_word_embeddings = False
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for p in model.model.layers.parameters():
            p.zero_()
        model.model.embed_tokens.weight.zero_()
        model.model.embed_tokens.weight[:, 0] = 1.0
        model.model.embed_tokens.weight[token] = torch.nn.functional.one_hot(torch.tensor(1), config.hidden_size)
        model.lm_head.weight.zero_()
        model.lm_head.weight[token, 0] = 10.0
        model.lm_head.weight[config.eos_token_id, 1] = 10.0
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _lm_eval(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    lm_eval = Path(sys.executable).with_name("lm_eval")
    return subprocess.run([str(lm_eval), *args], capture_output=True, text=True, timeout=600, env=env, cwd=cwd)


@pytest.mark.slow
def test_lm_eval_runs_the_text_topline_offline_and_its_f1_em_equal_audiomlqa_score_on_its_answers(tmp_path):
    pytest.importorskip("lm_eval")
    model = make_constant_llm(tmp_path / "model")
    run = _lm_eval(
        "run", "--model", "hf", "--model_args", f"pretrained={model},dtype=float32", "--device", "cpu",
        "--tasks", "audiomlqa_text,audiomlqa_text_de_en", "--include_path", LM_EVAL_TASKS,
        "--metadata", f"dataset={PACKAGED_SAMPLE}", "--batch_size", "8", "--log_samples",
        "--output_path", str(tmp_path / "out"), cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    (results,) = (tmp_path / "out").rglob("results_*.json")
    reported = json.loads(results.read_text())["results"]

    got = import_lm_eval(tmp_path / "out", tmp_path / "pred")
    assert got.configs == dict.fromkeys([*LANGUAGES, "de-en"], 10)
    scored = audiomlqa("score", tmp_path / "pred", "--dataset", PACKAGED_SAMPLE, "--json")
    assert scored.returncode == 0, scored.stderr
    pairs = {p["pair"]: p for p in json.loads(scored.stdout)["pairs"]}
    for config, pair in pairs.items():
        harness = reported[f"audiomlqa_text_{config.replace('-', '_')}"]
        assert (harness["f1,none"], harness["exact_match,none"]) == (pair["f1"], pair["exact_match"]), config
    assert pairs["en"]["f1"] == 100.0 * (2 / 3) / 10 and pairs["de"]["exact_match"] == 10.0  # real, non-zero
    monolingual = [pairs[x]["f1"] for x in LANGUAGES]
    assert reported["audiomlqa_text"]["f1,none"] == pytest.approx(sum(monolingual) / len(monolingual), abs=1e-12)

    site = audiomlqa("report", tmp_path / "pred", "--dataset", PACKAGED_SAMPLE, "--out", tmp_path / "site")
    assert site.returncode == 0, site.stderr
    assert ANSWER.strip() in (tmp_path / "site" / "questions.html").read_text()
