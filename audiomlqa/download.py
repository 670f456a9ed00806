"""Fetching the official MLQA v1 archive and unpacking it, so that a run needs no hand-made data folder.

The download can resume (a ``.part`` file and an HTTP ``Range`` request). It is checked against a pinned sha256
before anything is unpacked, and every step ends in a rename, so a killed run never leaves half an archive or half
a folder. Machines without network are common: a ``file://`` URL takes a copy fetched elsewhere. No more than the
pinned size is ever written (a wrong or hostile server cannot fill the disk), and a full disk is one line that
keeps what arrived: the rerun resumes.
"""

from __future__ import annotations

import errno
import http.client
import os
import re
import shutil
import ssl
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from audiomlqa.errors import AudioMLQAError, first_line
from audiomlqa.utils.files import inside, replace_dir, sha256_file, temporary_name
from audiomlqa.utils.progress import Bar, stderr_console

MLQA_URL = "https://dl.fbaipublicfiles.com/MLQA/MLQA_V1.zip"
# Size and sha256 of MLQA_V1.zip as pinned by tensorflow/datasets, tensorflow_datasets/url_checksums/mlqa.txt
# ("<url>\t75719050\t246e80...baac8\tMLQA_V1.zip"); other public repos pin the same sha256.
MLQA_SHA256 = "246e8089933d13007fe80684d5c5c0713d6834cf8b3b4a0ec7c66f0a0d2baac8"
MLQA_SIZE = 75_719_050

ARCHIVE = "MLQA_V1.zip"
FOLDER = "MLQA_V1"
MARKER = ".complete"  # written last into the unpacked folder; holds the archive's sha256
SPLITS = ("dev", "test")
CHUNK = 1 << 20
TIMEOUT_S = 60
OFFLINE_HINT = "offline? download it on a machine with network and pass --url file:///path/to/MLQA_V1.zip"

Log = Callable[[str], None]


def download_mlqa(
    to: str | Path = ".",
    *,
    url: str | None = None,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool = True,
    log: Log | None = None,
) -> Path:
    """Fetch, verify and unpack MLQA v1 under ``to``; returns ``to/MLQA_V1``. Each step already done is skipped:
    a complete folder returns at once, a verified archive is not fetched again, a partial one is resumed.
    ``size`` caps the bytes fetched; the official archive's pinned size is the cap unless another ``sha256``
    is given (then no cap unless ``size`` is)."""
    root = Path(to)
    expected = _checked_sha256(sha256 or MLQA_SHA256)
    cap = size if size is not None else MLQA_SIZE if expected == MLQA_SHA256 else None
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AudioMLQAError(f"cannot put MLQA in {root}: {e.strerror or e}; give a writable folder (--to)") from None
    say = log or (lambda _message: None)
    folder = root / FOLDER
    if _is_complete(folder, expected):
        say(f"{folder} is already unpacked")
        return folder
    archive = root / ARCHIVE
    _check_writable(root)
    if archive.is_file() and sha256_file(archive) == expected:
        say(f"{archive} is already downloaded and verified")
    else:
        _fetch(url or MLQA_URL, archive, expected, cap, progress, say)
    _unpack(archive, folder, expected)
    say(f"unpacked {archive} into {folder}")
    return folder


def _checked_sha256(value: str) -> str:
    """Refuse a malformed digest before a 72 MiB download is spent finding out it never matches."""
    digest = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise AudioMLQAError(f"sha256 {value!r} is not 64 hexadecimal digits")
    return digest


def _check_writable(root: Path) -> None:
    """Try a write before the network: a read-only ``--to`` found after 72 MiB arrived is a wasted download."""
    try:
        with tempfile.TemporaryFile(dir=root, prefix=".write-test-"):
            pass
    except OSError as e:
        raise AudioMLQAError(f"cannot write in {root}: {e.strerror or e}; give a writable folder (--to)") from None


def _is_complete(folder: Path, expected: str) -> bool:
    marker = folder / MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8").strip() == expected


def part_path(archive: Path) -> Path:
    """Where an unfinished download lives: beside the archive, so the final rename is atomic."""
    return archive.with_name(archive.name + ".part")


class _Oversize(Exception):
    """More bytes than the expected size: the part file is garbage, and the download stops at once."""


class _WriteFailed(Exception):
    """Writing the part file failed (a full disk, a file size limit): what arrived is kept for the resume."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


def _fetch(url: str, archive: Path, expected: str, cap: int | None, progress: bool, say: Log) -> None:
    """Download ``url`` to the part file, verify it, then rename it to ``archive``."""
    part = part_path(archive)
    scheme = urlsplit(url).scheme.lower()
    try:
        if scheme == "file":
            _copy_local(url, part, cap, progress, say)
        elif scheme in ("http", "https"):
            _download_http(url, part, cap, progress, say)
        else:
            raise AudioMLQAError(f"{url}: unsupported URL; give an http://, https:// or file:// one")
    except _Oversize as e:
        part.unlink(missing_ok=True)
        raise AudioMLQAError(
            f"{url}: {e}, more than the {cap} bytes of the archive; the partial download was removed: check --url"
        ) from None
    except _WriteFailed as e:
        raise AudioMLQAError(_disk_message(e.error, part.parent, f"the download resumes from {part}")) from None
    actual = sha256_file(part)
    if actual != expected:
        part.unlink(missing_ok=True)
        raise AudioMLQAError(
            f"{url}: sha256 {actual} is not the expected {expected}; the download was removed, rerun to fetch it"
            " again (or pass the right --sha256 for a different archive)"
        )
    os.replace(part, archive)
    say(f"verified sha256 of {archive}")


def _disk_message(error: OSError, folder: Path, kept: str) -> str:
    """One line for a failed write: a full disk names the folder to free, anything else gives the OS's reason."""
    if error.errno == errno.ENOSPC:
        return f"no space left on {folder}; free space and rerun: {kept}"
    return f"cannot write in {folder}: {error.strerror or first_line(error)}; fix that and rerun: {kept}"


def _copy_local(url: str, part: Path, cap: int | None, progress: bool, say: Log) -> None:
    """A ``file://`` URL: copy the file, carrying on from the part file's length when that is a prefix size."""
    source = Path(urllib.request.url2pathname(urlsplit(url).path))
    if not source.is_file():
        raise AudioMLQAError(f"{source}: no such file (from --url {url})")
    total = source.stat().st_size
    if cap is not None and total > cap:
        raise _Oversize(f"the file has {total} bytes")
    offset = _part_size(part, cap)
    if offset > total:
        offset = 0
    if offset:
        say(f"resuming {part} at byte {offset}")
    with open(source, "rb") as src, _open_part(part, "r+b" if offset else "wb") as out:
        src.seek(offset)
        out.seek(offset)
        out.truncate()
        _stream(src, out, _label(url), total, offset, cap, progress)


def _part_size(part: Path, cap: int | None) -> int:
    """Where a resume starts: the part file's length, or 0 when it is already longer than the whole archive."""
    offset = part.stat().st_size if part.exists() else 0
    return 0 if cap is not None and offset > cap else offset


def _open_part(part: Path, mode: str) -> BinaryIO:
    """Unbuffered: each chunk reaches the file at once (a kill keeps it), and a failed write leaves no buffer
    that closing would try, and fail, to write again."""
    try:
        return open(part, mode, buffering=0)  # noqa: SIM115 - the callers close it
    except OSError as e:
        raise _WriteFailed(e) from None


def _download_http(url: str, part: Path, cap: int | None, progress: bool, say: Log) -> None:
    """Resume with ``Range: bytes=N-``: append on 206, start over on 200. Network failures become one line."""
    offset = _part_size(part, cap)
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            start = _resume_offset(url, response, offset)
            if offset and start:
                say(f"resuming {part} at byte {start}")
            total = _expected_total(response, start)
            if cap is not None and total is not None and total > cap:
                raise _Oversize(f"the server announces {total} bytes")  # announced: refused before a byte of it is read
            with _open_part(part, "ab" if start else "wb") as out:
                _stream(response, out, _label(url), total, start, cap, progress)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # the part file already holds every byte; the sha256 check decides
            return
        raise AudioMLQAError(f"cannot download {url}: HTTP {e.code} {e.reason}; {_kept(part)}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException, ssl.SSLError) as e:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        raise AudioMLQAError(f"cannot download {url} ({first_line(reason)}); {_kept(part)}; {OFFLINE_HINT}") from None
    received = part.stat().st_size if part.exists() else 0
    if total is not None and received < total:
        raise AudioMLQAError(f"{url}: the connection ended at byte {received} of {total}; {_kept(part)}")


def _resume_offset(url: str, response: http.client.HTTPResponse, asked: int) -> int:
    """The byte the body starts at: ``asked`` when the server honoured the range (206), 0 when it sent it all."""
    if response.status != 206:
        return 0
    match = re.match(r"bytes\s+(\d+)-", response.headers.get("Content-Range", ""))
    if not match or int(match.group(1)) != asked:
        raise AudioMLQAError(f"{url}: the server answered a different range than bytes={asked}-; delete the .part file")
    return asked


def _expected_total(response: http.client.HTTPResponse, start: int) -> int | None:
    """The whole file's size, when the server says it: a short body is then caught, and the bar has an end."""
    length = response.headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() else None


def _kept(part: Path) -> str:
    return f"the partial file {part} is kept and a rerun resumes"


def _label(url: str) -> str:
    return Path(urlsplit(url).path).name or url


def _stream(
    src: BinaryIO | http.client.HTTPResponse,
    out: BinaryIO,
    label: str,
    total: int | None,
    done: int,
    cap: int | None,
    progress: bool,
) -> None:
    """Copy in chunks to the unbuffered ``out`` (a kill keeps every byte already received for the resume); stop
    as soon as more than ``cap`` bytes arrive."""
    with byte_bar(label, total, completed=done, enabled=progress) as bar:
        while chunk := src.read(CHUNK):
            done += len(chunk)
            if cap is not None and done > cap:
                raise _Oversize(f"the server sent {done} bytes")
            _write_all(out, chunk)
            bar.advance(len(chunk))


def _write_all(out: BinaryIO, chunk: bytes) -> None:
    view = memoryview(chunk)
    try:
        while view:
            view = view[out.write(view) :]
    except OSError as e:
        raise _WriteFailed(e) from None


@contextmanager
def byte_bar(label: str, total: int | None, *, completed: int = 0, enabled: bool = True) -> Iterator[Bar]:
    """A stderr bar in bytes (sizes and transfer rate, which ``progress_bar``'s item counts do not show)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    console = stderr_console()
    if not enabled or not console.is_terminal:
        yield Bar()
        return
    columns = [TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console) as p:
        yield Bar(p, p.add_task("", total=total, completed=completed, note=""))


def _unpack(archive: Path, folder: Path, expected: str) -> None:
    """Extract into a hidden sibling, check it, mark it complete, then rename it into place."""
    work = temporary_name(folder)
    shutil.rmtree(work, ignore_errors=True)
    kept = f"the verified {archive} is kept, only unpacking is redone"
    try:
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                inside(folder.parent, name, f"{archive.name} member")
            z.extractall(work)
        unpacked = work / FOLDER
        missing = [split for split in SPLITS if not (unpacked / split).is_dir()]
        if missing:
            raise AudioMLQAError(
                f"{archive}: no {', '.join(f'{FOLDER}/{s}/' for s in missing)} inside; is it the MLQA v1 archive?"
            )
        (unpacked / MARKER).write_text(expected + "\n", encoding="utf-8")
        replace_dir(unpacked, folder)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise AudioMLQAError(f"{archive}: not a readable zip ({first_line(e)}); delete it and rerun") from None
    except OSError as e:  # a full disk while extracting: the hidden folder goes, the archive stays
        raise AudioMLQAError(_disk_message(e, folder.parent, kept)) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
