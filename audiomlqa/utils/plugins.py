"""Loading a backend class by name from a registry, importing its module (and heavy packages) lazily."""

from __future__ import annotations

import importlib

from audiomlqa.errors import AudioMLQAError


def load_plugin(kind: str, registry: dict[str, tuple[str, str, str]], name: str, options: dict):
    """Instantiate ``registry[name] = (module, class, extra)``; a missing package names the extra to install."""
    try:
        module_name, class_name, extra = registry[name]
    except KeyError:
        raise AudioMLQAError(f"unknown {kind} backend {name!r}: choose one of {', '.join(registry)}") from None
    try:  # backends import their heavy packages lazily: at module import or in the constructor
        return getattr(importlib.import_module(module_name), class_name)(**options)
    except ImportError as e:
        missing = e.name or (str(e).strip().splitlines() or ["a missing package"])[0]
        raise AudioMLQAError(f"the {name} {kind} backend needs {missing}: pip install 'audiomlqa[{extra}]'") from None
