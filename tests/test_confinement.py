"""Confinement that follows links: a clip or a lock file that is a link never makes the tool read or write a file
outside its folder.

Shard outputs received from others are untrusted: a clip there may be a symlink to a key file, and its manifest row
may carry that key's size and checksum (anyone can compute them). Publish must refuse it in one line and the key's
bytes must reach no file it writes. A lock file that is a symlink must be refused before anything is written
through it. The outputs here are built by hand (a manifest row and a FLAC written with soundfile): no model loads.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import FAST_MODEL, assert_one_line, audiomlqa

from audiomlqa.errors import AudioMLQAError

ROOT = Path(__file__).resolve().parents[1]
KEY = b"hf_SECRET-KEY-0123456789abcdefghij\n"


def write_flac(path: Path, seconds: float = 0.2, freq: float = 440.0) -> bytes:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16_000 * seconds)) / 16_000
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype("float32"), 16_000, format="FLAC", subtype="PCM_16")
    return path.read_bytes()


def make_output(out: Path, ids: tuple[str, ...] = ("q1", "q2"), *, checksums: bool = True) -> Path:
    """A synthesis output with one accepted English row per id, each with its own FLAC clip."""
    (out / "audio").mkdir(parents=True, exist_ok=True)
    questions, rows = [], []
    for i, qid in enumerate(ids):
        data = write_flac(out / "audio" / f"{qid}.flac", freq=300.0 + 100 * i)
        langs = {"context_lang": "en", "question_lang": "en"}
        text = f"question {qid}?"
        questions.append(
            dict(pair="en", id=qid, **langs, title="T", context=f"context {qid}", question=text)
            | {"answers": [{"text": "context", "answer_start": 0}]}
        )
        rows.append(
            dict(id=qid, pair="en", **langs, attempt=0, backend="espeak", voice="en", seed=0, rate=1.0, text=text)
            | dict(spoken_text=text, audio=f"audio/{qid}.flac", duration=0.2, accepted=True, error=0.0)
            | dict(threshold=0.5, asr_model="tiny", transcript=f"question {qid}")
        )
        if checksums:
            rows[-1].update(audio_bytes=len(data), audio_sha256=hashlib.sha256(data).hexdigest())
    (out / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    (out / "run.json").write_text(json.dumps({"config": {"split": "dev"}}))
    set_rows(out, rows)
    return out


def rows_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def set_rows(out: Path, rows: list[dict]) -> None:
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def files_holding(folder: Path, needle: bytes) -> list[Path]:
    """Every file under ``folder`` (links not followed) whose bytes contain ``needle``."""
    return [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


def plant_key(tmp_path: Path, content: bytes = KEY) -> Path:
    key = tmp_path / "secrets" / "token"
    key.parent.mkdir()
    key.write_bytes(content)
    return key


# -- a clip that is a link -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row_has_the_keys_checksum", "key_is_flac"),
    [pytest.param(False, False, id="older-row"), pytest.param(True, True, id="row-with-the-keys-checksum")],
)
def test_a_clip_linked_to_a_key_outside_is_refused_in_one_line_and_never_published(
    tmp_path, row_has_the_keys_checksum, key_is_flac
):
    """An older row (no size, no checksum) and a row carrying the key's own size and checksum (the key itself a
    FLAC, so no header check could save the day): both refused, the key's bytes in no file under the destination."""
    out = make_output(tmp_path / "out", checksums=False)
    key = plant_key(tmp_path, write_flac(tmp_path / "k.flac", freq=1234.0) if key_is_flac else KEY)
    secret = key.read_bytes()
    (out / "audio" / "q2.flac").unlink()
    (out / "audio" / "q2.flac").symlink_to(key)
    if row_has_the_keys_checksum:
        rows = rows_of(out)
        rows[1].update(audio_bytes=len(secret), audio_sha256=hashlib.sha256(secret).hexdigest())
        set_rows(out, rows)
    dest = tmp_path / "pub" / "ds"
    dest.parent.mkdir()

    result = audiomlqa("publish", out, "--to", dest)
    assert_one_line(result, "audio/q2.flac", "link", "refused")
    assert not dest.exists() and files_holding(tmp_path / "pub", secret[:24]) == []
    assert secret[:24] not in result.stdout.encode() + result.stderr.encode()
    assert key.read_bytes() == secret


def test_a_clip_linked_to_another_clip_in_the_folder_is_refused(tmp_path):
    """Never through a link, even one that stays inside: the bytes embedded are those of the file the row names."""
    out = make_output(tmp_path / "out", checksums=False)
    (out / "audio" / "q2.flac").unlink()
    (out / "audio" / "q2.flac").symlink_to(out / "audio" / "q1.flac")
    assert_one_line(audiomlqa("publish", out, "--to", tmp_path / "ds"), "audio/q2.flac", "link")
    assert not (tmp_path / "ds").exists()


def test_a_clip_that_is_not_flac_is_refused_in_one_line(tmp_path):
    from audiomlqa.publish import publish
    from audiomlqa.publish.parquet import write_parquet
    from audiomlqa.publish.runs import Selected, find_runs

    out = make_output(tmp_path / "out", checksums=False)
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(100)
    (out / "audio" / "q2.flac").write_bytes(wav)
    assert_one_line(audiomlqa("publish", out, "--to", tmp_path / "ds"), "en/q2", "audio/q2.flac", "not a FLAC")
    assert not (tmp_path / "ds").exists()

    rows = rows_of(out)  # a row that agrees with the file: the header is still checked, at selection and embedding
    rows[1].update(audio_bytes=len(wav), audio_sha256=hashlib.sha256(wav).hexdigest())
    set_rows(out, rows)
    with pytest.raises(AudioMLQAError, match=r"en/q2 \(audio/q2\.flac: not a FLAC file\)"):
        publish([out], tmp_path / "ds")
    (run,) = find_runs([out])
    with pytest.raises(AudioMLQAError, match=r"row en/q2 \(attempt 0\): audio/q2\.flac is not a FLAC file: refused"):
        write_parquet([Selected("en", "validation", run, run.standing[("en", "q2")])], tmp_path / "ds")
    assert list((tmp_path / "ds").rglob("*.parquet")) == []


def test_a_clip_swapped_after_the_check_is_refused_when_embedded(tmp_path):
    """The bytes that reach the parquet are the bytes checked: a clip changed between selection and writing (a
    rename race) is caught on the bytes read for embedding, not by a second open."""
    from audiomlqa.publish.parquet import write_parquet
    from audiomlqa.publish.runs import find_runs, select_rows

    out = make_output(tmp_path / "out")
    selected = select_rows(find_runs([out]))
    write_flac(out / "audio" / "q2.flac", freq=999.0)  # a different clip, same name
    with pytest.raises(AudioMLQAError, match=r"en/q2.*audio/q2\.flac.*changed"):
        write_parquet(selected, tmp_path / "ds")


# -- folders that are links ------------------------------------------------------------------------------------------


def test_the_whole_output_folder_may_be_a_link_and_older_rows_publish_exactly_their_clips(tmp_path):
    """A user who put the whole output on a scratch disk: the folder itself is resolved first. Its rows, of an
    older version, have no size or checksum: publish computes them from the very bytes it embeds."""
    import pyarrow.parquet as pq

    from audiomlqa.publish import publish

    real = make_output(tmp_path / "scratch" / "out", checksums=False)
    (tmp_path / "out").symlink_to(real)
    (shard,) = publish([tmp_path / "out"], tmp_path / "ds").files
    embedded = {r["id"]: r["audio"]["bytes"] for r in pq.read_table(shard).to_pylist()}
    assert embedded == {q: (real / "audio" / f"{q}.flac").read_bytes() for q in ("q1", "q2")}


def test_an_audio_folder_linked_to_outside_is_refused(tmp_path):
    out = make_output(tmp_path / "out")
    (out / "audio").rename(tmp_path / "elsewhere")
    (out / "audio").symlink_to(tmp_path / "elsewhere")
    assert_one_line(
        audiomlqa("publish", out, "--to", tmp_path / "ds"), "audio path 'audio/q1.flac'", "outside", "copy the file"
    )
    assert not (tmp_path / "ds").exists()


def test_inside_follows_links_and_names_the_entry(tmp_path):
    from audiomlqa.utils.files import inside

    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text("x")
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "root-link").symlink_to(root)
    assert inside(tmp_path / "root-link", "sub/new.txt") == tmp_path / "root-link" / "sub" / "new.txt"
    for rel in ("link.txt", "dangling", "sub/../link.txt"):
        with pytest.raises(AudioMLQAError, match=f"path '{rel}' is a link to a file outside"):
            inside(root, rel)
    with pytest.raises(AudioMLQAError, match="points outside"):
        inside(root, "../outside.txt")


def test_open_regular_refuses_links_folders_and_pipes(tmp_path):
    from audiomlqa.utils.files import open_regular, sha256_file

    (tmp_path / "f").write_bytes(b"abc")
    (tmp_path / "l").symlink_to(tmp_path / "f")
    os.mkfifo(tmp_path / "p")  # opening a pipe for reading would block forever
    with open_regular(tmp_path / "f") as f:
        assert f.read() == b"abc"
    assert sha256_file(tmp_path / "f") == hashlib.sha256(b"abc").hexdigest()
    for name, why in (("l", "is a link"), (".", "not a regular file"), ("p", "not a regular file")):
        with pytest.raises(AudioMLQAError, match=why):
            open_regular(tmp_path / name)
    with pytest.raises(AudioMLQAError, match="is a link"):
        sha256_file(tmp_path / "l", follow_links=False)


# -- lock files that are links ----------------------------------------------------------------------------------------


def link_lock(lock: Path, tmp_path: Path) -> tuple[Path, bytes]:
    target = plant_key(tmp_path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.symlink_to(target)
    return target, target.read_bytes()


@pytest.mark.parametrize("kind", ["symlink", "dangling symlink", "hard link", "folder"])
def test_a_lock_file_that_is_a_link_is_refused_and_its_target_untouched(tmp_path, kind):
    from audiomlqa.utils.locks import LOCK_NAME, exclusive

    lock, target = tmp_path / "o" / LOCK_NAME, plant_key(tmp_path)
    lock.parent.mkdir()
    if kind == "symlink":
        lock.symlink_to(target)
    elif kind == "dangling symlink":
        lock.symlink_to(tmp_path / "would-be-created")
    elif kind == "hard link":
        os.link(target, lock)
    else:
        lock.mkdir()
    with pytest.raises(AudioMLQAError, match=r"is a link \(or not a regular file\): refused; delete it and rerun"):
        with exclusive(tmp_path / "o", "test"):
            pass
    assert target.read_bytes() == KEY and not (tmp_path / "would-be-created").exists()


def test_synthesize_refuses_a_linked_lock_file_in_one_line(tmp_path):
    out = tmp_path / "out"
    target, before = link_lock(out / ".audiomlqa.lock", tmp_path)
    result = audiomlqa("synthesize", "--languages", "en", "--tts", "espeak", "--per-language", "1", "-o", out)
    assert_one_line(result, ".audiomlqa.lock is a link", "delete it and rerun")
    assert target.read_bytes() == before and not (out / "manifest.jsonl").exists()


def test_publish_refuses_a_linked_lock_file_in_one_line(tmp_path):
    out = make_output(tmp_path / "out")
    target, before = link_lock(tmp_path / ".ds.lock", tmp_path)
    assert_one_line(audiomlqa("publish", out, "--to", tmp_path / "ds"), ".ds.lock is a link", "delete it and rerun")
    assert target.read_bytes() == before and not (tmp_path / "ds").exists()


@pytest.mark.slow  # torch, the recipe's models checked and its data read before the lock is taken
def test_train_reference_refuses_a_linked_lock_file_in_one_line(tmp_path):
    pytest.importorskip("torch")
    out = make_output(tmp_path / "out")
    run = tmp_path / "run"
    target, before = link_lock(run / ".audiomlqa.lock", tmp_path)
    result = audiomlqa(
        "train-reference", "--recipe", ROOT / "recipes" / "train-tiny-cpu.yaml", f"data.source={out}",
        f"output_dir={run}", "max_steps=1", *FAST_MODEL, "--quiet",
    )  # fmt: skip
    assert_one_line(result, ".audiomlqa.lock is a link", "delete it and rerun")
    assert target.read_bytes() == before and sorted(p.name for p in run.iterdir()) == [".audiomlqa.lock"]


# -- training reads no link ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["outside", "inside"])
def test_training_data_refuses_a_linked_clip_in_one_line(tmp_path, target):
    from audiomlqa.speechllm.data import DataConfig, load_asr_corpus

    out = make_output(tmp_path / "out")
    key = plant_key(tmp_path)
    (out / "audio" / "q2.flac").unlink()
    (out / "audio" / "q2.flac").symlink_to(key if target == "outside" else out / "audio" / "q1.flac")
    with pytest.raises(AudioMLQAError, match=r"audio path 'audio/q2\.flac' is a link") as caught:
        load_asr_corpus(DataConfig(source=str(out)), ["en"])
    assert "\n" not in str(caught.value)


def test_a_clip_swapped_for_a_link_after_loading_is_not_read_for_training(tmp_path):
    from audiomlqa.speechllm.data import DataConfig, load_asr_corpus

    out = make_output(tmp_path / "out")
    train, validation = load_asr_corpus(DataConfig(source=str(out), validation=0.0), ["en"])
    assert [len(u.audio) for u in train] == [3200, 3200]
    (out / "audio" / "q2.flac").unlink()
    (out / "audio" / "q2.flac").symlink_to(write_flac(tmp_path / "k.flac") and tmp_path / "k.flac")
    with pytest.raises(AudioMLQAError, match="is a link"):
        [train[i] for i in range(len(train))]
