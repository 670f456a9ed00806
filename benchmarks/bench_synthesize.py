"""Clips per second of the synthesis pipeline against a naive loop, on the same questions, in one run.

Naive loop (what one writes first): for each question, synthesize with eSpeak, write a WAV, run
faster-whisper's ``transcribe`` on the file with default settings (beam 5, temperature fallback,
language detection), score. Ours: ``audiomlqa.synthesis.pipeline.synthesize`` with one attempt per question
(so both make the same number of clips): greedy, language forced, length capped, batched — once with
eSpeak NG for every language (like for like with the naive loop), once with the offline default map
(Kokoro-82M for en/de/es/hi/zh, eSpeak for ar/vi; beam 5 for de/hi). Each pipeline runs twice: taking
turns (speak a batch, then judge it) and overlapped (the next batch is spoken while this one is judged), and
prints where the wall time went: the ASR judging, the ASR side idle waiting for the TTS, and the TTS's own time
(the fastest of ``--repeats`` runs of each mode, alternating which goes first). eSpeak NG carries state between
utterances, so the eSpeak clips — and a few pass/fail decisions — differ from run to run whatever the mode.
All use the same loaded Whisper base (CTranslate2 int8) and exclude model loading.

``--engine ray`` compares instead, on the same questions, the local engine (overlapped, one TTS process) with the
Ray engine on a local Ray cluster (``--workers`` TTS actors, one ASR actor per GPU or one on a CPU), for eSpeak
and for Kokoro: wall clips/s of whole runs (actors started and models loaded inside the Ray timing, as a real run
pays them; the cluster's own start-up is printed apart), and each actor pool's busy share of the run's wall time
— the planning figures: TTS clips per busy second of one actor (≈ one core), ASR clips per busy second.

    python benchmarks/bench_synthesize.py [--per-language 8] [--batch-size 16]
    python benchmarks/bench_synthesize.py --engine ray [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import soundfile as sf

from audiomlqa.asr import load_asr
from audiomlqa.asr.text import DEFAULT_METRIC, error_rate, normalize_for_asr
from audiomlqa.audio import prepare
from audiomlqa.sources import load_questions
from audiomlqa.synthesis import DEFAULT_ASR, PACKAGED_SAMPLE, SynthesisConfig, synthesize
from audiomlqa.tts import load_backend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-language", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--source", default=PACKAGED_SAMPLE)
    ap.add_argument("--repeats", type=int, default=2, help="runs of each mode, alternating; the fastest counts")
    ap.add_argument("--engine", choices=("local", "ray"), default="local")
    ap.add_argument("--workers", type=int, default=2, help="--engine ray: TTS actors")
    args = ap.parse_args()
    if args.engine == "ray":
        return ray_engine(args)

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
        espeak = {"tts": {"default": {"backend": "espeak"}}, "asr": {"backend": "faster-whisper"}}
        for name, extra, run_asr in (("eSpeak only", espeak, asr), ("default map", {}, default_asr)):
            synthesize(
                SynthesisConfig.from_dict(
                    {**extra, "source": args.source, "limit": 1, "output": f"{tmp}/warm{len(runs)}", "max_attempts": 1}
                ),
                progress=False,
                asr=run_asr,
            )  # load TTS models outside the timing
            for repeat in range(args.repeats):
                for overlap in (False, True) if repeat % 2 == 0 else (True, False):
                    cfg = SynthesisConfig.from_dict(
                        {
                            "source": args.source,
                            "per_language": args.per_language,
                            "output": f"{tmp}/{name}-{overlap}-{repeat}",
                            "max_attempts": 1,
                            "batch_size": args.batch_size,
                            "overlap": overlap,
                            **extra,
                        }
                    )
                    t0 = time.perf_counter()
                    result = synthesize(cfg, progress=False, asr=run_asr)
                    seconds = time.perf_counter() - t0
                    if (name, overlap) not in runs or seconds < runs[(name, overlap)][0]:
                        runs[(name, overlap)] = (seconds, result)

    n = len(questions)
    print(f"naive loop (eSpeak):                 {naive:7.1f} s  {n / naive:6.2f} clips/s")
    for (name, overlap), (seconds, result) in runs.items():
        t = result.timing
        passed = sum(s["accepted"] for s in result.summary["pairs"].values())
        mode = "overlapped" if overlap else "turns"
        print(
            f"pipeline, {name}, {mode + ':':11s} {seconds:7.1f} s  {n / seconds:6.2f} clips/s  "
            f"speed-up vs naive {naive / seconds:.2f}x  first-attempt pass {passed}/{n}; of the wall time: ASR "
            f"{100 * t['asr'] / t['total']:.0f}%, waiting for TTS {100 * t['waiting_for_tts'] / t['total']:.0f}%; "
            f"TTS busy {t['tts']:.1f} s"
        )
        if overlap:
            turns = runs[(name, False)][0]
            print(f"  overlapped / turns wall time, {name}: {seconds / turns:.2f}")


def ray_engine(args) -> None:
    import os

    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=max(os.cpu_count() or 1, args.workers + 1), include_dashboard=False, log_to_driver=False)
    print(
        f"local Ray cluster started in {time.perf_counter() - t0:.1f} s ({os.cpu_count()} cores, "
        f"{int(ray.cluster_resources().get('GPU', 0))} GPUs); {args.workers} TTS actors"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("espeak", "kokoro"):
            base = {"source": args.source, "per_language": args.per_language, "max_attempts": 1}
            base |= {"batch_size": args.batch_size, "tts": {"default": {"backend": backend}}}
            if backend == "kokoro":  # Kokoro speaks en, de, es, hi, zh
                base["languages"] = ["en", "de", "es", "hi", "zh"]
            count = len(load_questions(args.source, per_language=args.per_language, languages=base.get("languages")))
            runs = {}
            for engine in ("local", "ray"):
                cfg = SynthesisConfig.from_dict(
                    {
                        **base,
                        "output": f"{tmp}/{backend}-{engine}",
                        "engine": engine,
                        "workers": args.workers if engine == "ray" else 1,
                    }
                )
                t0 = time.perf_counter()
                result = synthesize(cfg, progress=False)
                runs[engine] = (time.perf_counter() - t0, result)
            (local_s, _), (ray_s, result) = runs["local"], runs["ray"]
            tts, asr = result.pools["tts"], result.pools["asr"]
            print(
                f"{backend}: {count} clips; local engine {local_s:.1f} s ({count / local_s:.2f} clips/s), Ray "
                f"{ray_s:.1f} s ({count / ray_s:.2f} clips/s, {local_s / ray_s:.2f}x local); busy share: TTS "
                f"{100 * tts['busy_share']:.0f}% of {tts['actors']} actor(s), ASR {100 * asr['busy_share']:.0f}%; "
                f"TTS {count / tts['busy_seconds']:.2f} clips per actor-busy-second, ASR "
                f"{count / asr['busy_seconds']:.2f} clips per busy second"
            )
    ray.shutdown()


if __name__ == "__main__":
    main()
