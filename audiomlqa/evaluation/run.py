"""Running a model spec on Audio-MLQA and scoring it with MLQA's official metric.

:func:`evaluate_model` answers every question of the requested configs in batches and caches as it
goes (:mod:`audiomlqa.evaluation.cache`), in ``OUTPUT/<model>/``::

    <config>.json        {id: extracted answer} — a predictions file ``audiomlqa score`` reads as it is
    <config>.raw.json    raw generations (and the cascade's transcripts), with the spec and prompt they came from,
                         and the ids that were over the model's context window
    scores.json          per config EM/F1 on raw and extracted answers, over-window counts, macro average, provenance
                         (:class:`~audiomlqa.evaluation.report.ModelReport`)

A question whose prompt does not fit the model's context window (:mod:`audiomlqa.llm.window`) is not answered: its
answer is empty, it scores as no answer, and it is counted as over window, per config and in total.

A rerun skips answered ids (a killed run loses at most one batch); ``overwrite`` starts again. A
cache made with another spec, prompt version or precision is refused rather than mixed in. Under torchrun or
``accelerate launch`` each process answers its share of the paragraphs and caches it apart; the first merges them.

:func:`compare_models` runs several specs (every spec, device and server checked before the first model loads),
optionally with a judge (:mod:`audiomlqa.evaluation.judge`), and charts them side by side.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from audiomlqa import __version__
from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.cache import merge_parts, read_predictions, write_predictions
from audiomlqa.evaluation.judge import (
    JUDGE_PROMPT_VERSION,
    OVER_WINDOW,
    Judge,
    ToJudge,
    judge_answers,
    judgement_cache,
    read_judgements,
    run_judge_check,
    summarize,
)
from audiomlqa.evaluation.prompts import (
    answer_of,
    extract_answer,
    instruction_prompt,
    prompt_version,
    short_answer_prompt,
)
from audiomlqa.evaluation.report import (
    Comparison,
    ConfigScore,
    ModelReport,
    judge_sample,
    two_decimals,
    write_charts,
)
from audiomlqa.evaluation.runners import Answers, Item, Runner, as_answers, load_runner
from audiomlqa.evaluation.specs import CHARTS, MAX_BATCH_CHARS, ModelSpec, Placement, for_task, load_spec, preflight
from audiomlqa.scoring import SCORER_VERSION, paragraphs, question_samples, score, score_answer
from audiomlqa.sources import HF_SPLIT, SPLITS, DatasetFile, read_hf_dataset
from audiomlqa.tasks import INSTRUCTION, TASKS, Config, parse_config
from audiomlqa.utils.distributed import barrier, rank_world, share
from audiomlqa.utils.files import inside, write_json
from audiomlqa.utils.hf_datasets import declared_configs, load_dataset
from audiomlqa.utils.locks import exclusive
from audiomlqa.utils.progress import progress_bar
from audiomlqa.utils.versions import package_versions

Pair = Config
"""A config: its task and (context language, question language); runs are keyed by it."""


def dataset_configs(dataset: str, requested: Sequence[str] | None, split: str | None = None) -> list[str]:
    """The configs to run: ``requested`` (each checked to exist) or every config of the dataset — of a local
    folder, every one its card gives ``split`` (``publish`` puts spoken instructions in ``test`` beside MLQA's
    ``validation``)."""
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
    for c in requested or ():
        parse_config(c)  # a name that is no config at all says so in one line
    if not requested:
        declared = declared_configs(dataset)  # a config the card does not declare is left to datasets to read
        with_split = [c for c in pairs if split is None or c not in declared or split in declared[c]]
        if not with_split:
            raise AudioMLQAError(f"{dataset} has no config with a {split} split (its configs: {', '.join(pairs)})")
        return with_split
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
    raw: dict[str, str] = field(default_factory=dict)
    transcripts: dict[str, str] = field(default_factory=dict)
    over_window: set[str] = field(default_factory=set)  # ids whose prompt did not fit the model's window
    rows: object = None  # the split's audio column, decoded one batch at a time
    index: dict[str, int] = field(default_factory=dict)  # question id -> row of ``rows``

    @property
    def task(self) -> str:
        return parse_config(self.config).task

    @property
    def prompt_version(self) -> str:
        return prompt_version(self.task)

    def take(self, cache: dict) -> None:
        """Add a cache's answers, transcripts and over-window marks to these."""
        self.raw.update(cache.get("raw", {}))
        self.transcripts.update(cache.get("transcripts", {}))
        self.over_window.update(cache.get("over_window", []))


def _todo_items(dataset: str, run: _ConfigRun, split: str) -> list[Item]:
    """The unanswered questions of one config, without audio (it is decoded per batch: a whole grid's
    audio would not fit in memory)."""
    ds = load_dataset(dataset, run.config, split=split)
    cfg = parse_config(run.config)
    run.rows = ds.select_columns(["audio"]) if "audio" in ds.column_names else None
    items = []
    for i, row in enumerate(ds.select_columns([c for c in ("id", "context", "question") if c in ds.column_names])):
        qid = str(row["id"])
        if qid not in run.raw:
            run.index[qid] = i
            context, question = row.get("context", ""), row["question"]
            if cfg.task == INSTRUCTION:
                prompt, speech_prompt = instruction_prompt(question), instruction_prompt(None)
            else:
                prompt = short_answer_prompt(context, question, cfg.context_lang)
                speech_prompt = short_answer_prompt(context, None, cfg.context_lang)
            items.append(
                Item(
                    qid,
                    context,
                    question,
                    None,
                    cfg.context_lang,
                    cfg.question_lang,
                    prompt=prompt,
                    speech_prompt=speech_prompt,
                    task=cfg.task,
                )
            )
    return items


def _key(x: Item) -> Pair:
    return Config(x.task, x.context_lang, x.question_lang)


def _with_audio(batch: Sequence[Item], runs: dict[Pair, _ConfigRun]) -> list[Item]:
    out = []
    for x in batch:
        run = runs[_key(x)]
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


def evaluate_model(
    spec_path: str | Path | ModelSpec,
    dataset: str,
    *,
    configs: Sequence[str] | None = None,
    split: str = "validation",
    output: str | Path = "predictions",
    overwrite: bool = False,
    progress: bool = True,
    judge: Judging | Judge | None = None,
    where: Placement | None = None,
) -> ModelReport:
    """Answer ``configs`` of ``dataset`` with the model of ``spec_path``, cache, score, report; with ``judge``
    (a :class:`~audiomlqa.evaluation.judge.Judge`), also the judge's 0–5 score of every answer."""
    spec = spec_path if isinstance(spec_path, ModelSpec) else load_spec(spec_path)  # checks before any model loads
    where = where or preflight(spec)  # a CUDA device on a machine without one, or a dead server, fails here
    if split not in SPLITS:
        raise AudioMLQAError(f"unknown split {split!r}: use validation (dev) or test")
    hf_split = HF_SPLIT[SPLITS[split]]
    names = dataset_configs(str(dataset), configs, hf_split)
    out = inside(output, spec.name, "model name")  # a spec's name names a folder: it may not climb out
    rank, world = rank_world()
    with exclusive(out if rank == 0 else _part_dir(out, rank, world), f"audiomlqa score of {spec.name}"):
        if isinstance(judge, Judge):  # one loaded judge: its prompt for questions, v2 (loaded when needed) for the rest
            judge = Judging(judge.spec, judge.prompt.name, judge.unparsed, {judge.prompt.name: judge})
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
    judge: Judging | None = None,
) -> ModelReport:
    runs = _open_runs(spec, str(dataset), names, split, out, overwrite, where.dtype)
    rank, world = rank_world()
    if world > 1:  # this process answers its share and caches it apart; rank 0 merges
        for run in runs.values():
            run.raw_path = _part_dir(out, rank, world) / run.raw_path.name
            run.take({} if overwrite else read_predictions(run.raw_path, spec, where.dtype, run.prompt_version))
    todo = [
        x
        for run in runs.values()
        if any(q.id not in run.raw for q in run.gold.questions)
        for x in _todo_items(str(dataset), run, hf_split)
        if world == 1 or share(x.context or x.id, world) == rank  # a paragraph's questions stay on one rank
    ]
    reused = sum(len(run.gold.questions) for run in runs.values()) - len(todo)
    t0 = time.perf_counter()
    described, seconds = _answer_tasks(spec, where, todo, runs, progress)
    if world > 1:
        _merge_parts(spec, runs, out, world, where.dtype, overwrite)
    runtime = _runtime(spec, where, world, time.perf_counter() - t0, {runs[p].config: s for p, s in seconds.items()})
    results = []
    for run in runs.values():
        extracted = {qid: answer_of(run.task, a) for qid, a in run.raw.items()}
        if rank == 0:
            write_json(out / f"{run.config}.json", extracted, indent=1)
        results.append(_score_config(run, extracted))
    provenance = {**_provenance(spec, described, dataset, names, hf_split), "runtime": runtime}
    report = ModelReport(spec.name, str(spec.path), results, provenance, reused, len(todo), output=str(out.resolve()))
    if judge is not None and rank == 0:
        _judge(report, runs, judge, out, overwrite)
    if rank == 0:
        write_json(out / "scores.json", report.to_dict(), indent=1)
    return report


def _answer_tasks(
    spec: ModelSpec, where: Placement, todo: Sequence[Item], runs: dict[Pair, _ConfigRun], progress: bool
) -> tuple[dict[str, dict], dict[Pair, tuple[float, int]]]:
    """Answer ``todo`` task by task, each with the spec's limits for it (:func:`for_task`: an instruction gets the
    open-ended ones); one model in memory at a time. Returns each task's runner description and the time spent."""
    described, seconds = {}, {}
    for task in TASKS:
        mine = [x for x in todo if x.task == task]
        if not mine:
            continue
        task_spec = for_task(spec, task)
        runner = load_runner(task_spec, where)
        seconds.update(_answer(task_spec, where, runner, mine, runs, progress))
        described[task] = runner.describe()
        del runner  # freed before the next task's model loads
    return described, seconds


def _runtime(spec: ModelSpec, where: Placement, world: int, seconds: float, spent: dict[str, tuple]) -> dict:
    """Where and how fast the model answered: in all, and per config (seconds, answers, answers per second)."""
    return {
        "device": where.device,
        "dtype": where.dtype,
        "device_map": where.device_map,
        "batch_size": spec.fields.batch_size,
        "world_size": world,
        "seconds": round(seconds, 3),
        "configs": {
            config: {
                "seconds": round(t, 3),
                "generated": n,
                "questions_per_second": round(n / t, 3) if t else None,
            }
            for config, (t, n) in spent.items()
        },
    }


def _merge_parts(
    spec: ModelSpec, runs: dict[Pair, _ConfigRun], out: Path, world: int, dtype: str, overwrite: bool
) -> None:
    """Once every rank has answered: rank 0 merges their parts into the caches (and removes the parts); then every
    rank reads the merged caches, so all report the same scores."""
    barrier()
    rank, _ = rank_world()
    for run in runs.values():
        main = out / run.raw_path.name
        if rank == 0:
            parts = [_part_dir(out, r, world) / main.name for r in range(world)]
            merge_parts(main, parts, spec, dtype, overwrite, run.prompt_version)
        run.raw_path = main
    if rank == 0:
        for r in range(world):
            for f in _part_dir(out, r, world).glob("*.raw.json"):
                f.unlink()
    barrier()
    for run in runs.values():
        run.raw, run.transcripts, run.over_window = {}, {}, set()
        run.take(read_predictions(run.raw_path, spec, dtype, run.prompt_version))


def _open_runs(
    spec: ModelSpec, dataset: str, names: Sequence[str], split: str, out: Path, overwrite: bool, dtype: str
) -> dict[Pair, _ConfigRun]:
    """Every config's gold questions and cached answers, by (context, question) language."""
    runs = {}
    for config in names:
        raw_path = out / f"{config}.raw.json"
        cache = {} if overwrite else read_predictions(raw_path, spec, dtype, prompt_version(parse_config(config).task))
        gold = read_hf_dataset(dataset, split, [config])[0]
        runs[parse_config(config)] = run = _ConfigRun(config, gold, raw_path)
        run.take(cache)
    return runs


def _answer(
    spec: ModelSpec,
    where: Placement,
    runner: Runner,
    todo: Sequence[Item],
    runs: dict[Pair, _ConfigRun],
    progress: bool,
) -> dict[Pair, tuple[float, int]]:
    """Answer ``todo`` in batches, caching after each (a killed run loses at most one batch); returns, per
    config, the seconds spent on its questions and how many were answered.

    Every config is in one queue: MLQA asks about one paragraph in up to seven question languages, and
    those prompts go in one batch and share their prefill (see :func:`length_batches`). The next batch's audio
    is decoded in a thread while the model answers the current one.
    """
    label = f"{spec.name} ({len(runs)} config{'s' if len(runs) > 1 else ''})"
    batches = length_batches(todo, spec.fields.batch_size, spec.fields.max_batch_chars)
    spent: dict[Pair, list] = {}

    def prepare(batch: list[Item]) -> list[Item]:
        return _with_audio(batch, runs) if runner.needs_audio else batch

    with progress_bar(label, len(todo), enabled=progress, unit="q") as bar, ThreadPoolExecutor(1) as decoder:
        upcoming = decoder.submit(prepare, batches[0]) if batches else None
        for i in range(len(batches)):
            batch = upcoming.result()
            upcoming = decoder.submit(prepare, batches[i + 1]) if i + 1 < len(batches) else None
            t0 = time.perf_counter()
            got = as_answers(runner.answer(batch))
            seconds = (time.perf_counter() - t0) / len(batch)
            _check_answers(spec, got, batch)
            for pair in sorted(_record(runs, batch, got, seconds, spent)):
                run = runs[pair]
                description = runner.describe()
                write_predictions(
                    run.raw_path,
                    spec,
                    where.dtype,
                    description,
                    run.raw,
                    run.transcripts,
                    run.over_window,
                    prompt_version=run.prompt_version,
                )
            bar.advance(len(batch))
    return {pair: (t, n) for pair, (t, n) in spent.items()}


def _record(
    runs: dict[Pair, _ConfigRun], batch: Sequence[Item], got: Answers, seconds: float, spent: dict[Pair, list]
) -> set[Pair]:
    """A batch's answers into their configs' runs (an over-window one empty, and marked), ``seconds`` per question
    into ``spent``; returns the configs it touched."""
    touched = set()
    for j, x in enumerate(batch):
        pair = _key(x)
        runs[pair].raw[x.id] = got.texts[j]
        if got.transcripts is not None:
            runs[pair].transcripts[x.id] = got.transcripts[j]
        if got.over_window is not None and got.over_window[j]:
            runs[pair].raw[x.id] = ""  # never generated: no answer, whatever the runner wrote
            runs[pair].over_window.add(x.id)
        else:
            runs[pair].over_window.discard(x.id)
        entry = spent.setdefault(pair, [0.0, 0])
        entry[0] += seconds
        entry[1] += 1
        touched.add(pair)
    return touched


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


@dataclass
class Judging:
    """The judge of a run, with the prompt each task needs: the chosen one (``qa_prompt``) for extractive QA, v2 for
    instructions (v1 grades an extracted span; an open answer is graded in full, against its reference). One
    :class:`~audiomlqa.evaluation.judge.Judge` is loaded per prompt used."""

    spec: ModelSpec
    qa_prompt: str = "v1"
    unparsed: str = "zero"
    loaded: dict[str, Judge] = field(default_factory=dict)

    def prompt_for(self, task: str) -> str:
        return "v2" if task == INSTRUCTION else self.qa_prompt

    def for_task(self, task: str) -> Judge:
        name = self.prompt_for(task)
        if name not in self.loaded:
            self.loaded[name] = Judge(self.spec, name, self.unparsed)
        return self.loaded[name]

    def describe(self) -> dict:
        """The judge as reports record it: its description (prompt, model ids), and each task's prompt version."""
        judges = list(self.loaded.values())
        first = judges[0].describe() if judges else {"judge": self.spec.name}
        if len(judges) > 1:
            first["prompts"] = {j.prompt.version: j.describe()["prompt_sha256"] for j in judges}
        return first


def _judge(report: ModelReport, runs: dict[Pair, _ConfigRun], judging: Judging, out: Path, overwrite: bool) -> None:
    """The judge's score of every answer (cached), per config and pooled, into ``report``: an extracted span (v1) or
    the full response (v2) to a question, or the full response to an instruction; unparsed verdicts counted."""
    per_config: dict[str, tuple[Judge, list[tuple[ToJudge, float | None]]]] = {}
    for run in runs.values():
        judge = judging.for_task(run.task)
        per_config[run.config] = (judge, [_to_judge(run, q, judge) for q in run.gold.questions])
    verdicts: dict[str, dict] = {}
    for judge in {id(j): j for j, _ in per_config.values()}.values():
        items = [x for j, rows in per_config.values() if j is judge for x, _ in rows]
        verdicts.update(judge_answers(judge, items, judgement_cache(out, judge), overwrite))
    pooled_scores, pooled_f1, pooled_over = [], [], 0
    questions = {run.config: run.gold.questions for run in runs.values()}
    for c in report.configs:
        rows = per_config[c.config][1]
        scores = [verdicts[x.key]["score"] for x, _ in rows]
        f1s = [f for _, f in rows]
        over = sum(verdicts[x.key]["status"] == OVER_WINDOW for x, _ in rows)
        summary = summarize(scores, None if c.task == INSTRUCTION else f1s, over, unparsed=judging.unparsed)
        for k, v in summary.items():
            setattr(c, k, v)
        c.samples["judge_mean"] = judge_sample(scores, paragraphs(questions[c.config]), judging.unparsed)
        pooled_scores += scores
        pooled_f1 += f1s
        pooled_over += over
    f1s = None if any(f is None for f in pooled_f1) else pooled_f1
    report.judge = {**judging.describe(), **summarize(pooled_scores, f1s, pooled_over, unparsed=judging.unparsed)}


def _to_judge(run: _ConfigRun, q, judge: Judge) -> tuple[ToJudge, float | None]:
    """What the judge sees of one answer, and the answer's F1 (None for an instruction)."""
    raw = run.raw.get(q.id, "")
    if run.task == INSTRUCTION:
        return ToJudge(run.config, q.id, q.question, (q.reference or "",), raw.strip(), INSTRUCTION), None
    extracted = extract_answer(raw)
    judged = extracted if judge.prompt.version == JUDGE_PROMPT_VERSION else raw.strip()
    f1 = score_answer(extracted, q.answer_texts, run.gold.context_lang)[1]
    return ToJudge(run.config, q.id, q.question, tuple(q.answer_texts), judged), f1


def _score_config(run: _ConfigRun, extracted: dict) -> ConfigScore:
    """MLQA's EM/F1 of a config's answers; an instruction config has none (only a judge scores open answers)."""
    gold = run.gold
    over = sum(q.id in run.over_window for q in gold.questions)
    if run.task == INSTRUCTION:
        return ConfigScore(run.config, None, None, None, None, len(gold.questions), over, task=INSTRUCTION)
    s_ext = score(gold.gold, extracted, gold.context_lang)
    s_raw = score(gold.gold, run.raw, gold.context_lang)
    samples = question_samples(gold, extracted) | {f"raw_{k}": v for k, v in question_samples(gold, run.raw).items()}
    scores = (s_ext.exact_match, s_ext.f1, s_raw.exact_match, s_raw.f1)
    return ConfigScore(run.config, *scores, s_ext.total, over, samples=samples)


def _provenance(spec: ModelSpec, described: dict[str, dict], dataset: str, configs: list[str], split: str) -> dict:
    packages = package_versions(("torch", "transformers", "datasets", "faster-whisper", "ctranslate2", "accelerate"))
    return {
        "audiomlqa_version": __version__,
        "scorer": SCORER_VERSION,
        "prompt_version": _one_or_all(sorted({prompt_version(parse_config(c).task) for c in configs})),
        "spec": spec.data,
        "spec_sha256": spec.sha256,
        "runner": _runner_record(described),
        "dataset": str(dataset),
        "split": split,
        "configs": configs,
        "python": platform.python_version(),
        "packages": packages,
    }


def _runner_record(described: dict[str, dict]) -> dict | str:
    """What answered: the runner's description, per task when the run answered more than one task."""
    if not described:
        return "cached predictions"
    return next(iter(described.values())) if len(described) == 1 else described


def _one_or_all(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


# -- several models ---------------------------------------------------------------------------------------


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
    judge_prompt: str = "v1",
    unparsed: str = "zero",
) -> Comparison:
    """Run each spec on ``dataset`` (every spec and config checked before any model loads); with several
    specs, write a bar chart per config into ``output/charts``. ``log`` receives one line per step (stderr)."""
    _check_names(specs)
    placed = [preflight(spec) for spec in specs]  # every device (and server) checked before the first model loads
    names = dataset_configs(dataset, configs, HF_SPLIT[SPLITS[split]] if split in SPLITS else None)
    primary = rank_world()[0] == 0
    tasks = {parse_config(n).task for n in names}
    judging = (
        _open_judge(Judging(judge, judge_prompt, unparsed), specs, tasks, output, overwrite)
        if judge is not None and primary
        else None
    )
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
    charts = _charts(reports, Path(output) / CHARTS, judging is not None, log) if primary else []
    check = None
    if judging is not None and judge_check:
        check = check_judge(judging, read_hf_dataset(dataset, split, names), judge_check)
        log(f"judge check: gold {two_decimals(check['gold_mean'])}, wrong {two_decimals(check['wrong_mean'])}")
    return Comparison(reports, charts, time.perf_counter() - t0, primary, check)


def check_judge(judging: Judging, files: Sequence[DatasetFile], per_config: int) -> dict:
    """The judge check of each task with the judge (and prompt) that task is judged with; with several tasks, the
    figures on top are the first task's and ``tasks`` holds each."""
    checks = [
        run_judge_check(judging.for_task(task), [f for f in files if f.task == task], per_config)
        for task in sorted({f.task for f in files})
    ]
    tasks = {task: figures for check in checks for task, figures in check.get("tasks", {}).items()}
    return {**checks[0], "tasks": tasks}


def _check_names(specs: Sequence[ModelSpec]) -> None:
    names = [spec.name for spec in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise AudioMLQAError(
            f"two specs share the name {', '.join(map(repr, repeated))}: names must differ (each "
            "names a cache folder and a column)"
        )


def _open_judge(
    judging: Judging, specs: Sequence[ModelSpec], tasks: set[str], output: str | Path, overwrite: bool
) -> Judging:
    """The judge loaded for every task of the run, after every model's judgement cache is checked: judgements cached
    with another judge prompt or spec, a bad judge spec, a dead judge server or a missing key fail before any model
    runs."""
    for spec in specs:
        for task in tasks:
            prompt = judging.prompt_for(task)
            if not overwrite:
                folder = inside(output, spec.name, "model name")
                read_judgements(judgement_cache(folder, judging.spec, prompt), judging.spec, prompt)
    for task in sorted(tasks):
        judging.for_task(task)
    return judging


def _charts(reports: list[ModelReport], directory: Path, judged: bool, log) -> list[Path]:
    """With several models, a bar chart per config (and the judge's, when one judged)."""
    if len(reports) < 2:
        return []
    charts = write_charts(reports, directory)
    if charts and judged:
        charts += write_charts(reports, directory / "judge", metric="judge_mean")
    if charts:
        log(f"charts: {charts[0].parent}/ ({len(charts)} PNG)")
    return charts
