"""Loading tokenizers and causal LMs by any name :func:`~audiomlqa.llm.names.resolve` knows, in one-line errors.

No load here runs Python code from a model's repository: a folder that ships its own code (:func:`repository_code`)
is refused before transformers is asked anything, and transformers is always told ``trust_remote_code=False``, so
it can neither ask on the terminal ("run the custom code? [y/N]") nor run such code from a Hub repository.
"""

from __future__ import annotations

from pathlib import Path

from audiomlqa.errors import AudioMLQAError, first_line
from audiomlqa.llm.names import resolve
from audiomlqa.llm.remote_code import json_object, repository_code

NO_REMOTE_CODE = (
    "audiomlqa runs text LLMs only of model types transformers implements (no trust_remote_code): use such a "
    "checkpoint, or read that code and run it through an adapter (models/README.md)"
)


def refuse_repository_code(llm: str) -> None:
    """A text LLM that would run code from its folder is refused in one line, before transformers reads it."""
    where, _ = llm_location(llm)
    code = repository_code(where)
    if code:
        model_type = json_object(Path(where) / "config.json").get("model_type")
        raise AudioMLQAError(
            f"{where}: model type {model_type!r} runs Python code from its repository ({'; '.join(code)}); "
            + NO_REMOTE_CODE
        )


def _load_error(what: str, error: Exception) -> AudioMLQAError:
    """A load's failure in one line; a Hub repository that needs its own code says so in our words."""
    if "custom code" in str(error) or "trust_remote_code" in str(error):
        return AudioMLQAError(f"{what}: its repository runs its own Python code; {NO_REMOTE_CODE}")
    return AudioMLQAError(f"{what}: {first_line(error)}")


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
    refuse_repository_code(llm)
    from transformers import AutoTokenizer

    where, kwargs = llm_location(llm)
    try:
        return AutoTokenizer.from_pretrained(where, trust_remote_code=False, **kwargs)
    except Exception as e:  # noqa: BLE001 - hub and file errors come in many types
        raise _load_error(f"cannot load the tokenizer of {llm!r}", e) from None


def load_llm_config(llm: str):
    refuse_repository_code(llm)
    from transformers import AutoConfig

    where, kwargs = llm_location(llm)
    try:
        return AutoConfig.from_pretrained(where, trust_remote_code=False, **kwargs)
    except Exception as e:  # noqa: BLE001
        raise _load_error(f"cannot read the LLM config of {llm!r}", e) from None


def load_causal_lm(llm: str, *, dtype=None, device: str | None = None, device_map=None):
    """A causal LM in eval mode: ``dtype`` a torch dtype (None: the checkpoint's own), on ``device``, or spread by
    ``device_map`` (accelerate's ``auto``, ``balanced``, or an explicit map) when it does not fit one GPU."""
    refuse_repository_code(llm)
    from transformers import AutoModelForCausalLM

    where, kwargs = llm_location(llm)
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, trust_remote_code=False, **kwargs).eval()
    except Exception as e:  # noqa: BLE001
        raise _load_error(f"cannot load the LLM {llm!r}", e) from None
    return model.to(device) if device and device_map is None else model
