"""The ``audiomlqa`` command line: option parsing only; every command calls a library function."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from audiomlqa.errors import AudioMLQAError

app = typer.Typer(
    name="audiomlqa",
    help="Spoken multilingual QA (Audio-MLQA): synthesize, publish, train, score.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def one_line_errors(fn):
    """Report AudioMLQAError (bad input, missing files) as one line on stderr and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AudioMLQAError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: finished work is kept; rerun the same command to resume", err=True)
            raise typer.Exit(130) from None

    return wrapper


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command()
@one_line_errors
def score(
    inputs: Annotated[list[Path], typer.Argument(help="Predictions ({id: answer} file, {pair: {id: answer}} file, or a directory of "
                                                      "<pair>.json), or one or more model specs (models/*.json) to run and compare.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="SQuAD JSON file, MLQA_V1 directory, or published dataset (folder or Hub id).")],
    split: Annotated[str, typer.Option(help="dev (= validation) or test.")] = "dev",
    lang: Annotated[Optional[str], typer.Option(help="Scoring (context) language when the dataset file name does not say it.")] = None,
    configs: Annotated[Optional[str], typer.Option(help="Model specs: comma-separated dataset configs (default: every pair).")] = None,
    predictions_dir: Annotated[Path, typer.Option(help="Model specs: where predictions/<model>/<config>.json are cached.")] = Path("predictions"),
    overwrite: Annotated[bool, typer.Option(help="Model specs: recompute cached predictions.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown tables.")] = False,
    output: Annotated[Optional[Path], typer.Option(help="Also write the JSON report to this file.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Score predictions with MLQA's official F1/EM, or run model specs on Audio-MLQA and compare them."""
    from audiomlqa.predictions import looks_like_model_spec

    specs = [p for p in inputs if p.is_file() and p.suffix == ".json" and looks_like_model_spec(_peek_json(p))]
    if specs and len(specs) != len(inputs):
        raise AudioMLQAError("give either model specs or predictions, not both: "
                             + ", ".join(str(p) for p in inputs if p not in specs) + " are not model specs")
    if specs:
        return _score_models(specs, dataset, split, _csv(configs), predictions_dir, overwrite, as_json, markdown, output, quiet)
    if len(inputs) != 1:
        raise AudioMLQAError("score one predictions file or directory at a time (several inputs must all be model specs)")
    _score_predictions(inputs[0], dataset, split, lang, as_json, markdown, output)


def _peek_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # reported properly by the predictions loader


def _score_predictions(predictions: Path, dataset: str, split: str, lang: Optional[str], as_json: bool, markdown: bool,
                       output: Optional[Path]) -> None:
    from audiomlqa.predictions import load_predictions
    from audiomlqa.scorecard import print_scorecard, score_datasets
    from audiomlqa.sources import read_dataset_files

    preds = load_predictions(predictions)
    single_file = Path(dataset).is_file()
    if preds.flat is not None and not single_file:
        raise AudioMLQAError(
            f"{predictions}: a flat {{id: answer}} mapping needs one dataset file (--dataset FILE.json), not a directory or dataset"
        )
    datasets = read_dataset_files(dataset, split, None if single_file else list(preds.by_pair) or None, lang)
    card = score_datasets(datasets, preds)
    typer.echo(f"scored predictions: {predictions}", err=True)  # said once it worked: an error stays one line
    report = card.to_dict()
    if output:
        output.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    elif markdown:
        typer.echo(card.to_markdown())
    else:
        print_scorecard(card)


def _score_models(specs: list[Path], dataset: str, split: str, configs: Optional[list[str]], predictions_dir: Path,
                  overwrite: bool, as_json: bool, markdown: bool, output: Optional[Path], quiet: bool) -> None:
    from audiomlqa.evaluation import comparison_table, dataset_configs, evaluate_model, write_charts
    from audiomlqa.runners import load_spec

    loaded = [load_spec(p) for p in specs]  # every spec and the dataset's configs checked before any model loads
    dataset_configs(dataset, configs)
    _quiet_transformers()
    reports = []
    for spec in loaded:
        typer.echo(f"model spec: {spec.path} (name {spec.name}, kind {spec.kind})", err=True)
        report = evaluate_model(spec.path, dataset, configs=configs, split=split, output=predictions_dir, overwrite=overwrite,
                                progress=not quiet)
        typer.echo(f"  {report.generated} answer(s) generated, {report.reused} reused from {predictions_dir / spec.name}", err=True)
        reports.append(report)
    charts = write_charts(reports, predictions_dir / "charts") if len(reports) > 1 else []
    combined = {"models": [r.to_dict() for r in reports], "charts": [str(c) for c in charts]}
    if output:
        output.write_text(json.dumps(combined, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(combined, ensure_ascii=False, indent=2))
        return
    for metric in ("f1", "exact_match"):
        header, rows = comparison_table(reports, metric)
        title = f"Audio-MLQA {'F1' if metric == 'f1' else 'EM'}: extracted answer (raw output in brackets)"
        if markdown:
            typer.echo(f"**{title}**\n\n| " + " | ".join(header) + " |\n|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
            typer.echo("\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n")
        else:
            from rich.console import Console
            from rich.table import Table

            table = Table(title=title)
            for i, h in enumerate(header):
                table.add_column(h, justify="left" if i == 0 else "right")
            for r in rows:
                table.add_row(*r)
            Console().print(table)
    if charts:
        typer.echo(f"charts: {charts[0].parent}/ ({len(charts)} PNG)", err=True)


@app.command()
@one_line_errors
def questions(
    source: Annotated[str, typer.Argument(help="MLQA_V1 directory, SQuAD JSON file, or Hugging Face dataset (folder or id).")],
    split: Annotated[str, typer.Option(help="dev (validation) or test.")] = "dev",
    languages: Annotated[Optional[str], typer.Option(help="Comma-separated languages, e.g. en,de,zh (default: all 7).")] = None,
    pairs: Annotated[Optional[str], typer.Option(help="Comma-separated context-question pairs, e.g. de-en,de (overrides --languages).")] = None,
    cross_lingual: Annotated[bool, typer.Option(help="All context/question combinations of --languages, not just monolingual ones.")] = False,
    per_language: Annotated[Optional[int], typer.Option(help="Keep N questions per pair (seeded, deterministic).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the per-language sample.")] = 0,
    limit: Annotated[Optional[int], typer.Option(help="Keep at most this many questions in all.")] = None,
) -> None:
    """Print the selected questions as JSON lines (what synthesize would speak)."""
    from dataclasses import asdict

    from audiomlqa.sources import load_questions

    selected = load_questions(
        source, split=split, languages=_csv(languages), pairs=_csv(pairs), cross_lingual=cross_lingual,
        per_language=per_language, seed=seed, limit=limit,
    )
    for q in selected:
        sys.stdout.write(json.dumps({"pair": q.pair, **asdict(q)}, ensure_ascii=False) + "\n")


@app.command()
@one_line_errors
def synthesize(
    recipe: Annotated[Optional[Path], typer.Option(help="YAML recipe (keys of SynthesisConfig); options below override it.")] = None,
    source: Annotated[Optional[str], typer.Option(help="MLQA_V1 dir, SQuAD JSON or HF dataset (default: the packaged MLQA dev sample).")] = None,
    split: Annotated[Optional[str], typer.Option(help="dev (validation) or test.")] = None,
    languages: Annotated[Optional[str], typer.Option(help="Comma-separated languages (default: all 7).")] = None,
    pairs: Annotated[Optional[str], typer.Option(help="Comma-separated context-question pairs, e.g. de,de-en.")] = None,
    per_language: Annotated[Optional[int], typer.Option(help="Questions per pair (seeded sample).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for sampling and TTS.")] = None,
    limit: Annotated[Optional[int], typer.Option(help="At most this many questions (smoke runs).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output directory (default: ./audio-mlqa-sample).")] = None,
    tts: Annotated[Optional[str], typer.Option(help="TTS backend for every language (espeak, mms, coqui).")] = None,
    asr_model: Annotated[Optional[str], typer.Option(help="Whisper model: local path or hub id (default: Whisper base from PyPI).")] = None,
    max_attempts: Annotated[Optional[int], typer.Option(help="Attempts per question before rejecting it.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Clips per ASR batch.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="TTS worker processes.")] = None,
    shard: Annotated[Optional[str], typer.Option(help="Do shard i of N (i/N), e.g. 0/4, for multi-machine runs.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Speak MLQA questions with TTS and keep those an ASR round trip confirms (resumable; rerun to resume)."""
    from audiomlqa.recipes import load_recipe
    from audiomlqa.synthesis import SynthesisConfig, print_summary
    from audiomlqa.synthesis import synthesize as run_synthesis

    data = load_recipe(recipe) if recipe else {}
    overrides = {
        "source": source, "split": split, "languages": _csv(languages), "pairs": _csv(pairs), "per_language": per_language,
        "seed": seed, "limit": limit, "output": str(output) if output else None, "max_attempts": max_attempts,
        "batch_size": batch_size, "workers": workers, "shard": shard,
    }
    data.update({k: v for k, v in overrides.items() if v is not None})
    if tts:
        data["tts"] = {"default": {"backend": tts}}
    if asr_model:
        data["asr"] = {**data.get("asr", {"backend": "faster-whisper"}), "model": asr_model}
    result = run_synthesis(SynthesisConfig.from_dict(data), progress=not quiet, command=command_line())
    print_summary(result.summary)
    typer.echo(f"wrote {result.rows_written} attempt(s); output in {result.output}")


@app.command()
@one_line_errors
def publish(
    outputs: Annotated[list[Path], typer.Argument(help="Synthesis output directories (e.g. every shard's) to merge.")],
    to: Annotated[Path, typer.Option("--to", help="Dataset folder to write (replaced if it holds an earlier publish).")],
    include_rejected: Annotated[bool, typer.Option(help="Also write rejected questions, as config 'rejected'.")] = False,
    push_to_hub: Annotated[Optional[str], typer.Option(help="Also upload to this Hub dataset repo (user/name).")] = None,
    private: Annotated[bool, typer.Option(help="Create the Hub repo private.")] = False,
) -> None:
    """Merge synthesis outputs into a Hugging Face dataset (one config per pair, parquet with audio, card)."""
    from audiomlqa.publish import publish as run_publish

    result = run_publish(outputs, to, include_rejected=include_rejected, push_to_hub=push_to_hub, private=private,
                         command=command_line())
    for config, splits in result.configs.items():
        typer.echo(f"{config}: " + ", ".join(f"{split} {n}" for split, n in splits.items()))
    typer.echo(f"wrote {len(result.files)} parquet file(s) and README.md to {result.directory}"
               + (f"; pushed to {push_to_hub}" if push_to_hub else ""))


@app.command(name="train-reference")
@one_line_errors
def train_reference(
    recipe: Annotated[Path, typer.Option(help="YAML training recipe (see recipes/train-*.yaml).")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="key=value overrides, e.g. max_steps=100 model.gate=attention.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Train the language-aware distilled Speech LLM (or ML-DiVA) on ASR data; rerun to resume."""
    from audiomlqa.recipes import load_recipe
    from audiomlqa.speechllm.train import TrainConfig, apply_overrides, train

    cfg = TrainConfig.from_dict(apply_overrides(load_recipe(recipe), overrides or []))
    _quiet_transformers()
    result = train(cfg, progress=not quiet)
    if result.process_index != 0:  # under torchrun / accelerate launch, one report, not one per process
        return
    last = result.log[-1] if result.log else {}
    typer.echo(f"trained {result.steps} step(s)" + (f" (resumed at {result.resumed_from})" if result.resumed_from else "")
               + (f"; last loss {last['loss']:.4f} (lid {last['loss_lid']:.4f}, in {last['loss_in']:.4f}, out {last['loss_out']:.4f})"
                  if last else "") + f"; model in {result.final}")


def _quiet_transformers() -> None:
    """transformers' per-file progress bars and hub notices drown the training log."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def command_line() -> str:
    """The command as the user typed it (recorded in run.json and dataset cards)."""
    import shlex

    return " ".join(["audiomlqa", *map(shlex.quote, sys.argv[1:])])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
