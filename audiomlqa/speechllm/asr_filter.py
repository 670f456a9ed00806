"""The paper's data filter as a preparation step: Whisper transcribes every utterance of an ASR corpus, and those
whose error against their transcript exceeds the threshold (the paper: WER above 10%) are dropped. The kept ones
are written as a Hugging Face audio folder that ``train-reference`` reads (``data.source``), with each one's error,
and ``filter.json`` records the ASR, the metric and the counts.

Languages written without spaces (zh) are measured by CER, as the synthesis filter does: a WER needs words.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field

from audiomlqa.asr import ASRSettings, FasterWhisperSettings
from audiomlqa.asr.text import DEFAULT_METRIC, error_rate, normalize_for_asr
from audiomlqa.audio import Speech, write_flac
from audiomlqa.config import Integer, Language, Number, Settings, parse
from audiomlqa.errors import AudioMLQAError
from audiomlqa.speechllm.data import DataConfig, load_asr_corpus
from audiomlqa.synthesis.on_ray import asr_judge
from audiomlqa.utils.files import write_json, write_jsonl
from audiomlqa.utils.progress import progress_bar


class FilterConfig(Settings):
    """What ``audiomlqa asr-filter`` keeps."""

    data: DataConfig = Field(default_factory=DataConfig)
    """The corpus to filter (any source ``train-reference`` reads)."""
    languages: list[Language] = Field(default_factory=lambda: ["en", "de", "es", "vi", "zh"], min_length=1)
    max_error: Number = Field(0.10, ge=0.0)
    """Utterances whose error exceeds this are dropped (the paper: WER 10%)."""
    metric: dict[Language, Literal["wer", "cer"]] = Field(default_factory=dict)
    """Per language (default: WER, CER where words are not written apart)."""
    asr: ASRSettings = Field(default_factory=FasterWhisperSettings)
    """The transcribing Whisper (default: Whisper base from PyPI, offline; the paper: Whisper large-v3)."""
    batch_size: Integer = Field(16, ge=1)
    output: str = "asr-filtered"
    engine: Literal["local", "ray"] = "local"
    """``ray``: the ASR runs in actors on a Ray cluster (one per GPU), as ``synthesize --engine ray``'s judge does."""
    ray_address: str = "local"
    """With ``engine: ray``: ``local`` starts a cluster here; ``auto`` or ``HOST:PORT`` joins one."""

    @classmethod
    def from_dict(cls, data: dict, where: str | None = None) -> FilterConfig:
        return parse(cls, data, where)


def filter_corpus(cfg: FilterConfig, *, progress: bool = True) -> dict:
    """Transcribe, measure, keep; returns (and writes to ``filter.json``) what was kept and dropped per language."""

    corpus, _ = load_asr_corpus(cfg.data.model_copy(update={"validation": 0.0}), cfg.languages)
    out = Path(cfg.output)
    with asr_judge(cfg.asr, engine=cfg.engine, address=cfg.ray_address) as asr:
        return _filter(cfg, corpus, out, asr, progress)


def _filter(cfg: FilterConfig, corpus, out: Path, asr, progress: bool) -> dict:
    """Every utterance of ``corpus`` heard by ``asr``, the kept ones written to ``out``."""
    rows, counts = [], {lang: {"kept": 0, "dropped": 0} for lang in cfg.languages}
    with progress_bar("filter", len(corpus), enabled=progress) as bar:
        for lang in cfg.languages:
            idx = [i for i, x in enumerate(corpus.items) if x[3] == lang]
            metric = cfg.metric.get(lang, DEFAULT_METRIC.get(lang, "wer"))
            for start in range(0, len(idx), cfg.batch_size):
                part = idx[start : start + cfg.batch_size]
                utterances = [corpus[i] for i in part]
                heard = asr.transcribe([u.audio for u in utterances], lang, [u.text for u in utterances])
                for i, u, hypothesis in zip(part, utterances, heard):
                    error = error_rate(normalize_for_asr(u.text, lang), normalize_for_asr(hypothesis, lang), metric)
                    keep = error <= cfg.max_error
                    counts[lang]["kept" if keep else "dropped"] += 1
                    if keep:
                        name = f"{lang}/{len(rows):06d}.flac"
                        write_flac(out / name, Speech(u.audio, 16000))
                        voice = corpus.items[i][4]
                        rows.append(
                            {"file_name": name, "text": u.text, "language": lang, "voice": voice, metric: error}
                        )
                bar.advance(len(part))
    report = {
        "source": cfg.data.source,
        "asr": asr.describe(),
        "max_error": cfg.max_error,
        "metric": {lang: cfg.metric.get(lang, DEFAULT_METRIC.get(lang, "wer")) for lang in cfg.languages},
        "counts": counts,
        "kept": len(rows),
        "output": str(out),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "filter.json", json.loads(json.dumps(report, default=str)))
    if not rows:
        raise AudioMLQAError(
            f"{cfg.data.source}: no utterance within {cfg.max_error} error ({counts}); raise max_error or use a "
            "stronger asr.model (the counts are in filter.json)"
        )
    write_jsonl(out / "metadata.jsonl", rows)  # last: a folder without it is not a corpus yet
    return report
