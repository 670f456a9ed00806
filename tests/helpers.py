"""What the CLI tests share: run the command as a user does, check a one-line error, make a small published dataset."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

FAST_MODEL = ["model.whisper=tiny-random/whisper", "model.encoder_window_seconds=null", "model.qformer_layers=null"]
"""Overrides that turn the tiny training recipe's Whisper base into a random 2-layer Whisper: for tests of the
training plumbing (checkpoints, resuming, settings), where what the model learns does not matter."""


def audiomlqa(*args, env: dict | None = None, timeout: int = 600, **kwargs) -> subprocess.CompletedProcess:
    """``python -m audiomlqa ARGS`` with stdout and stderr captured apart (``env`` adds to the environment)."""
    return subprocess.run(
        [sys.executable, "-m", "audiomlqa", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


STATUS_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d .+: (done )?\d+/\d+ ")
"""A progress status line (stderr is no terminal here): work that finished before the error, not part of it."""


def assert_one_line(out: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2, exactly one ``error: …`` line on stderr (after the status lines of the work done before it), no
    traceback, holding every fragment."""
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    lines = [line for line in out.stderr.strip().splitlines() if not STATUS_LINE.match(line)]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in out.stderr, out.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def publish_spoken(tmp: Path, languages: list[str], per_language: int) -> Path:
    """A published Audio-MLQA: questions spoken by eSpeak, every clip kept (threshold 1e9)."""
    from audiomlqa.publish import publish
    from audiomlqa.synthesis import SynthesisConfig, synthesize

    synthesize(
        SynthesisConfig.from_dict(
            {
                "languages": languages,
                "per_language": per_language,
                "output": str(tmp / "synth"),
                "max_attempts": 1,
                "thresholds": dict.fromkeys(languages, 1e9),
                "tts": {"default": {"backend": "espeak"}},
            }
        ),
        progress=False,
    )
    publish([tmp / "synth"], tmp / "dataset")
    return tmp / "dataset"


def espeak_corpus(folder: Path, sentences: list[tuple[str, str, str]]) -> Path:
    """An ASR corpus as ``asr-corpus`` writes one (``<lang>/<n>.flac`` + ``metadata.jsonl``), spoken by eSpeak NG:
    ``sentences`` are (language, voice, text). No ASR involved."""
    import json

    import soundfile as sf

    from audiomlqa.tts import load_backend

    espeak, rows = load_backend("espeak"), []
    for i, (lang, voice, text) in enumerate(sentences):
        (folder / lang).mkdir(parents=True, exist_ok=True)
        speech = espeak.synthesize(text, lang, voice, seed=0)
        sf.write(folder / lang / f"{i:05d}.flac", speech.samples, speech.sample_rate)
        rows.append({"file_name": f"{lang}/{i:05d}.flac", "text": text, "language": lang, "voice": voice})
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder
