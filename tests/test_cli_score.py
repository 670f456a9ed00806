"""`audiomlqa score` end to end: the console script on real MLQA sample files, and its one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audiomlqa.sources import read_mlqa_dir


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "audiomlqa.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for frag in fragments:
        assert frag in lines[0]


@pytest.fixture
def de_file(sample_dir) -> Path:
    return sample_dir / "dev" / "dev-context-de-question-de.json"


def test_single_file_json(tmp_path, de_file):
    questions = read_mlqa_dir(de_file.parent.parent, "dev", [("de", "de")])[0].questions
    preds = {q.id: q.answers[0].text for q in questions[:5]}
    preds[questions[5].id] = "Der " + questions[5].answers[0].text  # article removed: still exact
    (tmp_path / "p.json").write_text(json.dumps(preds, ensure_ascii=False))
    proc = run_cli("score", tmp_path / "p.json", "--dataset", de_file, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["exact_match"] == pytest.approx(60.0) and report["f1"] == pytest.approx(60.0)
    assert report["pairs"][0]["answered"] == 6 and report["pairs"][0]["total"] == 10
    prov = report["provenance"]
    assert prov["scorer"] == "mlqa_evaluation_v1" and prov["datasets"][de_file.name]
    table = run_cli("score", tmp_path / "p.json", "--dataset", de_file)
    assert table.returncode == 0 and "60.00" in table.stdout


@pytest.mark.slow
def test_directory_of_pairs_gives_language_table_matrix_and_averages(tmp_path, sample_dir):
    pairs = [("de", "de"), ("de", "en"), ("en", "en"), ("en", "de"), ("zh", "zh")]
    preds_dir = tmp_path / "preds"
    preds_dir.mkdir()
    for f in read_mlqa_dir(sample_dir, "dev", pairs):
        name = (
            f"{f.context_lang}.json"
            if f.context_lang == f.question_lang
            else f"{f.context_lang}-{f.question_lang}.json"
        )
        (preds_dir / name).write_text(json.dumps({q.id: q.answers[0].text for q in f.questions}, ensure_ascii=False))
    proc = run_cli("score", preds_dir, "--dataset", sample_dir, "--json", "--output", tmp_path / "scores.json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [p["pair"] for p in report["pairs"]] == ["en", "de", "zh", "en-de", "de-en"]
    assert report["languages"] == {x: {"exact_match": 100.0, "f1": 100.0} for x in ("en", "de", "zh")}
    assert report["matrix"]["f1"]["de"]["en"] == 100.0
    assert report["averages"]["cross_lingual"]["f1"] == 100.0
    assert json.loads((tmp_path / "scores.json").read_text()) == report
    md = run_cli("score", preds_dir, "--dataset", sample_dir, "--markdown")
    assert md.returncode == 0 and "G-XLT F1" in md.stdout and "| de | 100.00 | 100.00 |" in md.stdout
    # The same predictions as one {pair: {...}} file.
    nested = {p.stem: json.loads(p.read_text()) for p in preds_dir.glob("*.json")}
    (tmp_path / "nested.json").write_text(json.dumps(nested, ensure_ascii=False))
    again = json.loads(run_cli("score", tmp_path / "nested.json", "--dataset", sample_dir, "--json").stdout)
    assert again["pairs"] == report["pairs"]


@pytest.mark.slow
def test_bad_inputs_fail_with_one_clear_line(tmp_path, de_file, sample_dir):
    (tmp_path / "malformed.json").write_text('{"a": "b",')
    assert_one_line_error(run_cli("score", tmp_path / "malformed.json", "--dataset", de_file), "malformed JSON")
    (tmp_path / "empty.json").write_text("")
    assert_one_line_error(run_cli("score", tmp_path / "empty.json", "--dataset", de_file), "empty")
    (tmp_path / "preds.json").write_text(json.dumps({"0123": "x"}))
    (tmp_path / "notsquad.json").write_text(json.dumps({"questions": []}))
    assert_one_line_error(
        run_cli("score", tmp_path / "preds.json", "--dataset", tmp_path / "notsquad.json", "--lang", "en"),
        "not a SQuAD-format",
    )
    assert_one_line_error(
        run_cli("score", tmp_path / "preds.json", "--dataset", de_file, "--lang", "fr"), "unknown language 'fr'"
    )
    assert_one_line_error(run_cli("score", tmp_path / "preds.json", "--dataset", de_file), "another file")
    (tmp_path / "list.json").write_text("[1]")
    assert_one_line_error(run_cli("score", tmp_path / "list.json", "--dataset", de_file), "not a predictions mapping")
    (tmp_path / "spec.json").write_text(json.dumps({"name": "m", "kind": "cascade"}))
    assert_one_line_error(
        run_cli("score", tmp_path / "spec.json", "--dataset", de_file), "spec.json: llm: required"
    )  # specs run now; a broken one fails in one line
    assert_one_line_error(run_cli("score", tmp_path / "missing.json", "--dataset", de_file), "no such file")
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({"de-fr": {"1": "x"}}))
    assert_one_line_error(run_cli("score", nested, "--dataset", sample_dir), "unknown language 'fr'")
    assert_one_line_error(run_cli("score", tmp_path / "preds.json", "--dataset", sample_dir), "needs one dataset file")


def _file_size_limit() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16))  # every write past 16 bytes fails: a full disk, for one file


def test_a_write_that_cannot_complete_fails_in_one_line_whatever_writer_hit_it(tmp_path, de_file):
    """The CLI's last guard: a writer without a handler of its own (here pandas writing --csv) that hits a full
    disk or a size limit still ends in one line saying what to do, not a traceback."""
    questions = read_mlqa_dir(de_file.parent.parent, "dev", [("de", "de")])[0].questions
    (tmp_path / "p.json").write_text(json.dumps({q.id: q.answers[0].text for q in questions}, ensure_ascii=False))
    proc = subprocess.run(
        [sys.executable, "-m", "audiomlqa.cli", "score", str(tmp_path / "p.json"), "--dataset", str(de_file)]
        + ["--csv", str(tmp_path / "scores.csv")],
        capture_output=True,
        text=True,
        preexec_fn=_file_size_limit,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: File too large"), proc.stderr
    assert "rerun" in proc.stderr and proc.stdout == ""
