"""Batched generation that prefills each prompt on its own and decodes the batch together.

Why: MLQA prompts carry whole paragraphs (about 100 to 3,000 tokens). On a CPU, prefill is compute-bound, so
running eight prompts as one padded batch costs at least as much as running them one by one (more, since the
padding is computed too), while decoding is memory-bound and gets many times faster in a batch. So each
prompt's key/value cache is built alone, without padding (prompts that share a paragraph build it once:
:func:`prefix_groups`), the caches are stacked left-padded into one, and ``transformers``' own ``generate``
continues from there: the last prompt token and every new token run as one batch. Greedy answers are the
same as the padded batch's and as one-at-a-time generation's, up to the last float bits of differently
shaped matrix products (see ``tests/test_generation.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from audiomlqa.llm import PREFILL_MODES


def supports_separate_prefill(model) -> bool:
    """Whether every layer keeps plain attention keys/values, which can be padded and stacked."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    try:
        layers = DynamicCache(config=model.config).layers
    except Exception:  # noqa: BLE001 - an exotic config: take the padded way
        return False
    # recurrent states (linear attention), sparse-attention indexers and quantized caches cannot be stacked
    return all(type(layer) in (DynamicLayer, DynamicSlidingWindowLayer) for layer in layers)


def left_pad(rows: Sequence[torch.Tensor], pad_value: float | int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack rows (token ids ``[n]`` or embeddings ``[n, d]``) so each ends at the last position; also the mask."""
    longest = max(len(r) for r in rows)
    out = rows[0].new_full((len(rows), longest, *rows[0].shape[1:]), pad_value)
    mask = torch.zeros(len(rows), longest, dtype=torch.long, device=rows[0].device)
    for i, r in enumerate(rows):
        out[i, longest - len(r) :] = r
        mask[i, longest - len(r) :] = 1
    return out, mask


def _common_length(a: torch.Tensor, b: torch.Tensor) -> int:
    """How many leading positions two rows (token ids or embeddings) have in common."""
    n = min(len(a), len(b))
    differ = (a[:n] != b[:n]).reshape(n, -1).any(-1)
    return int(differ.float().argmax()) if differ.any() else n


def prefix_groups(rows: Sequence[torch.Tensor]) -> list[tuple[int, list[int]]]:
    """Rows that share most of their prompt: ``(shared positions, row indices)`` per group.

    MLQA asks several questions about one paragraph (4.3 on average over a context language's seven
    question languages), and the prompt puts the paragraph before the question, so those prompts share
    all but their last few tokens. A row joins a group when, with it, at least half of what each member
    prefills (all but its last token) is still shared; the shared part is prefilled once for the group.
    """
    groups: list[tuple[int, list[int]]] = []
    for i, r in enumerate(rows):
        for g, (shared, members) in enumerate(groups):
            common = min(_common_length(rows[members[0]], r), len(r) - 1, shared)
            if common > 0 and all(2 * common >= len(rows[m]) - 1 for m in (*members, i)):
                groups[g] = (common, [*members, i])
                break
        else:
            groups.append((len(r) - 1, [i]))
    return groups


# Most positions per row that run in the one batched forward before decoding (see _prefill_cache).
MAX_WINDOW = 64


@torch.inference_mode()
def _prefill_cache(model, rows: Sequence[torch.Tensor], embeds: bool, room: int | None, copies: int = 1):
    """The cache ``generate`` continues from: every row's keys/values but its last ``window`` positions,
    left-padded with zeros, each row repeated ``copies`` times (beams or returned sequences: ``generate``
    expands its inputs, not a given cache). ``None`` when there is nothing to prefill.

    Rows that share a prefix (:func:`prefix_groups`) prefill it once. What differs after it (the question,
    a few dozen tokens) would cost a whole small forward per row, so the last ``window`` positions of every
    row (the longest such tail, at most ``MAX_WINDOW``) are left to ``generate``, which runs them as one
    batch. With ``room`` (the new tokens to come) the result is a preallocated static cache written in
    place: a growing cache copies all of its keys and values at every decoding step, which took 80% of
    decoding time on long prompts.
    """
    from transformers import DynamicCache
    from transformers.cache_utils import Cache, StaticLayer

    groups = prefix_groups(rows)
    window = min(MAX_WINDOW, max(len(rows[i]) - shared for shared, members in groups for i in members))
    cached = max(len(r) for r in rows) - window
    if cached <= 0:
        return None
    per_row = _row_caches(model, rows, groups, window, "inputs_embeds" if embeds else "input_ids")
    stacked = _stacked_layers(per_row, cached, copies)
    if room is None or any(k is None for k, _ in stacked):
        return DynamicCache(ddp_cache_data=stacked)
    static = Cache(layers=[StaticLayer(max_cache_len=cached + window + room) for _ in stacked])
    for layer, (k, v) in zip(static.layers, stacked):
        layer.update(k, v)
    return static


def _row_caches(model, rows: Sequence[torch.Tensor], groups, window: int, key: str) -> list:
    """Per row, (a cache holding its prefilled positions, how many of them it uses); None for a row with nothing
    to prefill. A group's shared prefix is prefilled once and copied for the members that go on past it."""
    import copy

    from transformers import DynamicCache

    body = getattr(model, model.base_model_prefix, model)  # the decoder without its LM head: no logits needed

    def extend(cache, part: torch.Tensor):
        if len(part):
            body(**{key: part[None]}, cache=cache, use_cache=True)
        return cache

    per_row: list = [None] * len(rows)
    for shared, members in groups:
        common = extend(DynamicCache(), rows[members[0]][:shared]) if len(members) > 1 else None
        for i in members:
            keep = len(rows[i]) - window
            if keep <= 0:
                continue
            if common is not None and keep <= shared:
                per_row[i] = (common, keep)
            else:
                start = shared if common is not None else 0
                per_row[i] = (
                    extend(copy.deepcopy(common) if common is not None else DynamicCache(), rows[i][start:keep]),
                    keep,
                )
    return per_row


def _stacked_layers(per_row: list, cached: int, copies: int) -> list[tuple]:
    """Every layer's keys and values of all rows, left-padded to ``cached`` positions, each row ``copies`` times;
    (None, None) for a layer that reads another layer's keys/values (KV sharing)."""
    reference = next(c for c, _ in filter(None, per_row))
    stacked = []
    for layer_idx, layer in enumerate(reference.layers):
        if not layer.is_initialized:
            stacked.append((None, None))
            continue
        keys, values = [], []
        for entry in per_row:
            cache, keep = entry if entry else (reference, 0)
            for out, t in ((keys, cache.layers[layer_idx].keys), (values, cache.layers[layer_idx].values)):
                out.append(torch.nn.functional.pad(t[:, :, :keep], (0, 0, cached - keep, 0)))
        stacked.append((torch.cat(keys).repeat_interleave(copies, 0), torch.cat(values).repeat_interleave(copies, 0)))
    return stacked


def generate(
    model, rows: Sequence[torch.Tensor], *, pad_token_id: int, prefill: str = "separate", **generate_kwargs
) -> torch.Tensor:
    """Generate for a batch of unpadded prompts: ``rows[i]`` is token ids ``[n_i]`` or input embeddings ``[n_i, d]``.

    Returns only the new tokens, ``[batch, new]``, padded with ``pad_token_id`` after each row's end.
    ``generate_kwargs`` go to ``transformers``' ``generate`` (``max_new_tokens``, ``do_sample``, ...).
    """
    if prefill not in PREFILL_MODES:
        raise ValueError(f"prefill must be one of {PREFILL_MODES}, not {prefill!r}")
    embeds = rows[0].is_floating_point()
    padded, mask = left_pad(rows, 0 if embeds else pad_token_id)
    inputs = {"inputs_embeds" if embeds else "input_ids": padded, "attention_mask": mask}
    if prefill == "separate" and max(len(r) for r in rows) > 1 and supports_separate_prefill(model):
        beams = generate_kwargs.get("num_beams") or model.generation_config.num_beams or 1
        copies = beams if beams > 1 else generate_kwargs.get("num_return_sequences") or 1
        cache = _prefill_cache(model, rows, embeds, generate_kwargs.get("max_new_tokens"), copies)
        if cache is not None:
            inputs["cache"] = cache
    with torch.inference_mode():
        out = model.generate(**inputs, pad_token_id=pad_token_id, **generate_kwargs)
    return out if embeds else out[:, padded.shape[1] :]
