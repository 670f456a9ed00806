"""Synthesis outputs → a Hugging Face dataset that ``datasets.load_dataset`` opens with no script.

:func:`publish` merges one or more ``audiomlqa synthesize`` output directories (e.g. the shards of
a multi-machine run), keeps each question's standing attempt, and writes::

    DATASET_DIR/
      README.md                                  dataset card; its YAML header declares every config
      publish.json                               counts and sources, machine-readable
      data/<config>/<split>-00000-of-0000N.parquet   audio embedded (FLAC bytes), provenance columns

One config per (context, question) pair present (``de``, ``de-en``), with MLQA's splits
(``validation`` for dev, ``test``); with ``include_rejected`` the rejected questions go to one extra
config, ``rejected``, for analysis. Every check runs before anything is written, and the folder is
built beside the destination and renamed into place, so a failed publish leaves nothing half-written.
Rows are sorted and parquet is written with fixed settings: the same inputs give byte-identical files.

This module is that folder and its record (``publish.json``); the runs are :mod:`.runs`, the rows
:mod:`.parquet`, the card :mod:`.card`, the Hub :mod:`.upload`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audiomlqa import __version__
from audiomlqa.errors import AudioMLQAError
from audiomlqa.publish.card import dataset_card
from audiomlqa.publish.parquet import write_parquet
from audiomlqa.publish.runs import (
    REJECTED_CONFIG,
    Selected,
    SynthesisRun,
    find_runs,
    human_errors,
    pair_statistics,
    select_rows,
)
from audiomlqa.publish.upload import upload
from audiomlqa.synthesis import write_figures
from audiomlqa.utils.files import inside, replace_dir, sha256_file, write_json, write_text
from audiomlqa.utils.locks import exclusive

MARKER = "publish.json"


@dataclass
class PublishResult:
    directory: Path
    configs: dict[str, dict[str, int]]  # config -> split -> rows
    files: list[Path]


def publish(
    outputs: Sequence[str | Path],
    to: str | Path,
    *,
    include_rejected: bool = False,
    overwrite: bool = False,
    push_to_hub: str | None = None,
    private: bool = False,
    command: str | None = None,
) -> PublishResult:
    """Merge synthesis ``outputs`` into a dataset folder ``to``.

    A new or empty ``to`` is built beside it and renamed into place. Over an earlier publish (``overwrite``),
    only the files that publish wrote are replaced or removed: anything else in the folder (a ``.git/``, notes)
    is left alone, and a file of ours that was edited since is refused rather than overwritten.
    """
    to = Path(to).resolve()
    with exclusive(to.parent, "audiomlqa publish", lock_file=to.with_name(f".{to.name}.lock")):
        earlier = _earlier_publish(to, overwrite)
        runs = find_runs(outputs)
        selected = select_rows(runs, include_rejected)
        if not any(s.config != REJECTED_CONFIG for s in selected):
            raise AudioMLQAError(f"no accepted questions in {', '.join(map(str, outputs))}: nothing to publish")
        tmp = to.with_name(f".{to.name}.publishing-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            layout, written = _build(tmp, runs, selected, command)
            if earlier is None:
                replace_dir(tmp, to)
            else:
                _update_in_place(tmp, to, earlier)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if push_to_hub:  # only what this publish wrote: files of yours in the folder stay on your disk
        upload(to, push_to_hub, private=private, only=[*written, MARKER])
    configs = {c: {split: info["num_examples"] for split, info in splits.items()} for c, splits in layout.items()}
    return PublishResult(to, configs, sorted(to / f for f in written if f.endswith(".parquet")))


def _build(
    root: Path, runs: Sequence[SynthesisRun], selected: Sequence[Selected], command: str | None
) -> tuple[dict, list[str]]:
    """Write the whole dataset into ``root``: parquet, card, and publish.json listing every file with its sha256.
    Returns the layout and the files written (relative paths)."""
    files, layout = write_parquet(selected, root)
    stats = pair_statistics(runs, selected)
    sources = [{"directory": r.directory.name, "manifest": f"manifest{r.suffix}.jsonl", "split": r.split} for r in runs]
    asked = [r for run in runs for r in run.rows if r.key in run.questions]  # kept and rejected: pass rates
    figures = [p.relative_to(root).as_posix() for p in write_figures(root / "figures", asked, human_errors(runs))]
    write_text(root / "README.md", dataset_card(layout, stats, runs, command, figures))
    written = {f: sha256_file(root / f) for f in [*files, *figures, "README.md"]}
    write_json(
        root / MARKER,
        {
            "audiomlqa_version": __version__,
            "configs": layout,
            "statistics": stats,
            "sources": sources,
            "files": written,
        },
    )
    return layout, list(written)


def _earlier_publish(to: Path, overwrite: bool) -> dict[str, set[str] | None] | None:
    """The files an earlier publish in ``to`` wrote (path → the sha256s it may have, None where it recorded none),
    or None when ``to`` is new or empty. Refuses a folder that holds no publish, and an earlier publish without
    ``overwrite``."""
    if not to.exists() or (to.is_dir() and not any(to.iterdir())):
        return None
    if not to.is_dir():
        raise AudioMLQAError(f"{to} is a file, not a folder: choose another --to")
    if not (to / MARKER).is_file():
        raise AudioMLQAError(
            f"{to} holds files that audiomlqa did not publish: choose a new or empty --to (nothing there was touched)"
        )
    if not overwrite:
        raise AudioMLQAError(
            f"{to} holds an earlier publish: pass --overwrite to replace its files (files it did not write are kept)"
        )
    try:
        record = json.loads((to / MARKER).read_text(encoding="utf-8"))
    except ValueError:
        raise AudioMLQAError(f"{to / MARKER} is damaged: move the folder away and publish again") from None
    if "files" in record:  # "pending": what an update that was interrupted had begun to put in place
        known: dict[str, set[str] | None] = {}
        for rel, sha in [*record["files"].items(), *record.get("pending", {}).items()]:
            inside(to, rel, f"{MARKER}: a file it lists")  # a tampered record must not reach outside --to
            known.setdefault(rel, set()).add(sha)
        return known
    # a publish of an earlier version did not list its files: its layout did
    return {
        p.relative_to(to).as_posix(): None
        for p in [to / "README.md", *(to / "data").glob("*/*.parquet")]
        if p.is_file()
    }


def _update_in_place(new: Path, to: Path, earlier: dict[str, set[str] | None]) -> None:
    """Move the files of the publish built in ``new`` into ``to``, and remove those of the earlier publish that
    it no longer has. A file is only replaced if it is one we wrote, unchanged since (or already the new
    one, as after an interrupted update); the record (publish.json) is replaced last."""
    written = json.loads((new / MARKER).read_text(encoding="utf-8"))["files"]
    edited = []
    for rel, sha in [*written.items(), *((r, None) for r in earlier if r not in written)]:
        target = to / rel
        if not target.is_file():
            continue
        current = sha256_file(target)
        ours = rel in earlier and (earlier[rel] is None or current in earlier[rel])
        if not ours and current != sha:
            edited.append(rel)
    if edited:
        raise AudioMLQAError(
            f"{len(edited)} file(s) in {to} were not written by the earlier publish or were changed "
            f"since, e.g. {', '.join(edited[:3])}: move them away first (nothing was touched)"
        )
    record = json.loads((to / MARKER).read_text(encoding="utf-8"))
    write_json(to / MARKER, {**record, "pending": written})  # so that a rerun after a kill knows these files too
    for rel in written:
        (to / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(new / rel, to / rel)
    for rel in earlier:
        if rel not in written and (to / rel).is_file():
            (to / rel).unlink()
            with contextlib.suppress(OSError):  # a config folder of ours that is now empty
                (to / rel).parent.rmdir()
    os.replace(new / MARKER, to / MARKER)
