"""Clips per second of the synthesis pipeline against a naive loop, on the same questions, in one run.

Naive loop (what one writes first): for each question, synthesize with eSpeak, write a WAV, run
faster-whisper's ``transcribe`` on the file with default settings (beam 5, temperature fallback,
language detection), score. Ours: ``audiomlqa.synthesis.synthesize`` with one attempt per question
(so both make the same number of clips): greedy, language forced, length capped, batched — once with
eSpeak NG for every language (like for like with the naive loop), once with the offline default map
(Kokoro-82M for en/de/es/hi/zh, eSpeak for ar/vi; beam 5 for de/hi).
All use the same loaded Whisper base (CTranslate2 int8) and exclude model loading.

    python benchmarks/bench_synthesize.py [--per-language 8] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import soundfile as sf

from audiomlqa.asr import load_asr
from audiomlqa.audio import prepare
from audiomlqa.manifest import read_manifest
from audiomlqa.sources import load_questions
from audiomlqa.synthesis import DEFAULT_ASR, PACKAGED_SAMPLE, SynthesisConfig, synthesize
from audiomlqa.text import DEFAULT_METRIC, error_rate, normalize_for_asr
from audiomlqa.tts import load_backend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-language", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--source", default=PACKAGED_SAMPLE)
    args = ap.parse_args()

    questions = load_questions(args.source, per_language=args.per_language)
    asr = load_asr("faster-whisper")
    tts = load_backend("espeak")
    print(f"{len(questions)} questions, 7 languages; Whisper base int8; 1 clip per question in both")

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i, q in enumerate(questions):
            lang = q.question_lang
            speech = prepare(tts.synthesize(q.question, lang, tts.voices(lang)[0]))
            wav = Path(tmp) / f"{i}.wav"
            sf.write(wav, speech.samples, speech.sample_rate)
            segments, _ = asr.model.transcribe(str(wav))
            text = " ".join(s.text for s in segments)
            error_rate(normalize_for_asr(q.question, lang), normalize_for_asr(text, lang), DEFAULT_METRIC[lang])
        naive = time.perf_counter() - t0

        runs = {}
        default_asr = load_asr(**{k: v for k, v in DEFAULT_ASR.items() if k != "backend"})
        for name, extra, run_asr in (
            ("eSpeak only", {"tts": {"default": {"backend": "espeak"}}, "asr": {"backend": "faster-whisper"}}, asr),
            ("default map", {}, default_asr),
        ):
            cfg = SynthesisConfig.from_dict(
                {
                    "source": args.source,
                    "per_language": args.per_language,
                    "output": f"{tmp}/{len(runs)}",
                    "max_attempts": 1,
                    "batch_size": args.batch_size,
                    **extra,
                }
            )
            synthesize(
                SynthesisConfig.from_dict(
                    {**extra, "source": args.source, "limit": 1, "output": f"{tmp}/warm{len(runs)}", "max_attempts": 1}
                ),
                progress=False,
                asr=run_asr,
            )  # load TTS models outside the timing
            t0 = time.perf_counter()
            synthesize(cfg, progress=False, asr=run_asr)
            runs[name] = (time.perf_counter() - t0, read_manifest(Path(cfg.output) / "manifest.jsonl"))

    n = len(questions)
    print(f"naive loop (eSpeak):      {naive:7.1f} s  {n / naive:6.2f} clips/s")
    for name, (seconds, rows) in runs.items():
        tts_s = sum(r.tts_seconds for r in rows)
        asr_s = sum(r.asr_seconds for r in rows)
        passed = sum(r.accepted for r in rows)
        print(
            f"pipeline, {name + ':':15s} {seconds:7.1f} s  {n / seconds:6.2f} clips/s  "
            f"speed-up vs naive {naive / seconds:.2f}x  "
            f"first-attempt pass {passed}/{n}; time share TTS {100 * tts_s / (tts_s + asr_s):.0f}% ({tts_s:.1f} s), "
            f"ASR {100 * asr_s / (tts_s + asr_s):.0f}% ({asr_s:.1f} s)"
        )


if __name__ == "__main__":
    main()
