"""A small, offline reproduction of the paper's comparison on a CPU (not part of CI: tens of minutes on 2 cores).

1. An ASR corpus: MLQA *context* sentences (never the questions scored later) spoken by eSpeak in five voices per
   language (``audiomlqa asr-corpus``); one voice per language held out for validation.
2. The language-aware model with a hard gate, with a soft gate, and ML-DiVA (one shared query set, no gate), each
   trained with the same recipe and budget: Whisper base (8 s window) + the offline LLM (Gemma 3 270M base, GGUF).
3. Audio-MLQA built from the packaged MLQA sample (eSpeak questions, Whisper-base round-trip filter), published, and
   scored for the three beside the text-only topline and the Whisper→LLM cascade with the same LLM.

Prints one table: held-out language-ID accuracy, validation L_IN and L_OUT, Audio-MLQA F1/EM (macro over configs).

    python benchmarks/bench_reproduction.py --work runs/reproduction [--steps 150] [--llm pypi/gemma3-270m]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from audiomlqa.evaluation import compare_models, load_spec
from audiomlqa.publish import publish
from audiomlqa.sources import PACKAGED_SAMPLE
from audiomlqa.speechllm.corpus import CorpusConfig, build_corpus
from audiomlqa.speechllm.train import load_train_config, train
from audiomlqa.synthesis import SynthesisConfig, synthesize

ROOT = Path(__file__).resolve().parents[1]
SHARED_MLQA = ROOT.parent / "shared" / "data" / "mlqa" / "MLQA_V1"
LANGS = ["en", "de", "es", "vi", "zh"]
VARIANTS = {
    "lang-aware-hard": [],
    "lang-aware-soft": ["model.selection=soft"],
    "ml-diva": ["model.gate=none", "model.num_banks=1"],
}
COMPLETION_TEMPLATE = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
"""Gemma 3 270M is a base model: the prompt goes as it is (the Speech LLM needs some template)."""


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def corpus(work: Path, per_language: int) -> Path:
    source = str(SHARED_MLQA) if (SHARED_MLQA / "dev").is_dir() else PACKAGED_SAMPLE
    cfg = CorpusConfig.from_dict(
        {"source": source, "languages": LANGS, "per_language": per_language, "output": str(work / "corpus")}
    )
    _log(f"corpus: {build_corpus(cfg, progress=False)['per_language']} from {source}")
    return work / "corpus"


def dataset(work: Path, per_language: int) -> Path:
    if not (work / "audio-mlqa" / "publish.json").exists():
        synthesize(
            SynthesisConfig.from_dict(
                {
                    "languages": LANGS,
                    "per_language": per_language,
                    "output": str(work / "synth"),
                    "tts": {"default": {"backend": "espeak"}},
                }
            ),
            progress=False,
        )
        publish([work / "synth"], work / "audio-mlqa")
    return work / "audio-mlqa"


def train_variants(work: Path, data: Path, steps: int, llm: str) -> dict[str, dict]:
    results = {}
    for name, overrides in VARIANTS.items():
        cfg = load_train_config(
            ROOT / "recipes" / "train-tiny-cpu.yaml",
            [
                f"data.source={data}",
                f"output_dir={work / name}",
                f"max_steps={steps}",
                f"eval_every={max(1, steps // 3)}",
                f"save_every={steps}",
                f"model.llm={llm}",
                *([] if llm.startswith("tiny-random/") else [f"model.chat_template={json.dumps(COMPLETION_TEMPLATE)}"]),
                *overrides,
            ],
        )
        start = time.perf_counter()
        result = train(cfg, progress=False)
        _log(f"{name}: {steps} steps in {time.perf_counter() - start:.0f} s; last validation {result.validation[-1]}")
        results[name] = {"final": result.final, "validation": result.validation[-1]}
    return results


def specs(work: Path, trained: dict[str, dict], llm: str) -> list:
    paths = []
    for name, info in trained.items():
        path = work / "specs" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps({"name": name, "kind": "speechllm", "checkpoint": str(info["final"]), "max_new_tokens": 16})
        )
        paths.append(path)
    for base in ("text-only", "cascade-whisper-llm"):
        spec = json.loads((ROOT / "models" / f"{base}.json").read_text())
        spec["llm"] = llm
        path = work / "specs" / f"{base}.json"
        path.write_text(json.dumps(spec))
        paths.append(path)
    return [load_spec(p) for p in paths]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/reproduction"))
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--llm", default="pypi/gemma3-270m")
    ap.add_argument("--sentences", type=int, default=60, help="ASR sentences per language")
    ap.add_argument("--questions", type=int, default=10, help="Audio-MLQA questions per language")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = corpus(args.work, args.sentences)
    audio_mlqa = dataset(args.work, args.questions)
    trained = train_variants(args.work, data, args.steps, args.llm)
    comparison = compare_models(
        specs(args.work, trained, args.llm), str(audio_mlqa), output=args.work / "predictions", progress=False
    )
    rows = []
    for report in comparison.reports:
        check = trained.get(report.model, {}).get("validation", {})
        rows.append(
            {
                "model": report.model,
                "held_out_lid": check.get("lid_accuracy") if check.get("lid_accuracy_per_language") else None,
                "L_IN": check.get("loss_in"),
                "L_OUT": check.get("loss_out"),
                "f1": report.average("f1"),
                "em": report.average("exact_match"),
            }
        )
    fmt = lambda v, p="": "—" if v is None else f"{v:{p}}"  # noqa: E731
    print("| model | held-out LID | L_IN | L_OUT | Audio-MLQA F1 | EM |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {fmt(r['held_out_lid'], '.1%')} | {fmt(r['L_IN'], '.3f')} | {fmt(r['L_OUT'], '.3f')} "
            f"| {fmt(r['f1'], '.1f')} | {fmt(r['em'], '.1f')} |"
        )
    (args.work / "reproduction.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
