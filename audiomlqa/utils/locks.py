"""One writer per output folder: a second process that would write the same folder fails in one line.

The lock is an advisory ``fcntl`` lock on ``<folder>/.audiomlqa.lock``. The kernel drops it when its holder
exits in any way, ``kill -9`` included, so a lock left by a killed run is never in force: the next run simply
takes it (and rewrites who holds it). The file names its holder (pid, host, command, start time) so the
refusal can say who to wait for. ``fcntl`` rather than a library: the holder's name in the message needs the
file's content, and the kernel's release on death is the stale-lock detection. Writing that record is why the
lock file must be a regular file of its own, opened without following a link: a lock planted as a link to a
file elsewhere is refused before anything is truncated or written.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from audiomlqa.errors import AudioMLQAError

LOCK_NAME = ".audiomlqa.lock"


@contextmanager
def exclusive(folder: str | Path, what: str, lock_file: str | Path | None = None) -> Iterator[None]:
    """Hold the write lock of ``folder`` (created if missing) for the block; ``what`` names the job in messages.
    ``lock_file`` puts the lock elsewhere (a folder that is replaced as a whole locks a file beside it)."""
    folder = Path(folder)
    path = Path(lock_file) if lock_file else folder / LOCK_NAME
    fd = _open_lock(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AudioMLQAError(
                f"{folder} is being written by another {what} ({_holder(fd)}); wait for it to "
                "finish, or write elsewhere"
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": " ".join(sys.argv)[:300],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_lock(path: Path) -> int:
    """The lock file, opened without following a link and only if it is a regular file of its own: a lock file
    that is a symlink (or a hard link) to a file elsewhere would otherwise have that file truncated and
    overwritten with the holder record. Nothing is written before these checks."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    refused = f"{path} is a link (or not a regular file): refused; delete it and rerun"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise AudioMLQAError(refused) from None
        raise AudioMLQAError(f"cannot write to output directory {path.parent}: {e.strerror or e}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise AudioMLQAError(refused)
    return fd


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} on {info['host']} since {info['since']}"
    except (ValueError, KeyError, OSError):
        return "holder unknown"
