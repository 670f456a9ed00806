"""What a language-aware distilled Speech LLM is made of, checked before any weights are loaded.

Gopal et al. (2026): frozen Whisper encoder → Q-Former (the Whisper decoder run on learned queries,
cross-attending to the audio) whose queries come from a per-language **query bank** chosen by a
**gating network** → Linear → frozen LLM. ``num_banks = 1`` with ``gate = "none"`` is the ML-DiVA
baseline (one shared query set, no gate).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from audiomlqa.errors import AudioMLQAError, first_line

GATES = ("conv", "attention", "none")
SELECTIONS = ("soft", "hard")
SPEECH = "<speech>"
"""Where the audio goes in a prompt; it is replaced by the projected speech tokens."""


@dataclass
class SpeechLLMConfig:
    whisper: str = "tiny-random/whisper"
    """Whisper checkpoint (hub id or local path); only its encoder (frozen) and decoder (Q-Former init) are used."""
    llm: str = "tiny-random/llm"
    """Decoder-only LLM: hub id, local directory, or a ``.gguf`` file (dequantised by transformers); frozen."""
    languages: list[str] = field(default_factory=lambda: ["en", "de", "es", "vi", "zh"])
    """Language order of the query bank and the gate's logits."""
    num_banks: int = 5
    """K query sets: len(languages) for the language-aware model, 1 for ML-DiVA."""
    num_queries: int = 256
    """L speech tokens handed to the LLM (the paper: 64 → 256 cut the input-distillation loss by 89%)."""
    gate: str = "conv"
    """"conv" (small 1-D convolutional LID network), "attention" (attention pooling + MLP) or "none"."""
    gate_hidden: int = 256
    selection: str = "hard"
    """"soft" mixes the bank by the gate's softmax; "hard" selects one set (straight-through estimator)."""
    teacher_forcing_fraction: float = 0.5
    """Gold language used with probability cosine-annealed 1 → 0 over this fraction of training steps."""
    qformer_layers: int | None = None
    """Whisper decoder layers kept in the Q-Former (None: all)."""
    loss_weights: dict[str, float] = field(default_factory=lambda: {"lid": 1.0, "in": 1.0, "out": 1.0})
    chat_template: str | None = None
    """Jinja chat template; None takes the LLM tokenizer's own."""
    system_prompt: str | None = None
    query_init_std: float = 0.02

    @classmethod
    def from_dict(cls, data: dict) -> SpeechLLMConfig:
        from audiomlqa.recipes import check_settings

        check_settings(cls, data, "model")
        cfg = cls(**data)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Checks that need no weights: types, the bank against the languages, the loss weights."""
        from audiomlqa.sources import check_language

        if self.gate not in GATES:
            raise AudioMLQAError(f"unknown gate {self.gate!r}: use one of {', '.join(GATES)}")
        if self.selection not in SELECTIONS:
            raise AudioMLQAError(f"unknown selection {self.selection!r}: use soft or hard")
        if not self.languages:
            raise AudioMLQAError("languages must list at least one language")
        for lang in self.languages:
            if lang != "id":  # Indonesian is in the paper's ASR data but not in MLQA
                check_language(lang)
        if len(set(self.languages)) != len(self.languages):
            raise AudioMLQAError(f"languages repeat: {self.languages}")
        if self.gate == "none" and self.num_banks != 1:
            raise AudioMLQAError(f"gate 'none' needs num_banks 1 (the ML-DiVA baseline), got {self.num_banks}")
        if self.gate != "none" and self.num_banks != len(self.languages):
            raise AudioMLQAError(
                f"num_banks {self.num_banks} does not match the {len(self.languages)} languages {self.languages}: "
                "a language-aware bank has one query set per language"
            )
        if self.num_queries < 1:
            raise AudioMLQAError("num_queries must be at least 1")
        if not 0.0 <= self.teacher_forcing_fraction <= 1.0:
            raise AudioMLQAError("teacher_forcing_fraction must be in [0, 1]")
        bad = sorted(set(self.loss_weights) - {"lid", "in", "out"})
        if bad or any(w < 0 for w in self.loss_weights.values()):
            raise AudioMLQAError(f"loss_weights takes non-negative lid, in, out; got {self.loss_weights}")

    @property
    def language_aware(self) -> bool:
        return self.gate != "none"

    def check_models(self) -> None:
        """Checks that read the checkpoints' configs and tokenizer (small files), still before any weights:
        the query length fits the Whisper decoder, and the LLM has a chat template."""
        from transformers import AutoConfig, WhisperConfig

        from audiomlqa.speechllm.named import resolve

        try:
            whisper = WhisperConfig.from_pretrained(resolve(self.whisper))
        except Exception as e:  # noqa: BLE001 - hub/file errors come in many types
            raise AudioMLQAError(f"cannot read the Whisper config of {self.whisper!r}: {first_line(e)}") from None
        if self.num_queries > whisper.max_target_positions:
            raise AudioMLQAError(f"num_queries {self.num_queries} exceeds the Whisper decoder's {whisper.max_target_positions} positions")
        if self.qformer_layers is not None and not 1 <= self.qformer_layers <= whisper.decoder_layers:
            raise AudioMLQAError(f"qformer_layers must be 1..{whisper.decoder_layers}")
        tokenizer = load_tokenizer(self.llm)
        if self.chat_template is None and not getattr(tokenizer, "chat_template", None):
            raise AudioMLQAError(f"the LLM {self.llm!r} has no chat template: set model.chat_template in the recipe")
        where, kwargs = _llm_location(self.llm)
        try:
            AutoConfig.from_pretrained(where, **kwargs)
        except Exception as e:  # noqa: BLE001
            raise AudioMLQAError(f"cannot read the LLM config of {self.llm!r}: {first_line(e)}") from None


def _llm_location(llm: str) -> tuple[str, dict]:
    """(directory or id, kwargs) for from_pretrained; a ``.gguf`` file becomes its folder + ``gguf_file``."""
    from audiomlqa.speechllm.named import resolve

    llm = resolve(llm)
    path = Path(llm)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise AudioMLQAError(f"{path}: no such GGUF file")
        return str(path.parent), {"gguf_file": path.name}
    return llm, {}


def load_tokenizer(llm: str):
    from transformers import AutoTokenizer

    where, kwargs = _llm_location(llm)
    try:
        return AutoTokenizer.from_pretrained(where, **kwargs)
    except Exception as e:  # noqa: BLE001
        raise AudioMLQAError(f"cannot load the tokenizer of {llm!r}: {first_line(e)}") from None
