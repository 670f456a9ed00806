"""Writing files so that a killed process never leaves half of one: a temporary name, then a rename."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from audiomlqa.errors import AudioMLQAError


def inside(root: str | Path, relative: str | Path, what: str = "path") -> Path:
    """``root / relative``, refused in one line unless it stays inside ``root``: a manifest or spec value such as
    ``../../x`` or ``/etc/passwd`` must never make the tool read or write elsewhere. The check is on the path as
    written (absolute, or climbing with ``..``), so a folder the user linked in on purpose (``audio/`` on a
    scratch disk) still counts as inside."""
    rel = os.path.normpath(str(relative))
    if os.path.isabs(rel) or rel == ".." or rel.startswith(".." + os.sep):
        raise AudioMLQAError(f"{what} {str(relative)!r} points outside {root}: refused")
    return Path(root) / rel


def sha256_file(path: str | Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
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
