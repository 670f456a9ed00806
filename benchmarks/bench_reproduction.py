"""The paper's comparison, small, offline and with error bars: hard gate vs soft gate vs ML-DiVA (not part of CI).

1. An ASR corpus: MLQA *context* sentences (never the questions scored later) spoken by eSpeak in five voices per
   language (``audiomlqa asr-corpus``); one voice per language held out for validation.
2. The language-aware model with a hard gate, with a soft gate, and ML-DiVA (one shared query set, no gate), each
   trained with the same recipe and budget for every seed of ``--seeds``: Whisper base (8 s window) + the offline
   LLM (Gemma 3 270M base, GGUF).
3. Audio-MLQA built from the packaged MLQA sample (eSpeak questions, Whisper-base round-trip filter), and — where an
   instruction set is given (``--instructions``, e.g. ../shared/data/alpaca_eval) — spoken instructions
   (``instruct-en``), published together, scored for every model beside the text-only topline and the
   Whisper→LLM cascade with the same LLM, every answer judged 0–5 by ``--judge``.

Prints one table per task: for each variant, each metric's mean over the seeds with its 95% t-interval over seeds,
the cluster-bootstrap interval over questions of the seed-averaged model, and the held-out language ID per
language; then the paired bootstrap (seed-averaged, same questions) of hard − soft and hard − ML-DiVA. Writes it
all to ``WORK/reproduction.json``. ``--quick``: tiny random Whisper and LLM, a few steps and questions, two seeds —
the plumbing in about a minute (tests/test_reproduction.py runs it), never a result.

    python benchmarks/bench_reproduction.py --work runs/reproduction [--steps 150] [--seeds 0,1,2]
    python benchmarks/bench_reproduction.py --work /tmp/quick --quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from audiomlqa.evaluation import compare_models, load_spec
from audiomlqa.publish import publish
from audiomlqa.scoring.intervals import Sample, bootstrap_interval, paired_bootstrap
from audiomlqa.sources import PACKAGED_SAMPLE
from audiomlqa.speechllm.corpus import CorpusConfig, build_corpus
from audiomlqa.speechllm.train import load_train_config, train
from audiomlqa.synthesis import SynthesisConfig, synthesize
from audiomlqa.utils.progress import quiet_third_party_bars

ROOT = Path(__file__).resolve().parents[1]
SHARED_MLQA = ROOT.parent / "shared" / "data" / "mlqa" / "MLQA_V1"
LANGS = ["en", "de", "es", "vi", "zh"]
VARIANTS = {
    "lang-aware-hard": [],
    "lang-aware-soft": ["model.selection=soft"],
    "ml-diva": ["model.gate=none", "model.num_banks=1"],
}
QUICK = ["model.whisper=tiny-random/whisper", "model.encoder_window_seconds=null", "model.qformer_layers=null"]
"""--quick: the tiny recipe on a random 2-layer Whisper (tests' FAST_MODEL), so the plumbing runs in seconds."""
COMPLETION_TEMPLATE = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
"""Gemma 3 270M is a base model: the prompt goes as it is (the Speech LLM needs some template)."""
BASE_LLMS = {"pypi/gemma3-270m"}
"""LLMs without a chat template: prompted as completions (an instruction-tuned LLM keeps its own template)."""
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
"""Student's t quantile (97.5%) by degrees of freedom: the interval of a mean over a handful of seeds."""
METRICS = ("f1", "exact_match", "judge_mean")


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def corpus(work: Path, per_language: int, quick: bool) -> Path:
    """A rerun keeps the clips already spoken. Quick: sentences short enough for the tiny Whisper's 2 s window."""
    source = str(SHARED_MLQA) if (SHARED_MLQA / "dev").is_dir() else PACKAGED_SAMPLE
    cfg = CorpusConfig.from_dict(
        {"source": source, "languages": LANGS, "per_language": per_language, "output": str(work / "corpus")}
        | ({"min_words": 2, "max_words": 5} if quick else {})
    )
    _log(f"corpus: {build_corpus(cfg, progress=False)['per_language']} from {source}")
    return work / "corpus"


def dataset(work: Path, languages: list[str], per_language: int, instructions: Path | None, per_set: int) -> Path:
    """Audio-MLQA (and the spoken instructions) published into one dataset folder; both outputs resume. Questions
    come from ../shared's MLQA dev where it is (the packaged sample's few otherwise)."""
    espeak = {"tts": {"default": {"backend": "espeak"}}}
    outputs = [work / "synth"]
    source = str(SHARED_MLQA) if (SHARED_MLQA / "dev").is_dir() else PACKAGED_SAMPLE
    synthesize(
        SynthesisConfig.from_dict(
            {
                "source": source,
                "languages": languages,
                "per_language": per_language,
                "output": str(outputs[0]),
                **espeak,
            }
        ),
        progress=False,
    )
    if instructions is not None:
        outputs.append(work / "synth-instruct")
        task = {
            "task": "instruction",
            "source": str(instructions),
            "limit": per_set,
            "instructions": {"language": "en", "instruction": "instruction", "reference": "output", "max_words": 60},
        }
        synthesize(SynthesisConfig.from_dict({**task, "output": str(outputs[1]), **espeak}), progress=False)
    publish(outputs, work / "audio-mlqa", overwrite=True)
    return work / "audio-mlqa"


def train_variants(work: Path, data: Path, steps: int, llm: str, seeds: list[int], quick: bool) -> dict:
    """Every variant for every seed (a finished one is read back, so a rerun resumes): ``{(variant, seed): info}``."""
    results = {}
    for seed in seeds:
        for name, overrides in VARIANTS.items():
            cfg = load_train_config(
                ROOT / "recipes" / "train-tiny-cpu.yaml",
                [
                    f"data.source={data}",
                    f"output_dir={work / 'runs' / f'{name}-seed{seed}'}",
                    f"max_steps={steps}",
                    f"eval_every={max(1, steps // 3)}",
                    f"save_every={steps}",
                    f"seed={seed}",
                    f"model.llm={llm}",
                    *([f"model.chat_template={json.dumps(COMPLETION_TEMPLATE)}"] if llm in BASE_LLMS else []),
                    *(
                        QUICK + [f"model.languages=[{','.join(LANGS)}]", f"model.num_banks={len(LANGS)}"]
                        if quick
                        else []
                    ),
                    *overrides,
                ],
            )
            start = time.perf_counter()
            result = train(cfg, progress=False)
            _log(f"{name} seed {seed}: {steps} steps in {time.perf_counter() - start:.0f} s; {result.validation[-1]}")
            results[(name, seed)] = {"final": result.final, "validation": result.validation[-1]}
    return results


def specs(work: Path, trained: dict, llm: str) -> list:
    paths = []
    for (name, seed), info in trained.items():
        path = work / "specs" / f"{name}-seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        spec = {"name": f"{name}-seed{seed}", "kind": "speechllm", "checkpoint": str(info["final"])}
        path.write_text(json.dumps({**spec, "max_new_tokens": 48}))
        paths.append(path)
    for base in ("text-only", "cascade-whisper-llm"):
        spec = json.loads((ROOT / "models" / f"{base}.json").read_text())
        spec["llm"] = llm
        spec["prompt_mode"] = "completion" if llm in BASE_LLMS else "auto"
        path = work / "specs" / f"{base}.json"
        path.write_text(json.dumps(spec))
        paths.append(path)
    return [load_spec(p) for p in paths]


def seed_interval(values: list[float]) -> dict:
    """Mean over seeds and its 95% t-interval (a single seed: no interval)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "low": None, "high": None, "seeds": values}
    half = T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / len(values) ** 0.5
    return {"mean": mean, "low": mean - half, "high": mean + half, "seeds": values}


def seed_averaged(reports: list, metric: str, task_configs: list[str]) -> list[Sample] | None:
    """Per config, the per-question value averaged over the seeds' models (same questions, same paragraphs)."""
    strata = []
    for config in task_configs:
        samples = [next((c.samples.get(metric) for c in r.configs if c.config == config), None) for r in reports]
        if any(s is None for s in samples):
            return None
        strata.append(Sample(np.mean([s.values for s in samples], axis=0), samples[0].clusters))
    return strata


def summarize(comparisons: dict, trained: dict, seeds: list[int]) -> dict:
    """The reproduction's numbers, per task (``{task: comparison}``): per variant the seed means and intervals, the
    bootstrap interval of the seed-averaged model, held-out LID; the paired tests; the baselines' scores."""
    out: dict = {"seeds": seeds, "tasks": {}}
    for task, comparison in comparisons.items():
        by_name = {r.model: r for r in comparison.reports}
        configs = sorted({c.config for r in by_name.values() for c in r.configs})
        section: dict = {"configs": configs, "variants": {}, "paired": {}, "baselines": {}}
        averaged: dict = {}
        for variant in VARIANTS:
            reports = [by_name[f"{variant}-seed{s}"] for s in seeds]
            row: dict = {}
            for metric in METRICS:
                per_seed = [_macro(r, metric) for r in reports]
                if any(v is None for v in per_seed):
                    continue
                row[metric] = seed_interval(per_seed)
                strata = seed_averaged(reports, metric, configs)
                if strata is not None:
                    averaged[(variant, metric)] = strata
                    row[metric]["bootstrap"] = bootstrap_interval(strata).to_dict()
            checks = [trained[(variant, s)]["validation"] for s in seeds]
            for loss in ("loss_in", "loss_out"):  # held-out distillation distances (L_IN, L_OUT) at the last step
                if all(loss in c for c in checks):
                    row[loss] = seed_interval([c[loss] for c in checks])
            if all(c.get("lid_accuracy_per_language") for c in checks):
                langs = checks[0]["lid_accuracy_per_language"]
                row["held_out_lid"] = {
                    x: statistics.fmean(c["lid_accuracy_per_language"][x] for c in checks) for x in langs
                }
                row["held_out_lid"]["all"] = statistics.fmean(c["lid_accuracy"] for c in checks)
            section["variants"][variant] = row
        for other in ("lang-aware-soft", "ml-diva"):
            for metric in METRICS:
                a, b = averaged.get(("lang-aware-hard", metric)), averaged.get((other, metric))
                if a is not None and b is not None:
                    section["paired"][f"lang-aware-hard - {other}: {metric}"] = paired_bootstrap(a, b).to_dict()
        for base in ("text-only", "cascade-whisper-llm"):
            if base in by_name:
                section["baselines"][base] = {m: _macro(by_name[base], m) for m in METRICS}
        out["tasks"][task] = section
    return out


def _macro(report, metric: str) -> float | None:
    values = [getattr(c, metric) for c in report.configs if getattr(c, metric, None) is not None]
    return statistics.fmean(values) if values else None


def print_tables(summary: dict) -> None:
    def cell(entry: dict | None, scale: float = 1.0) -> str:
        if entry is None:
            return "—"
        text = f"{entry['mean'] * scale:.2f}"
        if entry.get("low") is not None:
            text += f" [{entry['low'] * scale:.2f}, {entry['high'] * scale:.2f}]"
        if "bootstrap" in entry:
            text += f" (q: {entry['bootstrap']['low'] * scale:.2f}–{entry['bootstrap']['high'] * scale:.2f})"
        return text

    for task, section in summary["tasks"].items():
        print(f"\n{task} ({len(section['configs'])} configs, seeds {summary['seeds']})")
        print("| model | F1 | EM | judge 0–5 | held-out LID | L_IN | L_OUT |")
        print("|---|---|---|---|---|---|---|")
        for variant, row in section["variants"].items():
            lid = row.get("held_out_lid")
            lid_text = (
                "—"
                if lid is None
                else f"{lid['all']:.1%} (" + ", ".join(f"{k} {v:.0%}" for k, v in lid.items() if k != "all") + ")"
            )
            cells = " | ".join(cell(row.get(m)) for m in METRICS)
            losses = " | ".join(cell(row.get(k)) for k in ("loss_in", "loss_out"))
            print(f"| {variant} | {cells} | {lid_text} | {losses} |")
        for base, scores in section["baselines"].items():
            f = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
            print(
                f"| {base} | {f(scores['f1'])} | {f(scores['exact_match'])} | {f(scores['judge_mean'])} | — | — | — |"
            )
        for name, test in section["paired"].items():
            low, high = test["low"], test["high"]
            print(f"  {name}: {test['difference']:+.2f} [{low:+.2f}, {high:+.2f}], p = {test['p_value']:.3f}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/reproduction"))
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    ap.add_argument("--llm", default="pypi/gemma3-270m")
    ap.add_argument("--judge", type=Path, default=ROOT / "models" / "judge-gemma3-270m.json")
    ap.add_argument("--sentences", type=int, default=60, help="ASR sentences per language")
    ap.add_argument("--questions", type=int, default=10, help="Audio-MLQA questions per language")
    ap.add_argument("--qa-languages", default=",".join(LANGS), help="comma-separated Audio-MLQA languages")
    ap.add_argument("--instructions", type=Path, default=None, help="an instruction set to speak (JSON/JSONL/dataset)")
    ap.add_argument(
        "--dataset", type=Path, default=None, help="a published Audio-MLQA to score on instead of building one"
    )
    ap.add_argument("--instruction-count", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="tiny random models, few steps: the plumbing, not a result")
    args = ap.parse_args(argv)
    quiet_third_party_bars()  # stderr keeps this script's own lines
    if args.quick:
        args.steps, args.llm, args.sentences, args.questions = 3, "tiny-random/llm", 6, 2
        args.seeds, args.judge = "0,1", ROOT / "models" / "judge-tiny.json"
        LANGS[:] = ["en", "de"]
    seeds = [int(s) for s in args.seeds.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    data = corpus(args.work, args.sentences, args.quick)
    audio = args.dataset or dataset(
        args.work, args.qa_languages.split(","), args.questions, args.instructions, args.instruction_count
    )
    trained = train_variants(args.work, data, args.steps, args.llm, seeds, args.quick)
    chosen = specs(args.work, trained, args.llm)
    if args.quick:
        chosen = [s for s in chosen if s.name not in ("text-only", "cascade-whisper-llm")]
    judge = load_spec(args.judge)
    splits = {"extractive-qa": "validation", **({"instruction": "test"} if args.instructions else {})}
    comparisons = {
        task: compare_models(
            chosen, str(audio), split=split, output=args.work / "predictions" / task, progress=False, judge=judge
        )
        for task, split in splits.items()
    }
    summary = summarize(comparisons, trained, seeds)
    summary["command"] = " ".join(
        ["python benchmarks/bench_reproduction.py", *(argv if argv is not None else sys.argv[1:])]
    )
    print_tables(summary)
    (args.work / "reproduction.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
