"""lm-eval's and lmms-eval's per-sample logs (``--log_samples``) as audiomlqa predictions, so ``audiomlqa score`` and
``audiomlqa report`` work on runs made in those harnesses.

A log is one JSON line per question, one file per task: lm-eval writes ``samples_<task>_<date>.jsonl`` (each line
with the ``doc`` it asked, so the question id), lmms-eval ``<date>_samples_<task>.jsonl`` (without the doc: the ids
come from the line when the task put them there, else from ``--dataset``, by ``doc_id``, the question's row in its
config). The task names the config: ``audiomlqa_text_de_en`` (this package's lm-eval task), ``audio_mlqa_de_en``
(its lmms-eval task) and lm-eval's own ``mlqa_de_en`` are config ``de-en``; a doc's own ``config`` field wins.

Each config becomes, in ``OUT``, what ``audiomlqa score`` writes for a model (:mod:`audiomlqa.evaluation.run`):
``<config>.json`` ({id: extracted answer}: audiomlqa's :func:`~audiomlqa.evaluation.prompts.extract_answer` of the
harness's filtered output, as for every model) and ``<config>.raw.json`` (the raw outputs, with the log they came
from). Importing again rewrites them; answers from another log are kept unless ``overwrite``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from audiomlqa import __version__
from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.prompts import PROMPT_VERSION, answer_of
from audiomlqa.sources import read_dataset_files
from audiomlqa.tasks import INSTRUCTION, parse_config
from audiomlqa.utils.files import write_json

LM_EVAL = "lm-eval"
LMMS_EVAL = "lmms-eval"
_NAMES = {
    LM_EVAL: re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d\d-\d\dT[\d.-]+)\.jsonl$"),
    LMMS_EVAL: re.compile(r"^(?P<date>.+?)_samples_(?P<task>.+)\.jsonl$"),
}
_FORM = {LM_EVAL: "samples_<task>_<date>.jsonl", LMMS_EVAL: "<date>_samples_<task>.jsonl"}
TASK_PREFIXES = ("audiomlqa_text_", "audio_mlqa_", "mlqa_")
"""Task name prefixes whose rest is a config (``de``, ``de_en``, ``instruct_en``)."""
_OUR_PROMPT = ("audiomlqa_text_", "audio_mlqa_")
"""Tasks that ask audiomlqa's own prompt (their answers are comparable with ``audiomlqa score``'s runs)."""


@dataclass(frozen=True)
class Imported:
    """What an import wrote: the predictions folder, the answers per config and the logs they came from."""

    out: Path
    harness: str
    configs: dict[str, int]
    """Config → number of answers written."""
    logs: list[Path] = field(default_factory=list)
    model: str | None = None


@dataclass
class _Log:
    path: Path
    task: str
    samples: list[dict]


def import_lm_eval(
    log: str | Path, out: str | Path, *, dataset: str | None = None, split: str = "dev", overwrite: bool = False
) -> Imported:
    """lm-eval ``--log_samples`` output (a samples file, or a folder holding them) → predictions in ``out``."""
    return _import(LM_EVAL, Path(log), Path(out), dataset, split, overwrite)


def import_lmms_eval(
    log: str | Path, out: str | Path, *, dataset: str | None = None, split: str = "dev", overwrite: bool = False
) -> Imported:
    """lmms-eval ``--log_samples`` output → predictions in ``out``; ``dataset`` (the one the run read) gives the
    question ids when the log lacks them (lmms-eval does not log the doc)."""
    return _import(LMMS_EVAL, Path(log), Path(out), dataset, split, overwrite)


def _import(harness: str, log: Path, out: Path, dataset: str | None, split: str, overwrite: bool) -> Imported:
    logs = [_read_log(harness, p) for p in _log_files(harness, log)]
    by_config: dict[str, _Log] = {}
    for item in logs:
        config = _config_of(item)
        if config in by_config:
            raise AudioMLQAError(
                f"two logs for config {config!r} ({by_config[config].path.name}, {item.path.name}): "
                "import one run at a time (give the file)"
            )
        by_config[config] = item
    written = {}
    for config, item in by_config.items():
        raw = _raw_outputs(item, config, dataset, split)
        _write(out, config, item, harness, raw, overwrite)
        written[config] = len(raw)
    return Imported(out, harness, written, [x.path for x in logs], model=_model_name(logs))


def _log_files(harness: str, log: Path) -> list[Path]:
    """The samples files ``log`` names: itself, or every one under the folder."""
    if log.is_file():
        if not log.name.endswith(".jsonl"):
            raise AudioMLQAError(f"{log}: not a {harness} samples log (expected {_FORM[harness]}, from --log_samples)")
        return [log]
    if not log.is_dir():
        raise AudioMLQAError(f"{log}: no such file or directory (give a {harness} --log_samples file or its folder)")
    found = sorted(p for p in log.rglob("*.jsonl") if _NAMES[harness].match(p.name))
    if not found:
        raise AudioMLQAError(
            f"{log}: no {harness} samples logs in it (expected {_FORM[harness]}): run {harness} with --log_samples "
            "--output_path"
        )
    return found


def _read_log(harness: str, path: Path) -> _Log:
    """One samples file, checked line by line (one line: what is wrong and where)."""
    m = _NAMES[harness].match(path.name)
    task = m.group("task") if m else path.stem
    samples = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise AudioMLQAError(f"{path}: cannot read it ({e.__class__.__name__})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except ValueError:
            raise AudioMLQAError(
                f"{path}: line {n} is not JSON: give the {_FORM[harness]} file {harness} --log_samples writes"
            ) from None
        if not isinstance(sample, dict) or "doc_id" not in sample or "filtered_resps" not in sample:
            raise AudioMLQAError(
                f"{path}: line {n} is not a {harness} sample (no doc_id and filtered_resps): give a --log_samples file"
            )
        samples.append(sample)
    if not samples:
        raise AudioMLQAError(f"{path}: no samples in it: give a --log_samples file of a finished run")
    filters = list(dict.fromkeys(s.get("filter", "none") for s in samples))
    keep = "none" if "none" in filters else filters[0]  # one answer per question: the unfiltered output
    return _Log(path, task, [s for s in samples if s.get("filter", "none") == keep])


def config_of_task(task: str) -> str | None:
    """The Audio-MLQA config a task name says (``audio_mlqa_de_en`` → ``de-en``, ``mlqa_en_en`` → ``en``), else
    None."""
    for prefix in TASK_PREFIXES:
        if task.startswith(prefix):
            parts = re.split(r"[_-]", task[len(prefix) :])
            if parts[:1] == ["instruct"]:
                parts = ["instruct-" + "-".join(parts[1:])]
            if len(parts) == 2:
                parts = parts[:1] if parts[0] == parts[1] else ["-".join(parts)]
            try:
                return parse_config(parts[0]).name if len(parts) == 1 else None
            except AudioMLQAError:
                return None
    return None


def _config_of(log: _Log) -> str:
    doc = log.samples[0].get("doc")
    if isinstance(doc, dict) and isinstance(doc.get("config"), str):
        try:
            return parse_config(doc["config"]).name
        except AudioMLQAError as e:
            raise AudioMLQAError(f"{log.path}: the doc's config {doc['config']!r} is not a config ({e})") from None
    config = config_of_task(log.task)
    if config is None:
        raise AudioMLQAError(
            f"{log.path}: task {log.task!r} is not an Audio-MLQA task (expected audiomlqa_text_<config>, "
            "audio_mlqa_<config> or mlqa_<context>_<question>)"
        )
    return config


def _first_text(value: object) -> str | None:
    """The response in a logged ``resps``/``filtered_resps`` (nested lists per request and repeat): the first."""
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _sample_id(sample: dict) -> str | None:
    """The question id a sample carries: its doc's, or a top-level / per-metric ``id`` the task logged."""
    doc = sample.get("doc")
    candidates = [doc] if isinstance(doc, dict) else []
    candidates += [sample, *(v for v in sample.values() if isinstance(v, dict))]
    for c in candidates:
        for key in ("id", "question_id"):
            if isinstance(c.get(key), (str, int)) and not isinstance(c.get(key), bool):
                return str(c[key])
    return None


def _raw_outputs(log: _Log, config: str, dataset: str | None, split: str) -> dict[str, tuple[str, str]]:
    """Question id → (raw output, filtered output), in the log's order."""
    ids = _dataset_ids(config, dataset, split) if dataset else None
    out: dict[str, tuple[str, str]] = {}
    for sample in log.samples:
        doc_id = sample["doc_id"]
        qid = _sample_id(sample)
        if qid is None and ids is not None:
            if not isinstance(doc_id, int) or not 0 <= doc_id < len(ids):
                raise AudioMLQAError(
                    f"{log.path}: doc_id {doc_id!r} is not a row of {config!r} in {dataset} ({len(ids)} questions): "
                    "give the dataset and --split the run read"
                )
            qid = ids[doc_id]
        if qid is None:
            raise AudioMLQAError(
                f"{log.path}: the samples carry no question ids: pass --dataset, the dataset the run read (its ids "
                "are taken by doc_id)"
            )
        filtered = _first_text(sample["filtered_resps"])
        raw = _first_text(sample["resps"]) if "resps" in sample else filtered
        if filtered is None or raw is None:
            raise AudioMLQAError(
                f"{log.path}: doc_id {doc_id!r} has no text response (a generate_until task's log is needed)"
            )
        if qid in out and out[qid] != (raw, filtered):
            raise AudioMLQAError(f"{log.path}: question {qid!r} is answered twice, differently: import one run")
        out[qid] = (raw, filtered)
    return out


def _dataset_ids(config: str, dataset: str, split: str) -> list[str]:
    cfg = parse_config(config)
    pairs = [config] if cfg.task == INSTRUCTION else [cfg.pair]
    (gold,) = read_dataset_files(dataset, split, pairs)
    return [q.id for q in gold.questions]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _model_name(logs: Sequence[_Log]) -> str | None:
    """The model folder the harness named (``--output_path/<model>/``), when the logs sit in one."""
    names = {x.path.parent.name for x in logs}
    return names.pop() if len(names) == 1 else None


def _write(out: Path, config: str, log: _Log, harness: str, raw: dict[str, tuple[str, str]], overwrite: bool) -> None:
    """``<config>.json`` and ``<config>.raw.json`` (the cache shape ``report`` reads), unless another log's answers
    are there and not ``overwrite``."""
    digest = _sha256(log.path)
    spec_sha256 = f"{harness}-log:{digest}"
    cache = out / f"{config}.raw.json"
    if not overwrite and (out / f"{config}.json").exists():
        try:
            held = json.loads(cache.read_text(encoding="utf-8")).get("spec_sha256")
        except (OSError, ValueError, AttributeError):
            held = None
        if held != spec_sha256:
            raise AudioMLQAError(
                f"{out / f'{config}.json'} holds other answers than {log.path.name}'s: pass --overwrite or another "
                "--out"
            )
    task = parse_config(config).task
    extracted = {q: answer_of(task, f) for q, (_, f) in raw.items()}
    ours = log.task.startswith(_OUR_PROMPT)
    doc = {
        "model": log.path.parent.name,
        "spec_sha256": spec_sha256,
        "prompt_version": PROMPT_VERSION if ours and task != INSTRUCTION else f"{harness}:{log.task}",
        "runner": {
            "harness": harness,
            "task": log.task,
            "log": str(log.path),
            "log_sha256": digest,
            "imported_by": f"audiomlqa {__version__}",
        },
        "raw": {q: r for q, (r, _) in raw.items()},
        "transcripts": {},
        "over_window": [],
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(cache, doc, indent=1)
    write_json(out / f"{config}.json", extracted)
