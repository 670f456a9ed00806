"""Where MLQA questions come from: an ``MLQA_V1`` directory, any SQuAD-format JSON file, or a
Hugging Face dataset (a local folder or a Hub id), and how a subset of them is chosen.

Every loader returns :class:`Question` records in file order. Selection is deterministic and
independent of file order and Python version: ``per_language=N`` keeps the N questions whose
``sha256(f"{seed}:{id}")`` ranks lowest, so N=100 is a subset of N=250 for the same seed and the
same question id is picked in every pair that contains it. ``limit=N`` then takes the pairs in turn (the first
question of each pair, then the second, …), so ``--languages en,de --limit 5`` gives 3 English and 2 German
questions, and limit 4 is a subset of limit 5.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import LANGUAGES, check_language, parse_pair
from audiomlqa.tasks import EXTRACTIVE_QA, INSTRUCTION, config_name, parse_config
from audiomlqa.utils.files import read_json
from audiomlqa.utils.hf_datasets import load_dataset

SPLITS = {"dev": "dev", "validation": "dev", "test": "test"}
"""Split names accepted everywhere, mapped to MLQA's file prefix (Hugging Face says ``validation``)."""
HF_SPLIT = {"dev": "validation", "test": "test"}
_PAIR_IN_NAME = re.compile(r"context-([a-z]{2})-question-([a-z]{2})")


PACKAGED_SAMPLE = str(Path(__file__).with_name("data") / "mlqa-sample")
"""The MLQA dev sample shipped in the package (CC-BY-SA-3.0): the offline default source."""


@dataclass(frozen=True)
class Answer:
    text: str
    answer_start: int


@dataclass(frozen=True)
class Question:
    """One spoken item: an MLQA question (its context in ``context_lang``, the question in ``question_lang``), or,
    with ``task`` ``instruction``, an instruction to follow (``question``; no context, no answers) with the
    ``reference`` response a judge compares answers with (``title`` names its subset, e.g. AlpacaEval's ``koala``)."""

    id: str
    context_lang: str
    question_lang: str
    title: str
    context: str
    question: str
    answers: tuple[Answer, ...] = field(default_factory=tuple)
    task: str = EXTRACTIVE_QA
    reference: str | None = None

    @property
    def pair(self) -> str:
        """The config name used in file and config names: ``de`` when monolingual, else ``de-en``; an instruction's
        ``instruct-en`` (:func:`audiomlqa.tasks.config_name`)."""
        return config_name(self.task, self.context_lang, self.question_lang)

    @property
    def key(self) -> tuple[str, str]:
        """How manifests and caches name a question: ids repeat across pairs, so (pair, id)."""
        return self.pair, self.id

    @property
    def answer_texts(self) -> list[str]:
        return [a.text for a in self.answers]

    def to_dict(self) -> dict:
        return {"pair": self.pair, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class DatasetFile:
    """One SQuAD-format file with its languages and checksum, for scoring with provenance."""

    path: Path
    context_lang: str
    question_lang: str
    sha256: str
    questions: list[Question]
    label: str | None = None
    """How reports name it: the file name, or ``source#config/split`` for a Hugging Face dataset."""
    task: str = EXTRACTIVE_QA

    @property
    def config(self) -> str:
        return config_name(self.task, self.context_lang, self.question_lang)

    @property
    def name(self) -> str:
        return self.label or self.path.name

    @property
    def gold(self) -> list[tuple[str, list[str]]]:
        return [(q.id, q.answer_texts) for q in self.questions]


def resolve_pairs(
    languages: Sequence[str] | None = None, pairs: Sequence[str] | None = None, cross_lingual: bool = False
) -> list[tuple[str, str]]:
    """The (context, question) pairs to use: explicit ``pairs`` win; else every language with itself
    (MLQA's monolingual setting) or, with ``cross_lingual``, every combination of ``languages``."""
    if pairs:
        return list(dict.fromkeys(parse_pair(p) for p in pairs))
    langs = [check_language(x) for x in (languages or LANGUAGES)]
    if cross_lingual:
        return [(c, q) for c in langs for q in langs]
    return [(x, x) for x in langs]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def languages_from_name(path: Path) -> tuple[str, str] | None:
    """Context and question language from an MLQA-style name (``…context-de-question-en…``)."""
    m = _PAIR_IN_NAME.search(path.name)
    return (check_language(m.group(1)), check_language(m.group(2))) if m else None


def read_squad_file(path: str | Path, context_lang: str | None = None, question_lang: str | None = None) -> DatasetFile:
    """Read a SQuAD-format file (MLQA 1.0, SQuAD/XQuAD 1.1). Languages default to the file name's."""
    path = Path(path)
    doc = read_json(path)
    if not (isinstance(doc, dict) and isinstance(doc.get("data"), list)):
        raise AudioMLQAError(f"{path}: not a SQuAD-format dataset (expected an object with a 'data' list of articles)")
    named = languages_from_name(path)
    if context_lang is None:
        if named is None:
            raise AudioMLQAError(
                f"{path}: cannot tell its language from the name; pass it with --lang (de; de-en for context de, "
                "question en), or source_lang in a recipe"
            )
        context_lang = named[0]
    check_language(context_lang)
    question_lang = check_language(question_lang or (named[1] if named else context_lang))
    questions = []
    try:
        for article in doc["data"]:
            title = article.get("title", "")
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    answers = tuple(Answer(a["text"], int(a.get("answer_start", -1))) for a in qa["answers"])
                    questions.append(
                        Question(
                            str(qa["id"]),
                            context_lang,
                            question_lang,
                            title,
                            paragraph["context"],
                            qa["question"],
                            answers,
                        )
                    )
    except (KeyError, TypeError, AttributeError) as e:
        raise AudioMLQAError(f"{path}: not a SQuAD-format dataset (an article, paragraph or qa lacks {e})") from None
    _refuse_bad_text(questions, path)
    return DatasetFile(path, context_lang, question_lang, _sha256(path), questions)


def text_problem(value: object) -> str | None:
    """Why ``value`` is not text that can be written as UTF-8 (a JSON ``\\ud800`` escape decodes to a lone
    surrogate, which no file, parquet or terminal can take), or None."""
    if not isinstance(value, str):
        return f"is not text but {type(value).__name__}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"holds {value[e.start]!r} at character {e.start}, which is not Unicode text (a lone surrogate)"
    return None


def _refuse_bad_text(questions: Sequence[Question], path: Path) -> None:
    """Fail in one line at the first question whose text cannot be written: refused rather than skipped, so that
    every tool (synthesize, score, questions) sees the same questions and a damaged file is noticed and fixed."""
    seen: set[int] = set()  # a paragraph's questions share its context and title: check each object once
    for q in questions:
        shared = [(name, v) for name, v in (("context", q.context), ("title", q.title or "")) if id(v) not in seen]
        seen.update(id(v) for _, v in shared)
        answers = [(f"answer {i + 1}", a.text) for i, a in enumerate(q.answers)]
        for name, value in [("id", q.id), ("question", q.question), *answers, *shared]:
            problem = text_problem(value)
            if problem:
                raise AudioMLQAError(
                    f"{path}: question {q.id!r}: its {name} {problem}; fix or remove that question in the file"
                )


def mlqa_split_dir(root: str | Path, split: str) -> Path:
    """The folder holding ``{split}-context-C-question-Q.json``: ``root/split`` or ``root`` itself."""
    root = Path(root)
    prefix = _split_prefix(split)
    for d in (root / prefix, root):
        if any(d.glob(f"{prefix}-context-*-question-*.json")):
            return d
    raise AudioMLQAError(f"{root}: no {prefix}-context-*-question-*.json files (is this an MLQA_V1 directory?)")


def _split_prefix(split: str) -> str:
    try:
        return SPLITS[split]
    except KeyError:
        raise AudioMLQAError(f"unknown split {split!r}: use dev (validation) or test") from None


def is_mlqa_dir(path: Path) -> bool:
    return (
        path.is_dir()
        and any(path.glob("*-context-*-question-*.json"))
        or any((path / s).is_dir() and any((path / s).glob(f"{s}-context-*.json")) for s in ("dev", "test"))
    )


def read_mlqa_dir(
    root: str | Path, split: str = "dev", pairs: Iterable[tuple[str, str]] | None = None
) -> list[DatasetFile]:
    """The dataset files of ``split`` for ``pairs`` (default: every pair present), in pair order."""
    d = mlqa_split_dir(root, split)
    prefix = _split_prefix(split)
    if pairs is None:
        found = sorted(languages_from_name(p) for p in d.glob(f"{prefix}-context-*-question-*.json"))
        pairs = [p for p in found if p is not None]
    files = []
    for c, q in pairs:
        path = d / f"{prefix}-context-{c}-question-{q}.json"
        if not path.exists():
            raise AudioMLQAError(f"{d}: no file for context {c}, question {q} ({path.name})")
        files.append(read_squad_file(path, c, q))
    return files


def hf_datasets():
    try:
        import datasets
    except ImportError:
        raise AudioMLQAError(
            "loading a Hugging Face dataset needs the 'datasets' package: pip install 'audiomlqa[hf]'"
        ) from None
    return datasets


def _hf_fingerprint(source: str, config: str, split: str, ds) -> str:
    """sha256 of a local dataset's data files for this config and split, else the datasets fingerprint."""
    folder = Path(source)
    files = sorted(folder.glob(f"data/{config}/{split}-*.parquet")) if folder.is_dir() else []
    if files:
        digest = hashlib.sha256()
        for f in files:
            digest.update(f.read_bytes())
        return digest.hexdigest()
    return f"datasets-fingerprint:{ds._fingerprint}"


def read_hf_dataset(
    source: str, split: str = "dev", pairs: Iterable[tuple[str, str] | str] | None = None
) -> list[DatasetFile]:
    """Questions of a Hugging Face dataset (a published Audio-MLQA folder, or a Hub id), one :class:`DatasetFile` per
    config, so the scorer pins them like MLQA files. ``pairs`` are (context, question) languages or config names
    (``instruct-en`` too); default: every config but ``rejected``. Audio is not decoded."""
    datasets = hf_datasets()
    hf_split = HF_SPLIT[_split_prefix(split)]
    if pairs is None:
        try:
            names = datasets.get_dataset_config_names(source)
        except Exception as e:  # noqa: BLE001 - hub/network errors come in many types
            raise AudioMLQAError(
                f"could not read the configs of {source!r} ({e.__class__.__name__}); offline, pass a local folder"
            ) from None
        pairs = [n for n in names if n != "rejected"]
    files = []
    for wanted in pairs:
        cfg = parse_config(wanted) if isinstance(wanted, str) else parse_config(config_name(EXTRACTIVE_QA, *wanted))
        config = cfg.name
        try:
            ds = load_dataset(source, config, split=hf_split)
        except (ConnectionError, OSError) as e:
            raise AudioMLQAError(
                f"could not load {source!r} ({e.__class__.__name__}); offline, pass a local MLQA_V1 directory, "
                "JSON file or published dataset folder"
            ) from None
        except ValueError as e:
            raise AudioMLQAError(
                f"{source}: no config {config!r} with split {hf_split!r} ({str(e).splitlines()[0][:200]})"
            ) from None
        columns = ("id", "title", "context", "question", "answers", "reference")
        ds = ds.select_columns([k for k in columns if k in ds.column_names])
        c, q = cfg.pair
        questions = []
        for row in ds:
            ans = row.get("answers") or {"text": [], "answer_start": []}
            answers = tuple(Answer(t, int(s)) for t, s in zip(ans["text"], ans["answer_start"]))
            reference = row.get("reference") if cfg.task == INSTRUCTION else None
            questions.append(
                Question(
                    str(row["id"]),
                    c,
                    q,
                    row.get("title", ""),
                    row.get("context", ""),
                    row["question"],
                    answers,
                    cfg.task,
                    reference,
                )
            )
        files.append(
            DatasetFile(
                Path(source),
                c,
                q,
                _hf_fingerprint(source, config, hf_split, ds),
                questions,
                label=f"{source}#{config}/{hf_split}",
                task=cfg.task,
            )
        )
    return files


def file_languages(lang: str | None) -> tuple[str | None, str | None]:
    """``--lang`` for a SQuAD file: ``de`` (context and question) or ``de-en`` (context de, question en)."""

    return parse_pair(lang) if lang else (None, None)


def read_dataset_files(
    source: str | Path, split: str = "dev", pairs: Iterable[tuple[str, str]] | None = None, lang: str | None = None
) -> list[DatasetFile]:
    """Gold data for scoring from any source: a SQuAD JSON file (``lang``, ``de`` or ``de-en``, when its name does not
    say it),
    an MLQA_V1 directory, or a Hugging Face dataset (published folder or Hub id)."""
    path = Path(source)
    if path.is_file():
        return [read_squad_file(path, *file_languages(lang))]
    if path.is_dir() and is_mlqa_dir(path):
        return read_mlqa_dir(path, split, pairs)
    if path.is_dir() or (not path.exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", str(source))):
        return read_hf_dataset(str(source), split, pairs)
    raise AudioMLQAError(
        f"{source}: no such file or directory (give a SQuAD JSON file, an MLQA_V1 directory, "
        "a published dataset folder or a Hub id)"
    )


def load_questions(
    source: str | Path,
    *,
    split: str = "dev",
    languages: Sequence[str] | None = None,
    pairs: Sequence[str] | None = None,
    cross_lingual: bool = False,
    per_language: int | None = None,
    seed: int = 0,
    limit: int | None = None,
    lang: str | None = None,
) -> list[Question]:
    """Load and select questions from an MLQA_V1 directory, a SQuAD JSON file (of any name with ``lang``: ``de`` or
    ``de-en``), or a Hugging Face dataset.

    ``per_language`` keeps N questions per (context, question) pair by seeded hash rank; ``limit`` then caps the
    total (useful for smoke runs), taking the pairs in turn (:func:`take_in_turn`); both must be at least 1.
    """
    for name, value in (("per_language", per_language), ("limit", limit)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise AudioMLQAError(f"{name} must be a whole number of at least 1, not {value!r}")
    path = Path(source)
    if path.is_file():
        questions = read_squad_file(path, *file_languages(lang)).questions
        wanted = set(resolve_pairs(languages, pairs, cross_lingual)) if (languages or pairs) else None
        if wanted is not None:
            questions = [x for x in questions if (x.context_lang, x.question_lang) in wanted]
    elif path.is_dir() and is_mlqa_dir(path):
        questions = [
            x for f in read_mlqa_dir(path, split, resolve_pairs(languages, pairs, cross_lingual)) for x in f.questions
        ]
    else:
        questions = [
            x
            for f in read_hf_dataset(str(source), split, resolve_pairs(languages, pairs, cross_lingual))
            for x in f.questions
        ]
    refuse_duplicate_ids(questions, source)
    if per_language is not None:
        questions = sample_per_pair(questions, per_language, seed)
    questions = take_in_turn(questions, limit) if limit is not None else questions
    if not questions:
        raise AudioMLQAError(f"{source}: no questions selected (check the languages, pairs, split and limits)")
    return questions


def refuse_duplicate_ids(questions: Sequence[Question], source: str | Path) -> None:
    """Two questions of one pair with one id would share a clip name and be mixed up downstream."""
    seen, duplicates = set(), []
    for q in questions:
        if q.key in seen:
            duplicates.append(f"{q.pair}/{q.id}")
        seen.add(q.key)
    if duplicates:
        raise AudioMLQAError(
            f"{source}: {len(duplicates)} question id(s) repeat within a language pair, e.g. "
            f"{', '.join(dict.fromkeys(duplicates[:3]))}: give every question of a pair its own id"
        )


def selection_rank(question_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{question_id}".encode()).hexdigest()


def sample_per_pair(questions: Sequence[Question], n: int, seed: int = 0) -> list[Question]:
    """Keep the ``n`` lowest-ranked questions of every pair, preserving the input order."""
    if n < 1:
        raise AudioMLQAError(f"per_language must be at least 1, not {n}")
    by_pair: dict[tuple[str, str], list[Question]] = {}
    for x in questions:
        by_pair.setdefault((x.context_lang, x.question_lang), []).append(x)
    keep = set()
    for group in by_pair.values():
        keep.update(
            (x.context_lang, x.question_lang, x.id) for x in sorted(group, key=lambda x: selection_rank(x.id, seed))[:n]
        )
    return [x for x in questions if (x.context_lang, x.question_lang, x.id) in keep]


def take_in_turn(questions: Sequence[Question], limit: int) -> list[Question]:
    """The first ``limit`` questions taking the pairs in turn (in the order they first appear; each pair's questions
    in order), in input order: every pair is represented once ``limit`` reaches the number of pairs, and a smaller
    limit picks a subset of a larger one."""
    turn: dict[tuple[str, str], int] = {}
    pair_order: dict[tuple[str, str], int] = {}
    ranked = []
    for x in questions:
        p = (x.context_lang, x.question_lang)
        pair_order.setdefault(p, len(pair_order))
        turn[p] = turn.get(p, -1) + 1
        ranked.append((turn[p], pair_order[p], x.key))
    keep = {key for *_, key in sorted(ranked)[:limit]}
    return [x for x in questions if x.key in keep]


# -- questions.jsonl: the selected questions an output carries (synthesize writes it, publish reads it) ---------------


class _AnswerRow(BaseModel):
    text: str
    answer_start: int


class QuestionRow(BaseModel):
    """One line of an output's questions.jsonl: :meth:`Question.to_dict`, all that publish needs of a question."""

    model_config = ConfigDict(extra="allow")
    pair: str
    id: str
    context_lang: str
    question_lang: str
    title: str = ""
    context: str
    question: str
    answers: list[_AnswerRow]
    task: Literal["extractive-qa", "instruction"] = EXTRACTIVE_QA
    reference: str | None = None

    @field_validator("pair", "id", "title", "context", "question", "reference")
    @classmethod
    def _writable(cls, value: str | None) -> str | None:
        problem = text_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value


def read_question_rows(path: Path) -> dict[tuple[str, str], dict]:
    """questions.jsonl's rows by (pair, id), each checked; a damaged line fails in one line that names it and says the
    one fix, the same for synthesize and publish (both read it here)."""
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as e:
        raise AudioMLQAError(f"{path}: cannot read it ({e.strerror or e.__class__.__name__})") from None
    rows: dict[tuple[str, str], dict] = {}
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
            if not isinstance(row, dict):
                raise TypeError("not a JSON object")
            QuestionRow.model_validate(row)
        except UnicodeDecodeError:
            why = "not UTF-8"
        except json.JSONDecodeError as e:
            why = f"not JSON: {e.msg}"
        except TypeError as e:
            why = str(e)
        except ValidationError as e:
            err = e.errors()[0]
            why = f"{'.'.join(map(str, err['loc'])) or 'row'}: {err['msg'].lower()}"
        else:
            rows[(row["pair"], row["id"])] = row
            continue
        raise AudioMLQAError(
            f"{path}: line {number} is not a question row ({why}); delete that line, then rerun the synthesis "
            f"command on {path.parent} (it writes back every question it selects)"
        )
    return rows
