"""The append-only synthesis manifest: one JSON line per attempt, safe against ``kill -9``.

Rows are appended and fsynced batch by batch. A run killed mid-write leaves at most one truncated
last line; :func:`read_manifest` drops it (and :func:`repair` cuts it off before appending), so a
rerun resumes exactly where the last complete row ended. A damaged line anywhere else is not
guessed at: it is reported with its line number and nothing is changed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from audiomlqa.errors import AudioMLQAError


def read_manifest(path: Path) -> list[dict]:
    """All complete rows; a truncated final line (from a killed run) is ignored."""
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not an object")
        except ValueError:
            if i == len(lines):  # no newline after it: an interrupted append
                break
            raise AudioMLQAError(
                f"{path}: line {i} is not a JSON row; the manifest is damaged (fix or delete that line, then rerun)"
            ) from None
        rows.append(row)
    return rows


def repair(path: Path) -> None:
    """Cut off an incomplete last line so that new rows start on a line of their own."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def append_rows(path: Path, rows: Iterable[dict]) -> None:
    """Append rows durably (one write, then fsync)."""
    payload = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    if not payload:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())


def write_json_atomic(path: Path, obj: object) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def final_rows(rows: Iterable[dict]) -> dict[tuple[str, str], dict]:
    """Per (pair, id), the attempt that stands: the accepted one, else the lowest error."""
    best: dict[tuple[str, str], dict] = {}
    for r in rows:
        key = (r["pair"], r["id"])
        cur = best.get(key)
        if cur is None or _rank(r) < _rank(cur):
            best[key] = r
    return best


def _rank(row: dict) -> tuple:
    err = row.get("error")
    return (not row.get("accepted"), float("inf") if err is None else err, row.get("attempt", 0))
