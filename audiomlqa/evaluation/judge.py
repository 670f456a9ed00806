"""The paper's metric: an LLM judge scores each answer 0–5, beside MLQA's F1/EM, on the same predictions.

The paper judged with GPT-4.1 but did not publish its prompt, so ours are pinned
(:mod:`~audiomlqa.evaluation.verdicts`): ``v1`` grades the extracted answer and asks for the score alone (the
default, so that caches and reports made with it stay valid); ``v2`` grades the model's full response to a question
or an instruction against the reference, 0–5 as AudioBench's and MT-bench's judges do, and asks for a JSON verdict
with a reason, read by a robust parser. Both are versioned and checksummed, and both figures go into every report
and cache. A judge is a model spec of kind ``text`` (any local causal LM) or ``api`` (GPT-4.1, or an open model
behind any OpenAI-compatible server, ``question: text``), decoding greedily with a fixed token budget (at least
the prompt's :attr:`~audiomlqa.evaluation.verdicts.JudgePrompt.min_new_tokens`). It loads as every model does: the
same spec kinds, :func:`~audiomlqa.evaluation.specs.placement` and :func:`~audiomlqa.evaluation.runners.load_runner`;
its prompts go to the runner as items. A judge behind an API records the model id it asked for, whether that id is a
dated snapshot (``gpt-4.1-2025-04-14``, not the alias ``gpt-4.1``), and the ids the server answered with.

Judgements are cached per model in ``predictions/<model>/judge-<judge>.json`` (``judge-<judge>.v2.json`` for v2:
:func:`judgement_cache`), keyed by (pair, question id, the answer judged): a rerun, or another model, only judges
what is new. Each keeps the judge's raw output and a parse status (v2's also its reason and which rule read it). An
output without a score 0–5 is unparsed: it counts as 0 in the mean by default (``unparsed="zero"``: a judge that
cannot read an answer does not credit it), or is left out (``"skip"``); either way how many is reported. A judge
prompt that does not fit the judge's context window (:mod:`audiomlqa.llm.window`) is never sent: its status is
``over window``, and it is counted as unparsed (and apart, as over window). A cache made with another judge prompt or
judge spec is refused by the guard every cache goes through (:func:`~audiomlqa.evaluation.cache.read_cache`); a cache
is typed when read (:class:`Judged`): a score edited to 99, or a value of the wrong type, is refused in one line
naming the entry.

Besides judging a run's answers (:func:`judge_answers`), it judges a predictions file as given
(:func:`judge_prediction_files`, with :func:`judge_table`) and checks that a judge works at all
(:func:`run_judge_check`: gold answers should score about 5, wrong ones about 0; for instructions, the reference
response against the reference response of another instruction, with v2).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import fmean
from typing import Any, Literal

from pydantic import field_validator, model_validator

from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.cache import MadeWith, Record, read_cache, typed
from audiomlqa.evaluation.runners import Item, as_answers, load_runner
from audiomlqa.evaluation.specs import ApiSpec, ModelSpec, TextSpec
from audiomlqa.evaluation.verdicts import JUDGE_PROMPTS, JudgePrompt, Verdict, first_digit, judge_prompt_named
from audiomlqa.languages import pair_name
from audiomlqa.scoring import load_predictions, score_answer
from audiomlqa.sources import read_dataset_files
from audiomlqa.utils.files import write_json
from audiomlqa.utils.tables import Table

V1 = JUDGE_PROMPTS["v1"]
JUDGE_PROMPT_VERSION = V1.version
JUDGE_PROMPT = V1.template
JUDGE_PROMPT_SHA256 = V1.sha256
"""v1's version, text and checksum, as they always were (importable here as before)."""
EXTRACTIVE_QA, INSTRUCTION = "extractive-qa", "instruction"
UNPARSED = ("zero", "skip")
"""What an unparsed judgement counts as in a mean: 0 (the default), or nothing (left out); counted either way."""
_DATED = re.compile(r"(?:^|[-_@:])(?:\d{4}-\d{2}-\d{2}|20\d{6}|\d{4})$")
"""A dated snapshot's id ends in its date: ``gpt-4.1-2025-04-14``, ``claude-3-5-sonnet-20241022``, ``gpt-4-0613``."""
OVER_WINDOW = "over window"
"""The status of a judgement whose prompt did not fit the judge's context window."""


def judge_prompt(question: str, golds: Sequence[str], answer: str) -> str:
    """v1's prompt filled in."""
    return V1.render(question, golds, answer)


def parse_score(output: str) -> int | None:
    """v1's parser: the first stand-alone digit 0–5 of the judge's output, else None (unparsed)."""
    return first_digit(output)


def check_unparsed(unparsed: str) -> str:
    if unparsed not in UNPARSED:
        raise AudioMLQAError(f"unknown policy for unparsed judgements {unparsed!r}: use {' or '.join(UNPARSED)}")
    return unparsed


@dataclass(frozen=True)
class ToJudge:
    """One answer to judge. ``golds``: the gold answers, or for an instruction (``task``) its reference response;
    ``answer``: what the caller judges (v1: the extracted answer; v2: the model's full response)."""

    pair: str
    id: str
    question: str
    golds: tuple[str, ...]
    answer: str
    task: str = EXTRACTIVE_QA

    @property
    def key(self) -> str:
        """The cache key; an extractive item's is what it always was (existing caches stay valid)."""
        task = "" if self.task == EXTRACTIVE_QA else f"\0{self.task}"
        return hashlib.sha256(f"{self.pair}\0{self.id}\0{self.answer}{task}".encode()).hexdigest()


class Judge:
    """A judge spec loaded as a runner (:func:`~audiomlqa.evaluation.runners.load_runner`, at its
    :func:`~audiomlqa.evaluation.specs.placement`: device, dtype and device map), decoding greedily, with one judge
    prompt (``v1`` or ``v2``) and one policy for unparsed judgements (``zero`` or ``skip``): ``scores(items)`` →
    (score or None, raw output) per item, in order; the raw output is None where the judge prompt did not fit the
    judge's window (it was not sent)."""

    def __init__(self, spec: ModelSpec, prompt: str | JudgePrompt = "v1", unparsed: str = "zero") -> None:
        fields = spec.fields
        if not isinstance(fields, (TextSpec, ApiSpec)) or getattr(fields, "question", "text") != "text":
            raise AudioMLQAError(f"{spec.path}: a judge is a spec of kind text (a local LLM) or api (question: text)")
        self.spec = spec
        self.prompt = judge_prompt_named(prompt)
        self.unparsed = check_unparsed(unparsed)
        self.batch_size = fields.batch_size
        self.runner = load_runner(_for_judging(spec, self.prompt))  # a dead judge server or a missing key fails here

    def verdicts(self, items: Sequence[ToJudge], prompt: JudgePrompt | None = None) -> list[tuple[Verdict, str | None]]:
        """(verdict, raw output) per item, in order, with the judge's prompt or ``prompt``; the raw output is None
        where the prompt was over the judge's window (not sent; an unparsed verdict)."""
        prompt = prompt or self.prompt
        out: list[tuple[Verdict, str | None]] = []
        for start in range(0, len(items), self.batch_size):
            batch = [_as_item(x, prompt) for x in items[start : start + self.batch_size]]
            got = as_answers(self.runner.answer(batch))
            over = got.over_window or [False] * len(batch)
            out += [(Verdict(None), None) if o else (prompt.verdict(text), text) for text, o in zip(got.texts, over)]
        return out

    def scores(
        self, items: Sequence[ToJudge], prompt: JudgePrompt | None = None
    ) -> list[tuple[int | None, str | None]]:
        return [(v.score, raw) for v, raw in self.verdicts(items, prompt)]

    def describe(self) -> dict:
        """The judge spec, prompt (version, checksum) and model: the id asked for, whether it is a dated snapshot,
        and the ids the server answered with (a local judge: the weights that ran)."""
        model = {k: v for k, v in self.runner.describe().items() if k not in ("kind", "question")}  # every judge's
        api = getattr(self.runner, "api", None)
        if isinstance(self.spec.fields, ApiSpec):
            asked, served = self.spec.fields.model, list(getattr(api, "served_models", []))
            ids = {"model": asked, "served_models": served, "model_dated": dated(asked)}
        else:  # in-process: what ran is the weights the spec names; a local id names no snapshot date
            ids = {"model": model.get("llm"), "served_models": [model.get("llm")], "model_dated": None}
        return {
            "judge": self.spec.name,
            "spec_sha256": self.spec.sha256,
            **self.prompt.describe(),
            "judge_unparsed_as": self.unparsed,
            **model,
            **ids,
        }


def dated(model_id: str) -> bool:
    """Whether a model id names a dated snapshot (``gpt-4.1-2025-04-14``) rather than an alias that moves."""
    return bool(_DATED.search(model_id.strip()))


def _for_judging(spec: ModelSpec, prompt: JudgePrompt) -> ModelSpec:
    """A local judge decodes greedily whatever its spec's ``generation`` says, and every judge gets at least the
    prompt's token budget (its cache key stays the spec's)."""
    update: dict[str, Any] = {}
    if isinstance(spec.fields, TextSpec):
        update["generation"] = {**spec.fields.generation, "do_sample": False}
    if spec.fields.max_new_tokens < prompt.min_new_tokens:
        update["max_new_tokens"] = prompt.min_new_tokens
    return replace(spec, fields=spec.fields.model_copy(update=update)) if update else spec


def _as_item(x: ToJudge, prompt: JudgePrompt = V1) -> Item:
    """A judge prompt as a runner's item: the prompt carries everything (a text judge reads ``prompt`` only)."""
    text = prompt.render(x.question, x.golds, x.answer)
    return Item(x.key, "", x.question, None, "", "", prompt=text, speech_prompt=text)


def judgement_cache(where: str | Path, judge: Judge | ModelSpec, prompt: str | JudgePrompt | None = None) -> Path:
    """Where a judge's verdicts on ``where`` are cached: in a folder (a model's predictions folder, or a predictions
    folder), ``judge-<judge>.json``; beside a predictions file, ``<stem>.judge-<judge>.json``. A v2 cache is
    ``….v2.json``. ``prompt`` defaults to the judge's (a spec alone: v1)."""
    spec = judge.spec if isinstance(judge, Judge) else judge
    chosen = judge_prompt_named(prompt) if prompt is not None else getattr(judge, "prompt", V1)
    name = f"judge-{spec.name}{'' if chosen.version == V1.version else '.' + chosen.name}.json"
    where = Path(where)
    if where.is_dir() or where.suffix.lower() != ".json":
        return where / name
    return where.with_name(f"{where.stem}.{name}")


def judgements_made_with(judge_spec: ModelSpec, prompt: str | JudgePrompt = "v1") -> list[MadeWith]:
    """What a judgement cache must have been made with: this judge prompt and judge spec."""
    prompt = judge_prompt_named(prompt)
    return [
        MadeWith(
            prompt.describe(),
            lambda doc: (
                f"judgements made with judge prompt {doc.get('prompt_version')!r}, not {prompt.version!r}: "
                "pass --overwrite to judge again"
            ),
        ),
        MadeWith(
            {"judge_spec_sha256": judge_spec.sha256},
            lambda doc: "judgements of another judge spec: pass --overwrite to judge again",
        ),
    ]


class Judged(Record):
    """One cached judgement: the judge's score (an integer 0–5, or null when unparsed or over window), its raw
    output and the parse status; ``pair`` and ``id`` name the answer judged (caches before them lack them)."""

    score: int | None
    raw: str = ""
    status: Literal["ok", "unparsed", "over window"] | None = None
    pair: str | None = None
    id: str | None = None
    reason: str | None = None
    """v2: the judge's one-sentence reason, where it gave one."""
    how: Literal["json", "phrase", "bare", "first-digit", "none"] | None = None
    """v2: which rule read the score (:func:`~audiomlqa.evaluation.verdicts.parse_verdict`)."""

    @field_validator("score")
    @classmethod
    def _zero_to_five(cls, score: int | None) -> int | None:
        if score is not None and not 0 <= score <= 5:
            raise ValueError(f"{score} is outside 0–5 (a judge scores 0 to 5)")
        return score

    @model_validator(mode="after")
    def _status_agrees(self) -> Judged:
        if self.status is not None and (self.status == "ok") != (self.score is not None):
            raise ValueError(f"status {self.status!r} with score {self.score}: a score goes with status 'ok' only")
        return self


class Judgements(Record):
    """A judgement cache (:func:`judge_answers`) as it must read back; each item is checked as :class:`Judged`."""

    judge: str | None = None
    judge_spec_sha256: str
    prompt_version: str
    prompt_sha256: str
    judge_runner: dict | None = None
    items: dict[str, Any]


REDO_JUDGEMENTS = "pass --overwrite to judge again"


def read_judgements(path: Path, judge_spec: ModelSpec, prompt: str | JudgePrompt = "v1") -> dict:
    """The judgements cached at ``path`` (empty if none); one made with another judge or prompt is refused, and so
    is one holding a score outside 0–5 or a value of the wrong type (one line naming the entry): a mean over it
    would be shown as a 0–5 judge mean."""
    made_with = judgements_made_with(judge_spec, prompt)
    items = read_cache(path, made_with, Judgements, REDO_JUDGEMENTS).get("items", {})
    for key, item in items.items():
        typed(Judged, item, f"{path}: entry {_entry(key, item)!r}", f"delete the file or {REDO_JUDGEMENTS}")
    return items


def _entry(key: str, item: object) -> str:
    """How an error names a cached judgement: ``pair/id`` where the item records them, else its key."""
    if isinstance(item, dict) and isinstance(item.get("pair"), str) and isinstance(item.get("id"), str):
        return f"{item['pair']}/{item['id']}"
    return key


def judge_answers(judge: Judge, items: Sequence[ToJudge], cache_path: Path, overwrite: bool = False) -> dict:
    """Judge what the cache lacks; returns {item key: {"score", "raw", "status", …}} for every item (v2's entries
    also hold the judge's reason and which rule read the score)."""
    cached = {} if overwrite else read_judgements(cache_path, judge.spec, judge.prompt)
    todo = [x for x in dict.fromkeys(items) if x.key not in cached]
    v2 = judge.prompt.version != V1.version
    for x, (verdict, raw) in zip(todo, judge.verdicts(todo)):
        status = OVER_WINDOW if raw is None else "ok" if verdict.score is not None else "unparsed"
        entry = {"score": verdict.score, "raw": raw or "", "status": status, "pair": x.pair, "id": x.id}
        cached[x.key] = {**entry, "reason": verdict.reason, "how": verdict.how} if v2 else entry
    if todo or not cache_path.exists():
        write_json(
            cache_path,
            {
                "judge": judge.spec.name,
                "judge_spec_sha256": judge.spec.sha256,
                **judge.prompt.describe(),
                "judge_runner": judge.describe(),
                "items": cached,
            },
            indent=1,
        )
    return cached


def summarize(
    scores: Sequence[int | None],
    f1s: Sequence[float | None] | None,
    over_window: int = 0,
    unparsed: str = "zero",
) -> dict:
    """Mean judge score (0–5) and the share scored 4–5, with unparsed judgements as 0 (``unparsed="zero"``) or
    left out (``"skip"``); how many were parsed and unparsed (of them, ``over_window`` were over the judge's window);
    the Spearman correlation between judge score and F1 over the parsed items with an F1 (None without F1, as for
    instructions, or when either side is constant)."""
    check_unparsed(unparsed)
    f1s = [None] * len(scores) if f1s is None else list(f1s)
    parsed = [(s, f) for s, f in zip(scores, f1s) if s is not None]
    judged = [s for s, _ in parsed]
    wrong = [s for s in judged if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= 5]
    if wrong:  # a mean over them would pass for a 0–5 one
        raise AudioMLQAError(f"judge scores must be integers 0–5, got {wrong[0]!r}")
    n = len(scores) if unparsed == "zero" else len(judged)
    with_f1 = [(s, f) for s, f in parsed if f is not None]
    return {
        "judge_mean": sum(judged) / n if n else None,
        "judge_share_4_5": sum(s >= 4 for s in judged) / n if n else None,
        "judge_parsed": len(judged),
        "judge_unparsed": len(scores) - len(judged),
        "judge_unparsed_as": unparsed,
        "judge_over_window": over_window,
        "judge_f1_spearman": spearman([s for s, _ in with_f1], [f for _, f in with_f1]),
    }


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None for fewer than 2 items or a constant side."""
    import pandas as pd

    if len(a) < 2:
        return None
    ra, rb = pd.Series(a, dtype=float).rank(), pd.Series(b, dtype=float).rank()
    if ra.nunique() < 2 or rb.nunique() < 2:
        return None
    return float(ra.corr(rb))


def run_judge_check(judge: Judge, files, per_config: int) -> dict:
    """Does the judge work at all? For the first ``per_config`` questions of each dataset file it scores the gold
    answer and a deliberately wrong one (the next question's gold); for an instruction, its reference response and
    the reference response of the next instruction, with the v2 prompt (v1 grades extracted answers only). A usable
    judge gives about 5 and about 0. The figures are pooled, and given per task (``tasks``)."""
    by_task: dict[str, tuple[list[ToJudge], list[ToJudge]]] = {}
    for f in files:
        pair = getattr(f, "config", None) or pair_name(f.context_lang, f.question_lang)
        for task in (EXTRACTIVE_QA, INSTRUCTION):
            gold, wrong = by_task.setdefault(task, ([], []))
            mine = [q for q in f.questions if _task(q) == task and _golds(q)][:per_config]
            for i, q in enumerate(mine):
                other = mine[(i + 1) % len(mine)]
                golds = _golds(q)
                gold.append(ToJudge(pair, q.id, q.question, golds, golds[0], task))
                if other is not q and _golds(other)[0] not in golds:
                    wrong.append(ToJudge(pair, q.id, q.question, golds, _golds(other)[0], task))
    tasks = {}
    for task, (gold, wrong) in by_task.items():
        if gold:
            prompt = JUDGE_PROMPTS["v2"] if task == INSTRUCTION else judge.prompt
            scores = judge.scores([*gold, *wrong], prompt)
            tasks[task] = (prompt, len(gold), scores[: len(gold)], scores[len(gold) :])
    return {
        "judge": judge.spec.name,
        **_check_figures(*([t[i] for t in tasks.values()] for i in (1, 2, 3))),
        "tasks": {
            task: {"prompt_version": p.version, "prompt_sha256": p.sha256, **_check_figures([n], [g], [w])}
            for task, (p, n, g, w) in tasks.items()
        },
    }


def _check_figures(ns: list[int], golds: list[list], wrongs: list[list]) -> dict:
    """The judge check's figures over (score, raw) lists: means over what parsed, what did not, what was over."""
    g = [s for part in golds for s, _ in part]
    w = [s for part in wrongs for s, _ in part]
    parsed = lambda xs: [x for x in xs if x is not None]  # noqa: E731
    return {
        "n": sum(ns),
        "gold_mean": fmean(parsed(g)) if parsed(g) else None,
        "wrong_mean": fmean(parsed(w)) if parsed(w) else None,
        "unparsed": sum(s is None for s in [*g, *w]),
        "over_window": sum(raw is None for part in [*golds, *wrongs] for _, raw in part),
    }


def _task(q) -> str:
    return getattr(q, "task", EXTRACTIVE_QA) or EXTRACTIVE_QA


def _golds(q) -> tuple[str, ...]:
    """What a judge compares an answer with: the gold answers, or an instruction's reference response."""
    if _task(q) == INSTRUCTION:
        reference = getattr(q, "reference", None)
        return (reference,) if reference else ()
    return tuple(q.answer_texts)


def judge_prediction_files(
    judge_spec: ModelSpec,
    predictions: str | Path,
    dataset: str | Path,
    *,
    split: str = "dev",
    lang: str | None = None,
    overwrite: bool = False,
    judge_prompt: str | JudgePrompt = "v1",
    unparsed: str = "zero",
) -> dict:
    """``audiomlqa score PREDICTIONS --dataset D --judge J``: the judge's score of every prediction as given, per
    pair and pooled, with its agreement with F1 (instructions have none), unparsed judgements counted as
    ``unparsed`` says. Judgements are cached beside the predictions (:func:`judgement_cache`)."""
    predictions = Path(predictions)
    prompt, unparsed = judge_prompt_named(judge_prompt), check_unparsed(unparsed)
    cache = judgement_cache(predictions, judge_spec, prompt)
    if not overwrite:
        read_judgements(cache, judge_spec, prompt)
    preds = load_predictions(predictions)
    single = Path(dataset).is_file()
    files = read_dataset_files(dataset, split, None if single else list(preds.by_pair) or None, lang)
    rows = []
    for f in files:
        answers = preds.flat if preds.flat is not None else preds.by_pair.get((f.context_lang, f.question_lang), {})
        pair = getattr(f, "config", None) or pair_name(f.context_lang, f.question_lang)
        for q in f.questions:
            answer, task = answers.get(q.id, ""), _task(q)
            f1 = None if task == INSTRUCTION else score_answer(answer, q.answer_texts, f.context_lang)[1]
            rows.append((pair, ToJudge(pair, q.id, q.question, _golds(q), answer, task), f1))
    judge = Judge(judge_spec, prompt, unparsed)
    verdicts = judge_answers(judge, [x for _, x, _ in rows], cache, overwrite)
    pairs = {}
    over = lambda xs: sum(verdicts[x.key]["status"] == OVER_WINDOW for x in xs)  # noqa: E731
    for pair in dict.fromkeys(p for p, _, _ in rows):
        mine = [(x, verdicts[x.key]["score"], f1) for p, x, f1 in rows if p == pair]
        figures = summarize([s for _, s, _ in mine], [f for _, _, f in mine], over(x for x, _, _ in mine), unparsed)
        pairs[pair] = figures
    scores = [verdicts[x.key]["score"] for _, x, _ in rows]
    pooled = summarize(scores, [f for _, _, f in rows], over(x for _, x, _ in rows), unparsed)
    return {**judge.describe(), "pairs": pairs, "pooled": pooled, "cache": str(cache)}


def judge_table(result: dict) -> Table:
    """The judge's scores of a predictions file as a table (pairs, then all pooled)."""

    def row(name: str, s: dict) -> list[str]:
        mean = "—" if s["judge_mean"] is None else f"{s['judge_mean']:.2f}"
        share = "—" if s["judge_share_4_5"] is None else f"{s['judge_share_4_5']:.0%}"
        rho = "—" if s["judge_f1_spearman"] is None else f"{s['judge_f1_spearman']:.2f}"
        over = s.get("judge_over_window") or 0
        return [name, mean, share, str(s["judge_parsed"]), str(s["judge_unparsed"]), str(over), rho]

    rows = [row(p, s) for p, s in result["pairs"].items()] + [row("all", result["pooled"])]
    zero = result["pooled"].get("judge_unparsed_as", "zero") == "zero"
    return Table(
        f"Judge {result['judge']} ({result['prompt_version']}): mean 0–5, share 4–5, Spearman with F1",
        ["pair", "judge", "4–5", "scored", "unparsed", "over window", "ρ(F1)"],
        rows,
        notes=[f"unparsed judgements {'count as 0 in' if zero else 'are left out of'} the mean and the share"],
    )
