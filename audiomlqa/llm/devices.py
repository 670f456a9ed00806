"""Where a model runs and in which precision: ``auto`` means a GPU when there is one, bf16 where it supports it."""

from __future__ import annotations

from audiomlqa.errors import AudioMLQAError

DTYPES = ("auto", "float32", "float16", "bfloat16")


def resolve_device(name: str | None = "auto") -> str:
    """``auto`` → ``cuda`` when CUDA is available, else ``cpu``; a CUDA device on a machine without one is refused
    in one line (before anything loads)."""
    import os

    import torch

    name = name or "auto"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:  # one replica per GPU: this process's own
        name = f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % max(1, torch.cuda.device_count())}"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise AudioMLQAError(
                f"device {name!r} asked for, but this machine has no CUDA GPU (torch "
                f"{torch.__version__}): use device cpu or auto"
            )
        index = name.partition(":")[2]
        if index and not index.isdigit():
            raise AudioMLQAError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N")
        if index and int(index) >= torch.cuda.device_count():
            raise AudioMLQAError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} GPU(s)")
        return name
    if name in ("cpu", "mps"):
        return name
    raise AudioMLQAError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N")


def resolve_dtype(name: str | None, device: str) -> str:
    """``auto`` → ``bfloat16`` on a GPU that supports it, else ``float32`` (CPUs run fp32 fastest and exactly)."""
    import torch

    name = name or "auto"
    if name != "auto":
        return name
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return "bfloat16"
    return "float32"


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)
