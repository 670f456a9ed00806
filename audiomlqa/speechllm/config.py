"""What a language-aware distilled Speech LLM is made of, checked before any weights are loaded.

Gopal et al. (2026): frozen Whisper encoder → Q-Former (the Whisper decoder run on learned queries,
cross-attending to the audio) whose queries come from a per-language **query bank** chosen by a
**gating network** → Linear → frozen LLM. ``num_banks = 1`` with ``gate = "none"`` is the ML-DiVA
baseline (one shared query set, no gate).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from audiomlqa.config import Integer, Number, Settings, as_validator, parse
from audiomlqa.errors import AudioMLQAError, first_line
from audiomlqa.languages import check_language
from audiomlqa.llm import SPEECH
from audiomlqa.llm.loading import load_llm_config, load_tokenizer
from audiomlqa.llm.names import resolve

GATES = ("conv", "attention", "none")
SELECTIONS = ("soft", "hard")
__all__ = ["GATES", "SELECTIONS", "SPEECH", "SpeechLLMConfig"]


def _bank_language(lang: str) -> str:
    return lang if lang == "id" else check_language(lang)  # Indonesian is in the paper's ASR data but not in MLQA


BankLanguage = Annotated[str, BeforeValidator(as_validator(_bank_language))]


class SpeechLLMConfig(Settings):
    whisper: str = "tiny-random/whisper"
    """Whisper checkpoint (hub id or local path); only its encoder (frozen) and decoder (Q-Former init) are used."""
    llm: str = "tiny-random/llm"
    """Decoder-only LLM: hub id, local directory, or a ``.gguf`` file (dequantised by transformers); frozen."""
    languages: list[BankLanguage] = Field(default_factory=lambda: ["en", "de", "es", "vi", "zh"], min_length=1)
    """Language order of the query bank and the gate's logits."""
    num_banks: Integer = Field(5, ge=1)
    """K query sets: len(languages) for the language-aware model, 1 for ML-DiVA."""
    num_queries: Integer = Field(256, ge=1)
    """L speech tokens handed to the LLM (the paper: 64 → 256 cut the input-distillation loss by 89%)."""
    gate: Literal["conv", "attention", "none"] = "conv"
    """"conv" (small 1-D convolutional LID network), "attention" (attention pooling + MLP) or "none"."""
    gate_hidden: Integer = Field(256, ge=1)
    selection: Literal["soft", "hard"] = "hard"
    """"soft" mixes the bank by the gate's softmax; "hard" selects one set (straight-through estimator)."""
    teacher_forcing_fraction: Number = Field(0.5, ge=0.0, le=1.0)
    """Gold language used with probability cosine-annealed 1 → 0 over this fraction of training steps."""
    encoder_window_seconds: Integer | None = Field(None, ge=1)
    """Cut the frozen encoder's window to this many seconds (None: Whisper's own, 30 s). Spoken questions and ASR
    utterances last a few seconds; a shorter window costs proportionally less, and Whisper's states stay
    informative (its positions are only truncated). The training recipes for CPUs use it."""
    qformer_layers: Integer | None = Field(None, ge=1)
    """Whisper decoder layers kept in the Q-Former (None: all)."""
    loss_weights: dict[Literal["lid", "in", "out"], Annotated[Number, Field(ge=0.0)]] = Field(
        default_factory=lambda: {"lid": 1.0, "in": 1.0, "out": 1.0}
    )
    distance: Literal["l2", "mse"] = "l2"
    """L_IN and L_OUT: "l2", DiVA's and the paper's per-token Euclidean distance (not squared), or "mse", the
    per-element squared error (the earlier default here; it weights the three terms differently)."""
    chat_template: str | None = None
    """Jinja chat template; None takes the LLM tokenizer's own."""
    system_prompt: str | None = None
    query_init_std: Number = Field(0.02, gt=0.0)

    @model_validator(mode="after")
    def _bank_matches_gate(self) -> SpeechLLMConfig:
        if len(set(self.languages)) != len(self.languages):
            raise ValueError(f"languages repeat: {self.languages}")
        if self.gate == "none" and self.num_banks != 1:
            raise ValueError(f"gate 'none' needs num_banks 1 (the ML-DiVA baseline), got {self.num_banks}")
        if self.gate != "none" and self.num_banks != len(self.languages):
            raise ValueError(
                f"num_banks {self.num_banks} does not match the {len(self.languages)} languages "
                f"{self.languages}: a language-aware bank has one query set per language"
            )
        return self

    @classmethod
    def from_dict(cls, data: dict, where: str | None = None) -> SpeechLLMConfig:
        return parse(cls, data, where)

    @property
    def language_aware(self) -> bool:
        return self.gate != "none"

    def check_models(self) -> None:
        """Checks that read the checkpoints' configs and tokenizer (small files), still before any weights:
        the query length fits the Whisper decoder, and the LLM has a chat template."""
        from transformers import WhisperConfig

        try:
            whisper = WhisperConfig.from_pretrained(resolve(self.whisper))
        except Exception as e:  # noqa: BLE001 - hub/file errors come in many types
            raise AudioMLQAError(f"cannot read the Whisper config of {self.whisper!r}: {first_line(e)}") from None
        if self.encoder_window_seconds is not None and self.encoder_window_seconds * 50 > whisper.max_source_positions:
            raise AudioMLQAError(
                f"encoder_window_seconds {self.encoder_window_seconds} exceeds the window of {self.whisper!r} "
                f"({whisper.max_source_positions // 50} s)"
            )
        if self.num_queries > whisper.max_target_positions:
            raise AudioMLQAError(
                f"num_queries {self.num_queries} exceeds the Whisper decoder's {whisper.max_target_positions} positions"
            )
        if self.qformer_layers is not None and not 1 <= self.qformer_layers <= whisper.decoder_layers:
            raise AudioMLQAError(f"qformer_layers must be 1..{whisper.decoder_layers}")
        tokenizer = load_tokenizer(self.llm)
        if self.chat_template is None and not getattr(tokenizer, "chat_template", None):
            raise AudioMLQAError(f"the LLM {self.llm!r} has no chat template: set model.chat_template in the recipe")
        load_llm_config(self.llm)
