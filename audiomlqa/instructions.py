"""Instruction sets to speak (AlpacaEval, AudioBench-style sets, any JSON/JSONL/Hugging Face table with an
instruction and a reference column), and what a voice cannot speak.

:func:`read_instructions` turns every row into an instruction :class:`~audiomlqa.sources.Question` (task
``instruction``, no context, the reference response as ``reference``) and leaves out, with a counted reason, what
a TTS voice would read as symbols (:func:`unspeakable`): code, tables, URLs, formulas, emoji, and instructions too
long for Whisper's 30-second window. :func:`speech_text` is what the voice is given for a kept one: the same words
without markdown markers, its lines read as sentences.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field

from audiomlqa.config import Integer, Language, Settings
from audiomlqa.errors import AudioMLQAError
from audiomlqa.sources import (
    Question,
    hf_datasets,
    refuse_duplicate_ids,
    sample_per_pair,
    take_in_turn,
    text_problem,
)
from audiomlqa.tasks import INSTRUCTION
from audiomlqa.utils.files import read_json, sha256_file
from audiomlqa.utils.hf_datasets import load_dataset

REASONS = ("empty", "code", "table", "url", "math", "emoji", "too long")
"""Why an instruction is left out, in the order they are tested (an instruction counts under its first reason)."""
SPLIT_PREFERENCE = ("test", "eval")
"""A Hugging Face source's split when none is set and it has several: the first of these it has."""


class InstructionColumns(Settings):
    """Where an instruction set keeps what is spoken and what a judge compares with (a recipe's ``instructions:``)."""

    instruction: str = "instruction"
    reference: str | None = "output"
    """AlpacaEval's reference outputs; AudioBench sets call it ``answer``; None: no reference."""
    id: str | None = None
    """None: the row's position in the file, zero-padded to 4 digits (AlpacaEval's own order: 0000 … 0804)."""
    category: str | None = "dataset"
    """Goes to each question's title (AlpacaEval's subset: koala, oasst, …); a missing column gives ""."""
    language: Language = "en"
    hf_config: str | None = None
    hf_split: str | None = None
    """None: the only split, else ``test``, else ``eval``."""
    max_words: Integer = Field(100, ge=1)
    """Longer instructions are left out: a clip past Whisper's 30-second window is heard, and judged, wrongly."""
    min_words: Integer = Field(1, ge=0)
    """Shorter instructions are left out as ``too short`` (1: only those without a word, as ``empty``)."""


@dataclass(frozen=True)
class InstructionSet:
    """The speakable instructions of a source in file order, and what was left out and why."""

    questions: list[Question]
    left_out: dict[str, int]
    left_out_ids: dict[str, list[str]]
    total: int
    sha256: str
    label: str
    language: str = "en"
    categories: dict[str, int] = field(default_factory=dict)
    """Kept instructions per category (title)."""

    def selected(self, per_language: int | None = None, seed: int = 0, limit: int | None = None) -> list[Question]:
        """The kept instructions chosen as MLQA questions are (:func:`~audiomlqa.sources.sample_per_pair`, then
        :func:`~audiomlqa.sources.take_in_turn`): a smaller selection is a subset of a larger one."""
        chosen = self.questions
        if per_language is not None:
            chosen = sample_per_pair(chosen, per_language, seed)
        return take_in_turn(chosen, limit) if limit is not None else list(chosen)


# -- what a voice cannot speak -------------------------------------------------------------------------------------

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_EMOJI = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B50\u2B55]")
_URL = re.compile(r"\bhttps?://|\bwww\.\w|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)
_BREAK = re.compile(r"\n|<br\s*/?>", re.IGNORECASE)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_CODE_CHAR = re.compile(r"[(){}\[\]<>=/\\_~;$#@*]|[A-Za-z_]\.[A-Za-z_]")
_CODE_LINE = re.compile(
    r"""^\s*(?:
      def\s+\w+\(                                     # python
    | class\s+[A-Z]\w*(?:\(.*\))?\s*:\s*$
    | import\s+[\w.]+\s*$ | from\s+[\w.]+\s+import\s+\w
    | for\s+\w+\s+in\s+(?:range|enumerate|zip)\( | for\s+\w+\s+in\s+[\w.]+\s*:\s*$
    | (?:if|while|for|switch)\s*\(.*[<>=!;].*\)\s*\{?\s*$ | .*\)\s*\{\s*$   # C family
    | (?:let|const|var)\s+\w+\s*= | function\s+\w+\( | return\b.*;\s*$
    | \#include\s*[<"]
    | [}\]);]+\s*$                                    # a line of closing brackets
    | [A-Za-z_][\w.]*\([^()]*\)\s*;?\s*$              # a line that is a call: print("Hello World!")
    | .*(?:=|\w\(.*\)).*;\s*$                         # a statement: x = 1;  f(x);
    | \\(?:documentclass|begin|end|usepackage)\b      # LaTeX source
    )""",
    re.VERBOSE,
)
_CODE_ANYWHERE = re.compile(
    r"```|~~~|\{\s*$|=>|(?<!=)==(?!=)|!=|&&|</\w+>|<\w+[^<>]*/>|\b[A-Za-z_]\w*\(\)|\w\([^()]*\)\s*\{"
    r"|\b[A-Za-z_]\w*\.[A-Za-z_]\w*\(|\bSELECT\b.+\bFROM\b|\b(?:INSERT INTO|CREATE TABLE)\b",
    re.MULTILINE | re.DOTALL,
)
_MONEY = re.compile(r"\$\d[\d,]*(?:\.\d+)?", re.IGNORECASE)
_LATEX_MATH = re.compile(
    r"\$[^$\n]+\$|\\\(|\\\[|\\(?:frac|sqrt|sum|prod|int|lim|infty|alpha|beta|gamma|delta|theta|lambda|sigma|pi|cdot"
    r"|times|leq|geq|neq|approx|mathbb|mathrm|left|right|partial)\b"
)
_MATH_SYMBOLS = re.compile(r"[≤≥≠≈±×÷√∑∏∫∞∂∈∉∀∃∧∨¬⇒⇔≡∝∩∪⊂⊆]")
_POWER = re.compile(r"[\w)]\^[\w(-]")
_OPERAND = r"[\w.]+(?:\([^()\s]*\))?|\([^()]*\)"
_FORMULA = re.compile(rf"(?:{_OPERAND})(?:[ \t]*(?:<=|>=|[-+*/=<>])[ \t]*(?:{_OPERAND})){{2,}}")
_TABLE_RULE = re.compile(r"[\s|+:=-]*[-=]{3,}[\s|+:=-]*")


def word_count(text: str) -> int:
    """Whitespace-separated words; CJK (no spaces between words) counts a word per two characters."""
    cjk = len(_CJK.findall(text))
    return len(_CJK.sub(" ", text).split()) + (cjk + 1) // 2


def unspeakable(text: str, max_words: int = 100, min_words: int = 1) -> str | None:
    """Why a voice cannot speak ``text`` (one of :data:`REASONS`, or ``too short`` below ``min_words``), or None.

    Spoken, code and tables lose what they say (their symbols and layout), URLs and formulas come out as strings
    of symbol names no listener could write back, emoji are skipped, and a clip past Whisper's window is cut."""
    if not re.search(r"[^\W_]", text):
        return "empty"
    lines = _BREAK.split(text)
    checks = (
        ("code", lambda: _looks_like_code(text, lines)),
        ("table", lambda: _looks_like_table(lines)),
        ("url", lambda: _URL.search(text)),
        ("math", lambda: _looks_like_math("\n".join(lines))),
        ("emoji", lambda: _EMOJI.search(text)),
    )
    for reason, found in checks:
        if found():
            return reason
    words = word_count(text)
    if words > max_words:
        return "too long"
    return "too short" if words < min_words else None


def _looks_like_code(text: str, lines: list[str]) -> bool:
    """Fences, code-like inline spans (`~/x`, `input()`, not `word`), and lines that only source code has."""
    if _CODE_ANYWHERE.search(text) or any(_CODE_CHAR.search(span) for span in _INLINE_CODE.findall(text)):
        return True
    return any(_CODE_LINE.match(line) for line in lines)


def _looks_like_table(lines: list[str]) -> bool:
    """Markdown/ASCII tables: 2+ lines with 2+ ``|`` (or tabs), a ``|---|`` / ``+---+`` rule, or one line of 3+
    ``|`` (rows written on one line)."""
    piped = sum(line.count("|") >= 2 for line in lines)
    tabbed = sum(line.count("\t") >= 2 for line in lines)
    rule = any(_TABLE_RULE.fullmatch(line) and re.search(r"[|+]", line) for line in lines)
    return piped >= 2 or tabbed >= 2 or rule or any(line.count("|") >= 3 for line in lines)


def _looks_like_math(text: str) -> bool:
    """LaTeX, math symbols, powers (``x^2``), or a chain of 2+ operators that is a formula (ranges, dates and
    phone numbers chain ``-`` or ``/`` only: ``8-9-9.5``, ``12/25/2023``)."""
    rest = _MONEY.sub(" ", text)
    if _LATEX_MATH.search(rest) or _MATH_SYMBOLS.search(rest) or _POWER.search(rest):
        return True
    return any(_is_formula(m.group()) for m in _FORMULA.finditer(rest))


def _is_formula(chain: str) -> bool:
    """An equation or inequality (``A(x) = f(b)-f(a)``), or arithmetic on a number (``500mg*3/day``); not a
    shortcut (``ctrl + shift + i``)."""
    return bool(re.search(r"[=<>]", chain) or re.search(r"[+*]", chain) and re.search(r"\d", chain))


# -- what the voice is given ---------------------------------------------------------------------------------------

_MARKERS = re.compile(r"\*\*|__|`|(?<![^\W_])[*_](?=[^\W_])|(?<=[^\W_])[*_](?![^\W_])")
_LINE_START = re.compile(r"^\s*(?:(?:#{1,6}|>)\s*)+(?=\S)|^\s*[-*+•]\s+")
_ENDS_SENTENCE = re.compile(r"[.!?:;,…。！？]['\"”’)\]]*$")


def speech_text(text: str) -> str:
    """``text`` as a TTS voice should read it: HTML entities and ``<br>`` decoded, markdown emphasis, code ticks,
    headings, quote marks and list bullets removed, line breaks read as sentence breaks (". " after a line that
    ends without punctuation, unless the next goes on in lower case: a wrapped line), spaces collapsed. The words
    themselves are never changed."""
    spoken: list[str] = []
    for raw in _BREAK.split(html.unescape(text) if "&" in text else text):
        marked = _LINE_START.match(raw)
        line = " ".join(_MARKERS.sub("", _LINE_START.sub("", raw)).split())
        if not line:
            continue
        if spoken and not _ENDS_SENTENCE.search(spoken[-1]) and (marked or not line[0].islower()):
            spoken[-1] += "."
        spoken.append(line)
    return " ".join(spoken)


# -- reading a source ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """A source's rows as read, with how a message names each (``line 3`` of a JSONL file, ``row 3`` otherwise)."""

    rows: list[dict]
    places: list[str]
    columns: list[str] | None
    """A table's columns (a Hugging Face dataset); None for JSON, whose rows each have their own keys."""
    sha256: str
    label: str


def read_instructions(source: str | Path, columns: InstructionColumns | None = None) -> InstructionSet:
    """The instructions of a JSON file (a list of rows, or an object holding one list of rows), a JSONL file, a
    local Hugging Face dataset folder or a Hub id: the speakable ones as questions in file order, the others
    counted by reason. A missing column, a value that is not text or a repeated id fails in one line."""
    columns = columns or InstructionColumns()
    rows = _read_rows(source, columns)
    if not rows.rows:
        raise AudioMLQAError(f"{rows.label}: no instructions in it (no rows)")
    _check_columns(rows, columns)
    questions = [_question(row, n, rows.places[n], rows.label, columns) for n, row in enumerate(rows.rows)]
    refuse_duplicate_ids(questions, rows.label)
    kept: list[Question] = []
    left_out_ids: dict[str, list[str]] = {}
    for q in questions:
        reason = unspeakable(q.question, columns.max_words, columns.min_words)
        if reason is None:
            kept.append(q)
        else:
            left_out_ids.setdefault(reason, []).append(q.id)
    order = [*REASONS, "too short"]
    left_out_ids = dict(sorted(left_out_ids.items(), key=lambda item: order.index(item[0])))
    categories: dict[str, int] = {}
    for q in kept:
        categories[q.title] = categories.get(q.title, 0) + 1
    return InstructionSet(
        questions=kept,
        left_out={reason: len(ids) for reason, ids in left_out_ids.items()},
        left_out_ids=left_out_ids,
        total=len(questions),
        sha256=rows.sha256,
        label=rows.label,
        language=columns.language,
        categories=categories,
    )


def _read_rows(source: str | Path, columns: InstructionColumns) -> _Rows:
    path = Path(source)
    if path.is_file():
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            return _jsonl_rows(path)
        return _json_rows(path)
    if path.is_dir() or (not path.exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", str(source))):
        return _hf_rows(str(source), columns)
    raise AudioMLQAError(
        f"{source}: no such file or directory (give a JSON or JSONL file, a Hugging Face dataset folder or a Hub id)"
    )


def _json_rows(path: Path) -> _Rows:
    """A list of rows, or an object with exactly one list of rows (``{"data": [...]}``); a ``.json`` file that is
    really JSON Lines (as some exports name theirs) is read as such."""
    try:
        doc = read_json(path)
    except AudioMLQAError:
        if not _is_json_lines(path):
            raise
        return _jsonl_rows(path)
    if isinstance(doc, dict):
        lists = [k for k, v in doc.items() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
        if len(lists) != 1:
            keys = ", ".join(map(repr, doc)) or "none"
            raise AudioMLQAError(
                f"{path}: expected a list of instruction rows, or an object holding one such list (its keys: {keys};"
                f" {len(lists)} of them hold lists of rows)"
            )
        doc = doc[lists[0]]
    if not isinstance(doc, list):
        raise AudioMLQAError(f"{path}: expected a list of instruction rows, not a JSON {type(doc).__name__}")
    for n, row in enumerate(doc, 1):
        if not isinstance(row, dict):
            raise AudioMLQAError(f"{path}: row {n} is not an object but {type(row).__name__}; fix or remove that row")
    return _Rows(doc, [f"row {n}" for n in range(1, len(doc) + 1)], None, sha256_file(path), path.name)


def _is_json_lines(path: Path) -> bool:
    try:
        first = path.read_text(encoding="utf-8").lstrip().split("\n", 1)[0]
        return isinstance(json.loads(first), dict)
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def _jsonl_rows(path: Path) -> _Rows:
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as e:
        raise AudioMLQAError(f"{path}: cannot read it ({e.strerror or e.__class__.__name__})") from None
    rows, places = [], []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise AudioMLQAError(f"{path}: line {number} is not UTF-8 text; fix or remove that line") from None
        except json.JSONDecodeError as e:
            raise AudioMLQAError(f"{path}: line {number} is not JSON ({e.msg}); fix or remove that line") from None
        if not isinstance(row, dict):
            raise AudioMLQAError(f"{path}: line {number} is not a JSON object; fix or remove that line")
        rows.append(row)
        places.append(f"line {number}")
    return _Rows(rows, places, None, sha256_file(path), path.name)


def _hf_rows(source: str, columns: InstructionColumns) -> _Rows:
    """A Hugging Face dataset's rows (a folder written by ``save_to_disk``, a folder of data files, or a Hub id),
    with only the columns read: an audio column is never decoded."""
    datasets = hf_datasets()
    folder = Path(source)
    try:
        if folder.is_dir() and any((folder / f).is_file() for f in ("dataset_dict.json", "state.json")):
            ds = datasets.load_from_disk(source)
        else:
            ds = load_dataset(source, columns.hf_config, split=columns.hf_split)
    except (ConnectionError, OSError) as e:
        raise AudioMLQAError(
            f"could not load {source!r} ({e.__class__.__name__}); offline, pass a local JSON/JSONL file or folder"
        ) from None
    except ValueError as e:
        raise AudioMLQAError(
            f"{source}: cannot load config {columns.hf_config!r}, split {columns.hf_split!r} "
            f"({str(e).splitlines()[0][:200]}); set instructions.hf_config / instructions.hf_split"
        ) from None
    split = columns.hf_split or ""
    if isinstance(ds, datasets.DatasetDict):
        split = _choose_split(source, list(ds), columns.hf_split)
        ds = ds[split]
    label = f"{source}#{columns.hf_config or 'default'}/{split}" if split else source
    names = list(ds.column_names)
    ds = ds.select_columns([c for c in dict.fromkeys(_named_columns(columns)) if c in names])
    checksum = _folder_sha256(folder) or f"datasets-fingerprint:{ds._fingerprint}"
    return _Rows([dict(row) for row in ds], [f"row {n}" for n in range(1, len(ds) + 1)], names, checksum, label)


def _choose_split(source: str, splits: list[str], wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in splits:
            raise AudioMLQAError(
                f"{source}: no split {wanted!r} (it has {', '.join(splits)}); set instructions.hf_split to one"
            )
        return wanted
    if len(splits) == 1:
        return splits[0]
    for name in SPLIT_PREFERENCE:
        if name in splits:
            return name
    raise AudioMLQAError(f"{source}: several splits ({', '.join(splits)}); set instructions.hf_split to one of them")


def _folder_sha256(folder: Path) -> str | None:
    """A local folder's data files (relative names and contents, sorted): the same files give the same checksum
    wherever they lie. None for a Hub id."""
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    data = (".parquet", ".arrow", ".json", ".jsonl", ".csv")
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in data and ".cache" not in p.parts):
        digest.update(f.relative_to(folder).as_posix().encode() + b"\0" + sha256_file(f).encode())
    return digest.hexdigest()


_SETTINGS = ("instruction", "reference", "id", "category")


def _named_columns(columns: InstructionColumns) -> list[str]:
    return [name for setting in _SETTINGS if (name := getattr(columns, setting))]


def _check_columns(rows: _Rows, columns: InstructionColumns) -> None:
    """Every column the recipe names is there, or one line naming the columns the source has. The category is
    checked only when set explicitly: AlpacaEval's default ``dataset`` is simply absent from other sets."""
    have = rows.columns or list(dict.fromkeys(k for row in rows.rows for k in row))
    for setting in _SETTINGS:
        name = getattr(columns, setting)
        if name is None or (setting == "category" and setting not in columns.model_fields_set):
            continue
        lacking = [n for n, row in enumerate(rows.rows) if name not in row]
        if rows.columns is not None and name not in rows.columns or len(lacking) == len(rows.rows):
            hint = " (or null for none)" if setting in ("reference", "category") else ""
            raise AudioMLQAError(
                f"{rows.label}: no column {name!r} (its columns: {', '.join(map(str, have)) or 'none'}); set "
                f"instructions.{setting} to the column that holds the {setting}{hint}"
            )
        if lacking:
            raise AudioMLQAError(
                f"{rows.label}: {rows.places[lacking[0]]} has no {name!r} (the {setting} column); add it or remove "
                f"that row ({len(lacking)} row(s) lack it)"
            )


def _question(row: dict, n: int, place: str, label: str, columns: InstructionColumns) -> Question:
    """Row ``n`` (from 0) as an instruction; a value that is not text fails in one line naming the row. A missing
    category or a null one reads as ""; a null reference as None (no reference to judge against)."""
    raw_id = row[columns.id] if columns.id else f"{n:04d}"
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    values = {"id": raw_id, "instruction": row[columns.instruction]}
    values["reference"] = row.get(columns.reference) if columns.reference else None
    values["category"] = (row.get(columns.category) if columns.category else None) or ""
    for setting, value in values.items():
        if value is None and setting == "reference":
            continue
        problem = text_problem(value)
        if problem:
            column = getattr(columns, setting) or "position"
            raise AudioMLQAError(
                f"{label}: {place} (id {str(raw_id)!r}): its {setting} (column {column!r}) {problem}; "
                "fix or remove that row"
            )
    return Question(
        values["id"],
        columns.language,
        columns.language,
        values["category"],
        "",
        values["instruction"],
        (),
        INSTRUCTION,
        values["reference"],
    )
