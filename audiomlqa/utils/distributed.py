"""Several processes on one job (``torchrun`` / ``accelerate launch``): who am I, a barrier, a deterministic share.

Launchers set ``RANK`` and ``WORLD_SIZE``; a lone process is rank 0 of 1 and never needs a process group. The
barrier uses torch's gloo backend (it works on CPUs and alongside any GPU backend).
"""

from __future__ import annotations

import hashlib
import os


def rank_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def share(key: str, world: int) -> int:
    """Which rank does ``key``: a pure function of it, so a rerun gives every rank the same share."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % world


def barrier() -> None:
    """Wait for every process of the job (a no-op for a lone process)."""
    if rank_world()[1] == 1:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    dist.barrier()
