"""The run record is part of the data: run.json carries a checksum, every manifest row the hash of the settings it
was judged under, and neither is ever rebuilt from today's settings where the rows do not prove them. Manifest rows
are typed when read. Publish refuses rows that disagree, an output a synthesize still writes, and replaces an
earlier dataset in one step (a kill leaves the old one or the new one; a full disk leaves the old one).

Outputs are built by hand (rows, run.json and FLAC clips written here): no model loads except where marked slow.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line, audiomlqa

from audiomlqa.errors import AudioMLQAError
from audiomlqa.manifest import DamagedRecord, RunRecord, read_manifest, read_run_record, settings_hash
from audiomlqa.synthesis import SynthesisConfig
from audiomlqa.synthesis.pipeline import _prepare_output
from audiomlqa.utils.files import jsonable, sha256_file

ESPEAK_EN = ["--languages", "en", "--tts", "espeak", "--max-attempts", "1", "--quiet"]


def config(out: Path, **changes) -> SynthesisConfig:
    settings = {"languages": ["en"], "tts": {"default": {"backend": "espeak"}}, "max_attempts": 1, "per_language": 2}
    return SynthesisConfig.from_dict({**settings, "thresholds": {"en": 0.5}, "output": str(out), **changes})


def write_flac(path: Path, freq: float) -> bytes:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(3200) / 16_000
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype("float32"), 16_000, format="FLAC", subtype="PCM_16")
    return path.read_bytes()


def make_output(out: Path, ids=("q1", "q2"), *, judged: SynthesisConfig | None = None, hashed: bool = True) -> Path:
    """A synthesis output as synthesize leaves one: accepted English rows judged under ``judged`` (the default
    config), their clips, questions.jsonl and a checksummed run.json stating those settings."""
    fingerprint = jsonable((judged or config(out)).fingerprint())
    questions, rows = [], []
    for i, qid in enumerate(ids):
        data = write_flac(out / "audio" / f"{qid}.flac", 300.0 + 100 * i)
        questions.append(
            {"pair": "en", "id": qid, "title": "T", "context": f"context {qid}", "question": f"question {qid}?",
             "answers": [{"text": "context", "answer_start": 0}], "context_lang": "en", "question_lang": "en"}
        )  # fmt: skip
        rows.append(
            {"id": qid, "pair": "en", "context_lang": "en", "question_lang": "en", "attempt": 0, "backend": "espeak",
             "voice": "en", "seed": 0, "rate": 1.0, "text": f"question {qid}?", "spoken_text": f"question {qid}?",
             "audio": f"audio/{qid}.flac", "audio_bytes": len(data), "audio_sha256": hashlib.sha256(data).hexdigest(),
             "duration": 0.2, "accepted": True, "error": 0.0, "threshold": 0.5, "asr_model": "tiny",
             "transcript": f"question {qid}", "settings": settings_hash(fingerprint) if hashed else None}
        )  # fmt: skip
    (out / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    (out / "run.json").write_text(json.dumps(RunRecord(config=fingerprint).to_dict(), indent=2))
    write_rows(out, rows)
    return out


def write_rows(out: Path, rows: list[dict]) -> None:
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def rows_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


# -- run.json: checksummed, never rebuilt from settings the rows do not prove -----------------------------------------


def test_a_run_record_carries_a_checksum_that_finds_an_edit(tmp_path):
    record = tmp_path / "run.json"
    doc = RunRecord(config={"split": "dev", "seed": 0}, command="audiomlqa synthesize").to_dict()
    record.write_text(json.dumps(doc, indent=4))  # the layout does not matter, the content does
    assert read_run_record(record).config == {"split": "dev", "seed": 0}
    record.write_text(json.dumps({**doc, "config": {"split": "dev", "seed": 7}}))
    with pytest.raises(DamagedRecord, match="checksum does not match"):
        read_run_record(record)
    record.write_text(json.dumps(doc)[:-20])
    with pytest.raises(DamagedRecord, match="not JSON"):
        read_run_record(record)
    record.write_text(json.dumps({"config": {"split": "dev"}}))  # a record of an earlier version: no checksum
    assert read_run_record(record).split == "dev"


@pytest.mark.parametrize("damage", ["deleted", "not JSON", "edited"])
def test_a_lost_run_record_is_not_rebuilt_from_settings_the_rows_never_used(tmp_path, damage):
    """Rows judged at seed 0 and threshold 0.5; the record gone or damaged; a rerun with seed 5 and threshold 0.2
    is refused, and the output is left as it was."""
    out = make_output(tmp_path / "out")
    run_file = out / "run.json"
    if damage == "deleted":
        run_file.unlink()
    elif damage == "not JSON":
        run_file.write_text(run_file.read_text()[:50])
    else:
        run_file.write_text(run_file.read_text().replace('"seed": 0', '"seed": 5'))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(AudioMLQAError, match=r"run\.json (is missing|is damaged).*do not prove this run's settings"):
        _prepare_output(config(out, seed=5, thresholds={"en": 0.2}), out, print)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_deleted_record_beside_rows_of_an_earlier_version_is_refused_even_with_the_same_settings(tmp_path):
    """Rows without a settings hash prove nothing: the record they were judged under cannot be told."""
    out = make_output(tmp_path / "out", hashed=False)
    (out / "run.json").unlink()
    with pytest.raises(AudioMLQAError, match=r"do not prove .*rows: none recorded.*restore run\.json"):
        _prepare_output(config(out), out, print)


def test_a_lost_record_is_rebuilt_when_every_row_proves_the_settings(tmp_path):
    out = make_output(tmp_path / "out")
    (out / "run.json").unlink()
    notes = []
    run_file, settings, intact = _prepare_output(config(out), out, notes.append)
    assert not intact and settings_hash(settings) == rows_of(out)[0]["settings"]
    assert len(notes) == 1 and "rebuilt from this run's settings" in notes[0]


def test_resuming_rows_judged_under_other_settings_is_refused(tmp_path):
    """The record says threshold 0.5, as the command does; a row was judged at 0.2 (a record swapped in)."""
    out = make_output(tmp_path / "out")
    rows = rows_of(out)
    rows[1]["settings"] = settings_hash(jsonable(config(out, thresholds={"en": 0.2}).fingerprint()))
    write_rows(out, rows)
    with pytest.raises(AudioMLQAError, match=r"manifest\.jsonl: rows were judged under other settings"):
        _prepare_output(config(out), out, print)


def test_a_record_beside_an_empty_manifest_gives_way_to_other_settings(tmp_path):
    """A start that failed before judging anything recorded nothing the rows depend on: the corrected command runs."""
    out = make_output(tmp_path / "out")
    (out / "manifest.jsonl").write_text("")
    run_file, settings, intact = _prepare_output(config(out, seed=5), out, print)
    assert settings["seed"] == 5 and not intact and not (out / "questions.jsonl").exists()


def test_changed_settings_are_still_refused_in_one_line_by_the_cli(tmp_path):
    out = make_output(tmp_path / "out")
    before = (out / "manifest.jsonl").read_bytes()
    result = audiomlqa("synthesize", *ESPEAK_EN, "--per-language", "2", "thresholds.en=0.2", "-o", out)
    assert_one_line(result, "holds a run with other settings (changed: thresholds)")
    (out / "run.json").write_text("{")
    result = audiomlqa("synthesize", *ESPEAK_EN, "--per-language", "2", "thresholds.en=0.2", "-o", out)
    assert_one_line(result, "run.json is damaged (not JSON)", "restore run.json", "new --output")
    assert (out / "manifest.jsonl").read_bytes() == before


def test_an_unknown_espeak_voice_fails_before_the_output_records_anything(tmp_path):
    out = tmp_path / "out"
    result = audiomlqa("synthesize", *ESPEAK_EN, "--per-language", "2", "tts.en.voices=[bogus-xx]", "-o", out)
    assert_one_line(result, "eSpeak has no voice 'bogus-xx'")
    assert sorted(p.name for p in out.iterdir()) == [".audiomlqa.lock"]


# -- manifest rows are typed when read --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("error", "high", "error: input should be a valid number"),
        ("error", -0.5, "error: input should be greater than or equal to 0"),
        ("accepted", "yes", "accepted: input should be a valid boolean"),
        ("audio", 5, "audio: input should be a valid string"),
        ("attempt", -1, "attempt: input should be greater than or equal to 0"),
        ("attempt", 1.5, "attempt: input should be a valid integer"),
        ("seed", None, "seed: input should be a valid integer"),
        ("duration", True, "duration: input should be a valid number"),
    ],
)
def test_a_manifest_row_of_the_wrong_type_fails_in_one_line_naming_file_and_line(tmp_path, field, value, message):
    out = make_output(tmp_path / "out", ids=("q1", "q2", "q3"))
    rows = rows_of(out)
    rows[1][field] = value
    write_rows(out, rows)
    with pytest.raises(AudioMLQAError, match=rf"manifest\.jsonl: line 2: {message}") as e:
        read_manifest(out / "manifest.jsonl")
    assert "\n" not in str(e.value)


def test_rows_that_are_not_objects_or_lack_a_field_fail_in_one_line(tmp_path):
    path = tmp_path / "manifest.jsonl"
    path.write_text("[1, 2]\n")
    with pytest.raises(AudioMLQAError, match=r"line 1 is not a JSON row \(an object\); the manifest is damaged"):
        read_manifest(path)
    path.write_text('{"id": "q"}\n')
    with pytest.raises(AudioMLQAError, match=r"line 1: pair: field required; the manifest is damaged"):
        read_manifest(path)


def test_a_truncated_last_line_is_still_dropped_and_rows_of_earlier_versions_read(tmp_path):
    out = make_output(tmp_path / "out", hashed=False)
    rows = rows_of(out)
    for r in rows:
        del r["settings"]
    write_rows(out, rows)
    with open(out / "manifest.jsonl", "a") as f:
        f.write(json.dumps(rows[0])[:40])  # a kill -9 mid-append
    read = read_manifest(out / "manifest.jsonl")
    assert [r.id for r in read] == ["q1", "q2"] and all(r.settings is None for r in read)


def test_a_cli_command_reading_a_mistyped_manifest_fails_in_one_line(tmp_path):
    out = make_output(tmp_path / "out")
    rows = rows_of(out)
    rows[0]["error"] = "0.1"
    write_rows(out, rows)
    assert_one_line(audiomlqa("publish", out, "--to", tmp_path / "ds"), "manifest.jsonl: line 1: error")


# -- publish: rows that agree, runs nobody writes, a dataset replaced in one step -------------------------------------


def test_publish_refuses_rows_that_disagree_with_each_other_or_with_the_record(tmp_path):
    out = make_output(tmp_path / "out")
    ours, other = rows_of(out)[0]["settings"], settings_hash(jsonable(config(out, seed=5).fingerprint()))
    rows = rows_of(out)
    rows[1]["settings"] = other
    write_rows(out, rows)
    line = assert_one_line(audiomlqa("publish", out, "--to", tmp_path / "ds"), "manifest.jsonl", "different settings")
    assert ours[:12] in line and other[:12] in line
    rows[0]["settings"] = other
    write_rows(out, rows)
    line = assert_one_line(audiomlqa("publish", out, "--to", tmp_path / "ds"), "manifest.jsonl", "run.json states")
    assert ours[:12] in line and other[:12] in line
    assert not (tmp_path / "ds").exists()


def test_publish_refuses_a_damaged_record(tmp_path):
    out = make_output(tmp_path / "out")
    (out / "run.json").write_text((out / "run.json").read_text().replace('"dev"', '"test"'))
    assert_one_line(audiomlqa("publish", out, "--to", tmp_path / "ds"), "run.json is damaged (its checksum")


def test_publish_refuses_an_output_that_a_synthesize_still_writes(tmp_path):
    """The synthesis lock is held by a second process, as a running synthesize holds it."""
    from audiomlqa.publish import publish

    out = make_output(tmp_path / "out")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from audiomlqa.utils.locks import exclusive\n"
         f"with exclusive({str(out)!r}, 'x', lock_file={str(out / '.audiomlqa.lock')!r}):\n"
         "    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        result = audiomlqa("publish", out, "--to", tmp_path / "ds")
        assert_one_line(result, f"is being written by synthesize (pid {holder.pid}", "wait for it to finish")
        assert not (tmp_path / "ds").exists()
    finally:
        holder.kill()
        holder.wait()
    assert publish([out], tmp_path / "ds").configs == {"en": {"validation": 2}}  # its holder gone, it publishes


def dataset_state(ds: Path) -> dict[str, bytes]:
    return {p.relative_to(ds).as_posix(): p.read_bytes() for p in sorted(ds.rglob("*")) if p.is_file()}


def is_whole(ds: Path) -> bool:
    """Every file publish.json lists is there with the content it lists."""
    record = json.loads((ds / "publish.json").read_text())
    return all(sha256_file(ds / f) == sha for f, sha in record["files"].items())


@pytest.fixture
def two_publishes(tmp_path):
    """A dataset of two questions with the user's files beside it, and an output of three to replace it with."""
    from audiomlqa.publish import publish

    ds, old, new = tmp_path / "ds", make_output(tmp_path / "old"), make_output(tmp_path / "new", ("q1", "q2", "q3"))
    publish([old], ds)
    (ds / ".git").mkdir()
    (ds / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (ds / "notes.md").write_text("my notes\n")
    (ds / "link-to-notes").symlink_to("notes.md")
    return ds, new, dataset_state(ds)


def test_a_publish_killed_at_any_step_leaves_the_old_dataset_or_the_new_one(two_publishes, monkeypatch):
    """Killed at each rename or exchange in turn (the steps that put files in place), a publish
    --overwrite leaves a whole dataset with the user's files: the old one until the swap, the new one after it;
    the next run completes it and clears what the killed ones left beside it."""
    from audiomlqa.publish import dataset, publish

    ds, new, old_state = two_publishes
    step = {"n": 0, "kill_at": 0}

    def killable(fn):
        def at_this_step(*args, **kwargs):
            step["n"] += 1
            if step["n"] == step["kill_at"]:
                raise KeyboardInterrupt  # a kill at this moment: nothing after it runs
            return fn(*args, **kwargs)

        return at_this_step

    for name in ("replace", "rename"):
        monkeypatch.setattr(os, name, killable(getattr(os, name)))
    swap, just_after = killable(dataset._exchange), killable(lambda: None)  # a kill just before and just after

    def exchange(a: Path, b: Path) -> bool:
        done = swap(a, b)
        just_after()
        return done

    monkeypatch.setattr(dataset, "_exchange", exchange)
    seen = []
    for kill_at in range(1, 200):
        step.update(n=0, kill_at=kill_at)
        try:
            publish([new], ds, overwrite=True)
            break  # no step left to kill it at
        except KeyboardInterrupt:
            pass
        assert is_whole(ds), f"killed at step {kill_at}"
        assert (ds / "notes.md").read_text() == "my notes\n" and os.readlink(ds / "link-to-notes") == "notes.md"
        assert (ds / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
        seen.append(json.loads((ds / "publish.json").read_text())["configs"]["en"]["validation"]["num_examples"])
        if seen[-1] == 2:
            assert dataset_state(ds) == old_state
    assert 2 in seen and 3 in seen and seen == sorted(seen)  # old until the swap, new after it
    assert is_whole(ds) and sorted(p.name for p in ds.parent.iterdir()) == [".ds.lock", "ds", "new", "old"]


def test_a_full_disk_during_publish_fails_in_one_line_and_keeps_the_previous_dataset(two_publishes):
    """The kernel's file-size limit (writes past it fail with EFBIG) stands in for a full disk: any machine."""
    ds, new, old_state = two_publishes

    def small_files():
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    result = audiomlqa("publish", new, "--to", ds, "--overwrite", preexec_fn=small_files)
    assert_one_line(result, "cannot write the new dataset beside", "the dataset already there is untouched")
    assert dataset_state(ds) == old_state
    assert sorted(p.name for p in ds.parent.iterdir()) == [".ds.lock", "ds", "new", "old"]


# -- the whole round with eSpeak and Whisper --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_corrected_voice_runs_and_every_row_records_the_settings_of_its_record(tmp_path):
    out = tmp_path / "out"
    args = ("synthesize", *ESPEAK_EN, "--per-language", "2", "thresholds.en=1e9", "-o", out)
    assert_one_line(audiomlqa(*args, "tts.en.voices=[bogus-xx]"), "eSpeak has no voice 'bogus-xx'")
    fixed = audiomlqa(*args, "tts.en.voices=[en-us]")
    assert fixed.returncode == 0, fixed.stderr
    record = read_run_record(out / "run.json")
    assert {r.settings for r in read_manifest(out / "manifest.jsonl")} == {record.settings_hash}

    (out / "run.json").unlink()  # the rows prove the settings: the same command rebuilds the record
    again = audiomlqa(*args, "tts.en.voices=[en-us]")
    assert again.returncode == 0, again.stderr
    assert read_run_record(out / "run.json").config == record.config
    assert audiomlqa("publish", out, "--to", tmp_path / "ds").returncode == 0
    (out / "run.json").unlink()  # ... and other settings are refused
    assert_one_line(audiomlqa(*args, "tts.en.voices=[en-us]", "seed=9"), "do not prove this run's settings")
