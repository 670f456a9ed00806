"""``synthesize --engine ray`` (audiomlqa/synthesis/on_ray.py) on a real Ray cluster that the tests start on
127.0.0.1 (``ray start --head --block``) and stop by the pid they started: the rows and audio of the local engine,
a killed worker or driver changes nothing, a second writer is refused before the cluster is touched.

Outcomes are forced where they matter (``en``'s threshold accepts every clip) and every run uses one thread per
TTS and ASR, so both engines compute the same floats; Kokoro because eSpeak NG carries state between utterances
(the same clip spoken after another one differs slightly)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import assert_one_line, audiomlqa, espeak_corpus

from audiomlqa.errors import AudioMLQAError
from audiomlqa.manifest import read_manifest
from audiomlqa.synthesis import SynthesisConfig, synthesize
from audiomlqa.utils.locks import exclusive

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")
pytest.importorskip("faster_whisper")

SETTINGS = {
    "pairs": ["en", "es"],
    "limit": 3,  # taken in turn: en, es, en — a batch of two en clips (split across two TTS actors) and one es
    "max_attempts": 2,
    "batch_size": 2,
    "tts": {"default": {"backend": "kokoro", "options": {"threads": 1}}},
    "asr": {"backend": "faster-whisper", "cpu_threads": 1},
    "thresholds": {"en": 1e6, "es": 0.0},  # en: accepted at once (forced); es: retried unless heard perfectly
}
DECIDED = ("pair", "id", "attempt", "voice", "seed", "rate", "audio", "audio_sha256", "duration", "transcript")
DECIDED += ("error", "accepted", "reason", "threshold", "settings")


def decided(out: Path) -> list[tuple]:
    return sorted(tuple(getattr(r, k) for k in DECIDED) for r in read_manifest(out / "manifest.jsonl"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """A one-node Ray cluster on 127.0.0.1 (4 CPU slots on however many cores), stopped by the pid that started it.
    Its token authentication (on by default since Ray 2.59) is off: a driver reads its token when it imports Ray,
    before any fixture could give it one."""
    port, temp = free_port(), Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray's sockets need a short path
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", f"--port={port}"]
        + ["--node-ip-address=127.0.0.1", "--num-cpus=4", "--include-dashboard=false", f"--temp-dir={temp}"]
        + ["--disable-usage-stats"],
        stdout=open(temp / "head.log", "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
    )
    address, log = f"127.0.0.1:{port}", temp / "head.log"
    deadline = time.time() + 180
    while time.time() < deadline and head.poll() is None and "Ray runtime started" not in log.read_text():
        time.sleep(0.2)
    if head.poll() is not None:
        pytest.fail(f"ray start --head failed: {log.read_text()[-2000:]}")
    try:
        yield {"address": address, "pid": head.pid}
    finally:
        head.send_signal(signal.SIGTERM)  # --block: the head stops what it started
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def actor_pids(cluster: dict, actor: str, run: Path) -> list[int]:
    """The worker processes of this run's ``actor`` actors (Ray names a worker's process ``ray::<Class>``; the
    run's output folder is in the environment Ray gives its actors)."""
    found = []
    for p in psutil.Process(cluster["pid"]).children(recursive=True):
        try:
            if " ".join(p.cmdline()).startswith(f"ray::{actor}") and p.environ().get("AUDIOMLQA_RUN") == str(run):
                found.append(p.pid)
        except psutil.Error:
            continue
    return found


@pytest.mark.slow
def test_the_ray_engine_writes_what_the_local_engine_writes_with_a_tts_and_the_asr_worker_killed_mid_run(
    cluster, tmp_path
):
    """The local engine's rows are the reference; on Ray, after the first batch is judged (others in flight), a TTS
    actor's and the ASR actor's processes are killed: Ray restarts them and retries their calls, and the output is
    the local one, row for row and byte for byte (same transcripts, errors, decisions, clip checksums)."""
    local = synthesize(SynthesisConfig.from_dict({**SETTINGS, "output": str(tmp_path / "local")}), progress=False)
    killed: list[int] = []
    out = tmp_path / "ray"

    def kill_a_tts_and_the_asr_worker(written: int) -> None:
        if not killed:
            for actor in ("TTSWorker", "ASRWorker"):
                pid = actor_pids(cluster, actor, out)[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    on_ray = {**SETTINGS, "engine": "ray", "ray_address": cluster["address"], "workers": 2, "output": str(out)}
    result = synthesize(SynthesisConfig.from_dict(on_ray), progress=False, on_batch=kill_a_tts_and_the_asr_worker)
    assert len(killed) == 2 and not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in killed)
    assert decided(out) == decided(tmp_path / "local")  # nothing lost, nothing twice, nothing different
    assert [{k: v for k, v in s.items() if k != "real_time_factor"} for s in local.summary["pairs"].values()] == [
        {k: v for k, v in s.items() if k != "real_time_factor"} for s in result.summary["pairs"].values()
    ]
    rows = read_manifest(out / "manifest.jsonl")
    assert [r.accepted for r in rows if r.pair == "en"] == [True] * 2 and {r.pair for r in rows} == {"en", "es"}
    assert sorted(p.relative_to(out).as_posix() for p in (out / "audio").rglob("*.flac")) == sorted(
        r.audio for r in rows
    )
    assert result.pools["tts"]["actors"] == 2 and result.pools["asr"]["actors"] == 1
    assert 0 < result.pools["asr"]["busy_share"] <= 1


@pytest.mark.slow
def test_a_ray_run_killed_with_its_driver_resumes_where_it_stopped(cluster, tmp_path):
    args = ["synthesize", "--engine", "ray", "--ray-address", cluster["address"], "--languages", "en", "--tts"]
    args += ["espeak", "--per-language", "4", "--batch-size", "1", "--max-attempts", "1", "thresholds.en=1e6"]
    out = tmp_path / "out"
    driver = subprocess.Popen(
        [sys.executable, "-m", "audiomlqa", *args, "-o", str(out)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    manifest = out / "manifest.jsonl"
    while time.time() < deadline and driver.poll() is None and not (manifest.exists() and read_manifest(manifest)):
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    before = read_manifest(manifest)
    assert 1 <= len(before) < 4, "killed mid-run"

    done = audiomlqa(*args, "-o", out, "--json")
    assert done.returncode == 0, done.stderr
    rows = read_manifest(manifest)
    assert rows[: len(before)] == before  # the killed run's rows stand; the rerun only adds
    assert sorted((r.id, r.attempt) for r in rows) == sorted({(r.id, r.attempt) for r in rows})  # none twice
    assert len(rows) == 4 and all(r.accepted for r in rows)
    assert done.stdout.count("\n") == 1 or done.stdout.strip().startswith("{")


def test_a_second_writer_is_refused_before_the_cluster_is_touched(tmp_path):
    on_ray = {**SETTINGS, "engine": "ray", "ray_address": "127.0.0.1:1"}
    cfg = SynthesisConfig.from_dict({**on_ray, "output": str(tmp_path)})
    with exclusive(tmp_path, "audiomlqa synthesize", lock_file=tmp_path / ".audiomlqa.lock"):
        with pytest.raises(AudioMLQAError, match="is being written by another audiomlqa synthesize"):
            synthesize(cfg, progress=False)
    assert not ray.is_initialized()


def test_an_unreachable_cluster_fails_in_one_line_and_records_nothing(tmp_path):
    port = free_port()  # nothing listens there
    out = audiomlqa(
        "synthesize",
        "--engine",
        "ray",
        "--ray-address",
        f"127.0.0.1:{port}",
        "--languages",
        "en",
        "--tts",
        "espeak",
        "--per-language",
        "1",
        "-o",
        tmp_path / "o",
    )
    assert_one_line(out, "cannot reach a Ray cluster")
    assert not (tmp_path / "o" / "manifest.jsonl").exists()


@pytest.mark.slow
def test_calibrate_on_ray_measures_what_calibrate_here_measures(cluster, tmp_path):
    """The same judge in an ASR actor: calibrate's per-clip transcripts and errors are this process's."""
    import soundfile as sf

    from audiomlqa.synthesis import calibrate_filter, read_reference
    from audiomlqa.tts import load_backend

    espeak, reference = load_backend("espeak"), tmp_path / "reference"
    reference.mkdir()
    for i, text in enumerate(["The river flows past the old mill.", "Where is the station?"]):
        speech = espeak.synthesize(text, "en", "en-us", seed=0)
        sf.write(reference / f"clip-en-{i:03d}.wav", speech.samples, speech.sample_rate)
        (reference / f"clip-en-{i:03d}.txt").write_text(text, encoding="utf-8")
    here = calibrate_filter(SynthesisConfig(), read_reference(str(reference)), tmp_path / "here.json", progress=False)
    out = audiomlqa(
        "calibrate",
        "--reference",
        reference,
        "-o",
        tmp_path / "ray.json",
        "--json",
        "--engine",
        "ray",
        "--ray-address",
        cluster["address"],
    )
    assert out.returncode == 0, out.stderr[-2000:]
    clips = [
        [(c["text"], c["transcript"], c["error"]) for c in doc["languages"]["en"]["clips"]]
        for doc in (here, json.loads(out.stdout))
    ]
    assert clips[0] == clips[1] and len(clips[0]) == 2


@pytest.mark.slow
def test_asr_filter_on_ray_keeps_and_measures_what_asr_filter_here_does(cluster, tmp_path):
    """The paper's data filter with its Whisper in an ASR actor: the same errors, the same utterances kept."""
    from audiomlqa.speechllm.asr_filter import FilterConfig, filter_corpus

    sentences = ["The river flows past the old mill.", "Where is the station?"]
    corpus = espeak_corpus(tmp_path / "corpus", [("en", "en-us", text) for text in sentences])
    base = {"data": {"source": str(corpus)}, "languages": ["en"], "max_error": 1e9}
    filter_corpus(FilterConfig.from_dict({**base, "output": str(tmp_path / "here")}), progress=False)
    on_ray = {**base, "engine": "ray", "ray_address": cluster["address"], "output": str(tmp_path / "ray")}
    report = filter_corpus(FilterConfig.from_dict(on_ray), progress=False)
    kept = [(tmp_path / d / "metadata.jsonl").read_text(encoding="utf-8") for d in ("here", "ray")]
    assert kept[0] == kept[1] and report["kept"] == 2 and report["asr"]["backend"] == "faster-whisper"
