"""Nothing lost, nothing corrupted, nobody in: faults and hostile inputs, tried as a careful user would.

Each test keeps one guarantee: user files survive a publish; duplicate ids, hostile paths and planted pickles
are refused; a full disk, a deleted clip or a kill -9 never leaves a wrong row; two writers never share an output;
bad numbers fail in one line.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
from helpers import FAST_MODEL, assert_one_line, audiomlqa

from audiomlqa.manifest import clip_problem, read_manifest, standing_attempts

pytest.importorskip("faster_whisper")
pytest.importorskip("espeakng_loader")

ROOT = Path(__file__).resolve().parents[1]
ESPEAK_EN = ["--languages", "en", "--tts", "espeak", "--max-attempts", "1", "thresholds.en=1e9", "--quiet"]


def cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return audiomlqa(*args, **kwargs)


def rows_of(output: Path) -> list:
    return read_manifest(output / "manifest.jsonl")


def every_clip_is_sound(output: Path) -> bool:
    return all(clip_problem(output, r) is None for r in rows_of(output))


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> Path:
    """Four English questions spoken by eSpeak, every clip kept: the output the publish tests start from."""
    out = tmp_path_factory.mktemp("spoken") / "out"
    result = cli("synthesize", *ESPEAK_EN, "--per-language", "4", "-o", out)
    assert result.returncode == 0, result.stderr
    return out


# -- publishing never deletes what it did not write -------------------------------------------------------


@pytest.mark.slow
def test_publish_over_a_folder_with_the_users_files_keeps_them(spoken, tmp_path):
    ds = tmp_path / "ds"
    assert cli("publish", spoken, "--to", ds).returncode == 0
    (ds / ".git").mkdir()
    (ds / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (ds / "notes.md").write_text("my notes\n")
    before = {p: p.read_bytes() for p in ds.rglob("*") if p.is_file()}

    assert_one_line(cli("publish", spoken, "--to", ds), "holds an earlier publish: pass --overwrite")
    assert {p: p.read_bytes() for p in ds.rglob("*") if p.is_file()} == before

    again = cli("publish", spoken, "--to", ds, "--overwrite")
    assert again.returncode == 0, again.stderr
    assert (ds / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n" and (
        ds / "notes.md"
    ).read_text() == "my notes\n"
    record = json.loads((ds / "publish.json").read_text())
    assert "notes.md" not in record["files"] and all((ds / f).is_file() for f in record["files"])

    (ds / "README.md").write_text("my own card\n")  # an edited file of ours is the user's now
    assert_one_line(cli("publish", spoken, "--to", ds, "--overwrite"), "changed since, e.g. README.md")
    assert (ds / "README.md").read_text() == "my own card\n"

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("\\begin{document}")
    assert_one_line(
        cli("publish", spoken, "--to", foreign, "--overwrite"), "holds files that audiomlqa did not publish"
    )
    assert [p.name for p in foreign.iterdir()] == ["thesis.tex"]


@pytest.mark.slow
def test_a_tampered_publish_record_cannot_make_publish_touch_files_outside_the_folder(spoken, tmp_path):
    ds, victim = tmp_path / "ds", tmp_path / "victim.txt"
    assert cli("publish", spoken, "--to", ds).returncode == 0
    victim.write_text("precious")
    from audiomlqa.utils.files import sha256_file

    record = json.loads((ds / "publish.json").read_text())
    record["files"]["../victim.txt"] = sha256_file(victim)
    (ds / "publish.json").write_text(json.dumps(record))
    assert_one_line(cli("publish", spoken, "--to", ds, "--overwrite"), "'../victim.txt' points outside")
    assert victim.read_text() == "precious"


@pytest.mark.slow
def test_a_whole_output_folder_may_be_a_link_but_a_link_inside_it_to_outside_is_refused(spoken, tmp_path):
    """An output put on a scratch disk as a whole resumes and publishes; an ``audio/`` inside it that leads
    elsewhere is refused in one line by synthesize (nothing is written through it) and by publish."""
    shutil.copytree(spoken, tmp_path / "scratch" / "out")
    out = tmp_path / "out"
    out.symlink_to(tmp_path / "scratch" / "out")
    again = cli("synthesize", *ESPEAK_EN, "--per-language", "4", "-o", out)
    assert again.returncode == 0 and len(rows_of(out)) == len(rows_of(spoken)), again.stderr
    assert cli("publish", out, "--to", tmp_path / "ds").returncode == 0

    shutil.move(out / "audio", tmp_path / "elsewhere")
    (out / "audio").symlink_to(tmp_path / "elsewhere")
    before = sorted(p for p in (tmp_path / "elsewhere").rglob("*"))
    refused = "is a link to a file outside"
    assert_one_line(cli("synthesize", *ESPEAK_EN, "--per-language", "4", "-o", out), refused, "copy the file in")
    assert_one_line(cli("publish", out, "--to", tmp_path / "ds2"), refused)
    assert sorted(p for p in (tmp_path / "elsewhere").rglob("*")) == before and not (tmp_path / "ds2").exists()


def test_two_specs_with_one_name_are_refused_before_any_model_loads(tmp_path):
    spec = ROOT / "models" / "tiny-text.json"
    out = cli("score", spec, spec, "--dataset", tmp_path / "nowhere", "--predictions-dir", tmp_path / "p")
    assert_one_line(out, "two specs share the name 'tiny-text'")


@pytest.mark.slow
def test_a_publish_killed_while_updating_in_place_can_be_rerun(spoken, tmp_path, monkeypatch):
    """A folder that an earlier version's update left half-done (the new card in place, the rest recorded as
    pending) is still known to the next run. Today's publish swaps the whole folder in one step (kills at every
    step: tests/test_run_record.py)."""
    from audiomlqa.publish import publish
    from audiomlqa.utils.files import sha256_file

    ds, build = tmp_path / "ds", tmp_path / "build"
    publish([spoken], ds)
    publish([spoken], build)
    (build / "README.md").write_text((build / "README.md").read_text() + "\nnew line\n")  # a card that differs
    record = json.loads((ds / "publish.json").read_text())
    pending = {**record["files"], "README.md": sha256_file(build / "README.md")}
    (ds / "publish.json").write_text(json.dumps({**record, "pending": pending}))
    (ds / "README.md").write_bytes((build / "README.md").read_bytes())  # killed after moving the card
    publish([spoken], ds, overwrite=True)  # the half-updated folder is still ours: no "changed since" refusal
    assert "pending" not in json.loads((ds / "publish.json").read_text())


# -- what goes in is what comes out ---------------------------------------------------------------------------


def test_duplicate_question_ids_within_a_pair_are_refused_when_the_source_is_read(tmp_path):
    squad = tmp_path / "dev-context-en-question-en.json"
    qa = lambda q: {"id": "same", "question": q, "answers": [{"text": "Paris", "answer_start": 0}]}  # noqa: E731
    squad.write_text(
        json.dumps(
            {
                "data": [
                    {
                        "title": "t",
                        "paragraphs": [
                            {"context": "Paris is big.", "qas": [qa("What is big?"), qa("Which city is big?")]}
                        ],
                    }
                ]
            }
        )
    )
    out = cli("synthesize", "--source", squad, "-o", tmp_path / "out", "--tts", "espeak")
    assert_one_line(out, "1 question id(s) repeat within a language pair, e.g. en/same")
    assert not (tmp_path / "out").exists()
    assert_one_line(cli("questions", squad), "repeat within a language pair")


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )


@pytest.mark.slow
def test_a_full_disk_fails_in_one_line_and_never_records_a_truncated_clip(tmp_path):
    """A real full disk where the machine allows a small tmpfs (root); else the same failure from the kernel's
    file-size limit (RLIMIT_FSIZE: writes past it fail with EFBIG), which also hits every write of the run.
    Four questions: their clips (60-80 kB each) overflow the 160 kB disk after the first two or three."""
    disk = tmp_path / "disk"
    mounted = _mount_tmpfs(disk, "160k")
    try:
        out = disk / "out"
        kwargs = {}
        if not mounted:
            import resource

            def limit():
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

            kwargs["preexec_fn"] = limit
        full = cli("synthesize", *ESPEAK_EN, "--per-language", "4", "-o", out, **kwargs)
        assert_one_line(full)
        assert any(w in full.stderr for w in ("No space left", "disk full", "File too large")), full.stderr
        assert every_clip_is_sound(out), "a row points at a clip that is not the one written"
        if mounted:
            assert subprocess.run(["mount", "-o", "remount,size=50m", str(disk)]).returncode == 0
            resumed = cli("synthesize", *ESPEAK_EN, "--per-language", "4", "-o", out)
            assert resumed.returncode == 0, resumed.stderr
            assert len({r.key for r in rows_of(out) if r.accepted}) == 4 and every_clip_is_sound(out)
            shutil.copytree(out, tmp_path / "copy")
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)])
    if mounted:  # publish checks every clip against its row again, here in this process
        from audiomlqa.publish import publish

        assert sum(publish([tmp_path / "copy"], tmp_path / "ds").configs["en"].values()) == 4


@pytest.mark.slow
def test_a_deleted_or_damaged_clip_is_redone_by_the_next_run_and_publish_says_so_until_then(spoken, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(spoken, out)
    accepted = [r for r in standing_attempts(rows_of(out)).values() if r.accepted]
    (out / accepted[0].audio).unlink()
    (out / accepted[1].audio).write_bytes((out / accepted[1].audio).read_bytes()[:-100])
    line = assert_one_line(cli("publish", out, "--to", tmp_path / "ds"), "2 clip(s) to publish are missing or damaged")
    assert "rerun the synthesis command" in line and not (tmp_path / "ds").exists()

    rerun = cli("synthesize", *ESPEAK_EN, "--per-language", "4", "-o", out)
    assert rerun.returncode == 0, rerun.stderr
    assert "2 clip(s) in" in rerun.stderr and "redoing them" in rerun.stderr
    assert every_clip_is_sound(out) and len(rows_of(out)) == len(rows_of(spoken)) + 2
    assert {k for k, r in standing_attempts(rows_of(out)).items() if r.accepted} == {r.key for r in accepted}
    assert cli("publish", out, "--to", tmp_path / "ds").returncode == 0


# -- one writer at a time --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_synthesize_on_the_same_output_is_refused_and_the_first_equals_a_lone_run(tmp_path):
    """Four questions, one clip per batch: once the first row is written three or more clips are left, seconds of
    Whisper base, while the refused second run takes about two (measured under load: the first ended 14 s after
    it); three questions left under 4 s, too little for a busy CI machine."""
    args = [
        "synthesize",
        "--languages",
        "en",
        "--tts",
        "espeak",
        "--per-language",
        "4",
        "--batch-size",
        "1",
        "--max-attempts",
        "2",
        "--quiet",
    ]
    first = subprocess.Popen(
        [sys.executable, "-m", "audiomlqa", *args, "-o", str(tmp_path / "shared")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    manifest = tmp_path / "shared" / "manifest.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (manifest.exists() and manifest.stat().st_size):
        time.sleep(0.05)
    second = cli(*args, "-o", tmp_path / "shared", "thresholds.en=0.9")  # other settings, too
    assert first.poll() is None, "the first run ended before the second started: no concurrency was tested"
    assert_one_line(second, "is being written by another audiomlqa synthesize (pid", f"{first.pid}")
    assert first.wait(timeout=300) == 0, first.stderr.read()
    lone = cli(*args, "-o", tmp_path / "lone")
    assert lone.returncode == 0

    def plan(d: Path) -> list:
        return [(r.pair, r.id, r.attempt, r.voice, r.seed, r.accepted, r.audio_sha256) for r in rows_of(d)]

    assert plan(tmp_path / "shared") == plan(tmp_path / "lone")
    run = json.loads((tmp_path / "shared" / "run.json").read_text())
    assert run["config"]["thresholds"]["en"] == 0.2  # the second run's settings never got in


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    """The kernel drops the lock of a process that dies; its stale holder record is simply rewritten."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import time; from audiomlqa.utils.locks import exclusive\n"
                f"with exclusive({str(tmp_path / 'o')!r}, 'test'):\n    print('held', flush=True); time.sleep(60)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    from audiomlqa.errors import AudioMLQAError
    from audiomlqa.utils.locks import exclusive

    with pytest.raises(AudioMLQAError, match=f"pid {holder.pid} on "):
        with exclusive(tmp_path / "o", "test"):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with exclusive(tmp_path / "o", "test"):
        assert json.loads((tmp_path / "o" / ".audiomlqa.lock").read_text())["pid"] == os.getpid()


@pytest.mark.slow
def test_a_rerun_with_a_smaller_limit_keeps_everything_for_publish(spoken, tmp_path):
    """The four questions spoken once (``spoken``), then the same command with --limit 2: the rerun records a
    selection of two, and publish must still find all four."""
    from audiomlqa.publish import publish

    out = tmp_path / "out"
    shutil.copytree(spoken, out)
    assert len({r.key for r in rows_of(out) if r.accepted}) == 4
    assert cli("synthesize", *ESPEAK_EN, "--per-language", "4", "--limit", "2", "-o", out).returncode == 0
    publish([out], tmp_path / "ds")
    record = json.loads((tmp_path / "ds" / "publish.json").read_text())
    assert record["configs"]["en"]["validation"]["num_examples"] == 4


@pytest.mark.slow
def test_kill_9_again_and_again_then_resume_equals_an_uninterrupted_run(tmp_path):
    """Three questions, en and de (two en, one de), one clip per batch, two attempts: at least four rows, as eSpeak's
    German never passes Whisper base's 0.2 (WER 0.65-1.0), so both kills (after rows 1 and 3) land mid-run and the
    resume continues a question between its attempts. Four launches of the CLI are the cost; each clip is one more."""
    args = [
        "synthesize",
        "--languages",
        "en,de",
        "--tts",
        "espeak",
        "--limit",
        "3",
        "--batch-size",
        "1",
        "--max-attempts",
        "2",
        "--quiet",
    ]
    assert cli(*args, "-o", tmp_path / "whole").returncode == 0
    out = tmp_path / "killed"
    for rows_before_kill in (1, 3):  # killed twice, each time mid-run
        proc = subprocess.Popen(
            [sys.executable, "-m", "audiomlqa", *args, "-o", str(out)],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 120
        while (
            time.time() < deadline
            and proc.poll() is None
            and (not (out / "manifest.jsonl").exists() or len(rows_of(out)) < rows_before_kill)
        ):
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it was killed: no kill was tested"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(rows_of(out)) < len(rows_of(tmp_path / "whole")), "the kills left nothing for the resume to do"
    with open(out / "manifest.jsonl", "a") as f:  # what a kill in the middle of a write leaves behind
        f.write('{"id": "trunc')
    assert cli(*args, "-o", out).returncode == 0

    def plan(d: Path) -> list:
        return sorted((r.pair, r.id, r.attempt, r.voice, r.seed, r.accepted) for r in rows_of(d))

    assert plan(out) == plan(tmp_path / "whole") and every_clip_is_sound(out)
    lines = (out / "manifest.jsonl").read_text().splitlines()
    assert all(line.startswith("{") and line.endswith("}") for line in lines), "the cut line was cut off"
    rows = rows_of(out)
    assert len({(r.pair, r.id, r.attempt) for r in rows}) == len(rows), "duplicate attempts after resume"
    for r in rows:  # files and manifest agree; every file decodes
        audio, sr = sf.read(out / r.audio)
        assert sr == 16000 and abs(len(audio) / sr - r.duration) < 1e-3
    assert {r.audio for r in rows} == {p.relative_to(out).as_posix() for p in (out / "audio").rglob("*.flac")}


# -- hostile paths and files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../../escaped", *(pytest.param(n, marks=pytest.mark.slow) for n in ("/tmp/absolute-escape", "a/b", ".."))]
)
def test_a_model_name_cannot_write_outside_the_predictions_folder(tmp_path, name):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"name": name, "kind": "text", "llm": "tiny-random/llm"}))
    out = cli("score", spec, "--dataset", tmp_path / "nowhere", "--predictions-dir", tmp_path / "p" / "q")
    assert_one_line(out, "spec.json: name: string should match pattern")
    assert not (tmp_path / "p").exists() and not Path("/tmp/absolute-escape").exists()


@pytest.mark.slow
@pytest.mark.parametrize("target", ["/etc/passwd", "../../../etc/passwd"])
def test_a_manifest_row_pointing_outside_its_output_is_never_read(spoken, tmp_path, target):
    out = tmp_path / "out"
    shutil.copytree(spoken, out)
    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    rows[0].update(audio=target, audio_bytes=None, audio_sha256=None)
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert_one_line(cli("publish", out, "--to", tmp_path / "ds"), "points outside")
    assert not (tmp_path / "ds").exists()
    from audiomlqa.errors import AudioMLQAError
    from audiomlqa.speechllm.data import DataConfig, load_asr_corpus

    with pytest.raises(AudioMLQAError, match="points outside"):
        load_asr_corpus(DataConfig(source=str(out)), ["en"])


class _Planted:
    """A pickle that runs code when loaded: it would create the file it names."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.slow
def test_a_planted_pickle_in_a_checkpoint_is_never_executed(spoken, tmp_path):
    """The refusals go through the CLI (one line, no traceback); the run that writes the checkpoints and the resume
    that shows the checkpoint loads once the planted file is gone are the same settings trained in this process
    (a launch of train-reference is ~8 s of imports and tokenizer loads)."""
    pytest.importorskip("torch")
    from audiomlqa.speechllm.train import load_train_config, train

    recipe, run = ROOT / "recipes" / "train-tiny-cpu.yaml", tmp_path / "run"
    overrides = [
        f"data.source={spoken}",
        f"output_dir={run}",
        "data.accepted_only=true",
        "save_every=2",
        *FAST_MODEL,
        "max_steps=4",
    ]
    base = ["train-reference", "--recipe", recipe, *overrides, "--quiet"]
    assert train(load_train_config(recipe, overrides), progress=False).steps == 4
    step2, step4 = sorted((run / "checkpoints").glob("step-*"))
    marker = tmp_path / "pwned"

    (step4 / "DONE").unlink()  # as if killed while writing step 4: the rerun resumes from step 2
    (step2 / "custom_checkpoint_0.pkl").write_bytes(pickle.dumps(_Planted(marker)))
    assert_one_line(cli(*base), f"cannot load checkpoint {step2} safely", "delete it")
    assert not marker.exists()  # accelerate never loads a custom state nobody registered

    (step2 / "custom_checkpoint_0.pkl").unlink()
    resumed = train(load_train_config(recipe, overrides), progress=False)
    assert resumed.resumed_from == 2 and resumed.steps == 4

    (step4 / "DONE").unlink()
    for f in step2.glob("random_states_*.pkl"):
        f.write_bytes(pickle.dumps(_Planted(marker)))
    assert_one_line(cli(*base), f"cannot load checkpoint {step2} safely", "delete it")
    assert not marker.exists()


# -- numbers and empty selections ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "-1"], "limit: input should be greater than or equal to 1, got -1"),
        (["--limit", "0"], "limit: input should be greater than or equal to 1, got 0"),
        (["--per-language", "0"], "per_language: input should be greater than or equal to 1"),
        (["--workers", "0"], "workers: input should be greater than or equal to 1"),
        (["--shard", "3/2"], "shard: bad shard '3/2'"),
        (["--shard", "one/two"], "shard: bad shard 'one/two'"),
        (
            ["--languages", "de", "--source", ROOT / "audiomlqa/data/mlqa-sample/dev/dev-context-en-question-en.json"],
            "no questions selected",
        ),
    ],
)
def test_out_of_range_numbers_and_empty_selections_fail_in_one_line(tmp_path, args, message):
    assert_one_line(cli("synthesize", *args, "-o", tmp_path / "out"), message)
    assert not (tmp_path / "out").exists()


def test_questions_refuses_negative_limits_and_empty_selections(sample_dir):
    assert_one_line(cli("questions", sample_dir, "--limit", "-1"), "limit must be a whole number of at least 1")
    assert_one_line(cli("questions", sample_dir, "--per-language", "0"), "per_language must be a whole number")
    single = sample_dir / "dev" / "dev-context-en-question-en.json"
    assert_one_line(cli("questions", single, "--languages", "de"), "no questions selected")


def test_odd_inputs_end_in_one_line_not_a_traceback(tmp_path, sample_dir):
    (tmp_path / "dir.yaml").mkdir()
    assert_one_line(cli("synthesize", "--recipe", tmp_path / "dir.yaml", "-o", tmp_path / "o"), "cannot read it")
    out = tmp_path / "odd"
    out.mkdir()
    (out / "manifest.jsonl").write_text("[1, 2]\n{}\n")
    assert_one_line(cli("synthesize", "--languages", "en", "--limit", "1", "-o", out), "line 1 is not a JSON row")
    assert_one_line(
        cli("train-reference", "--recipe", ROOT / "recipes" / "train-tiny-cpu.yaml", "max_steps"),
        "bad override 'max_steps'",
    )
