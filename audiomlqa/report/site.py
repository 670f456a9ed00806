"""``audiomlqa report``: one self-contained static site over what ``score`` wrote.

Pages (HTML with their CSS, script and data inlined; no server, no CDN, no network; ``index.html`` opens from disk):

    index.html       the leaderboard: model × metric × (overall, each config) with bootstrap intervals, the paired
                     bootstrap against a baseline, per-config bars, judge-vs-F1, raw-vs-extracted
    gxlt.html        the G-XLT heatmap per model and each model's difference from the baseline (cross-lingual runs)
    questions.html   every question: text, clip, ASR transcript, gold, every model's raw and extracted answer, scores
    audio/           the clips the explorer plays (from a published dataset), linked relatively
    figures/*.svg    every figure, for a paper; tables/*.tex the same numbers as booktabs tables
    leaderboard.json every number on the pages

Numbers are computed in Python (:mod:`.stats`) and written into the HTML; the script only sorts and filters, so what a
test reads in the browser is what the library computed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from audiomlqa import __version__
from audiomlqa.errors import AudioMLQAError
from audiomlqa.report import latex, svg
from audiomlqa.report.audio import Clip, is_published, published_clips
from audiomlqa.report.results import Results, load_results
from audiomlqa.report.stats import METRICS, OVERALL, Leaderboard, gxlt_matrix, has_cross_lingual, leaderboard
from audiomlqa.tasks import EXTRACTIVE_QA, parse_config
from audiomlqa.utils.files import replace_dir, write_json, write_text

MARKER = ".audiomlqa-report"
"""A file every site holds: a folder without it is never replaced (``--out`` pointing at a folder of other files)."""
MAX_BAR_GROUPS = 16
"""Configs beyond this many (a full 49-pair grid) are left to the heatmaps; bars show the monolingual ones."""
HERE = Path(__file__).parent


@dataclass
class Site:
    folder: Path
    pages: list[Path]
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    configs: list[str] = field(default_factory=list)
    clips: int = 0

    def moved(self, tmp: Path, out: Path) -> Site:
        """The same site named where it was put: built in ``tmp``, now at ``out``."""
        self.folder = out
        self.pages, self.figures, self.tables = (
            [out / p.relative_to(tmp) for p in paths] for paths in (self.pages, self.figures, self.tables)
        )
        return self

    def to_dict(self) -> dict:
        return {
            "folder": str(self.folder),
            "pages": [str(p) for p in self.pages],
            "figures": [str(p) for p in self.figures],
            "tables": [str(p) for p in self.tables],
            "models": self.models,
            "configs": self.configs,
            "clips": self.clips,
        }


@cache
def _environment():
    try:
        import jinja2
    except ImportError:
        raise AudioMLQAError("audiomlqa report needs Jinja2: pip install jinja2") from None
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(fmt=_fmt, signed=_signed)
    return env


def _digits(metric: str) -> int:
    return 2 if metric == "judge_mean" else 1


def _fmt(x: float | None, metric: str = "f1") -> str:
    return "—" if x is None else f"{x:.{_digits(metric)}f}"


def _signed(x: float | None, metric: str = "f1") -> str:
    return "—" if x is None else f"{x:+.{_digits(metric)}f}"


def page_data(data: object) -> str:
    """JSON for a ``<script type="application/json">``: ``</`` escaped so no value can close the element."""
    from markupsafe import Markup

    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Markup(text.replace("</", "<\\/").replace("<!--", "<\\!--"))


def render(folder: Path, page: str, title: str, data: object, nav: Sequence[tuple[str, str]], **context) -> Path:
    """Write ``folder/<page>.html`` from ``templates/<page>.html`` with the shared CSS and script inlined."""
    from markupsafe import Markup

    html = (
        _environment()
        .get_template(f"{page}.html")
        .render(
            page=page,
            title=title,
            nav=nav,
            version=__version__,
            made_at=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            css=Markup((HERE / "static" / "style.css").read_text(encoding="utf-8")),
            js=Markup(_script(page)),
            data=page_data(data),
            **context,
        )
    )
    path = folder / f"{page}.html"
    path.write_text(html, encoding="utf-8")
    return path


def _script(page: str) -> str:
    """The shared script, and the page's own (``static/<page>.js``) when it has one."""
    scripts = [HERE / "static" / "report.js", HERE / "static" / f"{page}.js"]
    return "\n".join(p.read_text(encoding="utf-8") for p in scripts if p.is_file())


def check_out(out: Path) -> None:
    """``out`` must be absent, empty or an earlier site: a report never replaces a folder of other files."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise AudioMLQAError(f"{out} exists and is not an audiomlqa report: give --out a new or empty folder")


def prepare_folder(out: Path) -> Path:
    """A fresh temporary folder beside ``out`` (checked by :func:`check_out`) to build a site in."""
    check_out(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / MARKER).write_text("made by audiomlqa report; the next report replaces this folder\n", encoding="utf-8")
    return tmp


def publish_folder(tmp: Path, out: Path) -> None:
    """Put the finished site at ``out`` (an earlier one is removed only once the new one is in place)."""
    replace_dir(tmp, out)


def build_report(
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    dataset: str | Path | None = None,
    split: str | None = None,
    baseline: str | None = None,
    audio: bool = True,
    resamples: int = 1000,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> Site:
    """``audiomlqa report PREDICTIONS... --out SITE``: read, score per question, compute intervals and tests, and
    write the site (built in a temporary folder, then put in place: a failed report leaves the last one)."""
    log = log or (lambda line: None)
    out = Path(out)
    check_out(out)  # before the work, not after it
    results = load_results(inputs, dataset, split)
    board = leaderboard(results, baseline, resamples=resamples, seed=seed)
    log(f"{len(results.models)} model(s), {len(results.configs)} config(s) from {results.dataset} ({results.split})")
    tmp = prepare_folder(out)
    try:
        site = _write(results, board, tmp, audio, resamples, seed, log)
        publish_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return site.moved(tmp, out)


def _write(results: Results, board: Leaderboard, folder: Path, audio: bool, resamples: int, seed: int, log) -> Site:
    cross = has_cross_lingual(results)
    nav = [("index.html", "Leaderboard"), *([("gxlt.html", "G-XLT")] if cross else []), ("questions.html", "Questions")]
    subtitle = (
        f"{results.dataset} · {results.split} · {len(results.models)} model(s) · {len(results.configs)} config(s)"
    )
    site = Site(folder, [], models=board.models, configs=results.configs)
    figures = _figures(results, board, folder, site)
    tables = _tables(results, board, folder, site, cross)
    best = {m: board.best(m) for m in board.metrics}
    write_json(folder / "leaderboard.json", {**board.to_dict(), "dataset": results.dataset, "split": results.split})
    common = {"subtitle": subtitle, "baseline": board.baseline}
    site.pages.append(
        render(
            folder,
            "index",
            "Leaderboard",
            board.to_dict(),
            nav,
            about=f"{results.dataset}, split {results.split}.",
            metrics=board.metrics,
            metric_labels=METRICS,
            columns=board.columns,
            configs=results.configs,
            cross_lingual=[c for c in results.configs if not _monolingual(c)],
            models=board.models,
            board=board,
            best=best,
            level=95,
            resamples=resamples,
            seed=seed,
            figures=figures,
            tables=[t.relative_to(folder).as_posix() for t in tables],
            **common,
        )
    )
    if cross:
        site.pages.append(
            render(folder, "gxlt", "G-XLT", {}, nav, heatmaps=_heatmaps(results, board, folder, site), **common)
        )
    clips = _clips(results, folder, audio)
    site.clips = sum(1 for c in clips.values() if c.href)
    log(f"{site.clips} clip(s) written for the question explorer")
    rows = explorer_rows(results, clips)
    site.pages.append(
        render(folder, "questions", "Questions", rows, nav, configs=results.configs, models=board.models, **common)
    )
    return site


@dataclass
class _Figure:
    name: str
    svg: object
    caption: str
    href: str


def _save_figure(folder: Path, site: Site, name: str, text: str, caption: str) -> _Figure:
    from markupsafe import Markup

    path = folder / "figures" / f"{name}.svg"
    path.parent.mkdir(exist_ok=True)
    write_text(path, text)
    site.figures.append(path)
    return _Figure(name, Markup(text), caption, path.relative_to(folder).as_posix())


def _figures(results: Results, board: Leaderboard, folder: Path, site: Site) -> list[_Figure]:
    configs = results.configs
    groups = configs if len(configs) <= MAX_BAR_GROUPS else [c for c in configs if _monolingual(c)]
    out = []
    for metric in ("f1", "judge_mean"):
        if metric not in board.metrics:
            continue
        series = [(m, [_triple(board, m, metric, g) for g in [OVERALL, *groups]]) for m in board.models]
        text = svg.bars(
            [OVERALL, *groups],
            series,
            f"{METRICS[metric]} per config (95% intervals)",
            ymax=5.0 if metric == "judge_mean" else 100.0,
            ylabel=METRICS[metric],
            digits=_digits(metric),
        )
        caption = f"{METRICS[metric]} overall and per config, whiskers: bootstrap 95% intervals."
        out.append(_save_figure(folder, site, f"bars-{metric}", text, caption))
    if {"f1", "raw_f1"} <= set(board.metrics):
        series = [
            (label, [_triple(board, m, metric, OVERALL) for m in board.models])
            for label, metric in (("extracted answer", "f1"), ("raw output", "raw_f1"))
        ]
        text = svg.bars(board.models, series, "F1: extracted answer vs raw output (overall)", ylabel="F1")
        caption = "What answer extraction gains or loses: F1 of the extracted answer beside F1 of the raw output."
        out.append(_save_figure(folder, site, "raw-vs-extracted", text, caption))
    if {"f1", "judge_mean"} <= set(board.metrics):
        points = [
            (c, i, cells["f1"][c].value, cells["judge_mean"][c].value)
            for i, m in enumerate(board.models)
            if {"f1", "judge_mean"} <= set(cells := board.cells.get(m, {}))
            for c in configs
            if c in cells["f1"] and c in cells["judge_mean"] and cells["judge_mean"][c].value is not None
        ]
        text = svg.scatter(points, board.models, "Judge vs F1 per config", xlabel="F1", ylabel="judge mean 0–5")
        out.append(_save_figure(folder, site, "judge-vs-f1", text, "Each point: one model on one config."))
    return out


def _triple(board: Leaderboard, model: str, metric: str, column: str):
    cell = board.cells.get(model, {}).get(metric, {}).get(column)
    return (None, None, None) if cell is None else (cell.value, cell.low, cell.high)


def _monolingual(config: str) -> bool:
    c = parse_config(config)
    return c.task != EXTRACTIVE_QA or c.context_lang == c.question_lang


def _tables(results: Results, board: Leaderboard, folder: Path, site: Site, cross: bool) -> list[Path]:
    (folder / "tables").mkdir(exist_ok=True)
    columns = (
        board.columns if len(board.columns) <= MAX_BAR_GROUPS + 1 else [OVERALL, *filter(_monolingual, results.configs)]
    )
    for metric in board.metrics:
        path = folder / "tables" / f"leaderboard-{metric}.tex"
        write_text(path, latex.leaderboard_table(board, metric, columns))
        site.tables.append(path)
    if cross:
        for m in board.models:
            path = folder / "tables" / f"gxlt-{_slug(m)}.tex"
            write_text(path, latex.matrix_table(gxlt_matrix(results, m)))
            site.tables.append(path)
    return list(site.tables)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _heatmaps(results: Results, board: Leaderboard, folder: Path, site: Site) -> list[dict]:
    out = []
    base = gxlt_matrix(results, board.baseline)
    for m in board.models:
        matrix = gxlt_matrix(results, m)
        fig = _save_figure(folder, site, f"gxlt-{_slug(m)}", svg.heatmap(matrix, f"{m}: G-XLT F1"), "")
        out.append({"model": m, "kind": "f1", "svg": fig.svg, "href": fig.href, "tex": f"tables/gxlt-{_slug(m)}.tex",
                    "caption": f"{m}: F1 per (context, question) pair."})  # fmt: skip
    for m in board.models:
        if m == board.baseline:
            continue
        matrix = gxlt_matrix(results, m)
        diff = {
            c: {q: None if v is None or base[c][q] is None else v - base[c][q] for q, v in row.items()}
            for c, row in matrix.items()
        }
        title = f"{m} − {board.baseline}: F1 difference"
        fig = _save_figure(folder, site, f"gxlt-{_slug(m)}-minus-{_slug(board.baseline)}",
                           svg.heatmap(diff, title, diverging=True, scale=(-100.0, 100.0)), "")  # fmt: skip
        caption = f"{m} minus {board.baseline}, pair by pair."
        out.append(
            {"model": m, "kind": "difference", "svg": fig.svg, "href": fig.href, "tex": None, "caption": caption}
        )
    return out


def _clips(results: Results, folder: Path, audio: bool) -> dict[tuple[str, str], Clip]:
    if not is_published(results.dataset):
        return {}
    return published_clips(results.dataset, results.split, results.configs, folder, with_audio=audio)


def explorer_rows(results: Results, clips: dict[tuple[str, str], Clip]) -> dict:
    """The question explorer's data: a row per (config, question) some model answered; contexts stored once."""
    contexts: dict[str, int] = {}
    rows = []
    for config in results.configs:
        for q in results.gold[config].questions:
            answers = {}
            for m in results.models:
                a = m.configs.get(config, None)
                a = a.answers.get(q.id) if a is not None else None
                if a is None:
                    continue
                answers[m.name] = {
                    "x": a.extracted, "r": a.raw, "t": a.transcript, "em": a.exact_match, "f1": a.f1,
                    **({"j": a.judge} if m.judge else {}), **({"over": True} if a.over_window else {}),
                }  # fmt: skip
            if not answers:
                continue
            clip = clips.get((config, q.id))
            info = clip.columns if clip else {}
            rows.append(
                {
                    "config": config,
                    "id": q.id,
                    "question": q.question,
                    "context": contexts.setdefault(q.context, len(contexts)) if q.context else -1,
                    "golds": list(q.answer_texts),
                    "reference": q.reference,
                    "audio": clip.href if clip and clip.href else None,
                    "transcript": info.get("asr_transcript"),
                    "error": info.get("error_rate"),
                    "voice": info.get("tts_voice"),
                    "answers": answers,
                }
            )
    return {
        "models": [m.name for m in results.models],
        "configs": results.configs,
        "contexts": list(contexts),
        "rows": rows,
    }
