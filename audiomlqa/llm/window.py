"""A model's context window, and the one rule for a prompt that does not fit it.

A prompt fits when its tokens plus the tokens its answer may take (``max_new_tokens``) fit the window. Past the
positions it was trained on, a model writes garbage (transformers only warns), and a server refuses the prompt: so a
prompt that does not fit is never generated from, and its item is over window (no answer, counted, scored as none).
The same rule holds in-process and through a server, so both give the same answers and the same counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

WINDOW_FIELDS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "n_ctx", "max_sequence_length")
"""Where configs keep their window, in the order they are read (the text config's first, for a multimodal model)."""
NO_LIMIT = 10_000_000
"""A tokenizer's ``model_max_length`` at or above this is no limit (transformers' placeholder is 1e30)."""


def context_window(config=None, tokenizer=None) -> int | None:
    """The window in tokens: the (text) config's positions, else the tokenizer's ``model_max_length`` when it is a
    real limit; None when neither says (every prompt fits)."""
    if config is not None:
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        for source in (text, config):
            for name in WINDOW_FIELDS:
                value = getattr(source, name, None)
                if isinstance(value, int) and value > 0:
                    return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < NO_LIMIT else None


def fits(prompt_tokens: int, max_new_tokens: int, window: int | None) -> bool:
    """The rule: the prompt and the longest answer it may get fit the window."""
    return window is None or prompt_tokens + max_new_tokens <= window


def generate_fitting(
    lengths: Sequence[int],
    max_new_tokens: int,
    window: int | None,
    generate: Callable[[list[int]], list[str]],
) -> list[str | None]:
    """``generate(indices)`` for the prompts that fit (by their token ``lengths``), in one call; None for the others,
    which are never generated from."""
    keep = [i for i, n in enumerate(lengths) if fits(n, max_new_tokens, window)]
    out: list[str | None] = [None] * len(lengths)
    for i, text in zip(keep, generate(keep) if keep else []):
        out[i] = text
    return out
