"""``audiomlqa score`` as one library function: :func:`score` tells model specs from predictions among its inputs,
then runs and compares the specs (:func:`~audiomlqa.evaluation.run.compare_models`) or scores the predictions
(:func:`~audiomlqa.scoring.score_predictions`, and with a judge
:func:`~audiomlqa.evaluation.judge.judge_prediction_files`). Either result shows itself the same three ways:
``to_dict()`` (``--json``, ``--output``), ``tables()`` and ``frame()`` (``--csv``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.judge import check_unparsed, judge_prediction_files, judge_table
from audiomlqa.evaluation.report import Comparison
from audiomlqa.evaluation.run import compare_models
from audiomlqa.evaluation.specs import load_spec
from audiomlqa.evaluation.verdicts import judge_prompt_named
from audiomlqa.scoring import Scorecard, looks_like_model_spec, score_predictions, scorecard_tables
from audiomlqa.utils.tables import Table


@dataclass
class ScoredPredictions:
    """``audiomlqa score PREDICTIONS``: the scorecard, and the judge's scores when one judged."""

    card: Scorecard
    judged: dict | None = None
    primary: bool = True
    """Always: predictions are scored in one process (as :attr:`Comparison.primary`)."""

    def to_dict(self) -> dict:
        return {**self.card.to_dict(), **({"judge": self.judged} if self.judged else {})}

    def tables(self) -> list[Table]:
        return scorecard_tables(self.card) + ([judge_table(self.judged)] if self.judged else [])

    def frame(self):
        """The per-pair scores as a pandas table."""
        return self.card.frame()


def is_model_spec(path: Path) -> bool:
    """A JSON file holding a model spec (a ``name`` and a ``kind``), not predictions."""
    return path.is_file() and path.suffix == ".json" and looks_like_model_spec(_peek_json(path))


def _peek_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # reported properly by the predictions loader


def score(
    inputs: Sequence[str | Path],
    dataset: str,
    *,
    split: str = "dev",
    lang: str | None = None,
    configs: Sequence[str] | None = None,
    predictions_dir: str | Path = "predictions",
    overwrite: bool = False,
    overrides: Sequence[str] = (),
    device: str | None = None,
    judge: str | Path | None = None,
    judge_check: int = 0,
    judge_prompt: str = "v1",
    unparsed: str = "zero",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    before_models: Callable[[], None] | None = None,
) -> Comparison | ScoredPredictions:
    """Score ``inputs`` against ``dataset``: one predictions file or folder, or one or more model specs run on it
    (``configs``, caches in ``predictions_dir``, ``overrides`` of every spec, ``device`` for every model). ``judge``
    (a judge spec) also scores every answer 0–5 with the judge prompt ``judge_prompt`` (``v1`` or ``v2``), unparsed
    judgements counting as 0 (``unparsed="zero"``) or left out (``"skip"``); ``judge_check`` (specs only) checks the
    judge on N gold and N wrong answers per config. ``log`` receives one line per step; ``before_models`` is called
    once before the first model loads (the command line quiets transformers' logging there)."""
    inputs = [Path(p) for p in inputs]
    specs = [p for p in inputs if is_model_spec(p)]
    if specs and len(specs) != len(inputs):
        raise AudioMLQAError(
            "give either model specs or predictions, not both: "
            + ", ".join(str(p) for p in inputs if p not in specs)
            + " are not model specs"
        )
    before_models = before_models or (lambda: None)
    judge_prompt_named(judge_prompt), check_unparsed(unparsed)  # a wrong name fails before anything runs
    if specs:
        loaded = [load_spec(p, [*overrides, *([f"device={device}"] if device else [])]) for p in specs]
        judge_spec = load_spec(judge) if judge else None  # every spec checked before any model loads
        if judge_check < 0:
            raise AudioMLQAError(f"--judge-check must be 0 or more, not {judge_check}")
        before_models()
        return compare_models(
            loaded,
            dataset,
            configs=configs,
            split=split,
            output=predictions_dir,
            overwrite=overwrite,
            progress=progress,
            log=log,
            judge=judge_spec,
            judge_check=judge_check,
            judge_prompt=judge_prompt,
            unparsed=unparsed,
        )
    if overrides or device:
        raise AudioMLQAError("--set and --device apply to model specs; these inputs are predictions")
    if len(inputs) != 1:
        raise AudioMLQAError(
            "score one predictions file or directory at a time (several inputs must all be model specs)"
        )
    judging = {"judge_prompt": judge_prompt, "unparsed": unparsed}
    return _score_predictions(inputs[0], dataset, split, lang, judge, overwrite, log, before_models, **judging)


def _score_predictions(
    predictions: Path,
    dataset: str,
    split: str,
    lang: str | None,
    judge: str | Path | None,
    overwrite: bool,
    log: Callable[[str], None] | None,
    before_models: Callable[[], None],
    *,
    judge_prompt: str = "v1",
    unparsed: str = "zero",
) -> ScoredPredictions:
    judge_spec = load_spec(judge) if judge else None
    card = score_predictions(predictions, dataset, split=split, lang=lang)
    judged = None
    if judge_spec is not None:
        before_models()
        judged = judge_prediction_files(
            judge_spec,
            predictions,
            dataset,
            split=split,
            lang=lang,
            overwrite=overwrite,
            judge_prompt=judge_prompt,
            unparsed=unparsed,
        )
    if log:
        log(f"scored predictions: {predictions}")  # said once it worked: an error stays one line
    return ScoredPredictions(card, judged)
