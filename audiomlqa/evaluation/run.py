"""Running a model spec on Audio-MLQA and scoring it with MLQA's official metric.

:func:`evaluate_model` answers every question of the requested configs in batches and caches as it
goes, in ``OUTPUT/<model>/``::

    <config>.json        {id: extracted answer} — a predictions file ``audiomlqa score`` reads as it is
    <config>.raw.json    raw generations (and the cascade's transcripts), with the spec and prompt they came from,
                         and the ids that were over the model's context window
    scores.json          per config EM/F1 on raw and extracted answers, over-window counts, macro average, provenance

A question whose prompt does not fit the model's context window (:mod:`audiomlqa.llm.window`) is not answered: its
answer is empty, it scores as no answer, and it is counted as over window, per config and in total.

A rerun skips answered ids (a killed run loses at most one batch); ``overwrite`` starts again. A
cache made with another spec or prompt version is refused rather than mixed in.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import fmean

import numpy as np

from audiomlqa import __version__
from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.prompts import PROMPT_VERSION, extract_answer, short_answer_prompt
from audiomlqa.evaluation.runners import (
    MAX_BATCH_CHARS,
    Answers,
    Item,
    ModelSpec,
    Placement,
    Runner,
    as_answers,
    load_runner,
    load_spec,
    preflight,
)
from audiomlqa.languages import pair_key, parse_pair
from audiomlqa.scoring.metric import SCORER_VERSION, score
from audiomlqa.sources import HF_SPLIT, SPLITS, DatasetFile, read_hf_dataset
from audiomlqa.utils.distributed import barrier, rank_world, share
from audiomlqa.utils.files import inside, write_json
from audiomlqa.utils.locks import exclusive
from audiomlqa.utils.progress import progress_bar
from audiomlqa.utils.tables import Table
from audiomlqa.utils.versions import package_versions


@dataclass
class ConfigScore:
    config: str
    exact_match: float
    f1: float
    raw_exact_match: float
    raw_f1: float
    total: int
    over_window: int = 0
    """Questions whose prompt did not fit the model's context window: not answered, scored as no answer."""
    judge_mean: float | None = None
    """The judge's mean score 0–5 over the answers it scored (``--judge``), with the share scored 4–5, how many
    it scored and failed to, and the Spearman correlation of its scores with F1 per answer."""
    judge_share_4_5: float | None = None
    judge_parsed: int | None = None
    judge_unparsed: int | None = None
    judge_over_window: int | None = None
    """Of the unparsed: judge prompts that did not fit the judge's context window (never sent)."""
    judge_f1_spearman: float | None = None


METRICS = ("exact_match", "f1", "raw_exact_match", "raw_f1")
JUDGE_METRICS = ("judge_mean", "judge_share_4_5")


@dataclass
class ModelReport:
    model: str
    spec: str
    configs: list[ConfigScore]
    provenance: dict
    reused: int
    generated: int

    judge: dict | None = None
    """The judge's description and its per-model figures (all answers pooled), when one judged."""

    def average(self, key: str) -> float | None:
        values = [getattr(c, key) for c in self.configs if getattr(c, key) is not None]
        return fmean(values) if values else None

    @property
    def over_window(self) -> int:
        """Questions over the model's context window, all configs together."""
        return sum(c.over_window for c in self.configs)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "spec": self.spec,
            "configs": {
                c.config: {k: v for k, v in c.__dict__.items() if k != "config" and (self.judge or "judge" not in k)}
                for c in self.configs
            },
            "macro_average": {k: self.average(k) for k in (*METRICS, *(JUDGE_METRICS if self.judge else ()))},
            "over_window": self.over_window,
            **({"judge": self.judge} if self.judge else {}),
            "provenance": self.provenance,
        }


def dataset_configs(dataset: str, requested: Sequence[str] | None) -> list[str]:
    """The configs to run: ``requested`` (each checked to exist) or every pair config of the dataset."""
    try:
        import datasets
    except ImportError:
        raise AudioMLQAError("running models on a dataset needs 'datasets': pip install 'audiomlqa[hf]'") from None
    try:
        available = datasets.get_dataset_config_names(dataset)
    except Exception as e:  # noqa: BLE001 - hub and file errors come in many types
        raise AudioMLQAError(
            f"cannot read the configs of {dataset!r} ({e.__class__.__name__}): "
            "give a published dataset folder or Hub id"
        ) from None
    pairs = [c for c in available if c != "rejected"]
    if not requested:
        return pairs
    missing = [c for c in requested if c not in pairs]
    if missing:
        raise AudioMLQAError(
            f"{dataset} has no config {', '.join(map(repr, missing))} (it has: {', '.join(pairs) or 'none'})"
        )
    return list(requested)


@dataclass
class _ConfigRun:
    """One config's share of a run: its gold questions, its cache file and the answers so far."""

    config: str
    gold: DatasetFile
    raw_path: Path
    raw: dict[str, str]
    transcripts: dict[str, str]
    over_window: set[str] = field(default_factory=set)  # ids whose prompt did not fit the model's window
    rows: object = None  # the split's audio column, decoded one batch at a time
    index: dict[str, int] = field(default_factory=dict)  # question id -> row of ``rows``


def _todo_items(dataset: str, run: _ConfigRun, split: str) -> list[Item]:
    """The unanswered questions of one config, without audio (it is decoded per batch: a whole grid's
    audio would not fit in memory)."""
    import datasets

    ds = datasets.load_dataset(dataset, run.config, split=split)
    context_lang, question_lang = parse_pair(run.config)
    run.rows = ds.select_columns(["audio"]) if "audio" in ds.column_names else None
    items = []
    for i, row in enumerate(ds.select_columns(["id", "context", "question"])):
        qid = str(row["id"])
        if qid not in run.raw:
            run.index[qid] = i
            context, question = row["context"], row["question"]
            items.append(
                Item(
                    qid,
                    context,
                    question,
                    None,
                    context_lang,
                    question_lang,
                    prompt=short_answer_prompt(context, question, context_lang),
                    speech_prompt=short_answer_prompt(context, None, context_lang),
                )
            )
    return items


def _with_audio(batch: Sequence[Item], runs: dict[tuple[str, str], _ConfigRun]) -> list[Item]:
    out = []
    for x in batch:
        run = runs[x.context_lang, x.question_lang]
        if run.rows is None:
            raise AudioMLQAError(
                f"{run.config} has no audio column: this model hears the questions, give a published Audio-MLQA dataset"
            )
        audio = run.rows[run.index[x.id]]["audio"]
        out.append(replace(x, audio=np.asarray(audio["array"], dtype=np.float32).reshape(-1)))
    return out


def length_batches(items: Sequence[Item], batch_size: int, max_chars: int = MAX_BATCH_CHARS) -> list[list[Item]]:
    """Items sorted by context length, questions about one paragraph side by side (whatever their config:
    their prompts share the paragraph, which is prefilled once), cut into batches of at most ``batch_size``
    whose padded size (items × longest) stays within ``max_chars`` (a batch always holds at least one item)."""
    ordered = sorted(
        items, key=lambda x: (len(x.context), x.context, x.context_lang, len(x.question), x.question_lang, x.id)
    )
    batches: list[list[Item]] = []
    for x in ordered:
        size = len(x.context) + len(x.question)
        if batches and len(batches[-1]) < batch_size and (len(batches[-1]) + 1) * size <= max_chars:
            batches[-1].append(x)
        else:
            batches.append([x])
    return batches


def _read_cache(path: Path, spec: ModelSpec, dtype: str) -> dict:
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise AudioMLQAError(f"{path} is damaged: delete it or pass --overwrite") from None
    if doc.get("spec_sha256") != spec.sha256 or doc.get("prompt_version") != PROMPT_VERSION:
        raise AudioMLQAError(
            f"{path} holds predictions of another spec or prompt version: pass --overwrite to redo them"
        )
    if doc.get("dtype", dtype) != dtype:  # caches made before precision was recorded are taken as they are
        raise AudioMLQAError(
            f"{path} holds predictions made in {doc['dtype']}; this run is {dtype}: set dtype in the "
            "spec, pass --overwrite, or use another --predictions-dir"
        )
    return doc


def evaluate_model(
    spec_path: str | Path | ModelSpec,
    dataset: str,
    *,
    configs: Sequence[str] | None = None,
    split: str = "validation",
    output: str | Path = "predictions",
    overwrite: bool = False,
    progress: bool = True,
    judge=None,
    where: Placement | None = None,
) -> ModelReport:
    """Answer ``configs`` of ``dataset`` with the model of ``spec_path``, cache, score, report; with ``judge``
    (a :class:`~audiomlqa.evaluation.judge.Judge`), also the judge's 0–5 score of every answer."""
    spec = spec_path if isinstance(spec_path, ModelSpec) else load_spec(spec_path)  # checks before any model loads
    where = where or preflight(spec)  # a CUDA device on a machine without one, or a dead server, fails here
    if split not in SPLITS:
        raise AudioMLQAError(f"unknown split {split!r}: use validation (dev) or test")
    hf_split = HF_SPLIT[SPLITS[split]]
    names = dataset_configs(str(dataset), configs)
    out = inside(output, spec.name, "model name")  # a spec's name names a folder: it may not climb out
    rank, world = rank_world()
    with exclusive(out if rank == 0 else _part_dir(out, rank, world), f"audiomlqa score of {spec.name}"):
        report = _evaluate(spec, where, str(dataset), names, split, hf_split, out, overwrite, progress, judge)
    return report


def _part_dir(out: Path, rank: int, world: int) -> Path:
    return out / f"rank-{rank}-of-{world}"


def _evaluate(
    spec: ModelSpec,
    where: Placement,
    dataset: str,
    names: list[str],
    split: str,
    hf_split: str,
    out: Path,
    overwrite: bool,
    progress: bool,
    judge=None,
) -> ModelReport:
    runs = _open_runs(spec, str(dataset), names, split, out, overwrite, where.dtype)
    rank, world = rank_world()
    if world > 1:  # this process answers its share and caches it apart; rank 0 merges
        for run in runs.values():
            run.raw_path = _part_dir(out, rank, world) / run.raw_path.name
            part = {} if overwrite else _read_cache(run.raw_path, spec, where.dtype)
            run.raw.update(part.get("raw", {}))
            run.transcripts.update(part.get("transcripts", {}))
            run.over_window.update(part.get("over_window", []))
    todo = [
        x
        for run in runs.values()
        if any(q.id not in run.raw for q in run.gold.questions)
        for x in _todo_items(str(dataset), run, hf_split)
        if world == 1 or share(x.context, world) == rank  # a paragraph's questions stay on one rank
    ]
    reused = sum(len(run.gold.questions) for run in runs.values()) - len(todo)
    runner = load_runner(spec, where) if todo else None
    t0 = time.perf_counter()
    seconds = _answer(spec, where, runner, todo, runs, progress) if runner is not None else {}
    if world > 1:
        _merge_parts(spec, runs, out, world, where.dtype, overwrite)
    runtime = {
        "device": where.device,
        "dtype": where.dtype,
        "device_map": where.device_map,
        "batch_size": spec.fields.batch_size,
        "world_size": world,
        "seconds": round(time.perf_counter() - t0, 3),
        "configs": {
            runs[p].config: {
                "seconds": round(t, 3),
                "generated": n,
                "questions_per_second": round(n / t, 3) if t else None,
            }
            for p, (t, n) in seconds.items()
        },
    }
    results = []
    for run in runs.values():
        extracted = {qid: extract_answer(a) for qid, a in run.raw.items()}
        if rank == 0:
            write_json(out / f"{run.config}.json", extracted, indent=1)
        results.append(_score_config(run, extracted))
    provenance = {**_provenance(spec, runner, dataset, names, hf_split), "runtime": runtime}
    report = ModelReport(spec.name, str(spec.path), results, provenance, reused, len(todo))
    if judge is not None and rank == 0:
        _judge(report, runs, judge, out, overwrite)
    if rank == 0:
        write_json(out / "scores.json", report.to_dict(), indent=1)
    return report


def _merge_parts(
    spec: ModelSpec, runs: dict[tuple[str, str], _ConfigRun], out: Path, world: int, dtype: str, overwrite: bool
) -> None:
    """Once every rank has answered: rank 0 merges their parts into the caches (and removes the parts); then every
    rank reads the merged caches, so all report the same scores."""
    barrier()
    rank, _ = rank_world()
    for run in runs.values():
        main = out / run.raw_path.name
        if rank == 0:
            merged = {} if overwrite else _read_cache(main, spec, dtype)
            raw, heard, runner = dict(merged.get("raw", {})), dict(merged.get("transcripts", {})), merged.get("runner")
            over = set(merged.get("over_window", []))
            for r in range(world):
                part = _read_cache(_part_dir(out, r, world) / main.name, spec, dtype)
                raw.update(part.get("raw", {}))
                heard.update(part.get("transcripts", {}))
                over = (over - part.get("raw", {}).keys()) | set(part.get("over_window", []))
                runner = runner or part.get("runner")
            write_json(
                main,
                {
                    "model": spec.name,
                    "spec_sha256": spec.sha256,
                    "prompt_version": PROMPT_VERSION,
                    "dtype": dtype,
                    "runner": runner,
                    "world_size": world,
                    "raw": raw,
                    "transcripts": heard,
                    "over_window": sorted(over),
                },
                indent=1,
            )
        run.raw_path = main
    if rank == 0:
        for r in range(world):
            for f in _part_dir(out, r, world).glob("*.raw.json"):
                f.unlink()
    barrier()
    for run in runs.values():
        cache = _read_cache(run.raw_path, spec, dtype)
        run.raw, run.transcripts = dict(cache.get("raw", {})), dict(cache.get("transcripts", {}))
        run.over_window = set(cache.get("over_window", []))


def _open_runs(
    spec: ModelSpec, dataset: str, names: Sequence[str], split: str, out: Path, overwrite: bool, dtype: str
) -> dict[tuple[str, str], _ConfigRun]:
    """Every config's gold questions and cached answers, by (context, question) language."""
    runs = {}
    for config in names:
        raw_path = out / f"{config}.raw.json"
        cache = {} if overwrite else _read_cache(raw_path, spec, dtype)
        gold = read_hf_dataset(dataset, split, [parse_pair(config)])[0]
        runs[parse_pair(config)] = _ConfigRun(
            config,
            gold,
            raw_path,
            dict(cache.get("raw", {})),
            dict(cache.get("transcripts", {})),
            set(cache.get("over_window", [])),
        )
    return runs


def _answer(
    spec: ModelSpec,
    where: Placement,
    runner: Runner,
    todo: Sequence[Item],
    runs: dict[tuple[str, str], _ConfigRun],
    progress: bool,
) -> dict[tuple[str, str], tuple[float, int]]:
    """Answer ``todo`` in batches, caching after each (a killed run loses at most one batch); returns, per
    config, the seconds spent on its questions and how many were answered.

    Every config is in one queue: MLQA asks about one paragraph in up to seven question languages, and
    those prompts go in one batch and share their prefill (see :func:`length_batches`). The next batch's audio
    is decoded in a thread while the model answers the current one.
    """
    from concurrent.futures import ThreadPoolExecutor

    label = f"{spec.name} ({len(runs)} config{'s' if len(runs) > 1 else ''})"
    batches = length_batches(todo, spec.fields.batch_size, spec.fields.max_batch_chars)
    spent: dict[tuple[str, str], list] = {}

    def prepare(batch: list[Item]) -> list[Item]:
        return _with_audio(batch, runs) if runner.needs_audio else batch

    with progress_bar(label, len(todo), enabled=progress, unit="q") as bar, ThreadPoolExecutor(1) as decoder:
        upcoming = decoder.submit(prepare, batches[0]) if batches else None
        for i in range(len(batches)):
            batch = upcoming.result()
            upcoming = decoder.submit(prepare, batches[i + 1]) if i + 1 < len(batches) else None
            t0 = time.perf_counter()
            got = as_answers(runner.answer(batch))
            share = (time.perf_counter() - t0) / len(batch)
            _check_answers(spec, got, batch)
            touched = set()
            for j, x in enumerate(batch):
                pair = (x.context_lang, x.question_lang)
                runs[pair].raw[x.id] = got.texts[j]
                if got.transcripts is not None:
                    runs[pair].transcripts[x.id] = got.transcripts[j]
                if got.over_window is not None and got.over_window[j]:
                    runs[pair].raw[x.id] = ""  # never generated: no answer, whatever the runner wrote
                    runs[pair].over_window.add(x.id)
                else:
                    runs[pair].over_window.discard(x.id)
                entry = spent.setdefault(pair, [0.0, 0])
                entry[0] += share
                entry[1] += 1
                touched.add(pair)
            for pair in sorted(touched):
                run = runs[pair]
                cache = {
                    "model": spec.name,
                    "spec_sha256": spec.sha256,
                    "prompt_version": PROMPT_VERSION,
                    "dtype": where.dtype,
                    "runner": runner.describe(),
                    "raw": run.raw,
                    "transcripts": run.transcripts,
                    "over_window": sorted(run.over_window),
                }
                write_json(run.raw_path, cache, indent=1)
            bar.advance(len(batch))
    return {pair: (t, n) for pair, (t, n) in spent.items()}


def _check_answers(spec: ModelSpec, got: Answers, batch: Sequence[Item]) -> None:
    for what, values in (
        ("answers", got.texts),
        ("transcripts", got.transcripts),
        ("over-window marks", got.over_window),
    ):
        if values is not None and len(values) != len(batch):
            raise AudioMLQAError(
                f"{spec.name}: the runner gave {len(values)} {what} for {len(batch)} questions (one per item, in order)"
            )


def _judge(report: ModelReport, runs: dict[tuple[str, str], _ConfigRun], judge, out: Path, overwrite: bool) -> None:
    """The judge's score of every extracted answer (cached), per config and pooled, into ``report``."""
    from audiomlqa.evaluation.judge import OVER_WINDOW, ToJudge, judge_answers, summarize
    from audiomlqa.scoring.metric import score_answer

    per_config = {}
    for run in runs.values():
        answers = {q.id: extract_answer(run.raw.get(q.id, "")) for q in run.gold.questions}
        per_config[run.config] = [
            (
                ToJudge(run.config, q.id, q.question, tuple(q.answer_texts), answers[q.id]),
                score_answer(answers[q.id], q.answer_texts, run.gold.context_lang)[1],
            )
            for q in run.gold.questions
        ]
    every = [x for rows in per_config.values() for x, _ in rows]
    verdicts = judge_answers(judge, every, out / f"judge-{judge.spec.name}.json", overwrite)
    pooled_scores, pooled_f1, pooled_over = [], [], 0
    for c in report.configs:
        scores = [verdicts[x.key]["score"] for x, _ in per_config[c.config]]
        f1s = [f for _, f in per_config[c.config]]
        over = sum(verdicts[x.key]["status"] == OVER_WINDOW for x, _ in per_config[c.config])
        for k, v in summarize(scores, f1s, over).items():
            setattr(c, k, v)
        pooled_scores += scores
        pooled_f1 += f1s
        pooled_over += over
    report.judge = {**judge.describe(), **summarize(pooled_scores, pooled_f1, pooled_over)}


def _score_config(run: _ConfigRun, extracted: dict) -> ConfigScore:
    gold = run.gold
    s_ext = score(gold.gold, extracted, gold.context_lang)
    s_raw = score(gold.gold, run.raw, gold.context_lang)
    over = sum(q.id in run.over_window for q in gold.questions)
    return ConfigScore(run.config, s_ext.exact_match, s_ext.f1, s_raw.exact_match, s_raw.f1, s_ext.total, over)


def _provenance(spec: ModelSpec, runner, dataset: str, configs: list[str], split: str) -> dict:
    packages = package_versions(("torch", "transformers", "datasets", "faster-whisper", "ctranslate2", "accelerate"))
    return {
        "audiomlqa_version": __version__,
        "scorer": SCORER_VERSION,
        "prompt_version": PROMPT_VERSION,
        "spec": spec.data,
        "spec_sha256": spec.sha256,
        "runner": runner.describe() if runner else "cached predictions",
        "dataset": str(dataset),
        "split": split,
        "configs": configs,
        "python": platform.python_version(),
        "packages": packages,
    }


# -- comparing models ---------------------------------------------------------------------------------


def scores_frame(reports: Sequence[ModelReport]):
    """Every model's scores as one long pandas table: a row per (model, config), and one per model for the
    macro average (config ``macro avg``); columns ``model, config`` and the metrics. ``score --csv`` writes it."""
    import pandas as pd

    metrics = [*METRICS, *(JUDGE_METRICS if any(r.judge for r in reports) else ())]
    rows = [
        {"model": r.model, "config": c.config, **{k: getattr(c, k) for k in metrics}, "total": c.total}
        for r in reports
        for c in r.configs
    ]
    rows += [
        {
            "model": r.model,
            "config": "macro avg",
            **{k: r.average(k) for k in metrics},
            "total": sum(c.total for c in r.configs),
        }
        for r in reports
    ]
    return pd.DataFrame(rows, columns=["model", "config", *metrics, "total"])


def comparison_table(reports: Sequence[ModelReport], metric: str = "f1") -> Table:
    """Rows: configs (then the macro average); columns: models, extracted-answer ``metric`` (raw in brackets)."""
    frame = scores_frame(reports)
    models = list(dict.fromkeys(r.model for r in reports))
    configs = sorted({c for c in frame["config"] if c != "macro avg"}, key=pair_key) + ["macro avg"]
    if metric == "judge_mean":  # mean 0–5 (share of answers scored 4–5)
        pairs = zip(frame["judge_mean"], frame["judge_share_4_5"])
        cells = frame.assign(cell=["—" if m != m or m is None else f"{m:.2f} ({s:.0%})" for m, s in pairs])
    else:
        cells = frame.assign(cell=[f"{e:.1f} ({r:.1f})" for e, r in zip(frame[metric], frame["raw_" + metric])])
    wide = cells.pivot(index="config", columns="model", values="cell").reindex(index=configs, columns=models)
    rows = [[config, *("—" if not isinstance(v, str) else v for v in wide.loc[config])] for config in configs]
    title = f"Audio-MLQA {'F1' if metric == 'f1' else 'EM'}: extracted answer (raw output in brackets)"
    if metric == "judge_mean":
        judges = sorted({r.judge["judge"] for r in reports if r.judge})
        title = f"Audio-MLQA judge score 0–5 ({', '.join(judges)}; share scored 4–5 in brackets)"
    return Table(title, ["config", *models], rows)


def write_charts(reports: Sequence[ModelReport], directory: Path, metric: str = "f1") -> list[Path]:
    """One bar chart per config (and one for the macro average): a bar per model, extracted ``metric``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    table = comparison_table(reports, metric)
    written = []
    for row in table.rows:
        values = [float(cell.split(" ")[0]) if cell != "—" else 0.0 for cell in row[1:]]
        fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(values), 3.2))
        bars = ax.bar(table.header[1:], values, color="#4C72B0")
        judge = metric == "judge_mean"
        ax.bar_label(bars, fmt="%.2f" if judge else "%.1f")
        ax.set_ylim(0, 5 if judge else 100)
        ax.set_ylabel("judge score 0–5" if judge else f"{metric.upper()} (extracted)")
        ax.set_title(f"Audio-MLQA {row[0]}")
        fig.tight_layout()
        path = directory / f"{row[0].replace(' ', '-')}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


@dataclass
class Comparison:
    """``audiomlqa score SPEC...``: every model's report, the charts, and how to show them."""

    reports: list[ModelReport]
    charts: list[Path]
    seconds: float = 0.0
    primary: bool = True
    """False in every process of a multi-process run but the first: only the first reports."""
    judge_check: dict | None = None

    def to_dict(self) -> dict:
        return {
            "models": [r.to_dict() for r in self.reports],
            "charts": [str(c) for c in self.charts],
            **({"judge_check": self.judge_check} if self.judge_check else {}),
        }

    def tables(self) -> list[Table]:
        metrics = ["f1", "exact_match", *(["judge_mean"] if any(r.judge for r in self.reports) else [])]
        tables = [comparison_table(self.reports, m) for m in metrics]
        for t in tables[:2]:
            t.notes += over_window_notes(self.reports)
        if self.judge_check:
            c = self.judge_check
            tables[-1].notes.append(
                f"judge check ({c['judge']}, {c['n']} questions): gold answers "
                f"{_fmt2(c['gold_mean'])}, wrong answers {_fmt2(c['wrong_mean'])} "
                f"({c['unparsed']} unparsed); a usable judge gives about 5 and 0"
            )
        return tables


def over_window_notes(reports: Sequence[ModelReport]) -> list[str]:
    """A line per model with questions over its context window: how many, per config (none: no line)."""
    return [
        f"{r.model}: over window: {r.over_window} "
        f"({', '.join(f'{c.config} {c.over_window}' for c in r.configs if c.over_window)}): prompt and answer longer "
        "than the model's context window, not answered, scored as no answer"
        for r in reports
        if r.over_window
    ]


def _fmt2(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def compare_models(
    specs: Sequence[ModelSpec],
    dataset: str,
    *,
    configs: Sequence[str] | None = None,
    split: str = "validation",
    output: str | Path = "predictions",
    overwrite: bool = False,
    progress: bool = True,
    log=None,
    judge: ModelSpec | None = None,
    judge_check: int = 0,
) -> Comparison:
    """Run each spec on ``dataset`` (every spec and config checked before any model loads); with several
    specs, write a bar chart per config into ``output/charts``. ``log`` receives one line per step (stderr)."""
    names = [spec.name for spec in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise AudioMLQAError(
            f"two specs share the name {', '.join(map(repr, repeated))}: names must differ (each "
            "names a cache folder and a column)"
        )
    placed = [preflight(spec) for spec in specs]  # every device (and server) checked before the first model loads
    names = dataset_configs(dataset, configs)
    primary = rank_world()[0] == 0
    judging = None
    if judge is not None and primary:
        from audiomlqa.evaluation.judge import Judge, check_cache

        for spec in specs:  # judgements cached with another judge prompt or spec are refused before any model runs
            if not overwrite:
                check_cache(inside(output, spec.name, "model name") / f"judge-{judge.name}.json", judge)
        judging = Judge(judge)  # a bad judge spec, a dead judge server or a missing key fails before any model runs
    log = log if (log and primary) else (lambda line: None)
    t0 = time.perf_counter()
    reports = []
    for spec, where in zip(specs, placed):
        log(f"model spec: {spec.path} (name {spec.name}, kind {spec.kind})")
        report = evaluate_model(
            spec,
            dataset,
            configs=configs,
            split=split,
            output=output,
            overwrite=overwrite,
            progress=progress,
            judge=judging,
            where=where,
        )
        over = f", {report.over_window} over the context window" if report.over_window else ""
        log(f"  {report.generated} answer(s) generated, {report.reused} reused from {Path(output) / spec.name}{over}")
        reports.append(report)
    charts = write_charts(reports, Path(output) / "charts") if len(reports) > 1 and primary else []
    if charts and judging is not None:
        charts += write_charts(reports, Path(output) / "charts" / "judge", metric="judge_mean")
    if charts:
        log(f"charts: {charts[0].parent}/ ({len(charts)} PNG)")
    check = None
    if judging is not None and judge_check:
        from audiomlqa.evaluation.judge import run_judge_check

        check = run_judge_check(judging, read_hf_dataset(dataset, split, [parse_pair(n) for n in names]), judge_check)
        log(f"judge check: gold {_fmt2(check['gold_mean'])}, wrong {_fmt2(check['wrong_mean'])}")
    return Comparison(reports, charts, time.perf_counter() - t0, primary, check)
