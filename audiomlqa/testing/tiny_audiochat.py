"""Tiny random audio chat models, one per family :mod:`audiomlqa.llm.audiochat` runs, built offline from each
family's real config classes, processor and feature extractor, and saved as the Hub checkpoints are.

The widths shrink; what the processors fix does not (128 mel bins and 30 s windows of 3000 frames for the Whisper-
style encoders, whose position tables must cover a whole window). Tokenizers are the multilingual Whisper BPE
shipped on PyPI (byte-level, like Qwen2's) with each family's special tokens added and a chat template of the
real layout; Voxtral's is a small Tekken file cut from the one mistral_common ships. The random weights answer
nonsense, but the code path from processor to ``generate`` is the real model's.
"""

from __future__ import annotations

import json
from pathlib import Path

from audiomlqa.weights.whisper_base import whisper_base_dir

IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
SYSTEM_TURN = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"

QWEN2_AUDIO_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}" + SYSTEM_TURN + "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if 'audio' in content or 'audio_url' in content %}"
    "{% set audio_count.value = audio_count.value + 1 %}"
    "Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""The layout of Qwen2-Audio-7B-Instruct's template (SeaLLMs-Audio-7B's is the same): each audio part becomes
``Audio N: <|audio_bos|><|AUDIO|><|audio_eos|>`` and the processor repeats ``<|AUDIO|>`` per encoder frame."""

AUDIO_FLAMINGO_3_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}" + SYSTEM_TURN + "{% endif %}"
    "{% for message in messages if message['content'] is not none %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% set state = namespace(has_audio=false, text='') %}"
    "{% for part in message['content'] %}"
    "{% if part.get('type') == 'audio' or 'audio' in part %}{% set state.has_audio = true %}"
    "{% elif part.get('type') == 'text' or 'text' in part %}{% set state.text = state.text + part['text'] %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if state.has_audio %}<sound>{% endif %}{{ state.text }}"
    "{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""The layout of audio-flamingo-3-hf's template: ChatML, the sound first in its turn, then the text parts."""


def _byte_level_tokenizer(specials: list[str], *, eos: str, pad: str, chat_template: str, **kwargs):
    """The Whisper BPE as a plain byte-level tokenizer (it adds no tokens of its own), with ``specials`` added."""
    from tokenizers import Tokenizer, processors
    from transformers import AddedToken, PreTrainedTokenizerFast

    backend = Tokenizer.from_file(str(whisper_base_dir() / "tokenizer.json"))
    backend.post_processor = processors.ByteLevel(trim_offsets=False)  # Whisper's wraps text in <|startof…|>
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, padding_side="left", clean_up_tokenization_spaces=False, **kwargs
    )
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in specials], special_tokens=True)
    tokenizer.eos_token, tokenizer.pad_token = eos, pad
    tokenizer.chat_template = chat_template
    return tokenizer


def _qwen2(tokenizer, **overrides) -> dict:
    """A 2-layer, 64-wide Qwen2 decoder's config (the LLM of Qwen2-Audio, SeaLLMs-Audio and Audio Flamingo 3)."""
    pad, eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT), tokenizer.convert_tokens_to_ids(IM_END)
    return {
        "model_type": "qwen2",
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": False,
        "bos_token_id": pad,
        "eos_token_id": eos,
        "pad_token_id": pad,
        **overrides,
    }


def _save(model, processor, directory: Path, *, eos, pad: int, bos: int | None = None) -> Path:
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, bos_token_id=bos)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def make_tiny_qwen2_audio(directory: Path, seed: int = 0) -> Path:
    """Qwen2-Audio (and SeaLLMs-Audio): a 1-layer Whisper-style encoder, a linear projector, a Qwen2 decoder."""
    import torch
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioEncoderConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        Qwen2Config,
        WhisperFeatureExtractor,
    )

    specials = [IM_START, IM_END, "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]
    tokenizer = _byte_level_tokenizer(specials, eos=IM_END, pad=END_OF_TEXT, chat_template=QWEN2_AUDIO_TEMPLATE)
    features = WhisperFeatureExtractor(feature_size=128, return_attention_mask=True)  # the real preprocessor config
    processor = Qwen2AudioProcessor(features, tokenizer, chat_template=QWEN2_AUDIO_TEMPLATE)
    text = _qwen2(tokenizer)
    text.pop("model_type")
    config = Qwen2AudioConfig(
        audio_config=Qwen2AudioEncoderConfig(
            num_mel_bins=128, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=64, d_model=32
        ),
        text_config=Qwen2Config(**text),
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(seed)
    model = Qwen2AudioForConditionalGeneration(config)
    stops = [tokenizer.convert_tokens_to_ids(IM_END), tokenizer.convert_tokens_to_ids(END_OF_TEXT)]
    return _save(model, processor, directory, eos=stops, pad=tokenizer.pad_token_id, bos=tokenizer.pad_token_id)


def make_tiny_audioflamingo3(directory: Path, seed: int = 0) -> Path:
    """Audio Flamingo 3: a 1-layer Whisper-style encoder, an MLP projector, a Qwen2 decoder; ``<sound>`` marks audio."""
    import torch
    from transformers import (
        AudioFlamingo3Config,
        AudioFlamingo3ForConditionalGeneration,
        AudioFlamingo3Processor,
        WhisperFeatureExtractor,
    )

    template = AUDIO_FLAMINGO_3_TEMPLATE
    tokenizer = _byte_level_tokenizer(
        [IM_START, IM_END, "<sound>"], eos=IM_END, pad=END_OF_TEXT, chat_template=template
    )
    features = WhisperFeatureExtractor(feature_size=128, return_attention_mask=True)
    processor = AudioFlamingo3Processor(features, tokenizer, chat_template=template, audio_token="<sound>")
    encoder = {
        "model_type": "audioflamingo3_encoder",
        "num_mel_bins": 128,
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_source_positions": 1500,  # one 30 s window: the encoder adds its whole position table
    }
    config = AudioFlamingo3Config(
        audio_config=encoder, text_config=_qwen2(tokenizer), audio_token_id=processor.audio_token_id
    )
    torch.manual_seed(seed)
    model = AudioFlamingo3ForConditionalGeneration(config)
    pad = tokenizer.pad_token_id
    return _save(model, processor, directory, eos=tokenizer.convert_tokens_to_ids(IM_END), pad=pad, bos=pad)


# Voxtral's special tokens at their real ranks (Tekken ranks are contiguous; unnamed slots are <SPECIAL_i>)
_TEKKEN_SPECIALS = {
    **dict(enumerate(["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]"])),
    **dict(enumerate(["[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]"], 7)),
    **dict(enumerate(["[IMG_END]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"], 13)),
    19: "[TOOL_CONTENT]",
    24: "[AUDIO]",
    25: "[BEGIN_AUDIO]",
    32: "[ARGS]",
    33: "[CALL_ID]",
    34: "[TRANSCRIBE]",
}
TEKKEN_SPECIAL_SLOTS = 1000
"""Every Tekken file reserves the first 1000 ids for control tokens; text ids start after them."""


def write_tiny_tekken(path: Path, text_tokens: int = 1000) -> Path:
    """A valid Voxtral ``tekken.json``: the first ``text_tokens`` BPE ranks of the Tekken file mistral_common ships
    (all 256 bytes and the earliest merges, so text tokenizes as the real one does, only coarser), Voxtral's
    control tokens at their real ids, and Voxtral's audio section (16 kHz, 12.5 audio tokens/s, 30 s chunks)."""
    import mistral_common

    source = json.loads((Path(mistral_common.__file__).parent / "data" / "tekken_240718.json").read_text("utf-8"))
    specials = [
        {"rank": i, "token_str": _TEKKEN_SPECIALS.get(i, f"<SPECIAL_{i}>"), "is_control": True}
        for i in range(max(_TEKKEN_SPECIALS) + 1)
    ]
    tekken = {
        "config": {
            "pattern": source["config"]["pattern"],
            "num_vocab_tokens": text_tokens,
            "default_vocab_size": TEKKEN_SPECIAL_SLOTS + text_tokens,
            "default_num_special_tokens": TEKKEN_SPECIAL_SLOTS,
            "version": "v11",
        },
        "vocab": source["vocab"][:text_tokens],
        "special_tokens": specials,
        "audio": {
            "sampling_rate": 16000,
            "frame_rate": 12.5,
            "chunk_length_s": 30.0,
            "audio_encoding_config": {"num_mel_bins": 128, "hop_length": 160, "window_size": 400},
        },
    }
    path.write_text(json.dumps(tekken, ensure_ascii=False), encoding="utf-8")
    return path


def make_tiny_voxtral(directory: Path, seed: int = 0) -> Path:
    """Voxtral: a 1-layer Whisper-style encoder, a projector over 4 frames, a Llama decoder; a Tekken tokenizer."""
    import tempfile

    import torch
    from transformers import (
        LlamaConfig,
        MistralCommonBackend,
        VoxtralConfig,
        VoxtralEncoderConfig,
        VoxtralForConditionalGeneration,
        VoxtralProcessor,
        WhisperFeatureExtractor,
    )

    bos, eos, pad = 1, 2, 11
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = MistralCommonBackend(
            tokenizer_path=str(write_tiny_tekken(Path(scratch) / "tekken.json")), padding_side="left"
        )
        processor = VoxtralProcessor(WhisperFeatureExtractor(feature_size=128, return_attention_mask=False), tokenizer)
        directory.mkdir(parents=True, exist_ok=True)
        processor.save_pretrained(directory)  # copies tekken.json
    config = VoxtralConfig(
        audio_config=VoxtralEncoderConfig(
            hidden_size=64,
            intermediate_size=256,  # 4 × hidden: the projector folds 4 encoder frames into one token
            num_hidden_layers=1,
            num_attention_heads=2,
            num_mel_bins=128,
            max_source_positions=1500,
        ),
        text_config=LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            max_position_embeddings=4096,
            tie_word_embeddings=False,
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=pad,
        ),
        audio_token_id=24,
        projector_hidden_act="gelu",
    )
    torch.manual_seed(seed)
    model = VoxtralForConditionalGeneration(config)
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    model.save_pretrained(directory)
    return directory


QWEN2_5_OMNI_TOKENS = {
    "audio_token": "<|AUDIO|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
    "image_token": "<|IMAGE|>",
    "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
}
QWEN2_5_OMNI_VISION = {
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
}
QWEN2_5_OMNI_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}" + SYSTEM_TURN + "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}"
    "<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""The layout of Qwen2.5-Omni-7B's template (without its picture/audio numbering options)."""


def make_tiny_qwen2_5_omni(directory: Path, seed: int = 0) -> Path:
    """Qwen2.5-Omni as the Hub holds it: the whole model (thinker, talker, token2wav; ``model_type qwen2_5_omni``),
    of which audiomlqa runs the thinker (audio + text in, text out). The talker and vocoder are tiny and never run."""
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2_5OmniAudioEncoderConfig,
        Qwen2_5OmniBigVGANConfig,
        Qwen2_5OmniConfig,
        Qwen2_5OmniDiTConfig,
        Qwen2_5OmniForConditionalGeneration,
        Qwen2_5OmniTalkerConfig,
        Qwen2_5OmniTextConfig,
        Qwen2_5OmniThinkerConfig,
        Qwen2_5OmniToken2WavConfig,
        Qwen2_5OmniVisionEncoderConfig,
        Qwen2VLImageProcessorPil,
        WhisperFeatureExtractor,
    )

    from audiomlqa.llm.audiochat import qwen2_5_omni_processor

    specials = [IM_START, IM_END, *QWEN2_5_OMNI_TOKENS.values(), "<|vision_pad|>"]
    tokenizer = _byte_level_tokenizer(
        specials,
        eos=IM_END,
        pad=END_OF_TEXT,
        chat_template=QWEN2_5_OMNI_TEMPLATE,
        extra_special_tokens=QWEN2_5_OMNI_TOKENS,
    )
    features = WhisperFeatureExtractor(feature_size=128, chunk_length=300, return_attention_mask=True)
    processor = qwen2_5_omni_processor(
        Qwen2VLImageProcessorPil(**QWEN2_5_OMNI_VISION), features, tokenizer, QWEN2_5_OMNI_TEMPLATE
    )
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in QWEN2_5_OMNI_TOKENS.items()}
    hidden, mrope = 64, {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}
    thinker = Qwen2_5OmniThinkerConfig(
        audio_config=Qwen2_5OmniAudioEncoderConfig(
            num_mel_bins=128,
            encoder_layers=1,
            encoder_attention_heads=2,
            encoder_ffn_dim=64,
            d_model=32,
            max_source_positions=1500,
            n_window=100,
            output_dim=hidden,
        ),
        vision_config=Qwen2_5OmniVisionEncoderConfig(
            depth=1,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=hidden,
            fullatt_block_indexes=[0],
            window_size=112,
        ),
        text_config=Qwen2_5OmniTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,  # head_dim 16: 8 rotary frequencies = sum(mrope_section)
            num_key_value_heads=2,
            max_position_embeddings=32768,
            rope_parameters=mrope,
            tie_word_embeddings=False,
        ),
        audio_token_index=ids["audio_token"],
        image_token_index=ids["image_token"],
        video_token_index=ids["video_token"],
        audio_start_token_id=ids["audio_bos_token"],
        audio_end_token_id=ids["audio_eos_token"],
        vision_start_token_id=ids["vision_bos_token"],
        vision_end_token_id=ids["vision_eos_token"],
        user_token_id=tokenizer.convert_tokens_to_ids("user"),
        tie_word_embeddings=False,
    )
    talker = Qwen2_5OmniTalkerConfig(
        vocab_size=8448,
        embedding_size=hidden,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        rope_parameters=mrope,
        audio_token_index=ids["audio_token"],
        image_token_index=ids["image_token"],
        video_token_index=ids["video_token"],
    )
    token2wav = Qwen2_5OmniToken2WavConfig(
        dit_config=Qwen2_5OmniDiTConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            head_dim=16,
            emb_dim=16,
            look_ahead_layers=[0],
            look_backward_layers=[0],
            enc_emb_dim=16,
            enc_dim=16,
            enc_channels=[16, 16, 16, 16, 48],
            enc_attention_channels=8,
            enc_se_channels=8,
        ),
        bigvgan_config=Qwen2_5OmniBigVGANConfig(
            upsample_initial_channel=32,
            resblock_kernel_sizes=[3],
            resblock_dilation_sizes=[[1, 3, 5]],
            upsample_rates=[5, 2],
            upsample_kernel_sizes=[11, 4],
        ),
    )
    config = Qwen2_5OmniConfig(
        thinker_config=thinker,
        talker_config=talker,
        token2wav_config=token2wav,
        enable_audio_output=True,
        # as on the Hub: the stop and pad ids sit on the top-level config only
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2_5OmniForConditionalGeneration(config)
    model.generation_config = GenerationConfig()  # the Hub's generation_config.json is empty too
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    saved = json.loads((directory / "processor_config.json").read_text())
    saved["video_processor"] = {"video_processor_type": "Qwen2VLVideoProcessor", **QWEN2_5_OMNI_VISION}
    (directory / "processor_config.json").write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    speaker = {  # the whole-model class refuses to load without its speakers file
        "bos_token": talker.tts_text_start_token_id,
        "cond": torch.zeros(1, token2wav.dit_config.enc_emb_dim),
        "ref_mel": torch.zeros(1, 30, token2wav.dit_config.mel_dim),
    }
    torch.save({"Chelsie": speaker, "Ethan": dict(speaker)}, directory / "spk_dict.pt")
    return directory


PHI4_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|tool|>", "<|/tool|>"]
PHI4_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' and 'tools' in message and message['tools'] is not none %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + '<|/tool|>' + '<|end|>' }}"
    "{% else %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"
)
"""The layout of Phi-4-multimodal-instruct's template: string content only (the audio token goes in the text)."""
PHI4_SPEECH_LORA = "speech-lora"


def make_tiny_phi4_multimodal(directory: Path, seed: int = 0) -> Path:
    """Phi-4-multimodal as transformers converts it: the base model, and the speech LoRA in ``speech-lora/``
    (r 4 here, 320 in the real one, on the same projections). The tiny encoder is wider-initialised than the real
    (0.2, not 0.02) so that a 1-block random conformer passes the audio on at all."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        Phi4MultimodalAudioConfig,
        Phi4MultimodalConfig,
        Phi4MultimodalFeatureExtractor,
        Phi4MultimodalForCausalLM,
        Phi4MultimodalVisionConfig,
    )

    from audiomlqa.llm.audiochat import phi4_multimodal_processor

    audio_token, image_token = "<|endoftext11|>", "<|endoftext10|>"
    tokenizer = _byte_level_tokenizer(
        PHI4_TOKENS,
        eos=END_OF_TEXT,
        pad=END_OF_TEXT,
        chat_template=PHI4_TEMPLATE,
        bos_token=END_OF_TEXT,
        unk_token=END_OF_TEXT,
        extra_special_tokens={"image_token": image_token, "audio_token": audio_token},
    )
    processor = phi4_multimodal_processor(Phi4MultimodalFeatureExtractor(), tokenizer)
    end, eot = tokenizer.convert_tokens_to_ids("<|end|>"), tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    hidden, heads = 64, 4
    rotary_half = int(hidden // heads * 0.75) // 2
    config = Phi4MultimodalConfig(
        vocab_size=64 * ((len(tokenizer) + 63) // 64),
        hidden_size=hidden,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=2,
        initializer_range=0.2,
        max_position_embeddings=131072,
        original_max_position_embeddings=4096,
        rope_parameters={
            "rope_type": "longrope",
            "rope_theta": 10000.0,
            "partial_rotary_factor": 0.75,
            "short_factor": [1.0] * rotary_half,
            "long_factor": [1.0] * rotary_half,
        },
        tie_word_embeddings=False,  # tied, a random 2-layer model only echoes <|assistant|>
        bos_token_id=eot,
        pad_token_id=eot,
        eos_token_id=[eot, end],
        audio_config=Phi4MultimodalAudioConfig(
            hidden_size=32,
            intermediate_size=48,
            num_blocks=1,
            num_attention_heads=4,
            ext_pw_out_channel=32,
            depthwise_separable_out_channel=32,
            nemo_conv_channels=16,
            initializer_range=0.2,
            audio_token_id=tokenizer.audio_token_id,
        ),
        vision_config=Phi4MultimodalVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=4,
            image_size=56,
            patch_size=14,
            crop_size=56,
            image_token_id=tokenizer.image_token_id,
        ),
    )
    torch.manual_seed(seed)
    model = Phi4MultimodalForCausalLM(config)
    # the real checkpoint stores the log-mel features' global mean and inverse deviation; speech-level values here
    norm = model.model.embed_tokens_extend.audio_embed.encoder.encoder_embedding
    norm.global_mean.fill_(10.0)
    norm.global_invstd.fill_(0.25)
    _save(model, processor, directory, eos=[eot, end], pad=eot, bos=eot)
    saved = json.loads((directory / "processor_config.json").read_text())
    saved["image_processor"] = {"image_processor_type": "Phi4MultimodalImageProcessorFast"}  # the real one's
    (directory / "processor_config.json").write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    lora = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=r"model.layers.\d+.((self_attn.(qkv|o)_proj)|(mlp.(gate_up|down)_proj))",
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
        init_lora_weights=False,  # random A and B: the adapter changes the answers
    )
    get_peft_model(model, lora).save_pretrained(directory / PHI4_SPEECH_LORA)
    return directory


BUILDERS = {
    "qwen2-audio": make_tiny_qwen2_audio,
    "qwen2.5-omni": make_tiny_qwen2_5_omni,
    "voxtral": make_tiny_voxtral,
    "audioflamingo3": make_tiny_audioflamingo3,
    "phi-4-multimodal": make_tiny_phi4_multimodal,
}
"""``tiny-random/<family>`` → its builder."""
