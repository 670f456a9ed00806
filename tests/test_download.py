"""download_mlqa against real servers on 127.0.0.1: a small MLQA-shaped zip served over HTTP (with and without
Range support) and from a file:// URL; resuming, verification, offline errors and hostile archives."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import assert_one_line, audiomlqa

from audiomlqa.download import MLQA_SIZE, download_mlqa, part_path
from audiomlqa.errors import AudioMLQAError

# A file server honouring ``Range: bytes=N-`` (http.server ignores it). Serves argv[1], appends each request's
# Range header (or "-") to argv[2], and prints its port on the first line of stdout.
RANGE_SERVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT, LOG = Path(sys.argv[1]), Path(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        wanted = self.headers.get("Range")
        with LOG.open("a") as f:
            f.write((wanted or "-") + "\n")
        path = ROOT / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = int(wanted[len("bytes="):].rstrip("-")) if wanted else 0
        if start >= len(data) and wanted:
            self.send_error(416)
            return
        self.send_response(206 if wanted else 200)
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

SQUAD = {
    "version": "1.0",
    "data": [
        {
            "title": "Lisbon",
            "paragraphs": [
                {
                    "context": "Lisbon is the capital of Portugal.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "What is the capital of Portugal?",
                            "answers": [{"answer_start": 0, "text": "Lisbon"}],
                        }
                    ],
                }
            ],
        }
    ],
}


def make_zip(path: Path, extra: dict[str, str] | None = None, splits: tuple[str, ...] = ("dev", "test")) -> str:
    """An MLQA-shaped archive (one SQuAD-format file per split); returns its sha256."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("MLQA_V1/LICENSE", "CC BY-SA 3.0\n")
        for split in splits:
            z.writestr(f"MLQA_V1/{split}/{split}-context-en-question-en.json", json.dumps(SQUAD))
        for name, text in (extra or {}).items():
            z.writestr(name, text)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Served:
    base: str
    root: Path
    archive: Path
    sha256: str
    ranges: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"{self.base}/{self.archive.name}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()


def _start(command: list[str], port_pattern: str) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline() if process.stdout else ""
    match = re.search(port_pattern, line)
    if not match:
        process.kill()
        process.wait()
        raise RuntimeError(f"test server did not start: {line!r}")
    return process, int(match.group(1))


def _serve(tmp_path: Path, name: str, command, port_pattern: str, ranges: Path) -> Iterator[Served]:
    """Serve a fresh test archive from ``tmp_path/name`` with ``command(root)``; stopped when the test ends."""
    root = tmp_path / name
    root.mkdir()
    archive = root / "MLQA_V1.zip"
    sha = make_zip(archive)
    process, port = _start(command(root), port_pattern)
    served = Served(f"http://127.0.0.1:{port}", root, archive, sha, ranges, process)
    yield served
    served.stop()


@pytest.fixture
def range_server(tmp_path: Path) -> Iterator[Served]:
    """The Range-honouring server above, on a port the OS picked."""
    script, ranges = tmp_path / "range_server.py", tmp_path / "ranges.log"
    script.write_text(RANGE_SERVER)
    yield from _serve(
        tmp_path, "www", lambda root: [sys.executable, "-u", str(script), str(root), str(ranges)], r"^(\d+)$", ranges
    )


@pytest.fixture
def plain_server(tmp_path: Path) -> Iterator[Served]:
    """Python's own ``http.server``: always 200 with the whole file, whatever Range asks."""

    def command(root: Path) -> list[str]:
        return [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(root)]

    yield from _serve(tmp_path, "plain", command, r"port (\d+)", tmp_path / "none.log")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line(error: pytest.ExceptionInfo[AudioMLQAError]) -> str:
    message = str(error.value)
    assert message and "\n" not in message
    return message


def test_downloading_from_a_local_server_unpacks_dev_and_test_and_a_second_call_needs_no_server(
    tmp_path: Path, plain_server: Served
):
    to = tmp_path / "data"
    messages: list[str] = []
    folder = download_mlqa(to, url=plain_server.url, sha256=plain_server.sha256, log=messages.append)
    assert folder == to / "MLQA_V1"
    assert json.loads((folder / "dev" / "dev-context-en-question-en.json").read_text()) == SQUAD
    assert (folder / "test" / "test-context-en-question-en.json").is_file()
    assert (folder / ".complete").read_text().strip() == plain_server.sha256
    assert not part_path(to / "MLQA_V1.zip").exists()
    assert messages

    plain_server.stop()
    assert download_mlqa(to, url=plain_server.url, sha256=plain_server.sha256, progress=False) == folder


def test_a_verified_archive_already_on_disk_is_unpacked_without_the_network(tmp_path: Path, plain_server: Served):
    to = tmp_path / "data"
    folder = download_mlqa(to, url=plain_server.url, sha256=plain_server.sha256, progress=False)
    plain_server.stop()
    (folder / ".complete").unlink()
    assert download_mlqa(to, url=plain_server.url, sha256=plain_server.sha256, progress=False) == folder
    assert (folder / "dev" / "dev-context-en-question-en.json").is_file()


def test_a_partial_download_is_resumed_with_a_range_request_and_verifies(tmp_path: Path, range_server: Served):
    to = tmp_path / "data"
    to.mkdir()
    data = range_server.archive.read_bytes()
    half = len(data) // 2
    part_path(to / "MLQA_V1.zip").write_bytes(data[:half])

    folder = download_mlqa(to, url=range_server.url, sha256=range_server.sha256, progress=False)

    assert range_server.ranges.read_text().split() == [f"bytes={half}-"]
    assert (to / "MLQA_V1.zip").read_bytes() == data
    assert (folder / "dev" / "dev-context-en-question-en.json").is_file()


def test_a_server_that_ignores_range_restarts_the_download_from_zero(tmp_path: Path, plain_server: Served):
    to = tmp_path / "data"
    to.mkdir()
    part_path(to / "MLQA_V1.zip").write_bytes(b"stale bytes from some other file")
    folder = download_mlqa(to, url=plain_server.url, sha256=plain_server.sha256, progress=False)
    assert (to / "MLQA_V1.zip").read_bytes() == plain_server.archive.read_bytes()
    assert (folder / "test").is_dir()


def test_a_wrong_sha256_raises_one_line_removes_the_part_file_and_unpacks_nothing(tmp_path: Path, range_server: Served):
    to = tmp_path / "data"
    with pytest.raises(AudioMLQAError) as error:
        download_mlqa(to, url=range_server.url, sha256="0" * 64, progress=False)
    assert "sha256" in one_line(error)
    assert not part_path(to / "MLQA_V1.zip").exists()
    assert not (to / "MLQA_V1.zip").exists()
    assert not (to / "MLQA_V1").exists()


def test_a_file_url_works(tmp_path: Path):
    source = tmp_path / "elsewhere" / "MLQA_V1.zip"
    source.parent.mkdir()
    sha = make_zip(source)
    folder = download_mlqa(tmp_path / "data", url=source.as_uri(), sha256=sha, progress=False)
    assert (folder / "dev" / "dev-context-en-question-en.json").is_file()
    assert (folder / "test" / "test-context-en-question-en.json").is_file()


def test_an_unreachable_url_raises_one_line_that_mentions_url(tmp_path: Path):
    url = f"http://127.0.0.1:{closed_port()}/MLQA_V1.zip"
    with pytest.raises(AudioMLQAError) as error:
        download_mlqa(tmp_path / "data", url=url, progress=False)
    message = one_line(error)
    assert "--url" in message and "rerun resumes" in message
    assert not (tmp_path / "data" / "MLQA_V1").exists()


def test_a_zip_member_climbing_out_with_dotdot_is_refused(tmp_path: Path):
    source = tmp_path / "evil" / "MLQA_V1.zip"
    source.parent.mkdir()
    sha = make_zip(source, extra={"../evil.json": "{}"})
    to = tmp_path / "data"
    with pytest.raises(AudioMLQAError) as error:
        download_mlqa(to, url=source.as_uri(), sha256=sha, progress=False)
    assert "../evil.json" in one_line(error)
    assert not (to / "MLQA_V1").exists()
    assert not (tmp_path / "evil.json").exists()
    assert [p.name for p in to.iterdir()] == ["MLQA_V1.zip"]


def test_an_archive_without_dev_and_test_is_refused_in_one_line(tmp_path: Path):
    source = tmp_path / "other" / "MLQA_V1.zip"
    source.parent.mkdir()
    sha = make_zip(source, splits=("dev",))
    with pytest.raises(AudioMLQAError) as error:
        download_mlqa(tmp_path / "data", url=source.as_uri(), sha256=sha, progress=False)
    assert "MLQA_V1/test/" in one_line(error)
    assert not (tmp_path / "data" / "MLQA_V1").exists()


def test_a_malformed_sha256_is_refused_before_any_download(tmp_path: Path):
    with pytest.raises(AudioMLQAError) as error:
        download_mlqa(tmp_path, url="http://127.0.0.1:9/MLQA_V1.zip", sha256="abc", progress=False)
    assert "64 hexadecimal" in one_line(error)


def test_the_download_command_prints_the_unpacked_folder_and_fails_in_one_line_when_offline(
    tmp_path: Path, range_server: Served
):
    out = audiomlqa(
        "download", "mlqa", "--to", tmp_path / "data", "--url", range_server.url, "--sha256", range_server.sha256
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout == f"{tmp_path / 'data' / 'MLQA_V1'}\n"
    assert (tmp_path / "data" / "MLQA_V1" / "dev" / "dev-context-en-question-en.json").is_file()
    offline = audiomlqa(
        "download", "mlqa", "--to", tmp_path / "other", "--url", f"http://127.0.0.1:{closed_port()}/x.zip"
    )
    assert_one_line(offline, "--url")
    assert_one_line(audiomlqa("download", "squad", "--to", tmp_path), "cannot download 'squad'")


# A server that sends more than any archive: /endless streams zeros with no Content-Length (the connection's end
# would be the file's end), /huge announces a terabyte; both stop a little past the official archive's size (a
# broken client must not fill the disk). Prints its port on the first line of stdout.
HOSTILE_SERVER = r"""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MLQA_SIZE = 75_719_050


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        if self.path == "/huge":
            self.send_header("Content-Length", str(10**12))
        self.end_headers()
        try:
            for _ in range(MLQA_SIZE // (1 << 16) + 32):
                self.wfile.write(bytes(1 << 16))
        except OSError:
            pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture
def hostile_server(tmp_path: Path) -> Iterator[str]:
    script = tmp_path / "hostile_server.py"
    script.write_text(HOSTILE_SERVER)
    process, port = _start([sys.executable, "-u", str(script)], r"^(\d+)$")
    yield f"http://127.0.0.1:{port}"
    process.kill()
    process.wait(timeout=10)
    if process.stdout:
        process.stdout.close()


def _mount_tmpfs(where: Path, options: str) -> None:
    """A tiny filesystem of its own (root only); the test is skipped where it cannot be had."""
    where.mkdir(exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    except OSError:
        pytest.skip("no mount command")
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")


def _unmount(where: Path) -> None:
    subprocess.run(["umount", str(where)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: writing more fails with ENOSPC. ``_grow`` makes room, as a user freeing space would."""
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "size=1m")
    yield disk
    _unmount(disk)


def _grow(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True, capture_output=True)


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder no one can write in: mode 555 for a user; for root (whom modes do not stop), a read-only tmpfs."""
    folder = tmp_path / "ro"
    if os.geteuid() != 0:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    _mount_tmpfs(folder, "ro,size=64k")
    yield folder
    _unmount(folder)


def assert_ends_in_one_line(out: subprocess.CompletedProcess, *fragments: str) -> None:
    """Like ``assert_one_line``, after the progress messages (``verified sha256 of …``) that came before."""
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and out.stderr.strip().endswith(errors[0]), out.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def noise(n: int) -> str:
    """``n`` characters that deflate barely compresses: an archive this much bigger."""
    return os.urandom(n // 2).hex()


def test_a_server_sending_more_than_the_expected_size_is_cut_off_in_one_line_and_the_part_file_removed(
    tmp_path: Path, hostile_server: str
):
    to = tmp_path / "data"
    with pytest.raises(AudioMLQAError) as error:
        download_mlqa(to, url=f"{hostile_server}/endless", sha256="0" * 64, size=100_000, progress=False)
    assert "100000" in one_line(error)
    assert not part_path(to / "MLQA_V1.zip").exists()
    assert not (to / "MLQA_V1").exists()


def test_the_pinned_size_caps_the_official_archive_and_a_bigger_announced_body_is_refused_unread(
    tmp_path: Path, hostile_server: str
):
    to = tmp_path / "data"
    with pytest.raises(AudioMLQAError) as error:
        download_mlqa(to, url=f"{hostile_server}/huge", progress=False)
    assert str(MLQA_SIZE) in one_line(error)
    assert not part_path(to / "MLQA_V1.zip").exists()


def test_a_part_file_already_beyond_the_size_is_not_resumed_but_started_again(tmp_path: Path, range_server: Served):
    to = tmp_path / "data"
    to.mkdir()
    size = range_server.archive.stat().st_size
    part_path(to / "MLQA_V1.zip").write_bytes(bytes(size + 10))
    folder = download_mlqa(to, url=range_server.url, sha256=range_server.sha256, size=size, progress=False)
    assert range_server.ranges.read_text().split() == ["-"]
    assert (folder / "dev").is_dir()


def test_a_file_url_bigger_than_the_expected_size_is_refused_before_copying(tmp_path: Path):
    source = tmp_path / "elsewhere" / "MLQA_V1.zip"
    source.parent.mkdir()
    sha = make_zip(source)
    to = tmp_path / "data"
    with pytest.raises(AudioMLQAError) as error:
        download_mlqa(to, url=source.as_uri(), sha256=sha, size=100, progress=False)
    assert "100" in one_line(error)
    assert not part_path(to / "MLQA_V1.zip").exists()


def test_a_full_disk_while_downloading_fails_in_one_line_keeps_the_part_file_and_a_rerun_resumes(
    small_disk: Path, range_server: Served
):
    sha = make_zip(range_server.archive, extra={"MLQA_V1/noise.txt": noise(3_000_000)})
    args = ("download", "mlqa", "--to", small_disk, "--url", range_server.url, "--sha256", sha, "--quiet")
    assert_one_line(audiomlqa(*args), f"no space left on {small_disk}", "rerun")
    part = part_path(small_disk / "MLQA_V1.zip")
    kept = part.stat().st_size
    assert 0 < kept < range_server.archive.stat().st_size

    _grow(small_disk)
    done = audiomlqa(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert range_server.ranges.read_text().split() == ["-", f"bytes={kept}-"]
    assert (small_disk / "MLQA_V1.zip").read_bytes() == range_server.archive.read_bytes()


def test_a_full_disk_while_unpacking_fails_in_one_line_keeps_the_archive_and_leaves_no_half_folder(
    tmp_path: Path, small_disk: Path
):
    source = tmp_path / "elsewhere" / "MLQA_V1.zip"
    source.parent.mkdir()
    sha = make_zip(source, extra={"MLQA_V1/zeros.txt": "0" * 4_000_000})  # a few KiB zipped, 4 MB unpacked
    args = ("download", "mlqa", "--to", small_disk, "--url", source.as_uri(), "--sha256", sha, "--quiet")
    assert_ends_in_one_line(audiomlqa(*args), f"no space left on {small_disk}", "only unpacking is redone")
    assert sorted(p.name for p in small_disk.iterdir()) == ["MLQA_V1.zip"]

    _grow(small_disk)
    source.unlink()  # the verified archive is kept: the rerun only unpacks
    done = audiomlqa(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (small_disk / "MLQA_V1" / "dev").is_dir()


def _limit_file_size() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_write_that_fails_with_file_too_large_fails_in_one_line_and_keeps_the_part_file(
    tmp_path: Path, range_server: Served
):
    sha = make_zip(range_server.archive, extra={"MLQA_V1/noise.txt": noise(400_000)})
    to = tmp_path / "data"
    out = audiomlqa(
        "download", "mlqa", "--to", to, "--url", range_server.url, "--sha256", sha, "--quiet",
        preexec_fn=_limit_file_size,
    )  # fmt: skip
    assert_one_line(out, "File too large", "rerun")
    assert part_path(to / "MLQA_V1.zip").stat().st_size == 64 * 1024


def test_a_read_only_destination_fails_in_one_line_before_any_request(read_only_folder: Path, range_server: Served):
    out = audiomlqa(
        "download", "mlqa", "--to", read_only_folder, "--url", range_server.url, "--sha256", range_server.sha256
    )
    assert_one_line(out, str(read_only_folder), "--to")
    assert not range_server.ranges.exists()
