"""Model specs (``models/*.json``): their kinds and fields, reading and checking one, and where its model runs.

A spec is a small JSON file; ``kind`` picks the runner (:mod:`audiomlqa.evaluation.runners`):

* ``text`` — the topline: an LLM reads the context and the *written* question;
* ``cascade`` — Whisper transcribes the spoken question, the same LLM reads the transcript;
* ``speechllm`` — an audiomlqa checkpoint hears the spoken question directly;
* ``api`` — a model behind an OpenAI-compatible server;
* ``audiochat`` — an audio chat model that transformers implements;
* anything else — a user's runner: ``"adapter": "package.module:Class"`` in the spec, or a class
  registered under the entry-point group ``audiomlqa.models`` with the kind as its name.

:func:`load_spec` reads and checks a spec without loading any model (every field, the checkpoint, the adapter);
:func:`placement` resolves its ``device``, ``dtype`` and ``device_map`` on this machine and :func:`preflight` also
checks what can be checked before weights load (a served model's server and key, an audio chat model's files). The
checkpoint helpers find a Speech LLM or audio chat checkpoint: a local folder, a tiny test model, or the Hub.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError, field_validator

from audiomlqa.asr import ASRSettings, FasterWhisperSettings
from audiomlqa.config import UNION_TAGS, Integer, Number, Settings, apply_overrides, describe_error
from audiomlqa.errors import AudioMLQAError
from audiomlqa.llm import PREFILL_MODES
from audiomlqa.llm.api import ChatAPI
from audiomlqa.llm.audiochat import inspect
from audiomlqa.llm.devices import DTYPES, resolve_device, resolve_dtype
from audiomlqa.llm.loading import refuse_repository_code
from audiomlqa.llm.names import resolve
from audiomlqa.llm.official_prompts import PROMPTS
from audiomlqa.llm.text import PROMPT_MODES
from audiomlqa.scoring import looks_like_model_spec
from audiomlqa.tasks import INSTRUCTION
from audiomlqa.testing import tiny
from audiomlqa.utils.files import read_json
from audiomlqa.weights import hub

ENTRY_POINT_GROUP = "audiomlqa.models"
MAX_BATCH_CHARS = 24_000
"""Padded prompt characters per batch. With ``prefill: separate`` (the default) each prompt is prefilled
alone, and padding costs only key/value memory and attention at every decoding step; with ``prefill:
padded`` the padding is computed too, and on a CPU a padded prompt costs as much as a real one. MLQA
contexts run from about 100 to 3,000 tokens, so long prompts go in small batches and short ones in full
ones either way. A spec may set ``max_batch_chars``."""

CHARTS = "charts"
"""The folder of comparison charts in ``audiomlqa score``'s output."""
RESERVED_NAMES = {CHARTS: "the comparison charts"}
"""What ``audiomlqa score`` writes into its output folder beside the models' folders (``OUTPUT/charts/``): no
model may be named so (in any case: some file systems ignore it), or its cache would land among them."""


# -- the kinds and their fields ------------------------------------------------------------------------------


class OpenEnded(Settings):
    """How a model answers an instruction: long enough for a real answer (AudioBench and VoiceBench allow 512 to
    2048 new tokens; a short answer's 32 would cut every response)."""

    max_new_tokens: Integer = Field(512, ge=1)
    generation: dict[str, Any] = Field(default_factory=dict)
    """Merged over the spec's ``generation`` (e.g. ``{"repetition_penalty": 1.1}``)."""


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
    open_ended: OpenEnded = Field(default_factory=lambda: OpenEnded())
    """Limits for open-ended answers (instruction configs): ``max_new_tokens`` and ``generation`` there replace
    the short-answer ones above."""
    prefill: Literal[PREFILL_MODES] = "separate"  # type: ignore[valid-type]
    device: str = "auto"
    """``auto`` (a CUDA GPU when there is one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    dtype: Literal[DTYPES] = "auto"  # type: ignore[valid-type]
    """``auto`` (bf16 on a GPU that supports it, else fp32), ``float32``, ``float16`` or ``bfloat16``."""
    device_map: str | dict[str, Any] | None = None
    """Spread a model that does not fit one GPU (accelerate's ``auto``, ``balanced``, or an explicit map)."""

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        held = RESERVED_NAMES.get(name.lower())
        if held:
            raise ValueError(
                f"{name!r} is reserved: the output folder's {name.lower()}/ holds {held}; rename the model"
            )
        return name


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

    def client(self, **overrides) -> ChatAPI:
        """The :class:`~audiomlqa.llm.api.ChatAPI` these fields describe (``overrides`` replace some of them)."""
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
    prompt: Literal[PROMPTS] = "shared"  # type: ignore[valid-type]
    """``shared`` (the default, comparable across models): the audio where the question goes in the shared prompt.
    ``official``: where the family's official examples put it, with their generation settings over the spec's
    ``max_new_tokens`` (its ``generation`` still wins); a usage's name (``seallms-audio``) picks one for a local
    checkpoint (:mod:`audiomlqa.llm.official_prompts`)."""
    license: str | None = None
    languages: list[str] | None = None
    """Documentation: the model card's license and the languages it claims."""


class AdapterSpec(_SpecBase):
    """A user's kind: the class gets the whole spec, its own fields included."""

    model_config = ConfigDict(extra="allow")
    adapter: str | None = None
    """``"package.module:Class"``; without it, the class registered under the entry point of this kind."""


BUILTIN_KINDS = {
    "text": TextSpec,
    "cascade": CascadeSpec,
    "speechllm": SpeechLLMSpec,
    "api": ApiSpec,
    "audiochat": AudioChatSpec,
}
"""The kinds audiomlqa runs itself, and their fields; every other kind is a user's adapter (:class:`AdapterSpec`)."""
UNION_TAGS.update(BUILTIN_KINDS)


def _kind_tag(value) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if kind in BUILTIN_KINDS else "adapter"


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


# -- a spec read and checked ---------------------------------------------------------------------------------


def for_task(spec: ModelSpec, task: str) -> ModelSpec:
    """``spec`` as it answers ``task``: an instruction with its ``open_ended`` limits in place of the short-answer
    ones (the cache key stays the spec's, which holds both; the runner's description records the limits used)."""
    if task != INSTRUCTION:
        return spec
    oe = spec.fields.open_ended
    short = {k: v for k, v in spec.fields.generation.items() if k not in ("max_new_tokens", "max_length")}
    limits = {"max_new_tokens": oe.max_new_tokens, "generation": {**short, **oe.generation}}
    return replace(spec, fields=spec.fields.model_copy(update=limits))


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
    path = Path(path)
    data = read_json(path)
    if not looks_like_model_spec(data):
        raise AudioMLQAError(f"{path}: not a model spec (a JSON object with a 'name' and a 'kind')")
    data = apply_overrides(data, overrides)
    fields = _validate(TypeAdapter(SpecFields), data, path)
    spec = ModelSpec(path, data, fields)
    if (
        isinstance(fields, SpeechLLMSpec)
        and not (speechllm_checkpoint(path, fields.checkpoint) / "config.json").is_file()
    ):
        raise AudioMLQAError(
            f"{path}: checkpoint {fields.checkpoint!r} not found: train it first "
            f"({fields.trained_with or 'audiomlqa train-reference --recipe …'}) or fix the path"
        )
    if isinstance(fields, AudioChatSpec):
        try:
            audiochat_location(path.parent, fields, fetch=False)
        except AudioMLQAError as e:
            raise AudioMLQAError(f"{path}: {e}") from None
    if spec.kind not in BUILTIN_KINDS:
        adapter_class(spec)  # an unknown kind or a broken adapter fails here, in one line
    return spec


def _validate(adapter, data: dict, path: Path):
    try:
        return adapter.validate_python(data)
    except ValidationError as e:
        raise AudioMLQAError(describe_error(e, str(path))) from None


def adapter_class(spec: ModelSpec):
    """The class of a user's kind: its ``adapter`` (``"module:Class"``), else the entry point of its kind."""
    target = spec.fields.adapter
    if target is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec.kind]
        if not found:
            raise AudioMLQAError(
                f"{spec.path}: unknown model kind {spec.kind!r}: use {', '.join(BUILTIN_KINDS)}, give "
                f'"adapter": "module:Class", or register the class under entry point group '
                f"{ENTRY_POINT_GROUP!r}"
            )
        return found[0].load()
    module, _, cls = str(target).partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError, ValueError) as e:
        raise AudioMLQAError(f"{spec.path}: cannot import adapter {target!r} ({e.__class__.__name__}: {e})") from None


# -- where it runs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a spec's model runs, resolved on this machine (``auto`` made concrete)."""

    device: str
    dtype: str
    device_map: str | dict | None = None


def placement(spec: ModelSpec) -> Placement:
    """The spec's device, precision and device map on this machine; a CUDA device without CUDA fails here, before
    loading."""
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
    if isinstance(spec.fields, (TextSpec, CascadeSpec)):  # a text LLM that ships its own code: refused before all
        refuse_repository_code(spec.fields.llm)
    if isinstance(spec.fields, AudioChatSpec):  # remote code, a processor without audio: refused before weights
        location = audiochat_location(spec.path.parent, spec.fields, fetch=True, weights=False)
        inspect(str(location), trust_remote_code=spec.fields.trust_remote_code)
    return where


def placed_asr(spec: CascadeSpec | ApiSpec) -> ASRSettings:
    """A cascade's ASR settings, on the spec's device and in its precision unless the ASR says otherwise."""
    asr = spec.asr
    update: dict = {}
    if asr.backend == "transformers" and asr.model:
        update["model"] = resolve(asr.model)
    if asr.device is None and spec.device != "auto":
        update["device"] = spec.device  # cuda:N reaches faster-whisper whole (its device_index)
    gpu = (update.get("device") or asr.device or "cpu").startswith("cuda")
    if asr.backend == "transformers" and asr.dtype is None and spec.dtype != "auto":
        update["dtype"] = spec.dtype
    if asr.backend == "faster-whisper" and asr.compute_type is None and gpu:
        update["compute_type"] = "float32" if spec.dtype == "float32" else "float16"
    return asr.model_copy(update=update)


# -- checkpoints -------------------------------------------------------------------------------------------


def _relative(spec_path: Path, target: str) -> Path:
    """Paths in a spec are relative to the working directory, else to the spec's folder."""
    p = Path(target)
    return p if p.is_absolute() or p.exists() else spec_path.parent / p


def speechllm_checkpoint(spec_path: Path, checkpoint: str) -> Path:
    """A Speech LLM checkpoint: a folder (relative to the working directory, else to the spec), or a Hub id."""
    local = _relative(spec_path, checkpoint)
    if (local / "config.json").is_file() or not hub.looks_like_repo_id(checkpoint):
        return local
    return hub.fetch(checkpoint, "Speech LLM checkpoint")


AUDIOCHAT_CONFIG_FILES = ["*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken", "*.py"]
"""What a Hub audio chat checkpoint is checked from before its weights come: configs, processor, tokenizer, code."""
AUDIOCHAT_FILES = [*AUDIOCHAT_CONFIG_FILES, "model*.safetensors", "pytorch_model*.bin", "spk_dict.pt", "speech-lora/*"]
"""And what runs it: the transformers weights (not a second copy in another format, nor adapters for images)."""


def audiochat_location(base: Path, fields: AudioChatSpec, *, fetch: bool, weights: bool = True) -> Path | None:
    """An audio chat checkpoint as a folder: a local one (relative to the working directory, else to ``base``, the
    spec's folder), a tiny model (built on first use), or a Hub repo at ``fields.revision`` fetched (its configs
    only, unless ``weights``). ``fetch=False`` only checks a local one."""
    checkpoint = fields.checkpoint
    if checkpoint.startswith(tiny.TINY_PREFIX):
        return Path(tiny.build(checkpoint)) if fetch else None
    local = Path(checkpoint) if Path(checkpoint).is_absolute() or Path(checkpoint).exists() else base / checkpoint
    if local.is_dir() or not hub.looks_like_repo_id(checkpoint):
        if not (local / "config.json").is_file():
            raise AudioMLQAError(f"checkpoint {checkpoint!r} not found (no {local / 'config.json'})")
        return local
    if not fetch:
        return None
    patterns = AUDIOCHAT_FILES if weights else AUDIOCHAT_CONFIG_FILES
    return hub.fetch(checkpoint, "audio chat model", allow_patterns=patterns, revision=fields.revision)
