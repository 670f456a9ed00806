"""Model specs (``models/*.json``) and the runners that answer Audio-MLQA with them.

A spec is a small JSON file; ``kind`` picks the runner:

* ``text`` — the topline: an LLM reads the context and the *written* question;
* ``cascade`` — Whisper transcribes the spoken question, the same LLM reads the transcript;
* ``speechllm`` — an audiomlqa checkpoint hears the spoken question directly;
* anything else — a user's runner: ``"adapter": "package.module:Class"`` in the spec, or a class
  registered under the entry-point group ``audiomlqa.models`` with the kind as its name.

Every runner follows one interface, :class:`Runner`: it receives :class:`Item` batches (which carry the
shared prompt, so every model is asked the same thing) and returns :class:`Answers` (one raw output per
item, in order, and the transcripts it heard, if it transcribes). The same extraction is applied to every
output afterwards.

Every runner knows its model's context window (:mod:`audiomlqa.llm.window`): a prompt whose tokens plus
``max_new_tokens`` do not fit is never answered; its item is marked over window (an empty answer, counted and
scored as no answer). In-process models read the window from their config (else their tokenizer); a served model's
is its server's (it refuses such a prompt, or lists ``max_model_len``) or the spec's ``context_window``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Union, runtime_checkable

import numpy as np
from pydantic import ConfigDict, Discriminator, Field, Tag

from audiomlqa.asr import ASRSettings, FasterWhisperSettings
from audiomlqa.config import UNION_TAGS, Integer, Number, Settings
from audiomlqa.errors import AudioMLQAError
from audiomlqa.evaluation.prompts import fill_question
from audiomlqa.llm.devices import DTYPES
from audiomlqa.llm.generation import PREFILL_MODES
from audiomlqa.llm.text import PROMPT_MODES
from audiomlqa.scoring.predictions import looks_like_model_spec
from audiomlqa.utils.files import read_json

ENTRY_POINT_GROUP = "audiomlqa.models"
MAX_BATCH_CHARS = 24_000
"""Padded prompt characters per batch. With ``prefill: separate`` (the default) each prompt is prefilled
alone, and padding costs only key/value memory and attention at every decoding step; with ``prefill:
padded`` the padding is computed too, and on a CPU a padded prompt costs as much as a real one. MLQA
contexts run from about 100 to 3,000 tokens, so long prompts go in small batches and short ones in full
ones either way. A spec may set ``max_batch_chars``."""


# -- the interface every runner follows -------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One question to answer, as every model gets it.

    ``prompt`` is the shared prompt with the written question; ``speech_prompt`` the same prompt with
    :data:`~audiomlqa.llm.SPEECH` where the question goes (for models that hear it, or that put a
    transcript there: :func:`~audiomlqa.evaluation.prompts.fill_question`). ``audio`` is the spoken question, 16 kHz
    mono float32, for runners whose ``needs_audio`` is true (None otherwise). A batch may mix configs.
    """

    id: str
    context: str
    question: str
    audio: np.ndarray | None
    context_lang: str
    question_lang: str
    prompt: str
    speech_prompt: str


@dataclass
class Answers:
    """What a runner returns for a batch: one raw output per item, in order, and (a cascade) what it heard."""

    texts: list[str]
    transcripts: list[str] | None = None
    over_window: list[bool] | None = None
    """Per item: its prompt did not fit the model's context window, so it got no answer (its text is empty)."""

    @classmethod
    def of(cls, outputs: Sequence[str | None], transcripts: list[str] | None = None) -> Answers:
        """From one output per item, None where the prompt did not fit the window."""
        return cls([t or "" for t in outputs], transcripts, [t is None for t in outputs])


@runtime_checkable
class Runner(Protocol):
    """A model that answers Audio-MLQA. Built as ``Class(spec: dict, base: Path | None)``; ``base`` is the
    spec file's folder (relative paths in a spec may resolve from there)."""

    needs_audio: bool

    def answer(self, items: Sequence[Item]) -> Answers: ...

    def describe(self) -> dict:
        """What ran (model ids, settings, versions): recorded with every cached prediction."""
        ...


# -- specs ---------------------------------------------------------------------------------------------------


class _SpecBase(Settings):
    """Fields every spec has; the defaults here are the only ones."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100)
    """Names the cache folder ``predictions/<name>/`` and the column in comparisons (letters, digits, . _ -)."""
    kind: str
    description: str | None = None
    trained_with: str | None = None
    model: dict | None = None
    """Documentation only (e.g. the architecture of a checkpoint)."""
    batch_size: Integer = Field(32, ge=1)
    max_batch_chars: Integer = Field(MAX_BATCH_CHARS, ge=1)
    """Cap on a batch's padded prompt size (questions × longest prompt, in characters)."""
    max_new_tokens: Integer = Field(32, ge=1)
    generation: dict[str, Any] = Field(default_factory=dict)
    """Extra ``generate()`` keyword arguments (greedy by default)."""
    prefill: Literal[PREFILL_MODES] = "separate"  # type: ignore[valid-type]
    device: str = "auto"
    """``auto`` (a CUDA GPU when there is one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    dtype: Literal[DTYPES] = "auto"  # type: ignore[valid-type]
    """``auto`` (bf16 on a GPU that supports it, else fp32), ``float32``, ``float16`` or ``bfloat16``."""
    device_map: str | dict[str, Any] | None = None
    """Spread a model that does not fit one GPU (accelerate's ``auto``, ``balanced``, or an explicit map)."""


class _LLMFields(_SpecBase):
    llm: str
    """Hub id, local directory, ``.gguf`` file, or an offline name (``pypi/…``, ``tiny-random/llm``)."""
    prompt_mode: Literal[PROMPT_MODES] = "auto"  # type: ignore[valid-type]


class TextSpec(_LLMFields):
    kind: Literal["text"]


class CascadeSpec(_LLMFields):
    kind: Literal["cascade"]
    asr: ASRSettings = Field(default_factory=FasterWhisperSettings)


class SpeechLLMSpec(_SpecBase):
    kind: Literal["speechllm"]
    checkpoint: str
    """The directory ``audiomlqa train-reference`` wrote (``…/final``)."""
    whisper: str | None = None
    """Override the frozen Whisper the checkpoint names (e.g. a local copy)."""
    llm: str | None = None


class ApiSpec(_SpecBase):
    """A model behind any OpenAI-compatible chat-completions endpoint."""

    kind: Literal["api"]
    base_url: str
    """e.g. ``http://127.0.0.1:8000/v1`` (vLLM, SGLang, TGI, ``transformers serve``) or a hosted API."""
    model: str
    """The model name the server knows."""
    api_key_env: str | None = None
    """The *name* of the environment variable holding the key (None: a local server that needs none)."""
    question: Literal["text", "transcript", "audio"] = "text"
    """What the model is given for the question: the written text (topline), the local ASR's transcript
    (cascade, with ``asr``), or the audio itself as an ``input_audio`` content part (a served Speech LLM)."""
    asr: ASRSettings = Field(default_factory=FasterWhisperSettings)
    """The cascade's ASR (``question: transcript``), run here."""
    concurrency: Integer = Field(4, ge=1)
    retries: Integer = Field(5, ge=0)
    """Retries of a request after a 429, a 5xx, a time-out or a refused or dropped connection, with exponential
    backoff; any other 4xx fails at once, with the server's reason."""
    timeout: Number = Field(120.0, gt=0)
    """Seconds one request may take."""
    context_window: Integer | None = Field(None, ge=1)
    """The served model's window in tokens, for a server that does not list it (vLLM lists ``max_model_len``;
    ``transformers serve`` does not): an answer whose prompt tokens (the reply's ``usage``) plus ``max_new_tokens``
    exceed it is dropped as over window, as in-process. The server refuses longer prompts itself."""

    def client(self, **overrides):
        """The :class:`~audiomlqa.llm.api.ChatAPI` these fields describe (``overrides`` replace some of them)."""
        from audiomlqa.llm.api import ChatAPI

        settings = {
            "api_key_env": self.api_key_env,
            "concurrency": self.concurrency,
            "retries": self.retries,
            "timeout": self.timeout,
            "max_tokens": self.max_new_tokens,
            "generation": self.generation,
            "context_window": self.context_window,
        }
        return ChatAPI(self.base_url, self.model, **{**settings, **overrides})


class AudioChatSpec(_SpecBase):
    """An audio chat model that transformers implements (the families of :mod:`audiomlqa.llm.audiochat`)."""

    kind: Literal["audiochat"]
    checkpoint: str
    """Hub id, local folder, or ``tiny-random/<family>`` (the tests' tiny models)."""
    revision: str | None = None
    """The Hub revision (branch, tag, commit or ``refs/pr/N``) of a Hub checkpoint."""
    trust_remote_code: bool = False
    """Run Python code from the checkpoint's repository (models transformers does not implement). Off unless said."""
    system_prompt: str | None = None
    """A system message before the question (None: the family's default, usually the chat template's own)."""
    license: str | None = None
    languages: list[str] | None = None
    """Documentation: the model card's license and the languages it claims."""


class AdapterSpec(_SpecBase):
    """A user's kind: the class gets the whole spec, its own fields included."""

    model_config = ConfigDict(extra="allow")
    adapter: str | None = None
    """``"package.module:Class"``; without it, the class registered under the entry point of this kind."""


BUILTIN = {
    "text": "TextRunner",
    "cascade": "CascadeRunner",
    "speechllm": "SpeechLLMRunner",
    "api": "ApiRunner",
    "audiochat": "AudioChatRunner",
}
UNION_TAGS.update(BUILTIN)


def _kind_tag(value) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if kind in BUILTIN else "adapter"


SpecFields = Annotated[
    Union[
        Annotated[TextSpec, Tag("text")],
        Annotated[CascadeSpec, Tag("cascade")],
        Annotated[SpeechLLMSpec, Tag("speechllm")],
        Annotated[ApiSpec, Tag("api")],
        Annotated[AudioChatSpec, Tag("audiochat")],
        Annotated[AdapterSpec, Tag("adapter")],
    ],
    Discriminator(_kind_tag),
]
RUNTIME_FIELDS = (
    "description",
    "batch_size",
    "max_batch_chars",
    "prefill",
    "device",
    "device_map",
    "concurrency",
    "retries",
    "timeout",
    "api_key_env",
    "license",
    "languages",
)
"""Fields that change how fast (or where) the answers come, not what they are: cached answers survive a change to
them. The precision does change answers: caches record the resolved dtype and refuse another."""


@dataclass(frozen=True)
class ModelSpec:
    path: Path
    data: dict
    """The spec as written (with overrides applied): what the cache key and a user's adapter see."""
    fields: Any
    """The same, validated, with every default filled in."""

    @property
    def name(self) -> str:
        return self.fields.name

    @property
    def kind(self) -> str:
        return self.fields.kind

    @property
    def sha256(self) -> str:
        """The cache key: every field the answers depend on (all but ``RUNTIME_FIELDS``)."""
        answers_depend_on = {k: v for k, v in self.data.items() if k not in RUNTIME_FIELDS}
        return hashlib.sha256(json.dumps(answers_depend_on, sort_keys=True).encode()).hexdigest()


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> ModelSpec:
    """Read and check a spec without loading any model: every field to the leaves, the checkpoint and the
    adapter present. ``overrides`` are ``key.sub=value`` strings applied first."""
    from pydantic import TypeAdapter

    from audiomlqa.config import apply_overrides

    path = Path(path)
    data = read_json(path)
    if not looks_like_model_spec(data):
        raise AudioMLQAError(f"{path}: not a model spec (a JSON object with a 'name' and a 'kind')")
    data = apply_overrides(data, overrides)
    fields = _validate(TypeAdapter(SpecFields), data, path)
    spec = ModelSpec(path, data, fields)
    if isinstance(fields, SpeechLLMSpec) and not (_checkpoint(path, fields.checkpoint) / "config.json").is_file():
        raise AudioMLQAError(
            f"{path}: checkpoint {fields.checkpoint!r} not found: train it first "
            f"({fields.trained_with or 'audiomlqa train-reference --recipe …'}) or fix the path"
        )
    if isinstance(fields, AudioChatSpec):
        try:
            _audiochat_location(path.parent, fields, fetch=False)
        except AudioMLQAError as e:
            raise AudioMLQAError(f"{path}: {e}") from None
    _runner_class(spec)  # an unknown kind or a broken adapter fails here, in one line
    return spec


def _validate(adapter, data: dict, path: Path):
    from pydantic import ValidationError

    from audiomlqa.config import describe_error

    try:
        return adapter.validate_python(data)
    except ValidationError as e:
        raise AudioMLQAError(describe_error(e, str(path))) from None


def _relative(spec_path: Path, target: str) -> Path:
    """Paths in a spec are relative to the working directory, else to the spec's folder."""
    p = Path(target)
    return p if p.is_absolute() or p.exists() else spec_path.parent / p


def _runner_class(spec: ModelSpec):
    if spec.kind in BUILTIN:
        return globals()[BUILTIN[spec.kind]]
    target = spec.fields.adapter
    if target is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec.kind]
        if not found:
            raise AudioMLQAError(
                f"{spec.path}: unknown model kind {spec.kind!r}: use {', '.join(BUILTIN)}, give "
                f'"adapter": "module:Class", or register the class under entry point group '
                f"{ENTRY_POINT_GROUP!r}"
            )
        return found[0].load()
    module, _, cls = str(target).partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError, ValueError) as e:
        raise AudioMLQAError(f"{spec.path}: cannot import adapter {target!r} ({e.__class__.__name__}: {e})") from None


@dataclass(frozen=True)
class Placement:
    """Where a spec's model runs, resolved on this machine (``auto`` made concrete)."""

    device: str
    dtype: str
    device_map: str | dict | None = None


def placement(spec: ModelSpec) -> Placement:
    """The spec's device and precision on this machine; a CUDA device without CUDA fails here, before loading."""
    from audiomlqa.llm.devices import resolve_device, resolve_dtype

    if isinstance(spec.fields, ApiSpec) and spec.fields.question != "transcript":
        return Placement("remote", "remote")  # the server decides; nothing of torch is needed here
    device = resolve_device(spec.fields.device)
    return Placement(device, resolve_dtype(spec.fields.dtype, device), spec.fields.device_map)


def preflight(spec: ModelSpec) -> Placement:
    """What can be checked of a spec on this machine before anything loads: its device, and for a served model
    that the server answers and takes the key. Returns where the model will run."""
    where = placement(spec)
    if isinstance(spec.fields, ApiSpec):
        spec.fields.client(retries=min(spec.fields.retries, 1), timeout=min(spec.fields.timeout, 30)).check()
    if isinstance(spec.fields, AudioChatSpec):  # remote code, a processor without audio: refused before weights
        from audiomlqa.llm.audiochat import inspect

        location = _audiochat_location(spec.path.parent, spec.fields, fetch=True, weights=False)
        inspect(str(location), trust_remote_code=spec.fields.trust_remote_code)
    return where


def load_runner(spec: ModelSpec, where: Placement | None = None) -> Runner:
    """Build the spec's runner at ``where`` (default: resolved from the spec). A user's adapter gets the spec as a
    dict, with ``device`` and ``dtype`` resolved."""
    where = where or placement(spec)
    resolved = {"device": where.device, "dtype": where.dtype}
    if isinstance(spec.fields, AdapterSpec):
        return _runner_class(spec)({**spec.data, **resolved}, base=spec.path.parent)
    return _runner_class(spec)(spec.fields.model_copy(update=resolved), base=spec.path.parent)


def as_answers(result: Answers | Sequence[str | None]) -> Answers:
    """A runner's result as :class:`Answers` (a plain list is answers without transcripts, None where the prompt
    did not fit the model's window)."""
    if isinstance(result, Answers):
        return result
    if isinstance(result, (list, tuple)) and all(x is None or isinstance(x, str) for x in result):
        return Answers.of(result)
    raise AudioMLQAError(
        f"a runner returned {type(result).__name__}: return Answers(texts, transcripts) or a list of str (None: over "
        "the context window)"
    )


# -- the built-in runners --------------------------------------------------------------------------------


def _text_llm(spec: TextSpec | CascadeSpec):
    from audiomlqa.llm.text import TextLLM

    return TextLLM(
        spec.llm,
        prompt_mode=spec.prompt_mode,
        dtype=spec.dtype,
        max_new_tokens=spec.max_new_tokens,
        generation=spec.generation,
        prefill=spec.prefill,
        device=spec.device,
        device_map=spec.device_map,
    )


def _placed_asr(spec: CascadeSpec):
    """The cascade's ASR settings, on the spec's device and in its precision unless the ASR says otherwise."""
    asr = spec.asr
    update: dict = {}
    if asr.backend == "transformers" and asr.model:
        from audiomlqa.llm.names import resolve

        update["model"] = resolve(asr.model)
    if asr.device is None and spec.device != "auto":
        update["device"] = spec.device  # cuda:N reaches faster-whisper whole (its device_index)
    gpu = (update.get("device") or asr.device or "cpu").startswith("cuda")
    if asr.backend == "transformers" and asr.dtype is None and spec.dtype != "auto":
        update["dtype"] = spec.dtype
    if asr.backend == "faster-whisper" and asr.compute_type is None and gpu:
        update["compute_type"] = "float32" if spec.dtype == "float32" else "float16"
    return asr.model_copy(update=update)


def _transcribe(asr, items: Sequence[Item]) -> list[str]:
    """What the ASR hears in each item's audio (language forced, one batch per question language)."""
    heard = [""] * len(items)
    for lang in sorted({x.question_lang for x in items}):
        idx = [i for i, x in enumerate(items) if x.question_lang == lang]
        # the length cap needs a reference length only: the ASR never sees the written question
        texts = asr.transcribe([items[i].audio for i in idx], lang, [items[i].question for i in idx])
        for i, text in zip(idx, texts):
            heard[i] = text
    return heard


def _checkpoint(spec_path: Path, checkpoint: str) -> Path:
    """A Speech LLM checkpoint: a folder (relative to the working directory, else to the spec), or a Hub id."""
    from audiomlqa.weights.hub import fetch, looks_like_repo_id

    local = _relative(spec_path, checkpoint)
    if (local / "config.json").is_file() or not looks_like_repo_id(checkpoint):
        return local
    return fetch(checkpoint, "Speech LLM checkpoint")


AUDIOCHAT_CONFIG_FILES = ["*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken", "*.py"]
"""What a Hub audio chat checkpoint is checked from before its weights come: configs, processor, tokenizer, code."""
AUDIOCHAT_FILES = [*AUDIOCHAT_CONFIG_FILES, "model*.safetensors", "pytorch_model*.bin", "spk_dict.pt", "speech-lora/*"]
"""And what runs it: the transformers weights (not a second copy in another format, nor adapters for images)."""


def _audiochat_location(base: Path, fields: AudioChatSpec, *, fetch: bool, weights: bool = True) -> Path | None:
    """An audio chat checkpoint as a folder: a local one (relative to the working directory, else to ``base``, the
    spec's folder), a tiny model (built on first use), or a Hub repo at ``fields.revision`` fetched (its configs
    only, unless ``weights``). ``fetch=False`` only checks a local one."""
    from audiomlqa.testing import tiny
    from audiomlqa.weights.hub import fetch as fetch_repo
    from audiomlqa.weights.hub import looks_like_repo_id

    checkpoint = fields.checkpoint
    if checkpoint.startswith(tiny.TINY_PREFIX):
        return Path(tiny.build(checkpoint)) if fetch else None
    local = Path(checkpoint) if Path(checkpoint).is_absolute() or Path(checkpoint).exists() else base / checkpoint
    if local.is_dir() or not looks_like_repo_id(checkpoint):
        if not (local / "config.json").is_file():
            raise AudioMLQAError(f"checkpoint {checkpoint!r} not found (no {local / 'config.json'})")
        return local
    if not fetch:
        return None
    patterns = AUDIOCHAT_FILES if weights else AUDIOCHAT_CONFIG_FILES
    return fetch_repo(checkpoint, "audio chat model", allow_patterns=patterns, revision=fields.revision)


class TextRunner:
    """The text-only topline: the LLM reads the written question."""

    needs_audio = False

    def __init__(self, spec: TextSpec, base: Path | None = None) -> None:
        self.llm = _text_llm(spec)

    def answer(self, items: Sequence[Item]) -> Answers:
        return Answers.of(self.llm.generate([x.prompt for x in items]))

    def describe(self) -> dict:
        return {"kind": "text", **self.llm.describe()}


class CascadeRunner:
    """Whisper → LLM: the spoken question is transcribed (language forced), then answered as text."""

    needs_audio = True

    def __init__(self, spec: CascadeSpec, base: Path | None = None) -> None:
        self.asr = _placed_asr(spec).load()
        self.llm = _text_llm(spec)

    def answer(self, items: Sequence[Item]) -> Answers:
        heard = _transcribe(self.asr, items)
        prompts = [fill_question(x.speech_prompt, t) for x, t in zip(items, heard)]
        return Answers.of(self.llm.generate(prompts), heard)

    def describe(self) -> dict:
        return {"kind": "cascade", "asr": self.asr.describe(), **self.llm.describe()}


class SpeechLLMRunner:
    """An audiomlqa Speech LLM checkpoint: the audio goes where the prompt's question would be."""

    needs_audio = True

    def __init__(self, spec: SpeechLLMSpec, base: Path | None = None) -> None:
        import torch

        from audiomlqa.speechllm import SpeechLLM

        self.checkpoint = _checkpoint(base / "spec.json" if base is not None else Path("spec.json"), spec.checkpoint)
        dtype = getattr(torch, spec.dtype) if spec.dtype != "auto" else None
        self.model = SpeechLLM.from_pretrained(
            self.checkpoint, whisper=spec.whisper, llm=spec.llm, dtype=dtype, device=spec.device
        )
        self.generation = {"max_new_tokens": spec.max_new_tokens, "do_sample": False, **spec.generation}
        self.prefill = spec.prefill

    def answer(self, items: Sequence[Item]) -> Answers:
        prompts = [x.speech_prompt for x in items]
        return Answers.of(
            self.model.generate([x.audio for x in items], prompts, prefill=self.prefill, **self.generation)
        )

    def describe(self) -> dict:
        cfg = self.model.config
        return {
            "kind": "speechllm",
            "checkpoint": str(self.checkpoint),
            "whisper": cfg.whisper,
            "llm": cfg.llm,
            "gate": cfg.gate,
            "selection": cfg.selection,
            "num_banks": cfg.num_banks,
            "generation": self.generation,
            "prefill": self.prefill,
            "context_window": self.model.window,
        }


class AudioChatRunner:
    """An audio chat model transformers implements: its own processor and chat template, the audio where the
    question goes."""

    needs_audio = True

    def __init__(self, spec: AudioChatSpec, base: Path | None = None) -> None:
        from audiomlqa.llm.audiochat import AudioChatLLM, inspect

        base = base if base is not None else Path(".")
        self.checkpoint, self.revision = spec.checkpoint, spec.revision
        configs = _audiochat_location(base, spec, fetch=True, weights=False)
        if (
            _audiochat_location(base, spec, fetch=False) is None
        ):  # not a local folder: a Hub one is checked before its weights
            inspect(str(configs), trust_remote_code=spec.trust_remote_code)
        location = _audiochat_location(base, spec, fetch=True)  # (a folder is inspected once, by AudioChatLLM)
        self.llm = AudioChatLLM(
            str(location),
            trust_remote_code=spec.trust_remote_code,
            system_prompt=spec.system_prompt,
            dtype=spec.dtype,
            device=spec.device,
            device_map=spec.device_map,
            max_new_tokens=spec.max_new_tokens,
            generation=spec.generation,
        )

    def answer(self, items: Sequence[Item]) -> Answers:
        return Answers.of(self.llm.generate([x.speech_prompt for x in items], [x.audio for x in items]))

    def describe(self) -> dict:
        return {"kind": "audiochat", **self.llm.describe(), "checkpoint": self.checkpoint, "revision": self.revision}


class ApiRunner:
    """A served model: the shared prompt goes out as a chat message (with the transcript or the audio where the
    question goes, when ``question`` says so), ``concurrency`` requests at a time."""

    def __init__(self, spec: ApiSpec, base: Path | None = None) -> None:
        self.question = spec.question
        self.needs_audio = spec.question != "text"
        self.api = spec.client()
        self.api.check()
        self.asr = _placed_asr(spec).load() if spec.question == "transcript" else None

    def answer(self, items: Sequence[Item]) -> Answers:
        from audiomlqa.llm.api import audio_content

        if self.question == "audio":
            return Answers.of(self.api.complete([audio_content(x.speech_prompt, x.audio) for x in items]))
        if self.question == "transcript":
            heard = _transcribe(self.asr, items)
            prompts = [fill_question(x.speech_prompt, t) for x, t in zip(items, heard)]
            return Answers.of(self.api.complete(prompts), heard)
        return Answers.of(self.api.complete([x.prompt for x in items]))

    def describe(self) -> dict:
        return {
            "kind": "api",
            "question": self.question,
            **self.api.describe(),
            **({"asr": self.asr.describe()} if self.asr else {}),
        }
