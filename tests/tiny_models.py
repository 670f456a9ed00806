"""Tiny randomly initialised models built from real configs, saved like real checkpoints (no hub)."""

from __future__ import annotations

import json
from pathlib import Path


def make_tiny_vits(directory: Path, seed: int = 0) -> Path:
    """A VITS (MMS-TTS architecture) checkpoint with a character vocabulary, a few thousand weights."""
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    chars = list(" abcdefghijklmnopqrstuvwxyz'?.,")
    vocab = {c: i for i, c in enumerate(["<pad>", *chars])}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = VitsTokenizer(
        str(directory / "vocab.json"),
        language="eng",
        add_blank=True,
        normalize=True,
        phonemize=False,
        pad_token="<pad>",
        unk_token="<pad>",
    )
    config = VitsConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        ffn_kernel_size=3,
        flow_size=8,
        spectrogram_bins=17,
        upsample_initial_channel=16,
        upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1]],
        prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        duration_predictor_num_flows=1,
        duration_predictor_filter_channels=16,
        depth_separable_num_layers=1,
        sampling_rate=16000,
    )
    torch.manual_seed(seed)
    VitsModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def make_tiny_whisper(directory: Path, seed: int = 0) -> Path:
    """A tiny multilingual Whisper with the real tokenizer and a full 30 s window (as the ASR backends expect)."""
    from audiomlqa.testing.tiny import make_tiny_whisper as build

    return build(directory, seed=seed, source_positions=1500)


def make_tiny_ct2_whisper(directory: Path, mel_bins: int = 128, seed: int = 0) -> Path:
    """The tiny Whisper converted to CTranslate2 (what faster-whisper loads) by CTranslate2's own converter;
    128 mel bins make it of Whisper-large-v3's class."""
    from ctranslate2.converters import TransformersConverter
    from transformers import WhisperFeatureExtractor

    from audiomlqa.testing.tiny import make_tiny_whisper as build

    source = build(directory.with_name(directory.name + "-hf"), seed=seed, source_positions=1500, mel_bins=mel_bins)
    TransformersConverter(str(source), copy_files=["tokenizer.json"]).convert(str(directory), force=True)
    WhisperFeatureExtractor(feature_size=mel_bins).to_json_file(str(directory / "preprocessor_config.json"))
    return directory


class LeadWordsRunner:
    """A user's model adapter, as a third party would write one: the 'lead' baseline answers with the
    first N words of the context (no model; a classic reading-comprehension floor)."""

    needs_audio = False

    def __init__(self, spec: dict, base=None) -> None:
        self.words = int(spec.get("words", 3))

    def answer(self, items):
        return [" ".join(x.context.split()[: self.words]) for x in items]

    def describe(self) -> dict:
        return {"kind": "lead-words", "words": self.words}


class EchoRunner:
    """A runner that hears the questions and answers with what it was given (question language and text; the
    clip's length as its 'transcript'), recording each batch: shows which questions went together and that
    every answer and transcript reached its own config."""

    needs_audio = True
    batches: list[list[tuple[str, str, str]]] = []

    def __init__(self, spec: dict, base=None) -> None:
        type(self).batches = []

    def answer(self, items):
        from audiomlqa.evaluation import Answers

        self.batches.append([(x.context_lang, x.question_lang, x.id) for x in items])
        return Answers([f"{x.question_lang}: {x.question}" for x in items], [str(len(x.audio)) for x in items])

    def describe(self) -> dict:
        return {"kind": "echo"}


class ForgetfulRunner(LeadWordsRunner):
    """A broken adapter: drops the last item of every batch."""

    def answer(self, items):
        return super().answer(items)[:-1]
