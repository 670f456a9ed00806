"""benchmarks/bench_reproduction.py --quick: the paper's comparison end to end on tiny random models — three
variants × two seeds trained, scored and judged, and one table whose numbers are the runs' own (seed means,
intervals over seeds and over questions, held-out LID, paired tests). The plumbing, never a result."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_quick_reproduction_trains_scores_and_judges_every_variant_and_seed_and_states_its_intervals(
    spoken_dataset, tmp_path
):
    dataset = spoken_dataset(["en", "de"], 2)
    run = subprocess.run(
        [
            sys.executable,
            ROOT / "benchmarks" / "bench_reproduction.py",
            "--quick",
            "--work",
            tmp_path,
            "--dataset",
            dataset,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((tmp_path / "reproduction.json").read_text())
    assert summary["seeds"] == [0, 1] and list(summary["tasks"]) == ["extractive-qa"]
    qa = summary["tasks"]["extractive-qa"]
    assert qa["configs"] == sorted(p.name for p in (dataset / "data").iterdir() if p.is_dir())
    assert list(qa["variants"]) == ["lang-aware-hard", "lang-aware-soft", "ml-diva"]
    for row in qa["variants"].values():
        for metric in ("f1", "exact_match", "judge_mean"):
            entry = row[metric]
            assert len(entry["seeds"]) == 2 and entry["mean"] == pytest.approx(statistics.fmean(entry["seeds"]))
            assert entry["low"] <= entry["mean"] <= entry["high"]
            # the seed-averaged model's macro average is the mean of the seeds' macro averages (same questions)
            boot = entry["bootstrap"]
            assert boot["estimate"] == pytest.approx(entry["mean"]) and boot["low"] <= boot["estimate"] <= boot["high"]
    for variant in ("lang-aware-hard", "lang-aware-soft"):  # ML-DiVA has no gate: no language ID to hold out
        lid = qa["variants"][variant]["held_out_lid"]
        assert set(lid) == {"en", "de", "all"} and all(0.0 <= v <= 1.0 for v in lid.values())
    assert "held_out_lid" not in qa["variants"]["ml-diva"]
    for row in qa["variants"].values():  # every variant distils: its held-out L_IN and L_OUT, over the seeds
        assert all(len(row[k]["seeds"]) == 2 and row[k]["mean"] > 0 for k in ("loss_in", "loss_out"))
    assert set(qa["paired"]) == {
        f"lang-aware-hard - {other}: {m}"
        for other in ("lang-aware-soft", "ml-diva")
        for m in ("f1", "exact_match", "judge_mean")
    }
    assert all(0 < t["p_value"] <= 1 for t in qa["paired"].values())
    table = run.stdout
    assert "| lang-aware-hard |" in table and "| ml-diva |" in table and "lang-aware-hard - ml-diva: f1" in table
    assert summary["command"].startswith("python benchmarks/bench_reproduction.py --quick")
