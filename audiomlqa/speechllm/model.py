"""The language-aware distilled Speech LLM (Gopal et al., 2026), in one file, top to bottom.

    audio → Whisper encoder (frozen) → states ──────────────┬──────────────────────────────┐
                                         │                  │ cross-attention              │
                                 gate → language logits     │                              │
                                         │ soft mix / hard  ▼                              │
    query bank [K, L, d] ── selected queries ── Q-Former (the Whisper decoder stack) → Linear → L speech tokens
                                                                                            │
    chat template: <prefix> [speech tokens] <suffix> → LLM (frozen) → answer ◀──────────────┘

Only the bank, the gate, the Q-Former and the Linear train. ``num_banks = 1`` with no gate is ML-DiVA.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audiomlqa import __version__
from audiomlqa.audio import SAMPLE_RATE
from audiomlqa.errors import AudioMLQAError, first_line
from audiomlqa.llm import SPEECH, generation
from audiomlqa.llm.loading import load_causal_lm, load_tokenizer
from audiomlqa.llm.names import resolve
from audiomlqa.llm.window import context_window, generate_fitting
from audiomlqa.speechllm import losses
from audiomlqa.speechllm.config import SpeechLLMConfig
from audiomlqa.weights.hub import fetch

CHECKPOINT_FORMAT = "audiomlqa-speechllm"
WEIGHTS = "model.safetensors"


# -- the gate: which language is this? ------------------------------------------------------------


def valid_mask(frames: torch.Tensor | None, length: int, batch: int, device) -> torch.Tensor:
    """[B, length] True where a position holds speech (``frames`` valid positions per row; None: all)."""
    positions = torch.arange(length, device=device)[None, :]
    if frames is None:
        return positions.expand(batch, length) >= 0
    return positions < frames.to(device)[:, None]


class ConvGate(nn.Module):
    """A small 1-D convolutional language-ID network over the encoder states, averaged over the frames that hold
    speech (a spoken question fills a few seconds of Whisper's 30 s window; the rest is padding)."""

    def __init__(self, width: int, hidden: int, num_languages: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(width, hidden, kernel_size=5, stride=2, padding=2),
            nn.GELU(),
            nn.Conv1d(hidden, hidden, kernel_size=5, stride=2, padding=2),
            nn.GELU(),
        )
        self.classify = nn.Linear(hidden, num_languages)

    def forward(self, states: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:  # [B, S, d] -> [B, K]
        if frames is not None:  # the padding is zeroed, so the convolutions' edges see none of it
            states = states * valid_mask(frames, states.shape[1], len(states), states.device)[:, :, None]
        hidden = self.convs(states.transpose(1, 2))  # [B, h, ⌈S/4⌉]: each convolution halves the time axis
        valid = None if frames is None else (((frames + 1) // 2) + 1) // 2
        mask = valid_mask(valid, hidden.shape[-1], len(hidden), hidden.device).to(hidden.dtype)[:, None, :]
        return self.classify((hidden * mask).sum(-1) / mask.sum(-1).clamp(min=1.0))


class AttentionPoolGate(nn.Module):
    """Attention pooling (one learned score per frame, padding frames left out) followed by an MLP."""

    def __init__(self, width: int, hidden: int, num_languages: int) -> None:
        super().__init__()
        self.score = nn.Linear(width, 1)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, num_languages))

    def forward(self, states: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        scores = self.score(states)  # [B, S, 1]
        mask = valid_mask(frames, states.shape[1], len(states), states.device)[:, :, None]
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)
        return self.mlp((weights * states).sum(dim=1))


def selection_weights(
    logits: torch.Tensor, selection: str, gold: torch.Tensor | None = None, teacher_forcing: float = 0.0
) -> torch.Tensor:
    """[B, K] weights over the query bank.

    soft: the gate's softmax. hard: its argmax one-hot in the forward pass, the softmax's gradient in
    the backward pass (straight-through estimator). Scheduled teacher forcing: each utterance uses its
    gold language instead with probability ``teacher_forcing``.
    """
    probs = logits.softmax(dim=-1)
    if selection == "hard":
        one_hot = F.one_hot(probs.argmax(dim=-1), probs.shape[-1]).to(probs.dtype)
        weights = one_hot - probs.detach() + probs
    else:
        weights = probs
    if gold is not None and teacher_forcing > 0.0:
        use_gold = torch.rand(len(weights), device=weights.device) < teacher_forcing
        weights = torch.where(use_gold[:, None], F.one_hot(gold, weights.shape[-1]).to(weights.dtype), weights)
    return weights


def teacher_forcing_probability(step: int, total_steps: int, fraction: float) -> float:
    """Cosine-annealed from 1 at step 0 to 0 at ``fraction`` of training, 0 afterwards."""
    horizon = fraction * total_steps
    if horizon <= 0 or step >= horizon:
        return 0.0
    return 0.5 * (1.0 + math.cos(math.pi * step / horizon))


# -- the projector: query bank + gate + Q-Former + Linear ------------------------------------------


@dataclass
class SpeechTokens:
    tokens: torch.Tensor  # [B, L, D_llm]
    logits: torch.Tensor | None  # [B, K] gate logits (None without a gate)
    weights: torch.Tensor  # [B, K] bank weights actually used


class QueryBankProjector(nn.Module):
    """Everything that trains. The Q-Former is a copy of the Whisper decoder stack (causal
    self-attention over the queries, cross-attention to the audio), run on query embeddings instead
    of token embeddings; its token embedding table is never used and is dropped."""

    def __init__(self, config: SpeechLLMConfig, whisper_decoder: nn.Module, llm_width: int) -> None:
        super().__init__()
        width = whisper_decoder.config.d_model
        self.config = config
        self.bank = nn.Parameter(torch.randn(config.num_banks, config.num_queries, width) * config.query_init_std)
        gates = {"conv": ConvGate, "attention": AttentionPoolGate}
        self.gate = gates[config.gate](width, config.gate_hidden, config.num_banks) if config.language_aware else None
        self.qformer = copy.deepcopy(whisper_decoder)
        self.qformer.embed_tokens = nn.Embedding(1, width).requires_grad_(
            False
        )  # unused: queries come in as embeddings
        if config.qformer_layers is not None:
            self.qformer.layers = self.qformer.layers[: config.qformer_layers]
        self.proj = nn.Linear(width, llm_width)

    def forward(
        self,
        states: torch.Tensor,
        gold: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
        frames: torch.Tensor | None = None,
    ) -> SpeechTokens:
        """``frames``: each clip's encoder positions that hold speech (None: all); the gate pools over those."""
        batch = len(states)
        if self.gate is None:
            logits, weights = None, states.new_ones(batch, 1, dtype=self.bank.dtype)
        else:
            logits = self.gate(states.to(self.bank.dtype), frames)
            weights = selection_weights(logits, self.config.selection, gold, teacher_forcing)
        queries = torch.einsum("bk,kld->bld", weights, self.bank)
        hidden = self.qformer(
            inputs_embeds=queries, encoder_hidden_states=states.to(queries.dtype), use_cache=False
        ).last_hidden_state
        return SpeechTokens(self.proj(hidden), logits, weights)


# -- the whole model --------------------------------------------------------------------------------


@dataclass
class DistillationOutput:
    loss: torch.Tensor
    loss_lid: torch.Tensor
    loss_in: torch.Tensor
    loss_out: torch.Tensor
    lid_accuracy: torch.Tensor
    gate_entropy: torch.Tensor
    predicted: torch.Tensor | None = None
    """The gate's language per utterance (None without a gate)."""


class SpeechLLM(nn.Module):
    def __init__(self, config: SpeechLLMConfig, whisper, llm, tokenizer, feature_extractor) -> None:
        super().__init__()
        self.config = config
        self.encoder = whisper.get_encoder()
        self.llm = llm
        self.projector = QueryBankProjector(config, whisper.get_decoder(), llm.config.get_text_config().hidden_size)
        for module in (self.encoder, self.llm):
            module.requires_grad_(False)
            module.eval()
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self._prompt_cache: dict[str, tuple[list[int], list[int]]] = {}

    # loading and saving -----------------------------------------------------------------------------

    @classmethod
    def from_config(
        cls, config: SpeechLLMConfig, *, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
    ) -> SpeechLLM:
        """Load the frozen Whisper and LLM named in ``config`` and build a fresh projector."""
        from transformers import WhisperModel

        config.check_models()
        whisper_path = resolve(config.whisper)
        try:
            whisper = WhisperModel.from_pretrained(whisper_path, dtype=dtype)
        except Exception as e:  # noqa: BLE001
            raise AudioMLQAError(f"cannot load Whisper {config.whisper!r}: {first_line(e)}") from None
        if config.encoder_window_seconds is not None:
            _shorten_window(whisper, config.encoder_window_seconds * ENCODER_POSITIONS_PER_SECOND)
        llm = load_causal_lm(config.llm, dtype=dtype)
        model = cls(config, whisper, llm, load_tokenizer(config.llm), _feature_extractor(whisper_path, whisper.config))
        model.projector.float()  # trainable parts in float32 (mixed precision autocasts them)
        return model.to(device)

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        *,
        whisper: str | None = None,
        llm: str | None = None,
        dtype: torch.dtype | None = None,
        device: str | torch.device = "cpu",
    ) -> SpeechLLM:
        """A saved model: its config and trainable weights, with the frozen models it names (or
        ``whisper``/``llm`` given here, e.g. local copies of the same checkpoints)."""
        from safetensors.torch import load_file

        directory = fetch(str(directory), "Speech LLM checkpoint")
        try:
            meta = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise AudioMLQAError(
                f"{directory}: not an audiomlqa Speech LLM checkpoint (no readable config.json)"
            ) from None
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise AudioMLQAError(f"{directory}: config.json is not an audiomlqa Speech LLM checkpoint")
        data = dict(meta["config"])
        data.update({k: v for k, v in (("whisper", whisper), ("llm", llm)) if v})
        model = cls.from_config(
            SpeechLLMConfig.from_dict(data, str(directory / "config.json")), dtype=dtype, device=device
        )
        model.projector.load_state_dict(load_file(str(directory / WEIGHTS), device=str(device)))
        return model

    def save_pretrained(self, directory: str | Path) -> None:
        """config.json (with the ids of the frozen models) + safetensors of the trainable parts only."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in self.projector.state_dict().items()}
        save_file(state, str(directory / WEIGHTS), metadata={"format": CHECKPOINT_FORMAT})
        meta = {
            "format": CHECKPOINT_FORMAT,
            "audiomlqa_version": __version__,
            "config": self.config.to_dict(),
            "frozen": {"whisper": self.config.whisper, "llm": self.config.llm},
            "trainable_parameters": sum(v.numel() for v in state.values()),
        }
        (directory / "config.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def train(self, mode: bool = True) -> SpeechLLM:
        """Only the projector ever trains; the frozen encoder and LLM stay in eval mode (no dropout)."""
        super().train(mode)
        self.encoder.eval()
        self.llm.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.projector.parameters() if p.requires_grad]

    # the pieces -----------------------------------------------------------------------------------

    def features(self, audios: Sequence[np.ndarray]) -> torch.Tensor:
        return log_mel(self.feature_extractor, audios)

    def frames(self, audios: Sequence[np.ndarray]) -> torch.Tensor:
        return speech_frames(self.feature_extractor, audios)

    def encode(self, input_features: torch.Tensor) -> torch.Tensor:
        dtype = next(self.encoder.parameters()).dtype
        with torch.no_grad():
            return self.encoder(input_features.to(self.device, dtype)).last_hidden_state

    def speech_tokens(
        self,
        input_features: torch.Tensor,
        gold: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
        frames: torch.Tensor | None = None,
    ) -> SpeechTokens:
        return self.projector(self.encode(input_features), gold, teacher_forcing, frames)

    def prompt_pieces(self, user_text: str = SPEECH) -> tuple[list[int], list[int]]:
        """Token ids before and after the speech in the chat-formatted prompt (generation prompt added)."""
        if user_text not in self._prompt_cache:
            if SPEECH not in user_text:
                raise AudioMLQAError(f"a speech prompt must contain {SPEECH} where the audio goes: {user_text[:80]!r}")
            messages = [{"role": "system", "content": self.config.system_prompt}] if self.config.system_prompt else []
            messages.append({"role": "user", "content": user_text})
            text = self.tokenizer.apply_chat_template(
                messages, chat_template=self.config.chat_template, tokenize=False, add_generation_prompt=True
            )
            before, _, after = text.partition(SPEECH)
            ids = lambda s: self.tokenizer(s, add_special_tokens=False).input_ids  # noqa: E731
            self._prompt_cache[user_text] = (ids(before), ids(after))
        return self._prompt_cache[user_text]

    def embed(self, ids: Sequence[int]) -> torch.Tensor:
        return self.llm.get_input_embeddings()(torch.as_tensor(list(ids), dtype=torch.long, device=self.device))

    def _left_padded(self, sequences: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stack [n_i, D] embeddings left-padded, so every sequence ends at the last position; mask, positions too."""
        dtype = self.llm.get_input_embeddings().weight.dtype
        embeds, mask = generation.left_pad([s.to(dtype) for s in sequences])
        return embeds, mask, (mask.cumsum(-1) - 1).clamp(min=0)

    def _last_hidden(self, embeds: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """The LLM's final hidden state (after its last norm) at the last position; the LM head is not run."""
        body = getattr(self.llm, self.llm.base_model_prefix)
        return body(
            inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=False
        ).last_hidden_state[:, -1]

    @property
    def device(self) -> torch.device:
        return self.projector.bank.device

    # training ---------------------------------------------------------------------------------------

    def forward(
        self,
        input_features: torch.Tensor,
        transcript_ids: Sequence[Sequence[int]],
        languages: torch.Tensor,
        teacher_forcing: float = 0.0,
        frames: torch.Tensor | None = None,
    ) -> DistillationOutput:
        """Distillation losses for a batch of (audio features, transcript token ids, language index); ``frames``
        (from :meth:`frames`) tells the gate where the speech ends."""
        languages = languages.to(self.device)
        speech = self.speech_tokens(input_features, languages, teacher_forcing, frames)
        before, after = self.prompt_pieces()
        prefix, suffix = self.embed(before), self.embed(after)
        transcripts = [self.embed(ids) for ids in transcript_ids]

        with torch.no_grad():  # the teacher: the same frozen LLM reading the transcript
            teacher = self._last_hidden(*self._left_padded([torch.cat([prefix, t, suffix]) for t in transcripts]))
        student = self._last_hidden(
            *self._left_padded([torch.cat([prefix, s.to(prefix.dtype), suffix]) for s in speech.tokens])
        )

        weights = self.config.loss_weights
        loss_in = losses.input_distillation_loss(speech.tokens, transcripts, self.config.distance)
        loss_out = losses.output_distillation_loss(student, teacher, self.config.distance)
        if speech.logits is not None:
            loss_lid = losses.language_id_loss(speech.logits, languages)
            accuracy = (speech.logits.argmax(-1) == languages).float().mean()
            entropy = losses.gate_entropy(speech.logits)
        else:
            loss_lid = accuracy = entropy = loss_in.new_zeros(())
        loss = (
            weights.get("lid", 1.0) * loss_lid + weights.get("in", 1.0) * loss_in + weights.get("out", 1.0) * loss_out
        )
        predicted = speech.logits.argmax(-1).detach() if speech.logits is not None else None
        return DistillationOutput(
            loss, loss_lid.detach(), loss_in.detach(), loss_out.detach(), accuracy.detach(), entropy.detach(), predicted
        )

    # inference --------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        audios: Sequence[np.ndarray],
        prompts: Sequence[str] | str | None = None,
        *,
        max_new_tokens: int = 64,
        prefill: str = "separate",
        **generate_kwargs,
    ) -> list[str | None]:
        """Answer a batch: ``prompts[i]`` (default: the speech alone) with ``{SPEECH}`` replaced by audio ``i``; None
        where the prompt, speech tokens included, does not fit the LLM's window (:mod:`~audiomlqa.llm.window`).

        The speech tokens are computed for the whole batch; the LLM prefills each prompt alone (a text prefix
        that several prompts share, once) and decodes the batch together (``prefill="separate"``, see
        :mod:`audiomlqa.generation`) or runs one padded batch
        (``"padded"``). Extra keyword arguments go to ``transformers`` ``generate`` (``do_sample``, ``num_beams``, ...).
        """
        if isinstance(prompts, str) or prompts is None:
            prompts = [prompts or SPEECH] * len(audios)
        if len(prompts) != len(audios):
            raise AudioMLQAError(f"{len(audios)} audio clips but {len(prompts)} prompts")
        speech = self.speech_tokens(self.features(audios), frames=self.frames(audios)).tokens
        dtype = self.llm.get_input_embeddings().weight.dtype
        rows = []
        for tokens, prompt in zip(speech, prompts):
            before, after = self.prompt_pieces(prompt)
            rows.append(torch.cat([self.embed(before), tokens.to(dtype), self.embed(after)]))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id

        def run(keep: list[int]) -> list[str]:
            out = generation.generate(
                self.llm,
                [rows[i] for i in keep],
                pad_token_id=pad,
                prefill=prefill,
                max_new_tokens=max_new_tokens,
                **generate_kwargs,
            )
            return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

        return generate_fitting([len(r) for r in rows], max_new_tokens, self.window, run)

    @property
    def window(self) -> int | None:
        """The LLM's context window in tokens (speech tokens count as tokens)."""
        return context_window(self.llm.config, self.tokenizer)


def log_mel(feature_extractor, audios: Sequence[np.ndarray]) -> torch.Tensor:
    """16 kHz mono audio → log-Mel features padded (or cut) to the encoder's fixed window."""
    fe = feature_extractor
    out = fe(
        [np.asarray(a, dtype=np.float32) for a in audios],
        sampling_rate=SAMPLE_RATE,
        return_tensors="pt",
        padding="max_length",
        max_length=fe.n_samples,
        truncation=True,
    )
    return out.input_features


def speech_frames(feature_extractor, audios: Sequence[np.ndarray]) -> torch.Tensor:
    """Each clip's encoder positions that hold speech: its Mel frames (one per hop, capped at the window), halved
    by the encoder's strided convolution."""
    fe = feature_extractor
    mel = [min(len(a) // fe.hop_length + 1, fe.nb_max_frames) for a in audios]
    return torch.tensor([max(1, (m + 1) // 2) for m in mel], dtype=torch.long)


ENCODER_POSITIONS_PER_SECOND = 50
"""Whisper's encoder: 100 Mel frames a second, halved by its strided convolution."""


def _shorten_window(whisper, positions: int) -> None:
    """Keep the first ``positions`` of the encoder's position table: it then reads a window that much shorter."""
    encoder = whisper.get_encoder()
    table = encoder.embed_positions
    table.weight = nn.Parameter(table.weight.data[:positions].clone(), requires_grad=False)
    table.num_embeddings = positions
    encoder.max_source_positions = positions
    encoder.config.max_source_positions = positions
    whisper.config.max_source_positions = positions


def _feature_extractor(whisper_path: str, whisper_config):
    """Whisper's feature extractor, with its window matched to the encoder (30 s for real Whisper)."""
    from transformers import WhisperFeatureExtractor

    frames = whisper_config.max_source_positions * 2
    try:
        fe = WhisperFeatureExtractor.from_pretrained(whisper_path)
    except OSError:
        fe = WhisperFeatureExtractor(feature_size=whisper_config.num_mel_bins)
    if fe.nb_max_frames != frames or fe.feature_size != whisper_config.num_mel_bins:
        fe = WhisperFeatureExtractor(
            feature_size=whisper_config.num_mel_bins,
            chunk_length=frames * fe.hop_length // fe.sampling_rate,
            hop_length=fe.hop_length,
            sampling_rate=fe.sampling_rate,
            n_fft=fe.n_fft,
        )
    return fe
