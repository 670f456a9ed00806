"""Separate prefill + batched decoding gives the answers of one-at-a-time generation, for real architectures."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from audiomlqa.llm import generation

PROMPT_LENGTHS = (3, 29, 1, 17, 40)  # mixed, one single-token prompt, several past Gemma's 8-token window below


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    return LlamaForCausalLM(config).eval()


def _gemma3():
    """Gemma 3's text model with a sliding window shorter than the prompts: hybrid local/global attention."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=97,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=256,
        sliding_window=8,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    return Gemma3ForCausalLM(config).eval()


def _prompts() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randint(3, 97, (n,), generator=g) for n in PROMPT_LENGTHS]


def _one_at_a_time(model, prompts, new: int) -> list[list[int]]:
    with torch.inference_mode():
        return [
            model.generate(
                p[None],
                attention_mask=torch.ones(1, len(p), dtype=torch.long),
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=False,
                pad_token_id=0,
            )[0, len(p) :].tolist()
            for p in prompts
        ]


@pytest.mark.parametrize("build", [_llama, _gemma3], ids=["llama", "gemma3-sliding"])
@pytest.mark.parametrize("prefill", generation.PREFILL_MODES)
def test_batched_tokens_equal_one_at_a_time(build, prefill):
    model, prompts = build(), _prompts()
    assert generation.supports_separate_prefill(model)
    expected = _one_at_a_time(model, prompts, new=6)
    out = generation.generate(
        model, prompts, pad_token_id=0, prefill=prefill, max_new_tokens=6, min_new_tokens=6, do_sample=False
    )
    assert out.tolist() == expected


@pytest.mark.parametrize("build", [_llama, _gemma3], ids=["llama", "gemma3-sliding"])
def test_embeddings_in_give_the_same_tokens(build):
    model, prompts = build(), _prompts()
    with torch.inference_mode():
        rows = [model.get_input_embeddings()(p) for p in prompts]
    out = generation.generate(model, rows, pad_token_id=0, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert out.tolist() == _one_at_a_time(model, prompts, new=5)


def test_separate_prefill_never_runs_a_padded_prompt():
    """The batch forward sees one position per row; each prompt's other positions ran alone, unpadded."""
    model, prompts = _llama(), _prompts()
    seen: list[tuple[int, int]] = []
    hook = model.model.register_forward_pre_hook(
        lambda _m, _a, kw: seen.append(tuple(kw["input_ids"].shape)), with_kwargs=True
    )
    try:
        generation.generate(model, prompts, pad_token_id=0, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    finally:
        hook.remove()
    alone = [s for s in seen if s[0] == 1]
    batched = [s for s in seen if s[0] == len(prompts)]
    assert sorted(n for _, n in alone) == sorted(n - 1 for n in PROMPT_LENGTHS if n > 1)
    assert batched == [(len(prompts), 1)] * 3


def test_unknown_prefill_mode_is_refused():
    with pytest.raises(ValueError, match="prefill must be one of"):
        generation.generate(_llama(), _prompts(), pad_token_id=0, prefill="chunked", max_new_tokens=1)


@pytest.mark.parametrize("build", [_llama, _gemma3], ids=["llama", "gemma3-sliding"])
def test_beam_search_agrees(build):
    model, prompts = build(), _prompts()
    settings = {"max_new_tokens": 4, "min_new_tokens": 4, "num_beams": 2, "do_sample": False}
    with torch.inference_mode():
        expected = [
            model.generate(p[None], attention_mask=torch.ones(1, len(p), dtype=torch.long), pad_token_id=0, **settings)[
                0, len(p) :
            ].tolist()
            for p in prompts
        ]
    assert generation.generate(model, prompts, pad_token_id=0, **settings).tolist() == expected


def test_several_sampled_answers_per_prompt_get_a_cache_row_each():
    model, prompts = _llama(), _prompts()
    torch.manual_seed(0)
    out = generation.generate(
        model, prompts, pad_token_id=0, max_new_tokens=3, min_new_tokens=3, do_sample=True, num_return_sequences=2
    )
    assert out.shape == (2 * len(prompts), 3)


def _shared_paragraph_prompts() -> list[torch.Tensor]:
    """Three questions about one 30-token 'paragraph' (one of them a single token) and an unrelated prompt."""
    g = torch.Generator().manual_seed(2)
    paragraph = torch.randint(3, 97, (30,), generator=g)
    questions = [torch.randint(3, 97, (n,), generator=g) for n in (4, 1, 6)]
    other = torch.randint(3, 97, (25,), generator=g)
    return [
        torch.cat([paragraph, questions[0]]),
        other,
        torch.cat([paragraph, questions[1]]),
        torch.cat([paragraph, questions[2]]),
    ]


@pytest.mark.parametrize("build", [_llama, _gemma3], ids=["llama", "gemma3-sliding"])
def test_a_shared_paragraph_is_prefilled_once_and_answers_do_not_change(build):
    model, prompts = build(), _shared_paragraph_prompts()
    seen: list[tuple[int, int]] = []
    hook = model.model.register_forward_pre_hook(
        lambda _m, _a, kw: seen.append(tuple(kw["input_ids"].shape)), with_kwargs=True
    )
    try:
        out = generation.generate(model, prompts, pad_token_id=0, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    finally:
        hook.remove()
    assert out.tolist() == _one_at_a_time(model, prompts, new=5)
    # alone: the paragraph (30 tokens) once and the unrelated prompt but its last 6; then one batched forward
    # over the last 6 positions of every row (the longest question, 6 tokens, decides), then decoding
    assert sorted(n for b, n in seen if b == 1) == [19, 30]
    assert [s for s in seen if s[0] == 4] == [(4, 6)] + [(4, 1)] * 4
    assert generation.prefix_groups(prompts) == [(30, [0, 2, 3]), (24, [1])]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2), min_size=1, max_size=12), min_size=1, max_size=8))
def test_prefix_groups_partition_the_rows_and_really_share(raw_rows):
    rows = [torch.tensor(r) for r in raw_rows]
    groups = generation.prefix_groups(rows)
    assert sorted(i for _, members in groups for i in members) == list(range(len(rows)))
    for shared, members in groups:
        assert all(0 <= shared <= len(rows[i]) - 1 for i in members)
        assert all(torch.equal(rows[i][:shared], rows[members[0]][:shared]) for i in members)
        if len(members) > 1:  # worth it: at least half of every member's prefill is the shared part
            assert all(2 * shared >= len(rows[i]) - 1 for i in members)
