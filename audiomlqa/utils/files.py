"""Writing files so that a killed process never leaves half of one: a temporary name, then a rename. Reading
paths that an output, manifest or spec names only inside their folder (links followed to check, never to read)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from audiomlqa.errors import AudioMLQAError


def inside(root: str | Path, relative: str | Path, what: str = "path") -> Path:
    """``root / relative``, refused in one line unless it stays inside ``root``: a manifest or spec value such as
    ``../../x`` or ``/etc/passwd`` must never make the tool read or write elsewhere, and neither may a link inside
    the folder (a shard received from someone else can hold one). The root itself is resolved first: a whole
    output folder linked to a scratch disk is fine; what is inside it must resolve inside it too."""
    rel = os.path.normpath(str(relative))
    if os.path.isabs(rel) or rel == ".." or rel.startswith(".." + os.sep):
        raise AudioMLQAError(f"{what} {str(relative)!r} points outside {root}: refused")
    real_root = os.path.realpath(root)
    if not _within(real_root, os.path.realpath(os.path.join(real_root, rel))):
        raise AudioMLQAError(
            f"{what} {str(relative)!r} is a link to a file outside {root}: refused; copy the file in instead"
        )
    return Path(root) / rel


def _within(real_root: str, real: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def open_regular(path: str | Path, what: str | None = None, *, within: str | Path | None = None) -> BinaryIO:
    """``path`` opened for reading, refused in one line unless it is a regular file reached without following a
    final link (``O_NOFOLLOW``; ``O_NONBLOCK`` so that a planted pipe cannot hang the read). With ``within``, the
    file actually opened must also lie inside that folder (checked on the open file, so a folder swapped for a link
    between a check and the open is caught too). A missing file raises FileNotFoundError."""
    name = what or str(path)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise AudioMLQAError(f"{name} is a link: refused; put the file itself there instead") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AudioMLQAError(f"{name} is not a regular file: refused")
        opened = f"/proc/self/fd/{fd}"
        if within is not None and os.path.islink(opened):
            if not _within(os.path.realpath(within), os.path.realpath(opened)):
                raise AudioMLQAError(f"{name} is reached through a link to outside {within}: refused")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_file(path: str | Path, *, follow_links: bool = True) -> str:
    """The file's sha256; with ``follow_links=False`` only a regular file reached without a final link (a clip
    in an output folder: see :func:`open_regular`)."""
    with open(path, "rb") if follow_links else open_regular(path) as f:
        return sha256_of(f)


def sha256_of(f: BinaryIO) -> str:
    """The sha256 of what is left to read in ``f``."""
    digest = hashlib.sha256()
    while chunk := f.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def temporary_name(path: Path) -> Path:
    """A hidden name beside ``path`` that no other process uses (same folder, so the rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write a file or a folder at; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def replace_dir(new: Path, dest: Path) -> None:
    """Put folder ``new`` at ``dest``; what was at ``dest`` is removed only once the new one is in place."""
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: object, *, indent: int = 2) -> None:
    """Pretty, key-sorted UTF-8 JSON, written atomically."""
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=indent, sort_keys=True) + "\n")


def write_jsonl(path: str | Path, rows: list[dict]) -> None:
    write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def jsonable(obj: object) -> object:
    """``obj`` as JSON would give it back (tuples become lists): what a saved copy compares equal to."""
    return json.loads(json.dumps(obj))


def read_json(path: Path) -> object:
    """A JSON file's content, or a one-line error saying what is wrong with the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AudioMLQAError(f"{path}: no such file") from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as e:
        raise AudioMLQAError(f"{path}: cannot read it as UTF-8 JSON ({e.__class__.__name__})") from None
    if not text.strip():
        raise AudioMLQAError(f"{path}: the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise AudioMLQAError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
