"""Installed package versions, recorded with every output: scores drift with them."""

from __future__ import annotations

from collections.abc import Sequence


def package_versions(names: Sequence[str]) -> dict[str, str]:
    """Installed versions of ``names``; those not installed are left out."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
