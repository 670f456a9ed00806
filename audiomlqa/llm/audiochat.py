"""Audio chat models that transformers implements (Qwen2-Audio, SeaLLMs-Audio, Qwen2.5-Omni, Voxtral, …), run as the
field runs them: the model's own processor and chat template, the shared prompt as the user's message with the
spoken question as an audio content part where the question goes, batched greedy generation, new tokens decoded.
With ``prompt="official"`` the audio goes where the family's own examples put it, with their generation settings
(:mod:`~audiomlqa.llm.official_prompts`); :meth:`AudioChatLLM.describe` says which was used.

One class serves every family; :data:`FAMILIES` holds what differs between them (the model class, how the
processor takes the audio, generation arguments), read from each processor's real API. A checkpoint is checked
before any weight loads (:func:`inspect`): a model that runs code from its repository is refused unless the spec
trusts it, and a processor that takes no audio is refused.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiomlqa.audio import SAMPLE_RATE
from audiomlqa.errors import AudioMLQAError, first_line
from audiomlqa.llm import SPEECH
from audiomlqa.llm.official_prompts import AT_THE_QUESTION, OFFICIAL, SHARED, official_usage
from audiomlqa.llm.remote_code import repository_code
from audiomlqa.llm.window import context_window, generate_fitting

BATCH_KWARGS = {"sampling_rate": SAMPLE_RATE, "text_kwargs": {"padding": True}}
"""A batch's processor arguments: the clips' rate, and prompts padded to one length (the tokenizer pads left). The
padding goes to the text alone: the Whisper-style front ends pad each clip to their window themselves."""


@dataclass(frozen=True)
class Family:
    """What one architecture needs that the others do not."""

    name: str
    model_class: str
    """The transformers class that loads the checkpoint (its weights and generation)."""
    audio_as: str = "array"
    """How an audio content part carries the waveform: ``array`` (``{"type": "audio", "audio": waveform}``) or
    ``wav`` (``{"type": "audio", "base64": …}``, a float WAV: lossless, for processors that read files)."""
    processor_kwargs: dict = field(default_factory=lambda: dict(BATCH_KWARGS))
    string_content: bool = False
    """The chat template takes text only: the processor's audio token goes into the text where the audio is."""
    one_at_a_time: bool = False
    """The audio encoder lets padded frames of a shorter clip into attention, so a clip's answer would depend on
    its batch: generate question by question (slower, and the answers are the model's own)."""
    adapter: str | None = None
    """A PEFT adapter subfolder the checkpoint keeps its audio path in (loaded when present)."""
    without_torchvision: Callable[[str], object] | None = None
    """Builds the processor from its parts where ``AutoProcessor`` needs torchvision for a vision part."""


REMOTE_AUTO_CLASSES = (
    "AutoModelForMultimodalLM",
    "AutoModelForImageTextToText",
    "AutoModelForSpeechSeq2Seq",
    "AutoModelForSeq2SeqLM",
    "AutoModelForCausalLM",
)
"""For a model with its own code, the Auto classes its ``auto_map`` may name, most specific first."""

FAMILIES: dict[str, Family] = {}
"""``config.model_type`` → its family (registered below, after the processor builders some of them need)."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint as far as it can be known without loading weights (its processor included)."""

    location: str
    """A local folder (Hub checkpoints are fetched first)."""
    model_type: str
    family: Family | None
    """None for a model that brings its own code (``trust_remote_code``)."""
    remote_code: bool
    processor: object
    config: dict
    """Its ``config.json`` as written."""


def read_config(location: str, what: str) -> dict:
    path = Path(location) / "config.json"
    if not path.is_file():
        raise AudioMLQAError(f"{what} {location!r} has no config.json: give a model folder or a Hub id (user/name)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise AudioMLQAError(f"{path}: not a model config ({first_line(e)})") from None
    if not isinstance(data, dict):
        raise AudioMLQAError(f"{path}: not a model config (a JSON object)")
    return data


def inspect(location: str, *, trust_remote_code: bool) -> Checkpoint:
    """What ``location`` (a folder) holds, checked before any weight loads: a family transformers implements, or a
    model with its own code that the spec trusts; and a processor that takes audio."""
    config = read_config(location, "checkpoint")
    model_type = str(config.get("model_type", ""))
    native = model_type in FAMILIES
    code = repository_code(location, FAMILIES)  # a native type's auto_map (old repos keep one) is not needed
    remote = bool(code)
    if remote and not trust_remote_code:
        raise AudioMLQAError(
            f"{location}: model type {model_type!r} runs Python code from its repository ({'; '.join(code)}); "
            'read that code, then set "trust_remote_code": true in the spec to run it'
        )
    if not native and not remote:
        known = ", ".join(sorted(FAMILIES))
        raise AudioMLQAError(
            f"{location}: model type {model_type!r} is not an audio chat model audiomlqa runs natively ({known}); "
            "a text LLM is kind text or cascade, another Speech LLM an adapter (models/README.md)"
        )
    processor = _load_processor(location, remote, model_type)
    if not takes_audio(processor):
        raise AudioMLQAError(
            f"{location}: its processor ({type(processor).__name__}) takes no audio, so the model cannot hear the "
            "question: kind audiochat needs an audio chat model (a text LLM is kind text or cascade)"
        )
    return Checkpoint(location, model_type, FAMILIES.get(model_type) if native else None, remote, processor, config)


def _load_processor(location: str, remote_code: bool, model_type: str = ""):
    from transformers import AutoProcessor

    family = FAMILIES.get(model_type)
    try:
        processor = AutoProcessor.from_pretrained(location, trust_remote_code=remote_code)
    except Exception as e:  # noqa: BLE001 - missing files, tokenizer libraries, remote code: many types
        if not ("torchvision" in str(e).lower() and family and family.without_torchvision):
            hint = "; pip install 'audiomlqa[models]'" if isinstance(e, ImportError) else ""
            raise AudioMLQAError(f"cannot load the processor of {location}: {first_line(e)}{hint}") from None
        processor = family.without_torchvision(location)
    if getattr(processor, "chat_template", None) is None and getattr(processor, "tokenizer", None) is not None:
        # Phi-4's processor drops the saved one on load
        processor.chat_template = saved_chat_template(location) or processor.tokenizer.chat_template
    return processor


def _vision_stand_in(kind: str):
    """A processor part for images or video that audio and text never call, where the real one needs torchvision
    (which a CPU-only torch from PyPI cannot pair with); transformers' own base classes, so the type checks hold."""
    import transformers

    if kind == "image":
        from transformers.image_processing_utils import BaseImageProcessor

        return BaseImageProcessor()
    from transformers.video_processing_utils import BaseVideoProcessor, VideoProcessorMixin

    if not hasattr(transformers, "VideoProcessorMixin"):  # not exported without torchvision; the type check reads it
        transformers.VideoProcessorMixin = VideoProcessorMixin
    return BaseVideoProcessor()


def phi4_multimodal_processor(audio_processor, tokenizer):
    """Phi-4-multimodal's processor, with a stand-in for its image part where that needs torchvision."""
    from transformers import Phi4MultimodalProcessor

    try:
        from transformers import Phi4MultimodalImageProcessorFast

        image = Phi4MultimodalImageProcessorFast()
    except ImportError:
        image = _vision_stand_in("image")
    return Phi4MultimodalProcessor(image, audio_processor, tokenizer)


def _phi4_multimodal_processor_from(location: str):
    from transformers import AutoTokenizer, Phi4MultimodalFeatureExtractor

    return phi4_multimodal_processor(
        Phi4MultimodalFeatureExtractor.from_pretrained(location), AutoTokenizer.from_pretrained(location)
    )


def qwen2_5_omni_processor(image_processor, feature_extractor, tokenizer, chat_template: str | None = None):
    """Qwen2.5-Omni's processor, with a stand-in for its video part where that needs torchvision."""
    from transformers import Qwen2_5OmniProcessor

    try:
        from transformers import Qwen2VLVideoProcessor

        video = Qwen2VLVideoProcessor()
    except ImportError:
        video = _vision_stand_in("video")
    return Qwen2_5OmniProcessor(image_processor, video, feature_extractor, tokenizer, chat_template=chat_template)


def _qwen2_5_omni_processor_from(location: str):
    """The processor of a Qwen2.5-Omni checkpoint, part by part (each part reads its own saved settings)."""
    from transformers import AutoTokenizer, Qwen2VLImageProcessorPil, WhisperFeatureExtractor

    tokenizer = AutoTokenizer.from_pretrained(location)
    return qwen2_5_omni_processor(
        Qwen2VLImageProcessorPil.from_pretrained(location),
        WhisperFeatureExtractor.from_pretrained(location),
        tokenizer,
        saved_chat_template(location) or getattr(tokenizer, "chat_template", None),
    )


def saved_chat_template(location: str) -> str | None:
    """The processor's chat template as a checkpoint saves it (``chat_template.jinja``, or the older
    ``chat_template.json``), which may differ from its tokenizer's."""
    folder = Path(location)
    if (folder / "chat_template.jinja").is_file():
        return (folder / "chat_template.jinja").read_text(encoding="utf-8")
    if (folder / "chat_template.json").is_file():
        return json.loads((folder / "chat_template.json").read_text(encoding="utf-8")).get("chat_template")
    return None


# -- the families ---------------------------------------------------------------------------------------------


def _register(model_types: Sequence[str], family: Family) -> None:
    for t in model_types:
        FAMILIES[t] = family


_register(["qwen2_audio"], Family("qwen2-audio", "Qwen2AudioForConditionalGeneration"))
# its processor pads every window to 30 s itself; a `padding` argument would reach the feature extractor too
_register(["audioflamingo3"], Family("audioflamingo3", "AudioFlamingo3ForConditionalGeneration"))
_register(
    ["qwen2_5_omni", "qwen2_5_omni_thinker"],  # the Hub holds the whole model; its thinker hears and writes text
    Family(
        "qwen2.5-omni",
        "Qwen2_5OmniThinkerForConditionalGeneration",
        without_torchvision=_qwen2_5_omni_processor_from,
    ),
)
_register(
    ["phi4_multimodal"],
    Family(
        "phi-4-multimodal",
        "Phi4MultimodalForCausalLM",
        string_content=True,
        one_at_a_time=True,
        adapter="speech-lora",
        without_torchvision=_phi4_multimodal_processor_from,
    ),
)
# mistral_common renders the prompt and reads the audio from the message: no template or sampling-rate arguments
_register(["voxtral"], Family("voxtral", "VoxtralForConditionalGeneration", audio_as="wav", processor_kwargs={}))


def takes_audio(processor) -> bool:
    """Whether a processor has an audio front end (a feature extractor or audio processor)."""
    from transformers.feature_extraction_utils import FeatureExtractionMixin

    parts = [getattr(processor, name, None) for name in ("feature_extractor", "audio_processor")]
    return any(isinstance(p, FeatureExtractionMixin) for p in parts)


def message(
    speech_prompt: str,
    audio: np.ndarray,
    family: Family | None,
    system_prompt: str | None,
    placement: str = AT_THE_QUESTION,
) -> list[dict]:
    """One question as a conversation: the audio where the question was in the prompt's text (the shared prompt),
    or ``first``/``last`` beside all of its text (an official usage: the placeholder dropped, the text unchanged)."""
    before, _, after = speech_prompt.partition(SPEECH)
    audio_part = _audio_part(audio, family.audio_as if family else "array")

    def text(t: str) -> list[dict]:
        return [{"type": "text", "text": t}] if t.strip() else []

    if placement == "first":
        content = [audio_part, *text(before + after)]
    elif placement == "last":
        content = [*text(before + after), audio_part]
    else:
        content = [*text(before), audio_part, *text(after)]
    conversation = [{"role": "user", "content": content}]
    if system_prompt:
        conversation.insert(0, {"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    return conversation


def placed_text(speech_prompt: str, token: str, placement: str = AT_THE_QUESTION) -> str:
    """A prompt with ``token`` (a processor's audio token) for the audio: where the question was, or before or after
    all of the text (the placeholder dropped)."""
    if placement == AT_THE_QUESTION:
        return speech_prompt.replace(SPEECH, token, 1)
    text = speech_prompt.replace(SPEECH, "", 1)
    return token + text if placement == "first" else text + token


@contextmanager
def _one_line(what: str):
    """Errors inside the processor or the model as one line (out of memory: what to change)."""
    import torch

    try:
        yield
    except AudioMLQAError:
        raise
    except torch.OutOfMemoryError:
        raise AudioMLQAError(f"{what}: out of memory; lower batch_size or max_batch_chars in the spec") from None
    except Exception as e:  # noqa: BLE001 - template, feature and generation errors come in many types
        raise AudioMLQAError(f"{what} ({e.__class__.__name__}: {first_line(e)})") from None


def _audio_part(audio: np.ndarray, audio_as: str) -> dict:
    waveform = np.asarray(audio, dtype=np.float32)
    if audio_as == "array":
        return {"type": "audio", "audio": waveform}
    import base64
    import io

    import soundfile as sf

    wav = io.BytesIO()
    sf.write(wav, waveform, SAMPLE_RATE, format="WAV", subtype="FLOAT")
    return {"type": "audio", "base64": base64.b64encode(wav.getvalue()).decode()}


class AudioChatLLM:
    """``generate(speech_prompts, audios)`` → one answer per question, from an audio chat model."""

    def __init__(
        self,
        location: str,
        *,
        trust_remote_code: bool = False,
        system_prompt: str | None = None,
        dtype: str | None = None,
        device: str = "cpu",
        device_map=None,
        max_new_tokens: int = 32,
        generation: dict | None = None,
        prompt: str = SHARED,
        checkpoint_id: str = "",
    ) -> None:
        self.checkpoint = inspect(location, trust_remote_code=trust_remote_code)
        family = self.checkpoint.family
        self.usage = official_usage(prompt, family.name if family else None, checkpoint_id)  # before any weights
        self.prompt = SHARED if prompt == SHARED else OFFICIAL
        self.placement = self.usage.audio if self.usage and self.usage.audio != "unknown" else AT_THE_QUESTION
        self.processor = self.checkpoint.processor
        self.tokenizer = getattr(self.processor, "tokenizer", None)
        if self.tokenizer is not None:
            self.tokenizer.padding_side = "left"
        self.system_prompt = system_prompt
        self.adapter: str | None = None
        self.model = self._load_model(dtype, device, device_map)
        self.window = context_window(self.model.config, self.tokenizer)
        self.generation = {  # the official settings over the spec's defaults; the spec's explicit ones win
            "max_new_tokens": max_new_tokens,
            "do_sample": False,
            **self._stops(),
            **(self.usage.generation if self.usage else {}),
            **(generation or {}),
        }

    def _load_model(self, dtype: str | None, device: str, device_map):
        import torch
        import transformers

        family = self.checkpoint.family
        if family is not None:
            name = family.model_class
        else:  # the first Auto class the repository maps to its own code
            auto_map = self.checkpoint.config.get("auto_map") or {}
            name = next((a for a in REMOTE_AUTO_CLASSES if a in auto_map), "AutoModel")
        kwargs = {"device_map": device_map} if device_map is not None else {}
        try:
            model = (
                getattr(transformers, name)
                .from_pretrained(
                    self.checkpoint.location,
                    dtype=getattr(torch, dtype) if dtype else None,
                    trust_remote_code=self.checkpoint.remote_code,
                    **kwargs,
                )
                .eval()
            )
        except Exception as e:  # noqa: BLE001
            raise AudioMLQAError(f"cannot load the model {self.checkpoint.location}: {first_line(e)}") from None
        model = model.to(device) if device_map is None else model
        if family is not None and family.adapter and (Path(self.checkpoint.location) / family.adapter).is_dir():
            model = self._with_adapter(model, family.adapter)
        return model

    def _with_adapter(self, model, subfolder: str):
        """The checkpoint's audio adapter (Phi-4's speech LoRA) loaded onto the base model, and active."""
        try:
            model.load_adapter(self.checkpoint.location, adapter_name="speech", adapter_kwargs={"subfolder": subfolder})
        except ImportError:
            raise AudioMLQAError(
                f"{self.checkpoint.location} keeps its audio path in the adapter {subfolder}/, which needs peft: "
                "pip install 'audiomlqa[models]'"
            ) from None
        except Exception as e:  # noqa: BLE001 - peft and file errors come in many types
            raise AudioMLQAError(
                f"cannot load the adapter {subfolder}/ of {self.checkpoint.location}: {first_line(e)}"
            ) from None
        self.adapter = subfolder
        return model

    def _stops(self) -> dict:
        """Stop and pad ids where the loaded model's generation config lacks them (Qwen2.5-Omni's thinker loaded
        from the whole model's checkpoint), from the checkpoint's config, the model's, its text part's, else the
        tokenizer's."""
        have = self.model.generation_config
        text_config = self.model.config.get_text_config()
        found = {}
        for key in ("eos_token_id", "pad_token_id"):
            if getattr(have, key, None) is None:
                value = self.checkpoint.config.get(key)
                for source in (self.model.config, text_config, self.tokenizer):
                    if value is None and source is not None:
                        value = getattr(source, key, None)
                if value is not None:
                    found[key] = value
        return found

    def inputs(self, speech_prompts: Sequence[str], audios: Sequence[np.ndarray]):
        """The processor's batch for these questions (left-padded), on the model's device and in its dtype."""
        family = self.checkpoint.family
        if family is not None and family.string_content:
            return self._string_inputs(speech_prompts, audios)
        conversations = [
            message(p, a, family, self.system_prompt, self.placement) for p, a in zip(speech_prompts, audios)
        ]
        kwargs = copy.deepcopy(family.processor_kwargs if family else BATCH_KWARGS)  # the processor writes into it
        with _one_line("the processor could not make a batch of these questions"):
            batch = self.processor.apply_chat_template(
                conversations,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
                processor_kwargs=kwargs,
            )
        return self._placed(batch)

    def _placed(self, batch) -> dict:
        """The batch's tensors on the model's device, its floating ones (the audio features) in the model's dtype."""
        return {
            k: (v.to(self.model.device, self.model.dtype) if v.is_floating_point() else v.to(self.model.device))
            if hasattr(v, "is_floating_point")
            else v
            for k, v in batch.items()
        }

    def _string_inputs(self, speech_prompts: Sequence[str], audios: Sequence[np.ndarray]):
        """For a template of text only: the audio token in the text where the audio goes, then the processor."""
        texts = []
        for prompt in speech_prompts:
            if SPEECH not in prompt:
                raise AudioMLQAError(f"a speech prompt must hold {SPEECH} where the audio goes: {prompt[:80]!r}")
            text = placed_text(prompt, self.processor.audio_token, self.placement)
            conversation = [{"role": "user", "content": text}]
            if self.system_prompt:
                conversation.insert(0, {"role": "system", "content": self.system_prompt})
            texts.append(self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True))
        waveforms = [np.asarray(a, dtype=np.float32) for a in audios]
        with _one_line("the processor could not make a batch of these questions"):
            batch = self.processor(
                text=texts, audio=waveforms, sampling_rate=SAMPLE_RATE, padding=True, return_tensors="pt"
            )
        return self._placed(batch)

    def generate(self, speech_prompts: Sequence[str], audios: Sequence[np.ndarray]) -> list[str | None]:
        """One answer per question; None where the prompt, audio tokens included, does not fit the model's window
        (:mod:`~audiomlqa.llm.window`): it is never generated from."""
        family = self.checkpoint.family
        if family is not None and family.one_at_a_time and len(speech_prompts) > 1:
            return [self._generate([p], [a])[0] for p, a in zip(speech_prompts, audios)]
        return self._generate(speech_prompts, audios)

    def _generate(self, speech_prompts: Sequence[str], audios: Sequence[np.ndarray]) -> list[str | None]:
        batch = self.inputs(speech_prompts, audios)
        mask = batch.get("attention_mask")
        lengths = mask.sum(-1).tolist() if mask is not None else [batch["input_ids"].shape[1]] * len(speech_prompts)

        def run(keep: list[int]) -> list[str]:
            if len(keep) == len(speech_prompts):
                return self._decode(batch)
            return self._decode(self.inputs([speech_prompts[i] for i in keep], [audios[i] for i in keep]))

        return generate_fitting(lengths, self.generation.get("max_new_tokens") or 0, self.window, run)

    def _decode(self, batch: dict) -> list[str]:
        import torch

        with torch.inference_mode(), _one_line(f"{type(self.model).__name__} could not answer a batch"):
            out = self.model.generate(**batch, **self.generation)
        if isinstance(out, tuple):  # a model that can speak returns (text, audio)
            out = out[0]
        new = out[:, batch["input_ids"].shape[1] :]
        return [t.strip() for t in self.processor.batch_decode(new, skip_special_tokens=True)]

    def describe(self) -> dict:
        family = self.checkpoint.family
        return {
            "location": self.checkpoint.location,
            "family": family.name if family else "remote-code",
            "model_type": self.checkpoint.model_type,
            "model_class": type(self.model).__name__,
            "processor": type(self.processor).__name__,
            "system_prompt": self.system_prompt,
            "adapter": self.adapter,
            "one_at_a_time": bool(family and family.one_at_a_time),
            "prompt": self.prompt,
            "audio_placement": self.placement,
            "usage": self.usage.name if self.usage else ("unknown" if self.prompt == OFFICIAL else None),
            "usage_source": self.usage.source if self.usage else None,
            "generation": self.generation,
            "context_window": self.window,
            "device": str(self.model.device),
            "dtype": str(self.model.dtype).removeprefix("torch."),
        }
