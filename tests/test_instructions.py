"""Reading instruction sets (JSON, JSONL, Hugging Face folders), what a voice cannot speak, and what it is given."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiomlqa.config import parse
from audiomlqa.errors import AudioMLQAError
from audiomlqa.instructions import (
    REASONS,
    InstructionColumns,
    read_instructions,
    speech_text,
    unspeakable,
    word_count,
)
from audiomlqa.tasks import INSTRUCTION

DATA = Path(__file__).parent / "data"
TINY = DATA / "instructions-tiny.jsonl"
TINY_ID = DATA / "instructions-tiny-id.jsonl"
ALPACA_EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_eval"
ALPACA_EVAL_FILE = ALPACA_EVAL / "alpaca_eval_gpt4_1106_preview.json"

ROWS = [
    {"dataset": "koala", "instruction": "How do I keep basil fresh?", "output": "Keep it in water.", "generator": "g"},
    {"dataset": "oasst", "instruction": "Name three rivers in Europe.", "output": "Rhine, Danube, Loire."},
    {"dataset": "oasst", "instruction": "Open https://example.org/a please.", "output": "I cannot.", "generator": "g"},
]


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message, message
    return message


def _write(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


# -- reading each format ------------------------------------------------------------------------------------------


def test_a_json_list_is_read_as_alpaca_eval_is_with_ids_by_position(tmp_path):
    got = read_instructions(_write(tmp_path / "set.json", ROWS))
    assert [q.id for q in got.questions] == ["0000", "0001"]
    first = got.questions[0]
    assert (first.task, first.context_lang, first.question_lang) == (INSTRUCTION, "en", "en")
    assert (first.question, first.reference, first.title, first.context, first.answers) == (
        "How do I keep basil fresh?",
        "Keep it in water.",
        "koala",
        "",
        (),
    )
    assert first.pair == "instruct-en"
    assert (got.total, got.left_out, got.left_out_ids) == (3, {"url": 1}, {"url": ["0002"]})
    assert got.label == "set.json" and re.fullmatch(r"[0-9a-f]{64}", got.sha256)


def test_a_json_object_holding_one_list_of_rows_is_read(tmp_path):
    got = read_instructions(_write(tmp_path / "set.json", {"version": 2, "data": ROWS}))
    assert [q.question for q in got.questions] == [r["instruction"] for r in ROWS[:2]]


def test_a_json_object_without_one_list_of_rows_is_refused_in_one_line(tmp_path):
    with pytest.raises(AudioMLQAError) as e:
        read_instructions(_write(tmp_path / "set.json", {"a": ROWS, "b": ROWS}))
    assert "'a', 'b'" in _one_line(e)


def test_a_jsonl_file_is_read_in_file_order_and_the_unspeakable_rows_are_counted():
    got = read_instructions(TINY, InstructionColumns(id="id"))
    assert got.total == 12 and len(got.questions) == 9
    assert [q.id for q in got.questions] == [f"tiny-{n:02d}" for n in range(1, 10)]
    assert got.left_out == {"code": 1, "table": 1, "url": 1}
    assert got.left_out_ids == {"code": ["tiny-10"], "table": ["tiny-12"], "url": ["tiny-11"]}
    assert all(q.reference and len(q.reference.split(". ")) >= 2 for q in got.questions)
    assert got.categories == {"outdoors": 1, "science": 2, "home": 1, "advice": 2, "writing": 2, "animals": 1}


def test_an_indonesian_set_is_read_in_its_language():
    got = read_instructions(TINY_ID, InstructionColumns(id="id", language="id"))
    assert len(got.questions) == 4 and not got.left_out
    assert {q.pair for q in got.questions} == {"instruct-id"}


def test_a_dot_json_file_holding_json_lines_is_read_as_such(tmp_path):
    path = tmp_path / "set.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    assert read_instructions(path).total == 3


def test_a_saved_hugging_face_dataset_is_read_without_decoding_its_audio(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [{"question": r["instruction"], "answer": r["output"], "audio": {"bytes": b"not audio"}} for r in ROWS]
    ds = datasets.Dataset.from_list(rows).cast_column("audio", datasets.Audio())
    datasets.DatasetDict({"train": ds, "test": ds.select([0, 1])}).save_to_disk(str(tmp_path / "folder"))
    columns = InstructionColumns(instruction="question", reference="answer")
    got = read_instructions(tmp_path / "folder", columns)
    assert (got.total, [q.reference for q in got.questions]) == (2, ["Keep it in water.", "Rhine, Danube, Loire."])
    assert got.label.endswith("#default/test") and re.fullmatch(r"[0-9a-f]{64}", got.sha256)
    assert {q.title for q in got.questions} == {""}  # no category column: an empty title
    train = read_instructions(tmp_path / "folder", columns.model_copy(update={"hf_split": "train"}))
    assert train.total == 3 and train.left_out == {"url": 1}


def test_a_folder_of_data_files_is_read_with_load_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    (tmp_path / "folder" / "data").mkdir(parents=True)
    datasets.Dataset.from_list(ROWS).to_parquet(str(tmp_path / "folder" / "data" / "eval-00000-of-00001.parquet"))
    got = read_instructions(tmp_path / "folder")
    assert got.total == 3 and [q.title for q in got.questions] == ["koala", "oasst"]
    assert got.sha256 == read_instructions(tmp_path / "folder").sha256


def test_a_dataset_with_several_splits_and_none_preferred_asks_for_one_in_one_line(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(ROWS)
    datasets.DatasetDict({"train": ds, "validation": ds}).save_to_disk(str(tmp_path / "folder"))
    with pytest.raises(AudioMLQAError) as e:
        read_instructions(tmp_path / "folder")
    assert "instructions.hf_split" in _one_line(e)


# -- what is refused, in one line ---------------------------------------------------------------------------------


def test_a_missing_column_is_named_with_the_columns_there_and_the_recipe_key_to_set(tmp_path):
    with pytest.raises(AudioMLQAError) as e:
        read_instructions(TINY, InstructionColumns(reference="answer"))
    message = _one_line(e)
    for fragment in ("instructions-tiny.jsonl", "'answer'", "columns: id, instruction, output, dataset"):
        assert fragment in message
    assert "set instructions.reference to the column" in message
    with pytest.raises(AudioMLQAError) as e:
        read_instructions(_write(tmp_path / "a.json", [{"prompt": "Hi there?"}]))
    assert "'instruction'" in _one_line(e) and "instructions.instruction" in str(e.value)


def test_a_category_set_explicitly_must_exist_while_the_default_may_be_absent(tmp_path):
    path = _write(tmp_path / "a.json", [{"instruction": "Say hello.", "output": "Hello."}])
    assert read_instructions(path).questions[0].title == ""
    with pytest.raises(AudioMLQAError) as e:
        read_instructions(path, InstructionColumns(category="subset"))
    assert "instructions.category" in _one_line(e)


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ({"instruction": 5, "output": "x"}, "its instruction (column 'instruction') is not text but int"),
        ({"instruction": "Hi?", "output": ["x"]}, "its reference (column 'output') is not text but list"),
        ({"instruction": "Hi \ud800?", "output": "x"}, "lone surrogate"),
    ],
)
def test_a_value_that_is_not_text_names_its_row_in_one_line(tmp_path, row, fragment):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps(row) + "\n", encoding="utf-8")  # \ud800 as an escape
    with pytest.raises(AudioMLQAError) as e:
        read_instructions(path)
    message = _one_line(e)
    assert "line 2 (id '0001')" in message and fragment in message


def test_repeated_ids_are_refused_in_one_line(tmp_path):
    path = _write(tmp_path / "a.json", [{**r, "id": "same"} for r in ROWS])
    with pytest.raises(AudioMLQAError) as e:
        read_instructions(path, InstructionColumns(id="id"))
    assert "repeat" in _one_line(e) and "instruct-en/same" in str(e.value)


def test_a_damaged_jsonl_line_and_a_missing_source_are_refused_in_one_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(AudioMLQAError) as e:
        read_instructions(path)
    assert "line 2 is not JSON" in _one_line(e)
    with pytest.raises(AudioMLQAError) as e:
        read_instructions(tmp_path / "absent.json")
    assert "no such file" in _one_line(e)


def test_the_columns_are_a_recipe_block_checked_to_the_leaves():
    assert parse(InstructionColumns, {"reference": "answer", "language": "id"}).reference == "answer"
    for bad, fragment in (
        ({"instruktion": "x"}, "instruktion"),
        ({"language": "xx"}, "language"),
        ({"max_words": 0}, "max_words"),
    ):
        with pytest.raises(AudioMLQAError, match=fragment):
            parse(InstructionColumns, bad, "recipe.yaml")


def test_a_smaller_selection_is_a_subset_of_a_larger_one():
    got = read_instructions(TINY, InstructionColumns(id="id"))
    assert [q.id for q in got.selected(limit=3)] == ["tiny-01", "tiny-02", "tiny-03"]
    small, large = got.selected(per_language=3, seed=1), got.selected(per_language=6, seed=1)
    assert len(small) == 3 and set(small) <= set(large)


# -- what a voice cannot speak ------------------------------------------------------------------------------------

ORDINARY = [
    "Select the best answer from the list below: apples, pears or plums.",
    'He said "hello" and left; what did he mean?',
    "1. Buy milk\n2. Call Anna\n3. Write the report.",
    "What's the time in Tokyo? I'm not 100% sure it's 2-3 hours ahead.",
    "Navina has $30 more than her sister, who has $20. How much do they have?",
    "Let me know what you think (honestly), and for (at least) a week.",
    "Note: the meeting is at 3 p.m. on 12/25/2023, call 650-636-4884.",
    "Press ctrl + shift + i to open the tools.",
    "What is 2 + 2?",
    "Write a C++ function that returns a std::string.",
    "Return the book to the library, then import cars from Japan.",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_sentences_are_speakable(text):
    assert unspeakable(text) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Fix this.\n\n```\nx = 1\n```", "code"),
        ("Copy `~/Documents/results` to the server.", "code"),
        ('Convert it to Ruby.\n\nprint("Hello World!")', "code"),
        ('What language is this?\n\nif (20 > 18) {\n  printf("yes");\n}', "code"),
        ("Convert it.\n\n<code>Use it.</code>", "code"),
        ("Is == bad in Java?", "code"),
        ("Fix it.\n\nfor i in range(10)\n    print(i)", "code"),
        ("Compare them.\n\n| a | b |\n| 1 | 2 |", "table"),
        ("Rows: item, qty | mango, 5 | apple, 4 | oil, 2", "table"),
        ("Compare them.\n\n+-----+-----+", "table"),
        ("Visit www.example.org for more.", "url"),
        ("Write to anna@example.com today.", "url"),
        ("Solve $x + 1 = 2$ for x.", "math"),
        ("Simplify \\frac{1}{2} of it.", "math"),
        ("Solve x^3 - 4x^2 + 6x - 24 = 0", "math"),
        ("Solve for x in the equation 3x + 10 = 5(x - 2).", "math"),
        ("Prove that k is ≥ 0.", "math"),
        ("Guess the movie: 🧙🚪📚", "emoji"),
        ("word " * 101, "too long"),
        ("漢" * 202, "too long"),
        ("", "empty"),
        (" \n ?! ", "empty"),
    ],
)
def test_each_reason_is_found(text, reason):
    assert reason in REASONS and unspeakable(text) == reason


def test_cjk_counts_a_word_per_two_characters():
    assert word_count("漢" * 200) == 100 and unspeakable("漢" * 200) is None
    assert word_count("I like 北京") == 3


def test_min_words_leaves_out_what_is_too_short():
    assert unspeakable("Hello there", min_words=3) == "too short" and unspeakable("Hello there") is None


WORD = st.text(alphabet=string.ascii_letters + "éüñçø", min_size=1, max_size=10)
TOKEN = st.builds(
    lambda before, word, after: before + word + after,
    st.sampled_from(["", "", "", '"', "'", "("]),
    WORD,
    st.sampled_from(["", "", "", ",", ".", "?", "!", ":", ";", "'s", '"', "'", ")", "...", " -"]),
)
LINE = st.builds(
    lambda number, tokens: number + " ".join(tokens),
    st.sampled_from(["", "", "1. ", "2) "]),
    st.lists(TOKEN, min_size=1, max_size=12),
)
PLAIN = st.lists(LINE, min_size=1, max_size=6).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(PLAIN)
def test_plain_sentences_of_letters_and_ordinary_punctuation_are_never_flagged(text):
    assert unspeakable(text, max_words=200) is None


@settings(max_examples=200, deadline=None)
@given(PLAIN, st.data())
def test_anything_with_an_http_url_is_flagged_url(text, data):
    host = data.draw(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=12))
    url = f"http{data.draw(st.sampled_from(['', 's']))}://{host}.org/{data.draw(WORD)}"
    words = text.split(" ")
    at = data.draw(st.integers(0, len(words)))
    assert unspeakable(" ".join([*words[:at], url, *words[at:]]), max_words=200) == "url"


# -- what the voice is given --------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text)


MARKED = st.builds(
    lambda separator, lines: separator.join(lines),
    st.sampled_from(["\n", "\n\n", "<br>", " \n"]),
    st.lists(
        st.builds(
            lambda start, tokens, marks: start + " ".join(m + t + m for t, m in zip(tokens, marks)),
            st.sampled_from(["", "# ", "## ", "> ", "- ", "* ", "+ ", "  "]),
            st.lists(TOKEN, min_size=1, max_size=8),
            st.lists(st.sampled_from(["", "", "**", "__", "*", "_", "`"]), min_size=8, max_size=8),
        ),
        min_size=1,
        max_size=6,
    ),
)


@settings(max_examples=300, deadline=None)
@given(MARKED)
def test_speech_text_keeps_every_word_in_order(text):
    spoken = speech_text(text)
    assert _words(spoken) == _words(text.replace("<br>", "\n"))  # a line break in HTML is no word
    assert "\n" not in spoken and "  " not in spoken and "**" not in spoken and "`" not in spoken


def test_speech_text_reads_lines_as_sentences_without_markdown():
    text = "# Plan\n\nHelp me with **three** things:\n- rent\n- food\n> Thanks<br>Anna &amp; Ben\nwho wrote this"
    assert speech_text(text) == "Plan. Help me with three things: rent. food. Thanks. Anna & Ben who wrote this"
    assert speech_text("What is 2 + 2") == "What is 2 + 2"


# -- AlpacaEval's 805 (beside the repo, when present) -------------------------------------------------------------


def test_alpaca_eval_is_read_whole_and_most_of_it_is_speakable():
    if not ALPACA_EVAL_FILE.is_file():
        pytest.skip(f"AlpacaEval not found at {ALPACA_EVAL_FILE}")
    got = read_instructions(ALPACA_EVAL_FILE)
    assert got.total == 805
    assert len(got.questions) + sum(got.left_out.values()) == 805
    assert len(got.questions) >= 600
    assert set(got.left_out) <= set(REASONS)
    left = [i for ids in got.left_out_ids.values() for i in ids]
    kept = [q.id for q in got.questions]
    assert sorted(left + kept) == [f"{n:04d}" for n in range(805)]
    assert set(got.categories) == {"helpful_base", "koala", "oasst", "selfinstruct", "vicuna"}
    assert got.questions[0].reference and got.questions[0].id == "0000"
