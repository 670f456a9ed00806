"""A causal LM answering text prompts in batches: greedy by default, only the new tokens decoded."""

from __future__ import annotations

from collections.abc import Sequence

from audiomlqa.llm.loading import load_causal_lm, load_tokenizer
from audiomlqa.llm.window import context_window, generate_fitting

PROMPT_MODES = ("auto", "chat", "completion")


class TextLLM:
    """``generate(prompts)`` → one answer per prompt (None where the prompt does not fit the model's window:
    :mod:`~audiomlqa.llm.window`). ``prompt_mode`` ``auto`` wraps each prompt in the tokenizer's chat template when
    it has one; ``completion`` (base models) gives the prompt as it is."""

    def __init__(
        self,
        llm: str,
        *,
        prompt_mode: str = "auto",
        dtype: str | None = None,
        max_new_tokens: int = 32,
        generation: dict | None = None,
        prefill: str = "separate",
        device: str = "cpu",
        device_map=None,
    ) -> None:
        import torch

        self.id = llm
        self.tokenizer = load_tokenizer(llm)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = load_causal_lm(
            llm, dtype=getattr(torch, dtype) if dtype else None, device=device, device_map=device_map
        )
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.chat = prompt_mode == "chat" or (prompt_mode == "auto" and has_template)
        self.generation = {"max_new_tokens": max_new_tokens, "do_sample": False, **(generation or {})}
        self.prefill = prefill
        self.window = context_window(self.model.config, self.tokenizer)

    def render(self, prompt: str) -> str:
        if not self.chat:
            return prompt
        messages = [{"role": "user", "content": prompt}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: Sequence[str]) -> list[str | None]:
        import torch

        from audiomlqa.llm import generation  # torch: imported when a model answers, not when a spec is read

        rows = [
            torch.tensor(self.tokenizer(self.render(p), add_special_tokens=not self.chat).input_ids, device=self.device)
            for p in prompts
        ]

        def run(keep: list[int]) -> list[str]:
            pad = self.tokenizer.pad_token_id
            kept = [rows[i] for i in keep]
            out = generation.generate(self.model, kept, pad_token_id=pad, prefill=self.prefill, **self.generation)
            return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

        return generate_fitting([len(r) for r in rows], self.generation.get("max_new_tokens") or 0, self.window, run)

    def describe(self) -> dict:
        return {
            "llm": self.id,
            "prompt_mode": "chat" if self.chat else "completion",
            "generation": self.generation,
            "prefill": self.prefill,
            "context_window": self.window,
            "device": str(self.device),
            "dtype": str(self.model.dtype).removeprefix("torch."),
        }

    @property
    def device(self):
        """Where the inputs go (the first device when a device map spreads the model)."""
        return self.model.device
