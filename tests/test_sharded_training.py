"""The sharded path of the paper recipe (DeepSpeed ZeRO-2: optimizer state and gradients partitioned over the
processes) on two CPU processes over gloo: it trains, checkpoints only the trainable parameters, is killed,
resumes exactly where it was (the losses equal an uninterrupted run's) and writes ``final/``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("deepspeed")

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    from audiomlqa.speechllm.corpus import CorpusConfig, build_corpus

    work = tmp_path_factory.mktemp("sharded")
    build_corpus(CorpusConfig.from_dict({"output": str(work / "asr"), "languages": ["en", "de"], "per_language": 8}))
    path = work / "recipe.yaml"
    path.write_text(
        "model: {whisper: tiny-random/whisper, llm: tiny-random/llm, languages: [en, de], num_banks: 2,"
        " num_queries: 8, gate: conv, gate_hidden: 16}\n"
        f"data: {{source: {work / 'asr'}, workers: 1}}\n"
        "max_steps: 8\nbatch_size: 2\nlearning_rate: 1.0e-3\nsave_every: 2\n"
        "deepspeed: {zero_stage: 2}\ntrackers: []\n"
    )
    return path


def launch(recipe: Path, out: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [str(TORCHRUN), "--nproc_per_node", "2", "-m", "audiomlqa", "train-reference", "--recipe", str(recipe)]
        + [f"output_dir={out}", "--quiet"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def train_rows(out: Path) -> list[dict]:
    path = out / "train_log.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return [r for r in rows if r.get("split") == "train"]


@pytest.mark.slow
def test_zero_2_on_two_processes_is_killed_resumes_exactly_and_writes_final(recipe, tmp_path):
    whole = launch(recipe, tmp_path / "whole")
    stdout, stderr = whole.communicate(timeout=600)
    assert whole.returncode == 0, stderr[-3000:]
    assert stdout.count("trained 8 step(s)") == 1
    checkpoint = tmp_path / "whole" / "checkpoints" / "step-0000008"
    assert (checkpoint / "pytorch_model").is_dir() and (checkpoint / "DONE").read_text().strip() == "8"
    optimizer_shards = sorted(p.name for p in (checkpoint / "pytorch_model").glob("*optim_states.pt"))
    assert len(optimizer_shards) == 2, "ZeRO-2: each process holds its own part of the optimizer state"
    import torch

    saved = torch.load(checkpoint / "pytorch_model" / "mp_rank_00_model_states.pt", weights_only=False)["module"]
    frozen = {k for k in saved if not k.startswith("projector.")}
    # the frozen Whisper and LLM are not copied (DeepSpeed keeps the tiny LLM's tied output embedding, alone)
    assert any(k.startswith("projector.") for k in saved) and frozen <= {"llm.lm_head.weight"}, frozen

    out = tmp_path / "killed"
    proc = launch(recipe, out)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and len(train_rows(out)) < 3:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "final").exists() and 3 <= len(train_rows(out)) < 8, "killed mid-run"
    resumed = launch(recipe, out)
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr[-3000:]
    assert "resumed at" in stdout and (out / "final" / "config.json").is_file()
    assert [r["loss"] for r in train_rows(out)] == [r["loss"] for r in train_rows(tmp_path / "whole")]
