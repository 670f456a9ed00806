"""The ``audiomlqa`` command line: option parsing only; every command calls a library function.

Results go to stdout (``--json``: exactly one JSON document); progress, logs and warnings go to stderr. A command
imports its stage (synthesis, publish, evaluation, speechllm) when it runs, so ``--help`` and ``--version`` load no
model library (torch, transformers).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer

from audiomlqa import __version__
from audiomlqa.config import load_settings
from audiomlqa.download import download_mlqa
from audiomlqa.errors import AudioMLQAError, mask_secrets
from audiomlqa.sources import load_questions
from audiomlqa.utils.files import write_text
from audiomlqa.utils.tables import print_tables

app = typer.Typer(
    name="audiomlqa",
    help="Spoken multilingual QA (Audio-MLQA): synthesize, publish, train, score.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

OVERRIDES_HELP = "key=value overrides of the recipe (values read as YAML), e.g. asr.beam_size=5 max_steps=100."
LANG_HELP = "Language of a SQuAD file whose name does not say it: de, or de-en (context de, question en)."
Lang = Annotated[Optional[str], typer.Option(help=LANG_HELP)]
Quiet = Annotated[bool, typer.Option(help="No progress bar.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"audiomlqa {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Spoken multilingual QA (Audio-MLQA): synthesize, publish, train, score."""
    from audiomlqa.utils.progress import quiet_third_party_bars, status_seconds, stderr_is_terminal

    quiet_third_party_bars()  # a log file gets our status lines, not tqdm's carriage returns
    if not stderr_is_terminal():
        try:
            status_seconds()  # a bad AUDIOMLQA_STATUS_SECONDS fails now, not once a model has loaded
        except AudioMLQAError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None


def one_line_errors(fn):
    """Report AudioMLQAError (bad input, missing files) as one line on stderr and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AudioMLQAError as e:
            typer.echo(f"error: {mask_secrets(str(e))}", err=True)  # the last guard: no key's value in a message
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort, _click_errors()):
            raise  # the command's own exit, or click's usage errors: not ours to rewrite
        except KeyboardInterrupt:
            typer.echo("interrupted: finished work is kept; rerun the same command to resume", err=True)
            raise typer.Exit(130) from None
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS):
                _bug_report(e)
            where = f" writing {e.filename}" if e.filename else ""
            typer.echo(f"error: {e.strerror}{where}: free space (or write elsewhere) and rerun; finished work is kept",
                       err=True)  # fmt: skip
            raise typer.Exit(2) from None
        except ImportError as e:  # a heavy path without its extra: name the extra, in one line
            from audiomlqa.utils.extras import missing_extra

            if (error := missing_extra(e)) is None:
                _bug_report(e)
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
        except Exception as e:  # noqa: BLE001 - a bug: its traceback, masked like every message
            _bug_report(e)

    return wrapper


def _click_errors() -> type[Exception]:
    """typer 0.29+ raises its own copy of click's errors (TyperException) and no longer needs click; older typer
    raises click's."""
    if hasattr(typer, "TyperException"):
        return typer.TyperException
    import click

    return click.ClickException


def _bug_report(error: BaseException) -> None:
    """A failure the tool did not foresee is a bug: the traceback goes to stderr for the report, with every secret's
    value masked (a server's reply or a request's headers may sit in an exception's message)."""
    text = "".join(traceback.format_exception(error))
    typer.echo(mask_secrets(text).rstrip() + "\nThis is a bug in audiomlqa: please report it with the lines above.",
               err=True)  # fmt: skip
    raise typer.Exit(1) from None


@contextlib.contextmanager
def _results_only_stdout():
    """While the library works, everything written to stdout — by Python code or C libraries (DeepSpeed, for one,
    logs there on import) — goes to stderr; the command prints its results afterwards."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _log(line: str) -> None:
    typer.echo(line, err=True)


def _emit(report: dict, as_json: bool, output: Optional[Path]) -> bool:
    """Write the JSON report to ``output`` and/or stdout; True when stdout got it (nothing else may follow)."""
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    if output:
        write_text(output, text)
    if as_json:
        sys.stdout.write(text)
    return as_json


ScoreInputs = Annotated[
    list[Path],
    typer.Argument(
        help="Predictions ({id: answer} file, {pair: {id: answer}} file, or a directory of <pair>.json), or one "
        "or more model specs (models/*.json) to run and compare."
    ),
]
GoldDataset = Annotated[
    str,
    typer.Option(
        "--dataset", "-d", help="SQuAD JSON file, MLQA_V1 directory, or published dataset (folder or Hub id)."
    ),
]


@app.command()
@one_line_errors
def score(
    inputs: ScoreInputs,
    dataset: GoldDataset,
    split: Annotated[str, typer.Option(help="dev (= validation) or test.")] = "dev",
    lang: Lang = None,
    configs: Annotated[
        Optional[str], typer.Option(help="Model specs: comma-separated dataset configs (default: every pair).")
    ] = None,
    predictions_dir: Annotated[
        Path, typer.Option(help="Model specs: where predictions/<model>/<config>.json are cached.")
    ] = Path("predictions"),
    overwrite: Annotated[bool, typer.Option(help="Model specs: recompute cached predictions.")] = False,
    overrides: Annotated[
        Optional[list[str]],
        typer.Option("--set", help="Model specs: key=value override of every spec, e.g. --set batch_size=8."),
    ] = None,
    device: Annotated[
        Optional[str],
        typer.Option(help="Model specs: run every model here (auto, cpu, cuda, cuda:N), whatever the spec says."),
    ] = None,
    judge: Annotated[
        Optional[Path],
        typer.Option(help="Model specs: also score every answer 0–5 with this judge spec (models/judge-*.json)."),
    ] = None,
    judge_check: Annotated[
        int, typer.Option(help="With --judge: score N gold and N wrong answers per config to check the judge.")
    ] = 0,
    judge_prompt: Annotated[
        str,
        typer.Option(
            help="With --judge: v1 (the extracted answer, the score alone) or v2 (the full response against the "
            "reference, a JSON verdict with a reason)."
        ),
    ] = "v1",
    unparsed: Annotated[
        str,
        typer.Option(help="With --judge: unparsed judgements count as 0 in the mean (zero) or are left out (skip)."),
    ] = "zero",
    as_json: AsJson = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown tables.")] = False,
    csv: Annotated[
        Optional[Path],
        typer.Option("--csv", help="Also write the scores as a CSV table (a row per model/pair and config)."),
    ] = None,
    output: Annotated[Optional[Path], typer.Option(help="Also write the JSON report to this file.")] = None,
    quiet: Quiet = False,
) -> None:
    """Score predictions with MLQA's official F1/EM, or run model specs on Audio-MLQA and compare them."""
    from audiomlqa.evaluation import score as score_inputs

    with _results_only_stdout():
        result = score_inputs(
            inputs,
            dataset,
            split=split,
            lang=lang,
            configs=_csv(configs),
            predictions_dir=predictions_dir,
            overwrite=overwrite,
            overrides=overrides or [],
            device=device,
            judge=judge,
            judge_check=judge_check,
            judge_prompt=judge_prompt,
            unparsed=unparsed,
            progress=not quiet,
            log=_log,
            before_models=_quiet_transformers,
        )
    if result.primary:  # torchrun / accelerate launch: one report, from the first process
        _show(result, as_json, markdown, csv, output)


def _show(result, as_json: bool, markdown: bool, csv: Optional[Path], output: Optional[Path]) -> None:
    """A score's result: its CSV table and JSON report written where asked, then JSON or its tables on stdout."""
    if csv:
        result.frame().to_csv(csv, index=False)
    if not _emit(result.to_dict(), as_json, output):
        print_tables(result.tables(), markdown=markdown)


LIMIT_HELP = (
    "At most this many questions in all (smoke runs), taking the pairs in turn: --languages en,de --limit 5 gives "
    "3 en and 2 de. For N of every pair use --per-language N."
)


@app.command()
@one_line_errors
def questions(
    source: Annotated[
        str, typer.Argument(help="MLQA_V1 directory, SQuAD JSON file, or Hugging Face dataset (folder or id).")
    ],
    split: Annotated[str, typer.Option(help="dev (validation) or test.")] = "dev",
    languages: Annotated[
        Optional[str], typer.Option(help="Comma-separated languages, e.g. en,de,zh (default: all 7).")
    ] = None,
    pairs: Annotated[
        Optional[str],
        typer.Option(help="Comma-separated context-question pairs, e.g. de-en,de (overrides --languages)."),
    ] = None,
    cross_lingual: Annotated[
        bool, typer.Option(help="All context/question combinations of --languages, not just monolingual ones.")
    ] = False,
    per_language: Annotated[
        Optional[int], typer.Option(help="Keep N questions per pair (seeded, deterministic).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the per-language sample.")] = 0,
    limit: Annotated[Optional[int], typer.Option(help=LIMIT_HELP)] = None,
    lang: Annotated[Optional[str], typer.Option(help=LANG_HELP)] = None,
) -> None:
    """Print the selected questions as JSON lines (what synthesize would speak)."""
    selected = load_questions(
        source,
        split=split,
        languages=_csv(languages),
        pairs=_csv(pairs),
        cross_lingual=cross_lingual,
        per_language=per_language,
        seed=seed,
        limit=limit,
        lang=lang,
    )
    for q in selected:
        sys.stdout.write(json.dumps(q.to_dict(), ensure_ascii=False) + "\n")


SynthRecipe = Annotated[
    Optional[Path], typer.Option(help="YAML recipe (keys of SynthesisConfig); options and overrides change it.")
]
SynthSource = Annotated[
    Optional[str], typer.Option(help="MLQA_V1 dir, SQuAD JSON or HF dataset (default: the packaged MLQA dev sample).")
]
SynthOutput = Annotated[
    Optional[Path], typer.Option("--output", "-o", help="Output directory (default: ./audio-mlqa-sample).")
]
SynthTTS = Annotated[Optional[str], typer.Option(help="TTS backend for every language (espeak, kokoro, mms, coqui).")]
AsrModel = Annotated[
    Optional[str], typer.Option(help="Whisper model: local path or hub id (default: Whisper base from PyPI).")
]
CalibrationFile = Annotated[
    Optional[Path],
    typer.Option(
        help="Calibration file (audiomlqa calibrate), or whisper-base-fleurs (shipped: the default judge on the shared "
        "FLEURS clips): thresholds from the ASR's error on human speech, per token by default (calibration.rule)."
    ),
]
Shard = Annotated[Optional[str], typer.Option(help="Do shard i of N (i/N), e.g. 0/4, for multi-machine runs.")]
Engine = Annotated[
    Optional[str],
    typer.Option(
        help="local (TTS in --workers processes, the ASR here) or ray (--workers TTS actors on CPUs, an ASR actor per "
        "GPU, on a Ray cluster; same rows). Default: local."
    ),
]
RayAddress = Annotated[
    Optional[str],
    typer.Option(help="With --engine ray: local (start one here, the default), auto, or ray://HOST:10001."),
]


@app.command()
@one_line_errors
def synthesize(
    overrides: Annotated[Optional[list[str]], typer.Argument(help=OVERRIDES_HELP)] = None,
    recipe: SynthRecipe = None,
    task: Annotated[
        Optional[str],
        typer.Option(
            help="extractive-qa (MLQA questions, the default) or instruction (an instruction set: JSON, JSONL or "
            "dataset with instruction and reference columns; --lang is its language)."
        ),
    ] = None,
    source: SynthSource = None,
    split: Annotated[Optional[str], typer.Option(help="dev (validation) or test.")] = None,
    lang: Lang = None,
    languages: Annotated[Optional[str], typer.Option(help="Comma-separated languages (default: all 7).")] = None,
    pairs: Annotated[Optional[str], typer.Option(help="Comma-separated context-question pairs, e.g. de,de-en.")] = None,
    per_language: Annotated[Optional[int], typer.Option(help="Questions per pair (seeded sample).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for sampling and TTS.")] = None,
    limit: Annotated[
        Optional[int], typer.Option(help=LIMIT_HELP + " Chosen before --shard: the shards split these.")
    ] = None,
    output: SynthOutput = None,
    tts: SynthTTS = None,
    asr_model: AsrModel = None,
    max_attempts: Annotated[Optional[int], typer.Option(help="Attempts per question before rejecting it.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Clips per ASR batch.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="TTS worker processes (Ray: TTS actors).")] = None,
    calibration: CalibrationFile = None,
    shard: Shard = None,
    engine: Engine = None,
    ray_address: RayAddress = None,
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """Speak MLQA questions (or instructions) with TTS and keep those an ASR round trip confirms (resumable; rerun to
    resume)."""
    from audiomlqa.synthesis import load_synthesis_config, summary_table
    from audiomlqa.synthesis import synthesize as run_synthesis

    instructing = task == "instruction" or (
        task is None and recipe is not None and _recipe_task(recipe) == "instruction"
    )
    overrides = [*(overrides or []), *([f"instructions.language={lang}"] if lang and instructing else [])]
    cfg = load_synthesis_config(
        recipe,
        overrides,
        tts=tts,
        asr_model=asr_model,
        task=task,
        source=source,
        source_lang=None if instructing else lang,
        split=split,
        languages=_csv(languages),
        pairs=_csv(pairs),
        per_language=per_language,
        seed=seed,
        limit=limit,
        output=str(output) if output else None,
        max_attempts=max_attempts,
        batch_size=batch_size,
        workers=workers,
        shard=shard,
        calibration=str(calibration) if calibration else None,
        engine=engine,
        ray_address=ray_address,
    )
    with _results_only_stdout():
        result = run_synthesis(cfg, progress=not quiet, command=command_line(), log=_log)
    _log(f"wrote {result.rows_written} attempt(s); output in {result.output}")
    if not _emit(result.summary, as_json, None):
        print_tables([summary_table(result.summary)])


def _recipe_task(recipe: Path) -> str | None:
    from audiomlqa.config import load_yaml

    return load_yaml(recipe).get("task")


@app.command()
@one_line_errors
def calibrate(
    reference: Annotated[
        str,
        typer.Option(
            help="Human speech: a folder of audio + .txt transcript pairs (e.g. ../shared/data/fleurs), or a Hugging "
            "Face dataset (folder or Hub id) with audio, text and language columns (FLEURS, Common Voice)."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Calibration file to write.")] = Path(
        "calibration.json"
    ),
    recipe: Annotated[
        Optional[Path], typer.Option(help="Synthesis recipe whose ASR settings and metrics to calibrate.")
    ] = None,
    asr_model: Annotated[
        Optional[str], typer.Option(help="Whisper model: local path or hub id (default: the recipe's, or base).")
    ] = None,
    lang: Annotated[
        Optional[str], typer.Option(help="Language of every clip (default: from names or a column).")
    ] = None,
    config: Annotated[
        Optional[str],
        typer.Option(
            help="Dataset config, or several comma-separated (FLEURS: "
            "en_us,ar_eg,de_de,es_419,hi_in,vi_vn,cmn_hans_cn)."
        ),
    ] = None,
    per_language: Annotated[
        Optional[int], typer.Option(min=1, help="Calibrate on the first N clips of each language (default: all).")
    ] = None,
    split: Annotated[str, typer.Option(help="Dataset split.")] = "test",
    text_column: Annotated[Optional[str], typer.Option(help="Dataset column with the transcript.")] = None,
    language_column: Annotated[Optional[str], typer.Option(help="Dataset column with the language.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the calibration as one JSON document.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    engine: Engine = None,
    ray_address: RayAddress = None,
    allow_implausible: Annotated[
        bool,
        typer.Option(
            help="Write a language whose error on human speech is implausible (a clip above 1.5, an empty "
            "transcript) anyway, marked as such in the file and the dataset card."
        ),
    ] = False,
) -> None:
    """Measure the ASR judge's error on human speech per language; `synthesize --calibration FILE` sets thresholds."""
    from audiomlqa.synthesis import calibrate_filter, calibration_table, load_synthesis_config, read_reference

    cfg = load_synthesis_config(recipe, asr_model=asr_model, engine=engine, ray_address=ray_address)
    ref = read_reference(
        reference,
        lang=lang,
        config=config,
        split=split,
        text_column=text_column,
        language_column=language_column,
        per_language=per_language,
    )
    with _results_only_stdout():
        doc = calibrate_filter(cfg, ref, output, progress=not quiet, allow_implausible=allow_implausible)
    if ref.skipped:
        _log("skipped (not MLQA languages): " + ", ".join(f"{k} {v}" for k, v in sorted(ref.skipped.items())))
    _log(f"wrote {output}")
    if not _emit(doc, as_json, None):
        print_tables([calibration_table(doc)])


@app.command()
@one_line_errors
def download(
    what: Annotated[str, typer.Argument(help="What to fetch: mlqa (the official MLQA_V1 archive, 75 MB).")],
    to: Annotated[Path, typer.Option("--to", help="Folder to put MLQA_V1/ in.")] = Path("."),
    url: Annotated[
        Optional[str], typer.Option(help="Another URL of the same archive (a mirror, or file:///path/MLQA_V1.zip).")
    ] = None,
    sha256: Annotated[
        Optional[str], typer.Option(help="Expected sha256 of the archive (default: the official one, pinned).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Fetch a source dataset, checked against its pinned sha256; an interrupted download resumes on rerun."""
    if what != "mlqa":
        raise AudioMLQAError(f"cannot download {what!r}: the one source it knows is mlqa")
    with _results_only_stdout():
        folder = download_mlqa(to, url=url, sha256=sha256, progress=not quiet, log=_log)
    typer.echo(str(folder))


@app.command()
@one_line_errors
def publish(
    outputs: Annotated[list[Path], typer.Argument(help="Synthesis output directories (e.g. every shard's) to merge.")],
    to: Annotated[
        Path, typer.Option("--to", help="Dataset folder to write (replaced if it holds an earlier publish).")
    ],
    include_rejected: Annotated[
        bool, typer.Option(help="Also write rejected questions, as config 'rejected'.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an earlier publish in --to (only the files it wrote; yours are kept).")
    ] = False,
    push_to_hub: Annotated[
        Optional[str], typer.Option(help="Also upload to this Hub dataset repo (user/name).")
    ] = None,
    private: Annotated[bool, typer.Option(help="Create the Hub repo private.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as one JSON document.")] = False,
) -> None:
    """Merge synthesis outputs into a Hugging Face dataset (one config per pair, parquet with audio, card)."""
    from audiomlqa.publish import publish as run_publish

    with _results_only_stdout():
        result = run_publish(
            outputs,
            to,
            include_rejected=include_rejected,
            overwrite=overwrite,
            push_to_hub=push_to_hub,
            private=private,
            command=command_line(),
        )
    _log(
        f"wrote {len(result.files)} parquet file(s) and README.md to {result.directory}"
        + (f"; pushed to {push_to_hub}" if push_to_hub else "")
    )
    if not _emit({"directory": str(result.directory), "configs": result.configs}, as_json, None):
        for config, splits in result.configs.items():
            typer.echo(f"{config}: " + ", ".join(f"{split} {n}" for split, n in splits.items()))


@app.command()
@one_line_errors
def report(
    inputs: Annotated[
        Optional[list[Path]],
        typer.Argument(
            help="What score wrote: a --predictions-dir folder, model folders, predictions folders of <pair>.json, "
            "or score --json documents."
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the site to (replaces an earlier one).")
    ] = Path("site"),
    data: Annotated[
        Optional[str],
        typer.Option("--data", help="Instead: the data explorer of a synthesis output or published dataset folder."),
    ] = None,
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", "-d", help="Gold questions (default: the dataset score recorded).")
    ] = None,
    split: Annotated[Optional[str], typer.Option(help="dev (validation) or test (default: as scored).")] = None,
    baseline: Annotated[
        Optional[str], typer.Option(help="Model the paired bootstrap compares every other with (default: the first).")
    ] = None,
    audio: Annotated[bool, typer.Option(help="Copy the clips beside the pages so they play.")] = True,
    resamples: Annotated[int, typer.Option(min=100, help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as one JSON document.")] = False,
) -> None:
    """A static site (open index.html from disk): leaderboard with intervals, G-XLT heatmaps, every question with its
    clip and every model's answers; or, with --data, every clip of a dataset with its filter verdicts."""
    if bool(inputs) == bool(data):
        raise AudioMLQAError("give predictions to report on, or --data DATASET for the data explorer (one of the two)")
    with _results_only_stdout():
        if data:
            from audiomlqa.report.data import build_data_explorer

            site = build_data_explorer(data, out, split=split, audio=audio, log=_log)
        else:
            from audiomlqa.report import build_report

            site = build_report(
                inputs, out, dataset=dataset, split=split, baseline=baseline, audio=audio, resamples=resamples,
                seed=seed, log=_log,
            )  # fmt: skip
    _log(f"wrote {len(site.pages)} page(s) to {site.folder}: open {site.pages[0]}")
    if not _emit(site.to_dict(), as_json, None):
        for page in site.pages:
            typer.echo(str(page))


@app.command(name="import")
@one_line_errors
def import_log(
    harness: Annotated[str, typer.Argument(help="Which harness wrote the log: lm-eval or lmms-eval.")],
    log: Annotated[Path, typer.Argument(help="Its --log_samples output: a samples file or their folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Predictions folder to write (<config>.json, .raw.json).")],
    dataset: Annotated[
        Optional[str],
        typer.Option("--dataset", "-d", help="The questions the run asked, where the log does not carry their ids."),
    ] = None,
    split: Annotated[str, typer.Option(help="dev (validation) or test.")] = "dev",
    overwrite: Annotated[bool, typer.Option(help="Replace answers imported from another log.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as one JSON document.")] = False,
) -> None:
    """A harness's per-sample log as audiomlqa predictions, so score, --judge and report read runs made elsewhere."""
    from audiomlqa.harness import import_lm_eval, import_lmms_eval

    importers = {"lm-eval": import_lm_eval, "lmms-eval": import_lmms_eval}
    if harness not in importers:
        raise AudioMLQAError(f"unknown harness {harness!r}: use lm-eval or lmms-eval")
    with _results_only_stdout():
        done = importers[harness](log, out, dataset=dataset, split=split, overwrite=overwrite)
    _log(f"imported {sum(done.configs.values())} answer(s) from {len(done.logs)} log(s) into {done.out}")
    report = {"out": str(done.out), "harness": done.harness, "configs": done.configs, "model": done.model,
              "logs": [str(p) for p in done.logs]}  # fmt: skip
    if not _emit(report, as_json, None):
        for config, n in done.configs.items():
            typer.echo(f"{config}: {n}")


@app.command(name="lmms-eval-tasks")
@one_line_errors
def lmms_eval_tasks(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Published Audio-MLQA folder or Hub id.")],
    to: Annotated[Path, typer.Option("--to", help="Task folder to write (for lmms-eval --include_path).")],
    split: Annotated[str, typer.Option(help="dev (validation) or test.")] = "test",
    configs: Annotated[
        Optional[str], typer.Option(help="Comma-separated configs (de,de-en); default: all the dataset holds.")
    ] = None,
) -> None:
    """Write lmms-eval's audio_mlqa tasks for a dataset (lmms-eval reads the dataset from the task files only)."""
    from audiomlqa.harness.lmms_eval_tasks import write_tasks

    typer.echo(str(write_tasks(dataset, to, split, _csv(configs))))


@app.command(name="train-reference")
@one_line_errors
def train_reference(
    recipe: Annotated[Path, typer.Option(help="YAML training recipe (see recipes/train-*.yaml).")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help=OVERRIDES_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON document.")] = False,
    push_to_hub: Annotated[
        Optional[str], typer.Option(help="Also upload the final checkpoint to this Hub model repo (user/name).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Train the language-aware distilled Speech LLM (or ML-DiVA) on ASR data; rerun to resume."""
    from audiomlqa.speechllm.train import load_train_config, train

    cfg = load_train_config(recipe, overrides or [])
    with _results_only_stdout():
        _quiet_transformers()
        result = train(cfg, progress=not quiet, push_to_hub=push_to_hub)
    if result.process_index != 0:  # under torchrun / accelerate launch, one report, not one per process
        return
    if not _emit(result.summary(), as_json, None):
        typer.echo("\n".join(result.report_lines()))


@app.command(name="asr-filter")
@one_line_errors
def asr_filter(
    overrides: Annotated[Optional[list[str]], typer.Argument(help=OVERRIDES_HELP)] = None,
    recipe: Annotated[Optional[Path], typer.Option(help="YAML filter recipe (fields of FilterConfig).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON document.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Drop ASR utterances Whisper mishears (the paper: WER > 10%); write the rest for train-reference."""
    from audiomlqa.speechllm.asr_filter import FilterConfig, filter_corpus

    cfg = load_settings(FilterConfig, recipe, overrides or [])
    with _results_only_stdout():
        report = filter_corpus(cfg, progress=not quiet)
    if _emit(report, as_json, None):
        return
    counts = ", ".join(f"{k} {v['kept']}/{v['kept'] + v['dropped']}" for k, v in report["counts"].items())
    typer.echo(f"kept {report['kept']} utterance(s) in {report['output']} ({counts})")


@app.command(name="asr-corpus")
@one_line_errors
def asr_corpus(
    overrides: Annotated[Optional[list[str]], typer.Argument(help=OVERRIDES_HELP)] = None,
    recipe: Annotated[Optional[Path], typer.Option(help="YAML corpus recipe (fields of CorpusConfig).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON document.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Speak MLQA context sentences (never the questions) with the project's TTS: ASR data for train-reference."""
    from audiomlqa.speechllm.corpus import CorpusConfig, build_corpus

    cfg = load_settings(CorpusConfig, recipe, overrides or [])
    with _results_only_stdout():
        report = build_corpus(cfg, progress=not quiet)
    if _emit(report, as_json, None):
        return
    counts = ", ".join(f"{k} {v}" for k, v in report["per_language"].items())
    typer.echo(f"{report['utterances']} utterance(s) in {report['output']} ({counts})")


def _quiet_transformers() -> None:
    """transformers' per-file progress bars and hub notices, and datasets' bars for reading the corpus, drown the
    training log (and a one-line error after them)."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def command_line() -> str:
    """The command as the user typed it (recorded in run.json and dataset cards)."""
    import shlex

    return " ".join(["audiomlqa", *map(shlex.quote, sys.argv[1:])])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
