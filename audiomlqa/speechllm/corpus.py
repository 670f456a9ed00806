"""A multilingual ASR corpus spoken by the project's own TTS from MLQA *contexts*, for training on a machine with no
speech data: sentences of the paragraphs (never the questions Audio-MLQA asks later), each spoken by one of several
voices per language, written as a Hugging Face audio folder that ``train-reference`` reads (``data.source``).

The voice is a column, so training can hold out whole voices for validation (``data.validation``): language ID is
then measured on voices the gate never heard.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import Field

from audiomlqa.audio import prepare, write_flac
from audiomlqa.config import Integer, Language, Settings, parse
from audiomlqa.errors import AudioMLQAError
from audiomlqa.sources import PACKAGED_SAMPLE, load_questions
from audiomlqa.tts import EspeakChoice, TTSChoice, load_backend
from audiomlqa.utils.files import write_jsonl
from audiomlqa.utils.progress import progress_bar

_SENTENCE_END = re.compile(r"(?<=[.!?。！？।؟])\s*")
_NO_SPACES = {"zh"}  # sentence length is counted in characters there


class CorpusConfig(Settings):
    """What ``audiomlqa asr-corpus`` builds."""

    source: str = PACKAGED_SAMPLE
    """MLQA (a folder, a SQuAD file or a published dataset) whose contexts are spoken."""
    split: str = "dev"
    languages: list[Language] = Field(default_factory=lambda: ["en", "de", "es", "vi", "zh"], min_length=1)
    per_language: Integer = Field(60, ge=1)
    """Sentences per language (fewer if the contexts hold fewer)."""
    voices: Integer = Field(5, ge=1)
    """Voices per language, taken in turn (eSpeak has five variants of each)."""
    min_words: Integer = Field(3, ge=1)
    max_words: Integer = Field(25, ge=1)
    """Sentence length kept (characters / 2.5 for Chinese)."""
    tts: TTSChoice = Field(default_factory=EspeakChoice)
    output: str = "asr-corpus"

    @classmethod
    def from_dict(cls, data: dict, where: str | None = None) -> CorpusConfig:
        return parse(cls, data, where)


def sentences(text: str, lang: str, min_words: int, max_words: int) -> Iterator[str]:
    """The sentences of a paragraph whose length is within bounds (words, or characters / 2.5 for Chinese)."""
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        length = len(sentence) / 2.5 if lang in _NO_SPACES else len(sentence.split())
        if sentence and min_words <= length <= max_words:
            yield sentence


def _rank(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build_corpus(cfg: CorpusConfig, *, progress: bool = True) -> dict:
    """Speak ``cfg.per_language`` context sentences per language into ``cfg.output`` (``<lang>/<n>.flac`` and
    ``metadata.jsonl``: file_name, text, language, voice). A rerun keeps the clips already written. Returns counts."""

    out = Path(cfg.output)
    backend = load_backend(cfg.tts.backend, **cfg.tts.constructor_options())
    plan = []
    for lang in cfg.languages:
        questions = load_questions(cfg.source, split=cfg.split, languages=[lang])
        asked = {q.question.strip() for q in questions}
        found = {
            s
            for context in dict.fromkeys(q.context for q in questions if q.context_lang == lang)
            for s in sentences(context, lang, cfg.min_words, cfg.max_words)
            if s not in asked
        }
        chosen = sorted(found, key=_rank)[: cfg.per_language]
        if not chosen:
            raise AudioMLQAError(f"{cfg.source}: no {lang} context sentences of {cfg.min_words}–{cfg.max_words} words")
        voices = (cfg.tts.voices or backend.voices(lang))[: cfg.voices]
        plan += [(lang, i, text, voices[i % len(voices)]) for i, text in enumerate(chosen)]
    rows = []
    with progress_bar("speak", len(plan), enabled=progress) as bar:
        for lang, i, text, voice in plan:
            name = f"{lang}/{i:05d}.flac"
            if not (out / name).is_file():
                write_flac(out / name, prepare(backend.synthesize(text, lang, voice)))
            rows.append({"file_name": name, "text": text, "language": lang, "voice": voice})
            bar.advance()
    write_jsonl(out / "metadata.jsonl", rows)  # last: a folder without it is not a corpus yet
    per_language = {x: sum(r["language"] == x for r in rows) for x in cfg.languages}
    return {"output": str(out), "utterances": len(rows), "per_language": per_language}
