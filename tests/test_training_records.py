"""What a training output records about itself, read back honestly: a checkpoint's ``DONE`` must hold the step of
its own folder (``-5``, ``999999``, text or nothing fail in one line naming the file), and a damaged
``train_config.json`` fails in one line instead of a traceback — both before any model loads. One CLI run; the
rest reads folders built by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import FAST_MODEL, assert_one_line, audiomlqa

from audiomlqa.errors import AudioMLQAError
from audiomlqa.speechllm.checkpoints import StepCounter, done_step, latest_checkpoint, load_checkpoint, read_run_config

ROOT = Path(__file__).resolve().parents[1]


def checkpoint(out: Path, step: int, done: str | None = None) -> Path:
    """A checkpoint folder as ``save_checkpoint`` names it, with ``done`` as its DONE file (None: no DONE)."""
    path = out / "checkpoints" / f"step-{step:07d}"
    path.mkdir(parents=True)
    if done is not None:
        (path / "DONE").write_text(done)
    return path


def one_line(error: pytest.ExceptionInfo[AudioMLQAError]) -> str:
    message = str(error.value)
    assert message and "\n" not in message
    return message


def test_the_newest_checkpoint_whose_done_holds_its_own_step_is_resumed(tmp_path):
    checkpoint(tmp_path, 2, "2\n")
    newest = checkpoint(tmp_path, 4, "4\n")
    checkpoint(tmp_path, 6)  # killed before DONE: ignored
    assert latest_checkpoint(tmp_path, max_steps=6) == newest
    assert done_step(newest, max_steps=4) == 4
    assert latest_checkpoint(tmp_path / "elsewhere") is None


@pytest.mark.parametrize(
    ("done", "fragment"),
    [
        ("-5\n", "holds '-5', not a step number"),
        ("999999\n", "says step 999999, but the folder is step-0000004"),
        ("3\n", "says step 3, but the folder is step-0000004"),
        ("four\n", "holds 'four', not a step number"),
        ("", "holds '', not a step number"),
        ("4.0\n", "holds '4.0', not a step number"),
        ("\xff\xfe", "cannot be read"),
    ],
)
def test_a_done_file_that_does_not_hold_its_folders_step_fails_in_one_line_naming_the_file(tmp_path, done, fragment):
    checkpoint(tmp_path, 2, "2\n")
    bad = checkpoint(tmp_path, 4)
    (bad / "DONE").write_bytes(done.encode("latin-1"))
    with pytest.raises(AudioMLQAError) as error:
        latest_checkpoint(tmp_path, max_steps=6)
    message = one_line(error)
    assert f"{bad / 'DONE'} {fragment}" in message and f"delete {bad} to resume from the one before" in message


def test_a_done_beyond_max_steps_fails_in_one_line_saying_both_ways_out(tmp_path):
    beyond = checkpoint(tmp_path, 999999, "999999\n")
    with pytest.raises(AudioMLQAError) as error:
        latest_checkpoint(tmp_path, max_steps=6)
    message = one_line(error)
    assert "beyond this run's max_steps 6" in message and f"delete {beyond}" in message
    assert latest_checkpoint(tmp_path) == beyond  # without a run's max_steps the folder's own step is the check


def test_a_done_that_is_a_folder_fails_in_one_line(tmp_path):
    bad = checkpoint(tmp_path, 4)
    (bad / "DONE").mkdir()
    with pytest.raises(AudioMLQAError) as error:
        latest_checkpoint(tmp_path)
    assert f"{bad / 'DONE'} cannot be read" in one_line(error)


def test_loading_a_checkpoint_with_a_lying_done_fails_before_touching_the_accelerator(tmp_path):
    bad = checkpoint(tmp_path, 4, "999999\n")
    state = StepCounter()
    with pytest.raises(AudioMLQAError) as error:
        load_checkpoint(None, state, bad)  # no accelerator: the DONE check comes first
    assert "says step 999999" in one_line(error)
    assert state.step == 0


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"batch_size": 8, "data": {"sou', "malformed JSON at line 1"),
        (b"", "malformed JSON at line 1 column 1"),
        (b"[1, 2]", "holds a JSON list"),
        (b'{"seed": "\xff"}', "cannot be read"),
    ],
)
def test_a_damaged_train_config_fails_in_one_line_saying_to_restore_it_or_start_elsewhere(tmp_path, content, fragment):
    saved = tmp_path / "train_config.json"
    saved.write_bytes(content)
    with pytest.raises(AudioMLQAError) as error:
        read_run_config(saved)
    message = one_line(error)
    assert f"{saved} is damaged" in message and fragment in message
    assert "restore it, or choose another output_dir" in message
    saved.write_text(json.dumps({"seed": 0}))
    assert read_run_config(saved) == {"seed": 0}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Three 1 s clips of noise with transcripts: enough for train-reference to get as far as the output folder."""
    import soundfile as sf

    out = tmp_path_factory.mktemp("asr")
    rng, rows = np.random.default_rng(0), []
    for i, lang in enumerate(["en", "de", "zh"]):
        sf.write(out / f"{i}.flac", rng.normal(0, 0.1, 16000).astype(np.float32), 16000, subtype="PCM_16")
        rows.append({"file_name": f"{i}.flac", "text": "where is the river", "language": lang, "voice": "v"})
    (out / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def overrides(corpus: Path, run: Path) -> list[str]:
    return [f"data.source={corpus}", f"output_dir={run}", "data.accepted_only=false", "max_steps=6", *FAST_MODEL]


def train_reference(corpus: Path, run: Path):
    return audiomlqa(
        "train-reference", "--recipe", ROOT / "recipes" / "train-tiny-cpu.yaml", *overrides(corpus, run), "--quiet",
        env={"HF_DATASETS_DISABLE_PROGRESS_BARS": "1"},  # datasets reads the audio folder with bars of its own
    )  # fmt: skip


def write_run_config(corpus: Path, run: Path) -> None:
    """The train_config.json the same command would have written: only the checkpoint is wrong."""
    from audiomlqa.speechllm.train import load_train_config

    cfg = load_train_config(ROOT / "recipes" / "train-tiny-cpu.yaml", overrides(corpus, run))
    (run / "train_config.json").write_text(json.dumps(cfg.to_dict()))


def test_train_reference_on_an_output_with_a_lying_done_fails_in_one_line_before_any_model_loads(corpus, tmp_path):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    bad = checkpoint(run, 4, "999999\n")  # before: "resumed" at step 999999, trained nothing and exited 0
    write_run_config(corpus, run)
    assert_one_line(train_reference(corpus, run), f"{bad / 'DONE'} says step 999999", f"delete {bad}")
    assert sorted(p.name for p in run.iterdir()) == [".audiomlqa.lock", "checkpoints", "train_config.json"]


def test_checkpoints_without_their_train_config_are_not_resumed_under_todays_settings(corpus, tmp_path):
    """A deleted train_config.json used to turn the settings check off: the checkpoint was resumed under whatever
    recipe the rerun gave."""
    pytest.importorskip("torch")
    run = tmp_path / "run"
    checkpoint(run, 4, "4\n")
    assert_one_line(train_reference(corpus, run), "holds checkpoints but no train_config.json", "restore the file")
    assert sorted(p.name for p in run.iterdir()) == [".audiomlqa.lock", "checkpoints"]


def test_resuming_an_output_with_a_cut_train_config_fails_in_one_line_and_leaves_it_as_it_was(tmp_path):
    pytest.importorskip("torch")
    from audiomlqa.speechllm.train import _check_same_run, load_train_config

    run = tmp_path / "run"
    checkpoint(run, 2, "2\n")
    cut = b'{\n  "batch_size": 8,\n  "data": {\n    "acc'
    (run / "train_config.json").write_bytes(cut)
    cfg = load_train_config(ROOT / "recipes" / "train-tiny-cpu.yaml", [f"output_dir={run}", "max_steps=6"])
    with pytest.raises(AudioMLQAError) as error:
        _check_same_run(cfg, run)  # what train-reference runs before it builds the model
    assert "train_config.json is damaged" in one_line(error) and "restore it" in one_line(error)
    assert (run / "train_config.json").read_bytes() == cut

    (run / "train_config.json").write_text(json.dumps(cfg.to_dict()))
    _check_same_run(cfg, run)  # the same settings, intact: resumed
    checkpoint(run, 7, "7\n")
    with pytest.raises(AudioMLQAError, match="beyond this run's max_steps 6"):
        _check_same_run(cfg, run)
