"""Loading tokenizers and causal LMs by any name :func:`~audiomlqa.llm.names.resolve` knows, in one-line errors."""

from __future__ import annotations

from pathlib import Path

from audiomlqa.errors import AudioMLQAError, first_line
from audiomlqa.llm.names import resolve


def llm_location(llm: str) -> tuple[str, dict]:
    """(directory or id, kwargs) for ``from_pretrained``; a ``.gguf`` file becomes its folder + ``gguf_file``."""
    llm = resolve(llm)
    path = Path(llm)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise AudioMLQAError(f"{path}: no such GGUF file")
        return str(path.parent), {"gguf_file": path.name}
    return llm, {}


def load_tokenizer(llm: str):
    from transformers import AutoTokenizer

    where, kwargs = llm_location(llm)
    try:
        return AutoTokenizer.from_pretrained(where, **kwargs)
    except Exception as e:  # noqa: BLE001 - hub and file errors come in many types
        raise AudioMLQAError(f"cannot load the tokenizer of {llm!r}: {first_line(e)}") from None


def load_llm_config(llm: str):
    from transformers import AutoConfig

    where, kwargs = llm_location(llm)
    try:
        return AutoConfig.from_pretrained(where, **kwargs)
    except Exception as e:  # noqa: BLE001
        raise AudioMLQAError(f"cannot read the LLM config of {llm!r}: {first_line(e)}") from None


def load_causal_lm(llm: str, *, dtype=None, device: str | None = None, device_map=None):
    """A causal LM in eval mode: ``dtype`` a torch dtype (None: the checkpoint's own), on ``device``, or spread by
    ``device_map`` (accelerate's ``auto``, ``balanced``, or an explicit map) when it does not fit one GPU."""
    from transformers import AutoModelForCausalLM

    where, kwargs = llm_location(llm)
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **kwargs).eval()
    except Exception as e:  # noqa: BLE001
        raise AudioMLQAError(f"cannot load the LLM {llm!r}: {first_line(e)}") from None
    return model.to(device) if device and device_map is None else model
