"""lmms-eval's ``audio_mlqa`` tasks (audiomlqa/harness/lmms_eval_tasks): the shipped folder is what the generator
writes, the metric is MLQA's official scorer, and lmms-eval's own CLI runs the tasks offline, on a tiny audio chat
model and on replayed answers, with F1/EM equal to ``audiomlqa score`` on the answers it logged.

The CLI tests need lmms-eval beside audiomlqa (``audiomlqa[harness]``, in the lock) and skip without it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_one_line, audiomlqa

from audiomlqa.harness.lmms_eval_tasks import ALL_CONFIGS, LMMS_EVAL_TASKS, render, task_name, write_tasks
from audiomlqa.languages import LANGUAGES

HAS_LMMS_EVAL = importlib.util.find_spec("lmms_eval") is not None
needs_lmms_eval = pytest.mark.skipif(not HAS_LMMS_EVAL, reason="lmms-eval is not installed (audiomlqa[harness])")
TASK_OF = {task_name(c): c for c in ALL_CONFIGS}


def test_the_shipped_task_folder_is_what_the_generator_writes():
    folder = Path(LMMS_EVAL_TASKS)
    shipped = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir() if p.is_file() and p.suffix != ".py"}
    assert shipped == render()
    assert len([n for n in shipped if n.startswith("audio_mlqa_") and "group:" not in shipped[n]]) == 49


@pytest.mark.slow
@needs_lmms_eval
def test_lmms_eval_task_manager_finds_every_shipped_task_and_group():
    from lmms_eval.tasks import TaskManager

    manager = TaskManager("ERROR", include_path=LMMS_EVAL_TASKS, include_defaults=False)
    assert sorted(manager.all_tasks) == sorted([*TASK_OF, "audio_mlqa", "audio_mlqa_same_language", "audio_mlqa_gxlt"])
    config = manager._get_config("audio_mlqa_zh_hi")
    assert (config["dataset_path"], config["dataset_name"], config["test_split"]) == (
        "audio-mlqa-dataset",
        "zh-hi",
        "test",
    )


def test_a_task_folder_holds_only_the_configs_a_published_folder_has(tmp_path):
    for config in ("en", "de-en"):
        (tmp_path / "ds" / "data" / config).mkdir(parents=True)
        (tmp_path / "ds" / "data" / config / "test-00000-of-00001.parquet").write_bytes(b"")
    out = write_tasks(str(tmp_path / "ds"), tmp_path / "tasks")
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "_audio_mlqa_template_yaml",
        "audio_mlqa.yaml",
        "audio_mlqa_de_en.yaml",
        "audio_mlqa_en.yaml",
        "audio_mlqa_gxlt.yaml",
        "audio_mlqa_same_language.yaml",
        "utils.py",
    ]
    assert (
        f"dataset_path: {(tmp_path / 'ds').resolve()}\ntest_split: test\n"
        in (out / "_audio_mlqa_template_yaml").read_text()
    )


def test_a_folder_without_audio_mlqa_configs_or_a_foreign_target_is_refused_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    out = audiomlqa_tasks("--dataset", tmp_path / "empty", "--to", tmp_path / "tasks")
    assert_one_line(out, "holds no Audio-MLQA config with a test split")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    out = audiomlqa_tasks("--dataset", "you/audio-mlqa", "--to", tmp_path / "mine")
    assert_one_line(out, "is not an audio_mlqa task folder")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def audiomlqa_tasks(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "audiomlqa", "lmms-eval-tasks", *map(str, args)], capture_output=True, text=True
    )


def test_the_task_metric_is_the_official_mlqa_scorer_on_the_extracted_answers(sample_dir):
    import official_mlqa as ref

    from audiomlqa.sources import read_dataset_files

    utils = _task_utils()
    for lang in ("en", "zh"):  # the questions of every file whose context is in ``lang``: scored in ``lang``
        files = read_dataset_files(str(sample_dir), "dev", [(lang, q) for q in LANGUAGES])
        docs = [
            {"id": q.id, "context_lang": q.context_lang, "answers": {"text": list(q.answer_texts)}}
            for f in files
            for q in f.questions
        ]
        # right, labelled and quoted, partly right, wrong, empty: the raw outputs a model gives
        outputs = [
            [f'Short answer: "{d["answers"]["text"][0]}".', d["answers"]["text"][0][:4], "nonsense", ""][i % 4]
            for i, d in enumerate(docs)
        ]
        items = [utils.process_results(d, [o]) for d, o in zip(docs, outputs)]
        official = ref.evaluate(
            [
                {"paragraphs": [{"qas": [{"id": d["id"], "answers": [{"text": t} for t in d["answers"]["text"]]}]}]}
                for d in docs
            ],
            {d["id"]: utils.extract_answer(o) for d, o in zip(docs, outputs)},
            lang,
        )
        assert utils.official_f1([i["f1"] for i in items]) == official["f1"]
        assert utils.official_exact_match([i["exact_match"] for i in items]) == official["exact_match"]
        assert 0 < official["f1"] < 100


def _task_utils():
    spec = importlib.util.spec_from_file_location("audio_mlqa_utils", Path(LMMS_EVAL_TASKS) / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_chat_model_hears_the_question_where_it_goes_and_a_simple_one_before_the_text():
    import numpy as np

    utils = _task_utils()
    doc = {
        "context": "Bern is the capital.",
        "context_lang": "en",
        "audio": {"array": np.zeros(8), "sampling_rate": 16000},
    }
    (turn,) = utils.doc_to_messages(doc)
    assert [c["type"] for c in turn["content"]] == ["text", "audio", "text"]
    assert turn["content"][0]["text"].endswith("Context: Bern is the capital.\nQuestion: ")
    assert turn["content"][2]["text"] == "\nShort answer:"
    assert utils.doc_to_text(doc).endswith("Bern is the capital.\nQuestion: \nShort answer:")


# -- lmms-eval's own CLI --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gxlt_dataset(tmp_path_factory) -> Path:
    """A published Audio-MLQA with one same-language and one cross-lingual config (en, de-en), spoken by eSpeak."""
    from audiomlqa.publish import publish
    from audiomlqa.synthesis import SynthesisConfig, synthesize

    tmp = tmp_path_factory.mktemp("gxlt")
    settings = {"pairs": ["en", "de-en"], "per_language": 2, "output": str(tmp / "synth"), "max_attempts": 1}
    settings |= {"thresholds": {"en": 1e9, "de": 1e9}, "tts": {"default": {"backend": "espeak"}}}
    synthesize(SynthesisConfig.from_dict(settings), progress=False)
    publish([tmp / "synth"], tmp / "dataset")
    return tmp / "dataset"


def lmms_eval(tmp: Path, tasks: Path, *args: str) -> tuple[dict, dict[str, list[dict]]]:
    """``lmms-eval … --tasks audio_mlqa --include_path TASKS --log_samples`` offline, with audiomlqa's model
    registered through lmms-eval's entry point (as ``pip install audiomlqa`` registers it): its results and its
    sample log per config (lmms-eval exits 0 on errors, so the results file is the check)."""
    plugin = tmp / "plugin" / "audiomlqa_lmms_eval_plugin-0.0.dist-info"
    plugin.mkdir(parents=True)
    (plugin / "METADATA").write_text("Metadata-Version: 2.1\nName: audiomlqa-lmms-eval-plugin\nVersion: 0.0\n")
    (plugin / "entry_points.txt").write_text(
        "[lmms_eval.models]\naudiomlqa = audiomlqa.harness.lmms_eval_tasks:lmms_eval_models\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(plugin.parent), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(tmp / "hf-datasets"),
    }
    command = [sys.executable, "-m", "lmms_eval", *args, "--tasks", "audio_mlqa", "--include_path", str(tasks)]
    command += ["--output_path", str(tmp / "out"), "--log_samples", "--verbosity", "WARNING"]
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp, timeout=600)
    found = sorted((tmp / "out").rglob("*_results.json"))
    assert found, out.stdout[-3000:] + out.stderr[-5000:]
    samples = {}
    for path in (tmp / "out").rglob("*_samples_audio_mlqa_*.jsonl"):
        task = path.stem.split("_samples_", 1)[1]
        samples[TASK_OF[task]] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return json.loads(found[0].read_text(encoding="utf-8")), samples


def raw_output(row: dict) -> str:
    """A logged sample's raw model output (lmms-eval 0.7 logs the one response as a string)."""
    out = row["filtered_resps"]
    return out[0] if isinstance(out, list) else out


def assert_scores_match_audiomlqa(tmp: Path, dataset: Path, results: dict, samples: dict[str, list[dict]]) -> dict:
    """The predictions lmms-eval logged (audiomlqa's extraction of each raw output) scored by ``audiomlqa score``:
    each config's F1/EM equal the task's, each group's the mean of its configs'."""
    import datasets

    from audiomlqa.evaluation.prompts import extract_answer

    predictions = {}
    for config, rows in samples.items():
        ids = datasets.load_dataset(str(dataset), config, split="validation")["id"]
        for row in rows:
            assert row["f1"]["id"] == ids[int(row["doc_id"])]  # the log names each question
            predictions.setdefault(config, {})[ids[int(row["doc_id"])]] = extract_answer(raw_output(row))
    (tmp / "predictions.json").write_text(json.dumps(predictions, ensure_ascii=False))
    out = audiomlqa("score", tmp / "predictions.json", "--dataset", dataset, "--split", "dev", "--json", "--quiet")
    assert out.returncode == 0, out.stderr
    scored = {p["pair"]: p for p in json.loads(out.stdout[out.stdout.index("{") :])["pairs"]}
    assert sorted(scored) == sorted(samples) == ["de-en", "en"]
    table = results["results"]
    for config, pair in scored.items():
        assert pair["answered"] == pair["total"] == len(samples[config])
        assert table[task_name(config)]["f1,none"] == pair["f1"]
        assert table[task_name(config)]["exact_match,none"] == pair["exact_match"]
    assert table["audio_mlqa_same_language"]["f1,none"] == scored["en"]["f1"]
    assert table["audio_mlqa_gxlt"]["exact_match,none"] == scored["de-en"]["exact_match"]
    return scored


@pytest.mark.slow
@needs_lmms_eval
def test_lmms_eval_runs_the_tasks_offline_on_a_tiny_audio_chat_model_scoring_as_audiomlqa_does(gxlt_dataset, tmp_path):
    from audiomlqa.llm.audiochat import AudioChatLLM
    from audiomlqa.llm.names import resolve

    model = resolve("tiny-random/qwen2-audio")
    tasks = write_tasks(str(gxlt_dataset), tmp_path / "tasks", split="dev")
    results, samples = lmms_eval(
        tmp_path, tasks, "--model", "audiomlqa_audiochat", "--model_args", f"pretrained={model}", "--device", "cpu"
    )
    assert_scores_match_audiomlqa(tmp_path, gxlt_dataset, results, samples)
    # the answers are the model's own to audiomlqa's prompt, the audio where the question goes
    import datasets

    utils = _task_utils()
    llm = AudioChatLLM(model, max_new_tokens=32)
    for config, rows in samples.items():
        docs = datasets.load_dataset(str(gxlt_dataset), config, split="validation")
        for row in rows:
            doc = docs[int(row["doc_id"])]
            expected = llm.generate([utils.speech_prompt(doc)], [utils.doc_to_audio(doc)[0]["array"]])
            assert raw_output(row) == expected[0] != ""


@pytest.mark.slow
@needs_lmms_eval
def test_lmms_eval_scores_replayed_answers_as_audiomlqa_score_does(gxlt_dataset, tmp_path):
    """lmms-eval's from_log model replays answers (right, labelled, partly right, wrong) through its simple-model
    path, so the scores are not all zero as a random model's are."""
    import datasets

    tasks = write_tasks(str(gxlt_dataset), tmp_path / "tasks", split="dev")
    (tmp_path / "replay").mkdir()
    for config in ("en", "de-en"):
        golds = [r["answers"]["text"][0] for r in datasets.load_dataset(str(gxlt_dataset), config, split="validation")]
        answers = [f"Short answer: {golds[0]}.", *(g.split()[0] + " und so" for g in golds[1:])]
        log = {
            "args": {"model": "replay", "model_args": "", "limit": None},
            "model_configs": {"task": task_name(config)},
            "time": "0101_0000",
            "logs": [{"doc_id": i, "resps": [[a]]} for i, a in enumerate(answers)],
        }
        (tmp_path / "replay" / f"{config}.json").write_text(json.dumps(log, ensure_ascii=False))
    results, samples = lmms_eval(tmp_path, tasks, "--model", "from_log", "--model_args", f"logs={tmp_path / 'replay'}")
    scored = assert_scores_match_audiomlqa(tmp_path, gxlt_dataset, results, samples)
    assert all(50 <= p["f1"] < 100 and p["exact_match"] == 50 for p in scored.values()), scored
