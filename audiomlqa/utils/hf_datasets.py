"""``datasets.load_dataset`` that never serves another folder's rows from its cache.

``datasets`` (5.x) keys the cache of a local folder's *named* config (one its README declares) by the folder's name
and the README's patterns, not by the files they match: a second folder of the same name, or the same folder
published again, is read back as the first one was. Given the files instead (``data_files``), it keys the cache by
the resolved files, so a changed file is read again. A local folder's declared config is therefore loaded by its
``data_files``; everything else (Hub ids, folders without declared configs) goes to ``load_dataset`` as it is.
"""

from __future__ import annotations

from pathlib import Path


def declared_configs(folder: str | Path) -> dict[str, dict[str, list[str]]]:
    """``{config: {split: [patterns]}}`` as the folder's README declares them (configs it cannot read are left out:
    ``load_dataset`` reports a damaged card in its own words)."""
    readme = Path(folder) / "README.md"
    if not readme.is_file():
        return {}
    from huggingface_hub import metadata_load

    try:
        configs = (metadata_load(readme) or {}).get("configs") or []
    except Exception:  # noqa: BLE001 - a damaged card is load_dataset's to report
        return {}
    out: dict[str, dict[str, list[str]]] = {}
    for entry in configs:
        if isinstance(entry, dict) and isinstance(entry.get("config_name"), str):
            files = _split_patterns(entry.get("data_files"))
            if files:
                out[entry["config_name"]] = files
    return out


def _split_patterns(files) -> dict[str, list[str]] | None:
    """A card's ``data_files`` (a pattern, a list of them, a list of ``{split, path}``) as ``{split: [patterns]}``."""
    out: dict[str, list[str]] = {}
    for entry in _as_list(files or []):
        if not isinstance(entry, (str, dict)):
            return None
        split, paths = ("train", entry) if isinstance(entry, str) else (entry.get("split"), entry.get("path"))
        if not isinstance(split, str) or not paths:
            return None
        out.setdefault(split, []).extend(_as_list(paths))
    return out or None


def declared_data_files(folder: str | Path, config: str | None) -> dict[str, list[str]] | None:
    """``{split: [patterns]}`` of ``config`` (the folder's only config when None); None when not declared."""
    configs = declared_configs(folder)
    if config is None:
        return next(iter(configs.values())) if len(configs) == 1 else None
    return configs.get(config)


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def load_dataset(source: str | Path, config: str | None = None, *, split: str | None = None, **kwargs):
    """``datasets.load_dataset(source, config, split=split, **kwargs)``, a local folder's declared config read by
    its files (see the module's docstring)."""
    import datasets

    if Path(source).is_dir() and not kwargs.get("data_dir") and not kwargs.get("data_files"):
        files = declared_data_files(source, config)
        if files is not None and (split is None or split.split("[")[0] in files):
            return datasets.load_dataset(str(source), data_files=files, split=split, **kwargs)
    return datasets.load_dataset(str(source), config, split=split, **kwargs)
