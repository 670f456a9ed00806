"""download_mlqa against real servers on 127.0.0.1: a small MLQA-shaped zip served over HTTP (with and without
Range support) and from a file:// URL; resuming, verification, offline errors and hostile archives."""

from __future__ import annotations

import hashlib
import json
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

from audiomlqa.download import download_mlqa, part_path
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
