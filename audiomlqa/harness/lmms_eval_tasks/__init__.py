"""lmms-eval's ``audio_mlqa`` tasks: Audio-MLQA asked with audiomlqa's prompt and scored with MLQA's official F1/EM.

lmms-eval 0.7 loads outside tasks from a folder (``--include_path``); its plugin entry point registers models only.
:data:`LMMS_EVAL_TASKS` is the folder shipped here (``audio_mlqa/``): one task per config (``audio_mlqa_de`` is
``de``, ``audio_mlqa_de_en`` is ``de-en``), the groups ``audio_mlqa_same_language`` (the 7 monolingual configs)
and ``audio_mlqa_gxlt`` (the 42 cross-lingual ones), and ``audio_mlqa`` (both). A task's YAML names its dataset,
so the shipped folder reads ``audio-mlqa-dataset`` (the README's ``audiomlqa publish`` folder, relative to where
lmms-eval runs), MLQA's test split; for another published folder, Hub id or split, write a copy::

    audiomlqa lmms-eval-tasks --dataset you/audio-mlqa --split test --to audio-mlqa-tasks
    lmms-eval --include_path audio-mlqa-tasks --tasks audio_mlqa_same_language --model qwen2_audio ...

A local folder gets tasks for the configs it holds alone. The task functions are ``audio_mlqa/utils.py``;
:mod:`.model` is an lmms-eval model that runs any audio chat family audiomlqa runs (``audiomlqa_audiochat``, on
CPU too), registered through lmms-eval's ``lmms_eval.models`` entry point (:func:`lmms_eval_models`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import LANGUAGES
from audiomlqa.utils.files import replace_dir

LMMS_EVAL_TASKS = str(Path(__file__).with_name("audio_mlqa"))
TASK_PREFIX = "audio_mlqa"
TEMPLATE = "_audio_mlqa_template_yaml"
DEFAULT_DATASET = "audio-mlqa-dataset"
HF_SPLITS = {"dev": "validation", "validation": "validation", "test": "test"}
MODEL_ID = "audiomlqa_audiochat"
ALL_CONFIGS = [c if c == q else f"{c}-{q}" for c in LANGUAGES for q in LANGUAGES]
"""Every extractive-QA config: 7 monolingual, 42 cross-lingual (MLQA's G-XLT)."""


def task_name(config: str) -> str:
    """``de`` → ``audio_mlqa_de``; ``de-en`` → ``audio_mlqa_de_en``."""
    return f"{TASK_PREFIX}_{config.replace('-', '_')}"


def _template(dataset: str, split: str) -> str:
    return f"""# Audio-MLQA for lmms-eval, written by audiomlqa.harness.lmms_eval_tasks: audiomlqa's prompt with
# the spoken question where the question goes, its answer extraction, and MLQA's official F1/EM (0-100).
dataset_path: {dataset}
test_split: {split}
output_type: generate_until
doc_to_visual: !function utils.doc_to_audio
doc_to_text: !function utils.doc_to_text
doc_to_messages: !function utils.doc_to_messages
doc_to_target: !function utils.doc_to_target
generation_kwargs:
  max_new_tokens: 32
  do_sample: false
  temperature: 0.0
process_results: !function utils.process_results
metric_list:
  - metric: f1
    aggregation: !function utils.official_f1
    higher_is_better: true
  - metric: exact_match
    aggregation: !function utils.official_exact_match
    higher_is_better: true
metadata:
  version: 1.0
  prompt: audiomlqa-short-answer-v1
"""


def _group(name: str, tasks: list[str], aggregate: bool = True) -> str:
    lines = [f"group: {name}", "task:", *(f"  - {t}" for t in tasks)]
    if aggregate:  # MLQA averages configs unweighted
        lines.append("aggregate_metric_list:")
        for metric in ("f1", "exact_match"):
            lines += [f"  - metric: {metric}", "    aggregation: mean", "    weight_by_size: false"]
    return "\n".join([*lines, "metadata:", "  version: 1.0", ""])


def render(dataset: str = DEFAULT_DATASET, split: str = "test", configs: list[str] | None = None) -> dict[str, str]:
    """The task folder's YAML files (name → text) for ``configs`` (default: all 49) of ``dataset``."""
    configs = ALL_CONFIGS if configs is None else [c for c in ALL_CONFIGS if c in set(configs)]
    if not configs:
        raise AudioMLQAError("no Audio-MLQA extractive-QA config to write tasks for (de, de-en, ...)")
    files = {TEMPLATE: _template(dataset, HF_SPLITS[split])}
    for config in configs:
        files[f"{task_name(config)}.yaml"] = f"task: {task_name(config)}\ndataset_name: {config}\ninclude: {TEMPLATE}\n"
    groups = {
        f"{TASK_PREFIX}_same_language": [task_name(c) for c in configs if "-" not in c],
        f"{TASK_PREFIX}_gxlt": [task_name(c) for c in configs if "-" in c],
    }
    groups = {name: tasks for name, tasks in groups.items() if tasks}
    for name, tasks in groups.items():
        files[f"{name}.yaml"] = _group(name, tasks)
    files[f"{TASK_PREFIX}.yaml"] = _group(TASK_PREFIX, list(groups), aggregate=False)
    return files


def local_configs(folder: Path, split: str) -> list[str]:
    """The extractive-QA configs a published folder holds in ``split`` (``data/<config>/<split>-*.parquet``)."""
    hf_split = HF_SPLITS[split]
    return [c for c in ALL_CONFIGS if any((folder / "data" / c).glob(f"{hf_split}-*.parquet"))]


def write_tasks(dataset: str, to: str | Path, split: str = "test", configs: list[str] | None = None) -> Path:
    """A task folder for ``dataset`` (a published folder: its configs; a Hub id: ``configs`` or all 49) at ``to``,
    to pass to ``lmms-eval --include_path``; a folder written here before is replaced, any other is refused."""
    if configs and (unknown := sorted(set(configs) - set(ALL_CONFIGS))):
        raise AudioMLQAError(f"unknown config(s) {', '.join(unknown)}: write de or de-en (context-question)")
    if split not in HF_SPLITS:
        raise AudioMLQAError(f"unknown split {split!r}: use dev or test")
    to = Path(to)
    if to.exists() and not (to / TEMPLATE).is_file() and (not to.is_dir() or any(to.iterdir())):
        raise AudioMLQAError(f"{to} exists and is not an audio_mlqa task folder: give a new or empty folder")
    folder = Path(dataset).expanduser()
    if folder.is_dir():
        found = local_configs(folder, split)
        if not found:
            raise AudioMLQAError(
                f"{folder} holds no Audio-MLQA config with a {HF_SPLITS[split]} split (data/<config>/"
                f"{HF_SPLITS[split]}-*.parquet): give a folder `audiomlqa publish` wrote, or --split"
            )
        configs = [c for c in found if configs is None or c in configs]
        dataset = str(folder.resolve())
    files = render(dataset, split, configs)
    to.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{to.name}.", dir=to.parent))
    for name, text in files.items():
        (new / name).write_text(text, encoding="utf-8")
    shutil.copyfile(Path(LMMS_EVAL_TASKS) / "utils.py", new / "utils.py")
    replace_dir(new, to)
    return to


def lmms_eval_models():
    """lmms-eval's ``lmms_eval.models`` entry point: :class:`.model.AudioMLQAChat` as ``audiomlqa_audiochat``."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, chat_class_path=f"{__name__}.model.AudioMLQAChat")
