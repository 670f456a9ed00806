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
import ctypes
import errno
import glob
import json
import os
import shutil
import stat
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
    lock = to.with_name(f".{to.name}.lock")
    with exclusive(to.parent, "audiomlqa publish", lock_file=lock), contextlib.ExitStack() as held:
        earlier = _earlier_publish(to, overwrite)
        runs = find_runs(outputs, held)  # each run's synthesis lock is held until the dataset is in place
        selected = select_rows(runs, include_rejected)
        if not any(s.config != REJECTED_CONFIG for s in selected):
            raise AudioMLQAError(f"no accepted questions in {', '.join(map(str, outputs))}: nothing to publish")
        for leftover in to.parent.glob(f".{glob.escape(to.name)}.publishing-*"):  # of killed publishes: ours to clear
            shutil.rmtree(leftover, ignore_errors=True)
        tmp = to.with_name(f".{to.name}.publishing-{os.getpid()}")
        try:
            layout, written = _build(tmp, runs, selected, command, push_to_hub or to.name)
            if earlier is None:
                _swap_in(tmp, to)
            else:
                _update_in_place(tmp, to, earlier)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if push_to_hub:  # only what this publish wrote: files of yours in the folder stay on your disk
        upload(to, push_to_hub, private=private, only=[*written, MARKER])
    configs = {c: {split: info["num_examples"] for split, info in splits.items()} for c, splits in layout.items()}
    return PublishResult(to, configs, sorted(to / f for f in written if f.endswith(".parquet")))


def _build(
    root: Path, runs: Sequence[SynthesisRun], selected: Sequence[Selected], command: str | None, name: str
) -> tuple[dict, list[str]]:
    """Write the whole dataset into ``root``: parquet, card, and publish.json listing every file with its sha256.
    Returns the layout and the files written (relative paths). A failed write (a full disk) is one line: the
    dataset in place is not touched until the new one is complete."""
    try:
        return _write_dataset(root, runs, selected, command, name)
    except OSError as e:
        raise AudioMLQAError(
            f"cannot write the new dataset beside {root.parent}: {e.strerror or e}; free space and publish again "
            "(the dataset already there is untouched)"
        ) from None


def _write_dataset(
    root: Path, runs: Sequence[SynthesisRun], selected: Sequence[Selected], command: str | None, name: str
) -> tuple[dict, list[str]]:
    """``name``: what the card's examples load (the Hub repo id when pushed, else the folder's name)."""
    files, layout = write_parquet(selected, root)
    stats = pair_statistics(runs, selected)
    sources = [{"directory": r.directory.name, "manifest": f"manifest{r.suffix}.jsonl", "split": r.split} for r in runs]
    asked = [r for run in runs for r in run.rows if r.key in run.questions]  # kept and rejected: pass rates
    figures = [p.relative_to(root).as_posix() for p in write_figures(root / "figures", asked, human_errors(runs))]
    write_text(root / "README.md", dataset_card(layout, stats, runs, command, figures, name))
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
    """Replace the earlier publish in ``to`` by the one built in ``new``, keeping every file it did not write.

    A file of ours that was edited since is refused (nothing is touched). The user's files are linked (or copied)
    into ``new``, and the two folders are then exchanged in one step: a kill at any moment leaves the earlier
    dataset or the new one, never the new card beside the old parquet. Folders left half-updated by earlier versions
    (``pending`` in publish.json) are still recognised."""
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
    try:
        _keep_users_files(to, new, {*earlier, MARKER}, set(written))
    except OSError as e:
        raise AudioMLQAError(
            f"cannot write the new dataset beside {to}: {e.strerror or e}; free space and publish again "
            "(the dataset already there is untouched)"
        ) from None
    _swap_in(new, to)


def _keep_users_files(to: Path, new: Path, ours: set[str], written: set[str]) -> None:
    """Hard-link (or, across file systems, copy) every file, link and empty folder of ``to`` that publish did not
    write into ``new``, at the same place: the originals stay where they are until the folders are exchanged."""
    folders = []
    for base, dirs, files in os.walk(to):
        here = Path(base)
        folders.append(here)
        links = [d for d in dirs if (here / d).is_symlink()]  # a link to a folder is kept as a link
        dirs[:] = [d for d in dirs if d not in links]
        if here != to and not dirs and not files and not links:
            (new / here.relative_to(to)).mkdir(parents=True, exist_ok=True)
        for name in [*files, *links]:
            src = here / name
            rel = src.relative_to(to).as_posix()
            if rel in ours or (rel in written and src.is_file() and not src.is_symlink()):
                continue  # ours, or the user's copy of what the new publish holds (checked identical above)
            dst = new / rel
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(src, dst)
            except (FileExistsError, NotADirectoryError):
                raise AudioMLQAError(
                    f"{src} is in the way of the new dataset's files: move it out of {to}, then publish again"
                ) from None
    for here in reversed(folders):  # modes and times of the user's folders (and of the dataset folder itself)
        if (new / here.relative_to(to)).is_dir():
            shutil.copystat(here, new / here.relative_to(to), follow_symlinks=False)


def _link_or_copy(src: Path, dst: Path) -> None:
    mode = os.lstat(src).st_mode
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(mode):
        try:
            os.link(src, dst, follow_symlinks=False)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EEXIST):
                raise
            shutil.copy2(src, dst, follow_symlinks=False)  # a file system without hard links, or another one
    else:
        raise AudioMLQAError(f"{src} is not a file, folder or link: move it out of {src.parent}, then publish again")


def _swap_in(new: Path, dest: Path) -> None:
    """Put folder ``new`` at ``dest`` in one step: renamed onto nothing or an empty folder, or exchanged with the
    earlier folder (Linux ``renameat2(RENAME_EXCHANGE)``), which is then removed. Where the system cannot exchange,
    the earlier folder is moved aside first (a short moment without either)."""
    if not dest.exists() or (dest.is_dir() and not any(dest.iterdir())):
        os.replace(new, dest)
    elif _exchange(new, dest):
        shutil.rmtree(new, ignore_errors=True)
    else:
        replace_dir(new, dest)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):
        return False
    at_cwd, rename_exchange = -100, 2
    if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False
    raise AudioMLQAError(
        f"cannot put the new dataset in place of {b}: {os.strerror(err)} (the earlier one is untouched)"
    )
