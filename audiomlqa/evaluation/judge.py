"""The paper's metric: an LLM judge scores each answer 0–5, beside MLQA's F1/EM, on the same predictions.

The paper judged with GPT-4.1 but did not publish its prompt, so ours is pinned here: versioned
(:data:`JUDGE_PROMPT_VERSION`) and checksummed (:data:`JUDGE_PROMPT_SHA256`), both written into every report.
Its rubric is the usual one for open QA judging (as AudioBench's and VoiceBench's): 5 is a correct, complete
answer, 0 wrong or no answer. A judge is a model spec of kind ``text`` (any local causal LM) or ``api`` (GPT-4.1,
or an open model behind any OpenAI-compatible server, ``question: text``), decoding greedily with a fixed token
budget. It loads as every model does: the same spec kinds, :func:`~audiomlqa.evaluation.specs.placement` (device,
dtype, device map) and :func:`~audiomlqa.evaluation.runners.load_runner`; its prompts go to the runner as items.

Judgements are cached per model in ``predictions/<model>/judge-<judge>.json``, keyed by (pair, question id, the
answer judged): a rerun, or another model, only judges what is new. Each keeps the judge's raw output and a
parse status; an output without a score 0–5 is counted as unparsed and never scored. A judge prompt that does not fit
the judge's context window (:mod:`audiomlqa.llm.window`) is never sent: its status is ``over window``, and it is
counted as unparsed (and apart, as over window). A cache made with another judge prompt or judge spec is refused by
the guard every cache goes through (:func:`~audiomlqa.evaluation.cache.read_cache`); a cache is typed when read
(:class:`Judged`): a score edited to 99, or a value of the wrong type, is refused in one line naming the entry.

Besides judging a run's answers (:func:`judge_answers`), it judges a predictions file as given
(:func:`judge_prediction_files`, with :func:`judge_table`) and checks that a judge works at all
(:func:`run_judge_check`: gold answers should score about 5, wrong ones about 0).
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
from audiomlqa.languages import pair_name
from audiomlqa.scoring import load_predictions, score_answer
from audiomlqa.sources import read_dataset_files
from audiomlqa.utils.files import write_json
from audiomlqa.utils.tables import Table

JUDGE_PROMPT_VERSION = "audiomlqa-judge-v1"
JUDGE_PROMPT = """You are grading an answer to a reading-comprehension question. The reference answers are \
correct; the answer to grade may be phrased differently, longer, or in another form (a date, a number, a name).

Question: {question}
Reference answer(s): {golds}
Answer to grade: {answer}

Give one integer score from 0 to 5:
5 = correct and complete (the same answer as a reference, however phrased)
4 = correct, with a small omission or extra detail
3 = partly correct
2 = mostly wrong, with a correct element
1 = wrong, but on topic
0 = wrong, no answer, or not an answer
Reply with the score only.
Score:"""
JUDGE_PROMPT_SHA256 = hashlib.sha256(f"{JUDGE_PROMPT_VERSION}\n{JUDGE_PROMPT}".encode()).hexdigest()
_SCORE = re.compile(r"(?<![\d.])([0-5])(?!\d|\.\d)")
OVER_WINDOW = "over window"
"""The status of a judgement whose prompt did not fit the judge's context window."""


def judge_prompt(question: str, golds: Sequence[str], answer: str) -> str:
    return JUDGE_PROMPT.format(
        question=question.strip(), golds=" | ".join(g.strip() for g in golds), answer=answer.strip() or "(no answer)"
    )


def parse_score(output: str) -> int | None:
    """The first stand-alone digit 0–5 of the judge's output, else None (unparsed)."""
    found = _SCORE.search(output)
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class ToJudge:
    pair: str
    id: str
    question: str
    golds: tuple[str, ...]
    answer: str

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.pair}\0{self.id}\0{self.answer}".encode()).hexdigest()


class Judge:
    """A judge spec loaded as a runner (:func:`~audiomlqa.evaluation.runners.load_runner`, at its
    :func:`~audiomlqa.evaluation.specs.placement`: device, dtype and device map), decoding greedily: ``scores(items)``
    → (score or None, raw output) per item, in order; the raw output is None where the judge prompt did not fit the
    judge's window (it was not sent)."""

    def __init__(self, spec: ModelSpec) -> None:
        fields = spec.fields
        if not isinstance(fields, (TextSpec, ApiSpec)) or getattr(fields, "question", "text") != "text":
            raise AudioMLQAError(f"{spec.path}: a judge is a spec of kind text (a local LLM) or api (question: text)")
        self.spec = spec
        self.batch_size = fields.batch_size
        self.runner = load_runner(_greedy(spec))  # a dead judge server or a missing key fails here

    def scores(self, items: Sequence[ToJudge]) -> list[tuple[int | None, str | None]]:
        out: list[tuple[int | None, str | None]] = []
        for start in range(0, len(items), self.batch_size):
            batch = [_as_item(x) for x in items[start : start + self.batch_size]]
            got = as_answers(self.runner.answer(batch))
            over = got.over_window or [False] * len(batch)
            out += [(None, None) if o else (parse_score(text), text) for text, o in zip(got.texts, over)]
        return out

    def describe(self) -> dict:
        model = {k: v for k, v in self.runner.describe().items() if k not in ("kind", "question")}  # every judge's
        return {
            "judge": self.spec.name,
            "spec_sha256": self.spec.sha256,
            "prompt_version": JUDGE_PROMPT_VERSION,
            "prompt_sha256": JUDGE_PROMPT_SHA256,
            **model,
        }


def _greedy(spec: ModelSpec) -> ModelSpec:
    """A local judge decodes greedily whatever its spec's ``generation`` says (its cache key stays the spec's)."""
    if not isinstance(spec.fields, TextSpec):
        return spec
    generation = {**spec.fields.generation, "do_sample": False}
    return replace(spec, fields=spec.fields.model_copy(update={"generation": generation}))


def _as_item(x: ToJudge) -> Item:
    """A judge prompt as a runner's item: the prompt carries everything (a text judge reads ``prompt`` only)."""
    prompt = judge_prompt(x.question, x.golds, x.answer)
    return Item(x.key, "", x.question, None, "", "", prompt=prompt, speech_prompt=prompt)


def judgements_made_with(judge_spec: ModelSpec) -> list[MadeWith]:
    """What a judgement cache must have been made with: this judge prompt and judge spec."""
    return [
        MadeWith(
            {"prompt_version": JUDGE_PROMPT_VERSION, "prompt_sha256": JUDGE_PROMPT_SHA256},
            lambda doc: (
                f"judgements made with judge prompt {doc.get('prompt_version')!r}, not {JUDGE_PROMPT_VERSION!r}: "
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


def read_judgements(path: Path, judge_spec: ModelSpec) -> dict:
    """The judgements cached at ``path`` (empty if none); one made with another judge or prompt is refused, and so
    is one holding a score outside 0–5 or a value of the wrong type (one line naming the entry): a mean over it
    would be shown as a 0–5 judge mean."""
    items = read_cache(path, judgements_made_with(judge_spec), Judgements, REDO_JUDGEMENTS).get("items", {})
    for key, item in items.items():
        typed(Judged, item, f"{path}: entry {_entry(key, item)!r}", f"delete the file or {REDO_JUDGEMENTS}")
    return items


def _entry(key: str, item: object) -> str:
    """How an error names a cached judgement: ``pair/id`` where the item records them, else its key."""
    if isinstance(item, dict) and isinstance(item.get("pair"), str) and isinstance(item.get("id"), str):
        return f"{item['pair']}/{item['id']}"
    return key


def judge_answers(judge: Judge, items: Sequence[ToJudge], cache_path: Path, overwrite: bool = False) -> dict:
    """Judge what the cache lacks; returns {item key: {"score", "raw", "status"}} for every item."""
    cached = {} if overwrite else read_judgements(cache_path, judge.spec)
    todo = [x for x in dict.fromkeys(items) if x.key not in cached]
    for x, (score, raw) in zip(todo, judge.scores(todo)):
        status = OVER_WINDOW if raw is None else "ok" if score is not None else "unparsed"
        cached[x.key] = {"score": score, "raw": raw or "", "status": status, "pair": x.pair, "id": x.id}
    if todo or not cache_path.exists():
        write_json(
            cache_path,
            {
                "judge": judge.spec.name,
                "judge_spec_sha256": judge.spec.sha256,
                "prompt_version": JUDGE_PROMPT_VERSION,
                "prompt_sha256": JUDGE_PROMPT_SHA256,
                "judge_runner": judge.describe(),
                "items": cached,
            },
            indent=1,
        )
    return cached


def summarize(scores: Sequence[int | None], f1s: Sequence[float], over_window: int = 0) -> dict:
    """Mean judge score (0–5) over parsed judgements, the share scored 4–5, how many were unparsed (of them,
    ``over_window`` were over the judge's window), and the Spearman correlation between judge score and F1 per item
    (None when either side is constant)."""
    parsed = [(s, f) for s, f in zip(scores, f1s) if s is not None]
    judged = [s for s, _ in parsed]
    wrong = [s for s in judged if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= 5]
    if wrong:  # a mean over them would pass for a 0–5 one
        raise AudioMLQAError(f"judge scores must be integers 0–5, got {wrong[0]!r}")
    return {
        "judge_mean": fmean(judged) if judged else None,
        "judge_share_4_5": sum(s >= 4 for s in judged) / len(judged) if judged else None,
        "judge_parsed": len(judged),
        "judge_unparsed": len(scores) - len(judged),
        "judge_over_window": over_window,
        "judge_f1_spearman": spearman([s for s, _ in parsed], [f for _, f in parsed]),
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
    answer and a deliberately wrong one (the next question's gold); a usable judge gives about 5 and about 0."""
    gold, wrong = [], []
    for f in files:
        qs = [q for q in f.questions if q.answer_texts][:per_config]
        for i, q in enumerate(qs):
            other = qs[(i + 1) % len(qs)]
            pair = f"{f.context_lang}-{f.question_lang}"
            gold.append(ToJudge(pair, q.id, q.question, tuple(q.answer_texts), q.answer_texts[0]))
            if other is not q and other.answer_texts[0] not in q.answer_texts:
                wrong.append(ToJudge(pair, q.id, q.question, tuple(q.answer_texts), other.answer_texts[0]))
    scores = judge.scores([*gold, *wrong])
    g, w = [s for s, _ in scores[: len(gold)]], [s for s, _ in scores[len(gold) :]]
    over = sum(raw is None for _, raw in scores)
    parsed = lambda xs: [x for x in xs if x is not None]  # noqa: E731
    return {
        "judge": judge.spec.name,
        "n": len(gold),
        "gold_mean": fmean(parsed(g)) if parsed(g) else None,
        "wrong_mean": fmean(parsed(w)) if parsed(w) else None,
        "unparsed": sum(s is None for s in [*g, *w]),
        "over_window": over,
    }


def judge_prediction_files(
    judge_spec: ModelSpec,
    predictions: str | Path,
    dataset: str | Path,
    *,
    split: str = "dev",
    lang: str | None = None,
    overwrite: bool = False,
) -> dict:
    """``audiomlqa score PREDICTIONS --dataset D --judge J``: the judge's score of every prediction as given, per
    pair and pooled, with its agreement with F1. Judgements are cached beside the predictions
    (``<folder>/judge-<judge>.json``, or ``<file stem>.judge-<judge>.json``)."""
    predictions = Path(predictions)
    cache = (
        predictions / f"judge-{judge_spec.name}.json"
        if predictions.is_dir()
        else predictions.with_name(f"{predictions.stem}.judge-{judge_spec.name}.json")
    )
    if not overwrite:
        read_judgements(cache, judge_spec)
    preds = load_predictions(predictions)
    single = Path(dataset).is_file()
    files = read_dataset_files(dataset, split, None if single else list(preds.by_pair) or None, lang)
    rows = []
    for f in files:
        answers = preds.flat if preds.flat is not None else preds.by_pair.get((f.context_lang, f.question_lang), {})
        pair = pair_name(f.context_lang, f.question_lang)
        for q in f.questions:
            answer = answers.get(q.id, "")
            rows.append(
                (
                    pair,
                    ToJudge(pair, q.id, q.question, tuple(q.answer_texts), answer),
                    score_answer(answer, q.answer_texts, f.context_lang)[1],
                )
            )
    judge = Judge(judge_spec)
    verdicts = judge_answers(judge, [x for _, x, _ in rows], cache, overwrite)
    pairs = {}
    over = lambda xs: sum(verdicts[x.key]["status"] == OVER_WINDOW for x in xs)  # noqa: E731
    for pair in dict.fromkeys(p for p, _, _ in rows):
        mine = [(x, verdicts[x.key]["score"], f1) for p, x, f1 in rows if p == pair]
        pairs[pair] = summarize([s for _, s, _ in mine], [f for _, _, f in mine], over(x for x, _, _ in mine))
    pooled = summarize(
        [verdicts[x.key]["score"] for _, x, _ in rows], [f for _, _, f in rows], over(x for _, x, _ in rows)
    )
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
    return Table(
        f"Judge {result['judge']} ({result['prompt_version']}): mean 0–5, share 4–5, Spearman with F1",
        ["pair", "judge", "4–5", "scored", "unparsed", "over window", "ρ(F1)"],
        rows,
    )
