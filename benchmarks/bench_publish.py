"""Publish and load times for an Audio-MLQA dataset of 1,000+ rows, and its size per audio hour.

Input: a synthesis output made here with eSpeak NG from real MLQA dev questions (``--source``, default
the full dev set beside the repo, else the packaged sample repeated). The ASR filter is skipped — this
measures publishing, not synthesis — so manifest rows say ``asr_model: "none (benchmark)"``.

Baseline, in the same run: the straightforward ``datasets`` way — ``Dataset.from_list`` with audio
paths, ``cast_column("audio", Audio())``, the audio bytes embedded (``embed_table_storage``, as
``push_to_hub`` does; plain ``to_parquet`` would store only local paths, which is not a dataset anyone
else can open), ``to_parquet`` per config — against ``audiomlqa.publish``. Both run once untimed first
(imports, page cache). Then ``load_dataset(folder, config)`` plus decoding every clip, cold cache.

    python benchmarks/bench_publish.py [--rows 1200] [--source ../shared/data/mlqa/MLQA_V1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from audiomlqa.audio import prepare, write_flac
from audiomlqa.manifest import Attempt, append_rows
from audiomlqa.publish import publish
from audiomlqa.sources import load_questions
from audiomlqa.synthesis import PACKAGED_SAMPLE, safe_name
from audiomlqa.tts import load_backend

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mlqa" / "MLQA_V1"


def make_output(out: Path, source: str, rows: int) -> float:
    """A synthesis output with ``rows`` accepted eSpeak clips; returns the audio seconds."""
    questions = load_questions(source, languages=["en", "de", "es"], per_language=rows // 3 + 1)[:rows]
    tts = load_backend("espeak")
    out.mkdir(parents=True)
    manifest, seconds = [], 0.0
    for q in questions:
        speech = prepare(tts.synthesize(q.question, q.question_lang, tts.voices(q.question_lang)[0]))
        rel = f"audio/{q.pair}/{safe_name(q.id)}-0.flac"
        write_flac(out / rel, speech)
        seconds += speech.duration
        manifest.append(
            Attempt(
                **{
                    "id": q.id,
                    "pair": q.pair,
                    "context_lang": q.context_lang,
                    "question_lang": q.question_lang,
                    "attempt": 0,
                    "backend": "espeak",
                    "voice": tts.voices(q.question_lang)[0],
                    "seed": 0,
                    "rate": 1.0,
                    "text": q.question,
                    "spoken_text": q.question,
                    "audio": rel,
                    "duration": round(speech.duration, 4),
                    "sample_rate": 16000,
                    "asr_model": "none (benchmark)",
                    "transcript": q.question,
                    "reference_norm": "",
                    "transcript_norm": "",
                    "metric": "wer",
                    "error": 0.0,
                    "threshold": 0.2,
                    "verified": True,
                    "accepted": True,
                    "reason": None,
                    "tts_license": tts.license,
                    "tts_seconds": 0.0,
                    "asr_seconds": 0.0,
                }
            )
        )
    append_rows(out / "manifest.jsonl", manifest)
    with open(out / "questions.jsonl", "w", encoding="utf-8") as f:
        for q in questions:
            f.write(
                json.dumps(
                    {
                        "pair": q.pair,
                        "id": q.id,
                        "context_lang": q.context_lang,
                        "question_lang": q.question_lang,
                        "title": q.title,
                        "context": q.context,
                        "question": q.question,
                        "answers": [{"text": a.text, "answer_start": a.answer_start} for a in q.answers],
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    (out / "run.json").write_text(json.dumps({"config": {"split": "dev"}, "audiomlqa_version": "bench"}))
    return seconds


def baseline_publish(out: Path, dest: Path) -> None:
    import datasets
    from datasets.table import embed_table_storage

    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    questions = {(q["pair"], q["id"]): q for q in map(json.loads, (out / "questions.jsonl").read_text().splitlines())}
    for pair in sorted({r["pair"] for r in rows}):
        items = [
            {**questions[(r["pair"], r["id"])], "audio": str(out / r["audio"]), "transcript": r["transcript"]}
            for r in rows
            if r["pair"] == pair
        ]
        ds = datasets.Dataset.from_list(items).cast_column("audio", datasets.Audio(sampling_rate=16000))
        ds = ds.with_format("arrow").map(embed_table_storage, batched=True).with_format(None)
        (dest / pair).mkdir(parents=True)
        ds.to_parquet(str(dest / pair / "validation.parquet"))


def load_all(dest: Path, configs: list[str], cache: Path) -> int:
    import datasets

    n = 0
    for config in configs:
        ds = datasets.load_dataset(str(dest), config, split="validation", cache_dir=str(cache))
        for example in ds:
            n += len(example["audio"]["array"]) > 0
    return n


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1200)
    ap.add_argument("--source", default=str(SHARED) if (SHARED / "dev").is_dir() else PACKAGED_SAMPLE)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        audio_s = make_output(tmp / "out", args.source, args.rows)
        n = sum(1 for _ in (tmp / "out" / "manifest.jsonl").open())
        print(
            f"{n} rows, {audio_s / 3600:.3f} audio hours (eSpeak, {time.perf_counter() - t0:.1f} s to make); "
            f"source {args.source}"
        )

        baseline_publish(tmp / "out", tmp / "warm-baseline")
        publish([tmp / "out"], tmp / "warm-ours")
        t0 = time.perf_counter()
        baseline_publish(tmp / "out", tmp / "baseline")
        t_base = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = publish([tmp / "out"], tmp / "ours")
        t_ours = time.perf_counter() - t0
        configs = list(result.configs)

        t0 = time.perf_counter()
        loaded = load_all(tmp / "ours", configs, tmp / "cache")
        t_load = time.perf_counter() - t0
        assert loaded == n, (loaded, n)

        flac = size(tmp / "out" / "audio")
        ours = sum(f.stat().st_size for f in result.files)
        hours = audio_s / 3600
        print(f"publish  baseline (from_list + cast Audio + embed + to_parquet): {t_base:6.2f} s")
        print(
            f"publish  audiomlqa.publish (checks, parquet, card):               {t_ours:6.2f} s   "
            f"ratio baseline/ours {t_base / t_ours:.2f}x"
        )
        print(
            f"load     load_dataset + decode every clip ({n} rows, cold cache):  {t_load:6.2f} s   "
            f"{n / t_load:.0f} rows/s"
        )
        print(
            f"size     FLAC files {flac / 2**20:.1f} MiB; parquet {ours / 2**20:.1f} MiB = "
            f"{ours / 2**20 / hours:.1f} MiB per audio hour "
            f"(baseline parquet {size(tmp / 'baseline') / 2**20:.1f} MiB)"
        )


if __name__ == "__main__":
    main()
