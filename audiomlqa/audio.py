"""Audio as the pipeline keeps it (16 kHz mono float32) and the processing every TTS backend's output gets:
loudness, resampling, atomic FLAC files."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiomlqa.errors import AudioMLQAError, first_line
from audiomlqa.utils.files import atomic_output, sha256_file

SAMPLE_RATE = 16_000
"""The rate of every stored clip, ASR input and Speech LLM input (Whisper's)."""
TARGET_DBFS = -20.0
"""Loudness every clip is brought to (RMS dBFS), so voices and backends sound equally loud."""


@dataclass(frozen=True)
class Speech:
    """Mono audio as float32 in [-1, 1] at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def normalize_loudness(speech: Speech, target_dbfs: float = TARGET_DBFS) -> Speech:
    """Gain to ``target_dbfs`` RMS with pydub, clipped to at most 1 dB of peak headroom."""
    with warnings.catch_warnings():  # pydub warns about ffmpeg, which raw PCM does not need
        warnings.simplefilter("ignore", RuntimeWarning)
        from pydub import AudioSegment

    if len(speech.samples) == 0:
        return speech
    pcm = (np.clip(speech.samples, -1.0, 1.0) * 32767).astype("<i2")
    seg = AudioSegment(pcm.tobytes(), frame_rate=speech.sample_rate, sample_width=2, channels=1)
    if seg.rms == 0:
        return speech
    gain = min(target_dbfs - seg.dBFS, -1.0 - seg.max_dBFS)
    seg = seg.apply_gain(gain)
    samples = np.frombuffer(seg.raw_data, dtype="<i2").astype(np.float32) / 32768.0
    return Speech(samples, speech.sample_rate)


def resample(speech: Speech, sample_rate: int = SAMPLE_RATE) -> Speech:
    """High-quality resampling with soxr (a no-op at the target rate)."""
    if speech.sample_rate == sample_rate:
        return speech
    import soxr

    return Speech(soxr.resample(speech.samples, speech.sample_rate, sample_rate).astype(np.float32), sample_rate)


def prepare(speech: Speech) -> Speech:
    """What the pipeline stores and transcribes: loudness-normalised, 16 kHz mono float32."""
    return resample(normalize_loudness(speech))


def write_flac(path: Path, speech: Speech) -> tuple[int, str]:
    """Write 16-bit FLAC so that only a complete, verified clip ever stands at ``path``: written to a temporary
    name, flushed to disk, read back (frame count and rate checked), then renamed. Returns its size and sha256,
    which the manifest records so that resuming and publishing can check the clip is still the same."""
    import soundfile as sf

    with atomic_output(path) as tmp:
        try:
            sf.write(tmp, speech.samples, speech.sample_rate, format="FLAC", subtype="PCM_16")
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            info = sf.info(tmp)
            complete = info.frames == len(speech.samples) and info.samplerate == speech.sample_rate
        except (OSError, RuntimeError) as e:  # libsndfile reports a full disk as a RuntimeError
            raise AudioMLQAError(f"cannot write {path}: {first_line(e)} (disk full?); free space and rerun") from None
        if not complete:
            raise AudioMLQAError(
                f"cannot write {path}: the clip read back is incomplete (disk full?); free space and rerun"
            )
        return tmp.stat().st_size, sha256_file(tmp)


def read_flac(path: Path):
    """16 kHz mono float32 samples of a stored clip (resampled if it was stored at another rate)."""
    import soundfile as sf

    samples, rate = sf.read(path, dtype="float32", always_2d=False)
    return resample(Speech(samples, rate)).samples
