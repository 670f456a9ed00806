"""Fail when requirements.lock and pyproject.toml disagree.

Two checks, both offline: the lock records a digest of the dependency lists it was made from (a change to any of
them, even one the old pins still satisfy, means the lock was not re-made), and every requirement of the `dev`
set-up that applies to this interpreter is pinned in the lock at a version its range allows.
``--digest`` prints the digest of pyproject.toml's dependency lists (what .ci/lock writes into the header).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
EXTRA = "dev"


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def digest(meta: dict) -> str:
    lists = {"dependencies": meta.get("dependencies", []), "extras": meta.get("optional-dependencies", {})}
    return hashlib.sha256(json.dumps(lists, sort_keys=True).encode()).hexdigest()


def requirements(meta: dict, extra: str) -> list[Requirement]:
    """The requirements of ``pip install .[extra]``, self-references (``audiomlqa[hf]``) followed."""
    name, extras = canonicalize_name(meta["name"]), meta.get("optional-dependencies", {})
    found, todo, seen = [Requirement(r) for r in meta.get("dependencies", [])], [extra], set()
    while todo:
        group = todo.pop()
        if group in seen:
            continue
        seen.add(group)
        for line in extras[group]:
            req = Requirement(line)
            if canonicalize_name(req.name) == name:
                todo.extend(req.extras)
            else:
                found.append(req)
    return found


def pins(text: str) -> dict[str, Version]:
    return {canonicalize_name(m[1]): Version(m[2]) for m in re.finditer(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", text, re.M)}


def problems() -> list[str]:
    if not LOCK.is_file():
        return ["requirements.lock is missing: run .ci/lock"]
    meta, text = project(), LOCK.read_text()
    recorded = re.search(r"^# pyproject-dependencies-sha256: ([0-9a-f]{64})$", text, re.M)
    found = []
    if not recorded or recorded[1] != digest(meta):
        found.append("pyproject.toml's dependencies changed since requirements.lock was made: run .ci/lock")
    locked = pins(text)
    for req in requirements(meta, EXTRA):
        if req.marker is not None and not req.marker.evaluate({"extra": EXTRA}):
            continue
        version = locked.get(canonicalize_name(req.name))
        if version is None:
            found.append(f"{req.name} ({req}) is not in requirements.lock: run .ci/lock")
        elif not req.specifier.contains(version, prereleases=True):
            found.append(f"requirements.lock pins {req.name}=={version}, outside pyproject.toml's {req}: run .ci/lock")
    return found


def main() -> int:
    if sys.argv[1:] == ["--digest"]:
        print(digest(project()))
        return 0
    found = problems()
    for line in found:
        print(f"error: {line}", file=sys.stderr)
    if not found:
        print(f"requirements.lock agrees with pyproject.toml ({len(pins(LOCK.read_text()))} pins)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
