"""How each audio chat family's authors run it: where the audio goes beside the text in their own examples (model
card, README, benchmark script) and the generation settings those use, each with the source it was read from.

The shared prompt (the MLQA prompt with the audio where the question goes) stays the default, so every model is
compared on the same text; ``"prompt": "official"`` in a spec runs a model the way it was trained to be asked
instead, and every report says which of the two it was. A usage belongs to a family (``Family.name`` in
:mod:`~audiomlqa.llm.audiochat`); a checkpoint of a family whose authors run it differently (SeaLLMs-Audio is a
Qwen2-Audio by architecture) is told apart by its Hub id, or named in the spec (``"prompt": "seallms-audio"``)
for a local copy: a folder's path says nothing reliable about what it holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from audiomlqa.errors import AudioMLQAError

SHARED, OFFICIAL = "shared", "official"
AT_THE_QUESTION = "where the question goes"
"""The shared prompt's placement: the audio stands where the written question would (after the context)."""


@dataclass(frozen=True)
class OfficialUsage:
    """One family's (or checkpoint's) official way to be asked about audio."""

    name: str
    family: str
    """The :class:`~audiomlqa.llm.audiochat.Family` name it applies to."""
    audio: Literal["first", "last", "unknown"]
    """Where the audio content part goes relative to the text; ``unknown``: the shared placement is kept."""
    generation: Mapping[str, Any] = field(default_factory=dict)
    """``generate()`` arguments of the official example (greedy unless it samples)."""
    source: str = ""
    """Where this was read (URLs)."""
    note: str = ""
    """What was read differently from the source, and why."""


_USAGES = (
    OfficialUsage(
        "qwen2-audio",
        "qwen2-audio",
        "first",
        {"max_new_tokens": 256, "min_new_tokens": 1, "do_sample": False},
        "https://github.com/QwenLM/Qwen2-Audio/blob/main/eval_audio/evaluate_chat.py ; "
        "https://huggingface.co/Qwen/Qwen2-Audio-7B-Instruct (audio analysis: the audio part, then the text)",
        "the card's generate(max_length=256) counts the prompt's tokens too (a long context leaves no room): the "
        "official chat evaluation's max_new_tokens=256, min_new_tokens=1, greedy is used",
    ),
    OfficialUsage(
        "seallms-audio",
        "qwen2-audio",
        "first",
        {"max_new_tokens": 2048, "repetition_penalty": 1.1, "do_sample": False},
        "https://github.com/DAMO-NLP-SG/SeaLLMs-Audio/blob/main/SeaBench_Audio/gen_responses.py ; "
        "https://huggingface.co/SeaLLMs/SeaLLMs-Audio-7B (audio part, then text)",
        "the benchmark script passes temperature=0 (greedy: do_sample=False) and max_new_tokens=2048",
    ),
    OfficialUsage(
        "qwen2.5-omni",
        "qwen2.5-omni",
        "first",
        {"max_new_tokens": 1024},
        "https://github.com/QwenLM/Qwen2.5-Omni (README: image/video/audio parts, then the text)",
        "the README's generate() passes no length: the whole model's thinker_max_new_tokens default (1024 in "
        "transformers) is what it runs with",
    ),
    OfficialUsage(
        "voxtral",
        "voxtral",
        "first",
        {"max_new_tokens": 500},
        "https://huggingface.co/mistralai/Voxtral-Mini-3B-2507 ; "
        "https://huggingface.co/docs/transformers/model_doc/voxtral (audio parts, then the text)",
        "the card recommends temperature=0.2, top_p=0.95 for chat; kept greedy so scores repeat (set "
        '"generation": {"do_sample": true, "temperature": 0.2, "top_p": 0.95} to sample)',
    ),
    OfficialUsage(
        "audioflamingo3",
        "audioflamingo3",
        "last",
        {"max_new_tokens": 500},
        "https://huggingface.co/nvidia/audio-flamingo-3-hf ; "
        "https://huggingface.co/docs/transformers/model_doc/audioflamingo3 (the text part, then the audio)",
        "the card's generate() passes no length; the transformers page's max_new_tokens=500 is used",
    ),
    OfficialUsage(
        "phi-4-multimodal",
        "phi-4-multimodal",
        "first",
        {"max_new_tokens": 1000},
        "https://huggingface.co/microsoft/Phi-4-multimodal-instruct (<|user|><|audio_1|>{prompt}<|end|><|assistant|>)",
        "the card also passes the checkpoint's own generation_config, which generate() loads anyway",
    ),
)
USAGES: dict[str, OfficialUsage] = {u.name: u for u in _USAGES}
"""Every known official usage, by name (a family's own is named as the family)."""

HUB_USAGES = {"seallms/seallms-audio-7b": "seallms-audio"}
"""Hub checkpoints (lower case) whose usage is not their family's."""

PROMPTS = (SHARED, OFFICIAL, *USAGES)
"""A spec's ``prompt`` values: shared, its family's official usage, or a usage by name (for a local checkpoint)."""


def official_usage(prompt: str, family: str | None, checkpoint: str = "") -> OfficialUsage | None:
    """The usage ``prompt`` asks for a checkpoint of ``family`` (None: a model with its own code, or no known
    usage; it keeps the shared placement); None for the shared prompt. A usage of another family is refused."""
    if prompt == SHARED:
        return None
    if prompt == OFFICIAL:
        name = HUB_USAGES.get(checkpoint.strip().lower(), family or "")
        usage = USAGES.get(name)
        return usage if usage is not None and usage.family == family else USAGES.get(family or "")
    usage = USAGES.get(prompt)
    if usage is None:
        raise AudioMLQAError(f"unknown prompt {prompt!r}: use one of {', '.join(PROMPTS)}")
    if usage.family != family:
        raise AudioMLQAError(
            f'"prompt": {prompt!r} is the official usage of a {usage.family} checkpoint, but this one is '
            f'{family or "a model with its own code"}: use "official" (its family\'s usage) or "shared"'
        )
    return usage
