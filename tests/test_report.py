"""`audiomlqa report`: the site over what `score` wrote, checked in a real browser (Debian's Chromium, headless): the
leaderboard's numbers are `score --json`'s, sorting and filters work, the heatmap holds every pair, clips play, and no
page logs an error. Screenshots of every page are written for review (to $AUDIOMLQA_SCREENSHOTS when set)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from helpers import assert_one_line, audiomlqa

from audiomlqa.languages import LANGUAGES
from audiomlqa.report.latex import leaderboard_table
from audiomlqa.report.results import load_results
from audiomlqa.report.stats import leaderboard
from audiomlqa.sources import read_dataset_files

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "audiomlqa" / "data" / "mlqa-sample"
MODELS = {"half-right": 0.5, "mostly-right": 0.8}
"""Two prediction folders over the 49 pairs of the packaged sample: the gold answer with this chance, else a wrong
one (seeded): any model's predictions, scored by the same scorer."""


def shoot(page, name: str, tmp_path: Path) -> Path:
    """A screenshot for review: in tmp_path, and in $AUDIOMLQA_SCREENSHOTS (the README's) when set."""
    folder = Path(os.environ.get("AUDIOMLQA_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=path)
    assert path.stat().st_size > 1000
    return path


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> dict:
    """The two models' predictions, their `score --json` documents, and the report the CLI made of them."""
    root = tmp_path_factory.mktemp("grid")
    files = read_dataset_files(SAMPLE, "dev")
    scores = {}
    for name, chance in MODELS.items():
        rng = random.Random(name)
        folder = root / name
        folder.mkdir()
        for f in files:
            answers = {q.id: q.answer_texts[0] if rng.random() < chance else "no idea" for q in f.questions}
            (folder / f"{f.config}.json").write_text(json.dumps(answers), encoding="utf-8")
        out = audiomlqa("score", folder, "--dataset", SAMPLE, "--json")
        assert out.returncode == 0, out.stderr
        scores[name] = json.loads(out.stdout)
    site = root / "site"
    out = audiomlqa("report", *(root / m for m in MODELS), "--dataset", SAMPLE, "--out", site, "--json")
    assert out.returncode == 0, out.stderr
    return {"root": root, "site": site, "scores": scores, "written": json.loads(out.stdout)}


def test_report_prints_one_json_document_naming_its_pages(grid):
    written = grid["written"]
    assert [Path(p).name for p in written["pages"]] == ["index.html", "gxlt.html", "questions.html"]
    assert written["models"] == list(MODELS) and len(written["configs"]) == 49
    assert all(Path(p).is_file() for p in written["figures"] + written["tables"])


def test_the_leaderboard_shows_score_jsons_floats_and_sorts_by_a_column(grid, browser_page, tmp_path):
    page = browser_page(grid["site"] / "index.html")
    table = page.locator("table.leaderboard[data-metric=f1]")
    for model, doc in grid["scores"].items():
        row = table.locator(f"tr[data-model='{model}']")
        assert float(row.locator("td[data-column=overall]").get_attribute("data-value")) == doc["f1"]
        for pair in doc["pairs"]:
            assert float(row.locator(f"td[data-column='{pair['pair']}']").get_attribute("data-value")) == pair["f1"]
    page.select_option("#metric", "exact_match")
    em = page.locator("table.leaderboard[data-metric=exact_match]")
    assert em.is_visible() and not table.is_visible()
    row = em.locator("tr[data-model='half-right']")
    assert (
        float(row.locator("td[data-column=overall]").get_attribute("data-value"))
        == (grid["scores"]["half-right"]["exact_match"])
    )

    def order():
        return em.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.model)")

    header = em.locator("th[data-column=overall]")
    header.click()
    assert order() == ["mostly-right", "half-right"] and header.get_attribute("aria-sort") == "descending"
    header.click()
    assert order() == ["half-right", "mostly-right"] and header.get_attribute("aria-sort") == "ascending"
    shoot(page, "leaderboard", tmp_path)
    assert page.errors == []


def test_the_gxlt_heatmap_has_a_cell_per_pair_holding_its_f1(grid, browser_page, tmp_path):
    page = browser_page(grid["site"] / "gxlt.html")
    matrix = grid["scores"]["half-right"]["matrix"]["f1"]
    cells = page.locator("figure[data-model='half-right'][data-kind=f1] g.cell")
    assert cells.count() == 49
    got = cells.evaluate_all("cs => cs.map(c => [c.dataset.context, c.dataset.question, Number(c.dataset.value)])")
    assert {(c, q): v for c, q, v in got} == {(c, q): matrix[c][q] for c in LANGUAGES for q in LANGUAGES}
    difference = page.locator("figure[data-model='mostly-right'][data-kind=difference] g.cell")
    most = grid["scores"]["mostly-right"]["matrix"]["f1"]
    de_en = difference.locator("xpath=self::*[@data-context='de'][@data-question='en']")
    assert float(de_en.get_attribute("data-value")) == pytest.approx(most["de"]["en"] - matrix["de"]["en"])
    shoot(page, "gxlt", tmp_path)
    assert page.errors == []


def test_the_question_explorers_filters_change_its_rows(grid, browser_page, tmp_path):
    page = browser_page(grid["site"] / "questions.html")
    total = sum(len(f.questions) for f in read_dataset_files(SAMPLE, "dev"))

    def count() -> int:
        return int(page.locator("#count").inner_text().split(" of ")[0])

    assert count() == total and page.locator("#rows tr").count() == 25  # one page
    page.select_option("#f-config", "de-en")
    de_en = len(read_dataset_files(SAMPLE, "dev", [("de", "en")])[0].questions)
    assert count() == de_en == page.locator("#rows tr").count()
    page.select_option("#f-config", "")
    page.select_option("#f-model", "mostly-right")
    page.check("#f-wrong")
    wrong = count()
    assert 0 < wrong < total
    assert page.locator("#rows .answer.right").count() == 0  # only its wrong answers are shown
    page.uncheck("#f-wrong")
    page.select_option("#f-model", "")
    page.check("#f-disagree")
    assert 0 < count() < total
    shoot(page, "questions-text", tmp_path)
    assert page.errors == []


def test_paper_exports_show_a_missing_value_as_missing_never_zero(grid, tmp_path):
    only_de = tmp_path / "only-de"
    only_de.mkdir()
    (only_de / "de.json").write_text((grid["root"] / "half-right" / "de.json").read_text(), encoding="utf-8")
    results = load_results([grid["root"] / "mostly-right", only_de], SAMPLE, "dev")
    board = leaderboard(results, resamples=200)
    assert board.cells["only-de"]["f1"].get("en") is None
    tex = leaderboard_table(board, "f1", ["overall", "de", "en"])
    row = next(line for line in tex.splitlines() if line.startswith("only-de"))
    assert row.split(" & ")[3].startswith("--") and r"\toprule" in tex and r"\bottomrule" in tex
    # the paired test runs on the configs both answered: de only
    assert set(board.tests["only-de"]["f1"]) == {"de", "overall"}


def test_a_model_compared_with_itself_differs_by_nothing_with_p_one(grid):
    results = load_results([grid["root"] / "half-right"], SAMPLE, "dev")
    results.models.append(results.models[0].__class__(**{**results.models[0].__dict__, "name": "copy"}))
    test = leaderboard(results, "half-right", resamples=200).tests["copy"]["f1"]["overall"]
    assert (test.difference, test.low, test.high, test.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_a_report_never_replaces_a_folder_of_other_files(grid, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    out = audiomlqa("report", grid["root"] / "half-right", "--dataset", SAMPLE, "--out", tmp_path)
    assert_one_line(out, "is not an audiomlqa report")
    assert (tmp_path / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "nobody"], "no model named 'nobody'"),
        ([], "do not record their dataset: pass --dataset"),
    ],
)
def test_report_mistakes_fail_in_one_line(args, message, grid, tmp_path):
    dataset = ["--dataset", str(SAMPLE)] if args else []
    out = audiomlqa("report", grid["root"] / "half-right", *dataset, *args, "--out", tmp_path / "site")
    assert_one_line(out, message)
    assert not (tmp_path / "site").exists()


@pytest.mark.slow
def test_a_report_on_a_spoken_dataset_shows_scores_and_judgements_as_score_does_and_plays_its_clips(
    spoken_dataset, judge_server, browser_page, tmp_path
):
    dataset = spoken_dataset(["en", "de"], 2)  # the one test_judging and test_audiochat read
    preds = tmp_path / "predictions"
    preds.mkdir()
    for f in read_dataset_files(dataset, "dev"):  # the first question right, the second wrong
        answers = {q.id: q.answer_texts[0] if i == 0 else "no idea" for i, q in enumerate(f.questions)}
        (preds / f"{f.config}.json").write_text(json.dumps(answers), encoding="utf-8")
    judge = tmp_path / "judge.json"
    judge.write_text(json.dumps({"name": "served-judge", "kind": "api", "base_url": judge_server, "model": "j"}))
    out = audiomlqa("score", preds, "--dataset", dataset, "--judge", judge, "--json")
    assert out.returncode == 0, out.stderr
    scored = json.loads(out.stdout)
    run = tmp_path / "run"  # and a tiny model's answers, as score writes them
    spec = ROOT / "models" / "tiny-text.json"
    out = audiomlqa("score", spec, "--dataset", dataset, "--predictions-dir", run, "--json")
    assert out.returncode == 0, out.stderr
    tiny = json.loads(out.stdout)["models"][0]
    site = tmp_path / "site"
    out = audiomlqa("report", preds, run, "--dataset", dataset, "--out", site)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(site / "index.html"), str(site / "questions.html")]

    page = browser_page(site / "index.html")
    board = json.loads((site / "leaderboard.json").read_text())
    f1 = page.locator("table.leaderboard[data-metric=f1] tr[data-model=predictions]")
    judged = page.locator("table.leaderboard[data-metric=judge_mean] tr[data-model=predictions]")
    for pair in scored["pairs"]:
        config = pair["pair"]
        assert float(f1.locator(f"td[data-column='{config}']").get_attribute("data-value")) == pair["f1"]
        interval = board["cells"]["predictions"]["f1"][config]
        assert {"low": interval["low"], "high": interval["high"]} == pair["intervals"]["f1"]
        judge_mean = scored["judge"]["pairs"][config]["judge_mean"]
        assert float(judged.locator(f"td[data-column='{config}']").get_attribute("data-value")) == judge_mean
    row = page.locator("table.leaderboard[data-metric=raw_f1] tr[data-model=tiny-text]")
    for config, got in tiny["configs"].items():
        assert float(row.locator(f"td[data-column='{config}']").get_attribute("data-value")) == got["raw_f1"]
        assert board["cells"]["tiny-text"]["raw_f1"][config]["low"] == got["intervals"]["raw_f1"]["low"]
    assert page.errors == []

    page = browser_page(site / "questions.html")
    audio = page.locator("#rows audio").first
    duration = audio.evaluate(
        "a => new Promise((ok, fail) => { if (a.readyState >= 1) ok(a.duration);"
        " a.addEventListener('loadedmetadata', () => ok(a.duration)); a.addEventListener('error', fail); a.load(); })"
    )
    assert 0.2 < duration < 30
    assert page.locator("#rows tr").count() == 4 and page.errors == []
    assert page.locator("#rows tr").first.locator(".answer").count() == 2  # both models' answers to a question
    shoot(page, "questions", tmp_path)
