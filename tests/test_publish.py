"""synthesize → publish → datasets.load_dataset, for real (eSpeak + Whisper base, and tiny seeded models)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

pytest.importorskip("datasets")
pytest.importorskip("faster_whisper")

from audiomlqa.errors import AudioMLQAError  # noqa: E402
from audiomlqa.manifest import read_manifest, standing_attempts  # noqa: E402
from audiomlqa.publish import publish  # noqa: E402
from audiomlqa.synthesis import SynthesisConfig, synthesize  # noqa: E402


@pytest.fixture(scope="module")
def espeak_run(tmp_path_factory) -> Path:
    """Three questions in each of en and es, spoken by eSpeak, checked by Whisper base: every English clip kept
    (threshold 1e9), a Spanish one only if heard perfectly (threshold 0), so the test holds on any CPU."""
    out = tmp_path_factory.mktemp("synth")
    cfg = SynthesisConfig.from_dict(
        {
            "languages": ["en", "es"],
            "per_language": 3,
            "output": str(out),
            "max_attempts": 1,
            "thresholds": {"en": 1e9, "es": 0.0},
            "tts": {"default": {"backend": "espeak"}},
        }
    )
    synthesize(cfg, progress=False)
    return out


def _audiomlqa(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "audiomlqa.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_publish_then_load_dataset_gives_the_synthesized_audio(espeak_run, tmp_path):
    import datasets

    dest = tmp_path / "audio-mlqa"
    result = publish([espeak_run], dest, include_rejected=True)
    standing = standing_attempts(read_manifest(espeak_run / "manifest.jsonl"))
    accepted = {
        pair: sorted(qid for (p, qid), r in standing.items() if p == pair and r.accepted) for pair in ("en", "es")
    }
    assert len(accepted["en"]) == 3
    assert all(r.accepted == (r.error == 0.0) for (p, _), r in standing.items() if p == "es")
    expected = {pair: {"validation": len(ids)} for pair, ids in accepted.items() if ids}
    if any(not r.accepted for r in standing.values()):
        expected["rejected"] = {"validation": sum(not r.accepted for r in standing.values())}
    assert result.configs == expected

    card = (dest / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert [c["config_name"] for c in header["configs"]] == [c for c in expected if c != "rejected"]  # not a config
    assert header["configs"][0]["data_files"] == [{"split": "validation", "path": "data/en/validation-*.parquet"}]
    assert header["license"] == "cc-by-sa-3.0" and header["language"] == [x for x in ("en", "es") if accepted[x]]
    assert "| en | validation | 3 |" in card and "GPL-3.0" in card and "CC-BY-SA-3.0" in card

    for pair, ids in accepted.items():
        if not ids:
            continue
        ds = datasets.load_dataset(str(dest), pair, split="validation")
        assert sorted(ds["id"]) == ids and len(set(ds["id"])) == len(ds)
        assert ds.features["audio"].sampling_rate == 16000
        for example in ds:
            row = standing[(pair, example["id"])]
            audio = example["audio"]
            original, sr = sf.read(espeak_run / row.audio, dtype="float32")
            assert audio["sampling_rate"] == sr == 16000
            np.testing.assert_array_equal(np.asarray(audio["array"], dtype=np.float32).ravel(), original)
            assert example["asr_transcript"] == row.transcript and example["tts_voice"] == row.voice
            assert example["answers"]["text"] and example["context"] and example["question"] == row.text


@pytest.mark.slow
def test_publishing_twice_is_byte_identical_and_loads_offline(espeak_run, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    publish([espeak_run], a)
    publish([espeak_run], b)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.parquet"))
    assert files_a and files_a == sorted(p.relative_to(b) for p in b.rglob("*.parquet"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)
    publish([espeak_run], a, overwrite=True)  # republishing in place replaces the earlier publish
    assert (a / files_a[0]).read_bytes() == (b / files_a[0]).read_bytes()

    code = (
        f"import datasets; ds = datasets.load_dataset({str(a)!r}, 'en', split='validation'); "
        "print(len(ds), ds[0]['audio']['array'].shape[0] > 0)"
    )
    env = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == "True"


@pytest.mark.slow
def test_sharded_runs_publish_to_the_same_files_as_one_run(tmp_path):
    """Deterministic backends (seeded tiny VITS, greedy tiny Whisper) so audio is bit-reproducible."""
    pytest.importorskip("transformers")
    from tiny_models import make_tiny_vits, make_tiny_whisper

    vits, whisper = make_tiny_vits(tmp_path / "vits"), make_tiny_whisper(tmp_path / "whisper")
    base = {
        "languages": ["en", "de"],
        "per_language": 3,
        "max_attempts": 1,
        "batch_size": 1,
        "tts": {"default": {"backend": "mms", "options": {"models": {"en": str(vits), "de": str(vits)}}}},
        "asr": {"backend": "transformers", "model": str(whisper)},
        "thresholds": {"en": 1e9, "de": 1e9},
    }
    synthesize(SynthesisConfig.from_dict({**base, "output": str(tmp_path / "whole")}), progress=False)
    for i in range(2):  # the two shards land in different folders, as on two machines
        synthesize(
            SynthesisConfig.from_dict({**base, "output": str(tmp_path / f"shard{i}"), "shard": f"{i}/2"}),
            progress=False,
        )
    one = publish([tmp_path / "whole"], tmp_path / "pub-whole")
    two = publish([tmp_path / "shard0", tmp_path / "shard1"], tmp_path / "pub-shards")
    assert one.configs == two.configs == {"en": {"validation": 3}, "de": {"validation": 3}}
    header = yaml.safe_load((tmp_path / "pub-whole" / "README.md").read_text().split("---")[1])
    assert header["language"] == ["en", "de"] and header["multilinguality"] == ["multilingual"]
    for f in one.files:
        assert f.read_bytes() == (tmp_path / "pub-shards" / f.relative_to(one.directory)).read_bytes(), f


def test_bad_outputs_fail_before_anything_is_written(espeak_run, tmp_path):
    with pytest.raises(AudioMLQAError, match="appear in more than one run"):
        publish([espeak_run, espeak_run], tmp_path / "dup")
    assert not (tmp_path / "dup").exists()

    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(espeak_run), str(broken)], check=True)
    row = next(r for r in standing_attempts(read_manifest(broken / "manifest.jsonl")).values() if r.accepted)
    (broken / row.audio).unlink()
    out = _audiomlqa("publish", broken, "--to", tmp_path / "ds")
    assert (
        out.returncode == 2
        and out.stderr.startswith("error: 1 clip(s) to publish are missing or damaged")
        and "Traceback" not in out.stderr
    )
    assert row.id in out.stderr and not (tmp_path / "ds").exists()

    out = _audiomlqa("publish", tmp_path / "nowhere", "--to", tmp_path / "ds")
    assert out.returncode == 2 and "not a synthesis output directory" in out.stderr
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    out = _audiomlqa("publish", espeak_run, "--to", tmp_path / "precious")
    assert out.returncode == 2 and "holds files that audiomlqa did not publish" in out.stderr
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_push_to_hub_offline_is_one_line_and_keeps_the_folder(espeak_run, tmp_path):
    out = _audiomlqa(
        "publish",
        espeak_run,
        "--to",
        tmp_path / "ds",
        "--push-to-hub",
        "someone/audio-mlqa",
        env={"HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_secret_token_value"},
    )
    assert out.returncode == 2 and "could not push to the Hub repo 'someone/audio-mlqa'" in out.stderr
    assert "hf_secret_token_value" not in out.stderr + out.stdout and len(out.stderr.strip().splitlines()) == 1
    assert (tmp_path / "ds" / "README.md").exists()


@pytest.mark.slow
def test_score_and_questions_read_a_published_folder(espeak_run, tmp_path):
    dest = tmp_path / "ds"
    publish([espeak_run], dest)
    questions = [json.loads(x) for x in _audiomlqa("questions", dest, "--languages", "en").stdout.splitlines()]
    assert questions and all(q["pair"] == "en" for q in questions)
    preds = tmp_path / "preds"
    preds.mkdir()
    (preds / "en.json").write_text(json.dumps({q["id"]: q["answers"][0]["text"] for q in questions}))
    out = _audiomlqa("score", preds, "--dataset", dest, "--split", "validation", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["exact_match"] == 100.0 and report["pairs"][0]["total"] == len(questions)
    assert report["provenance"]["datasets"][f"{dest}#en/validation"] != ""


def _calibration_file(path: Path, asr_model: str) -> Path:
    """A calibration of the judge for en, as `audiomlqa calibrate` writes one (human clips' errors)."""
    from audiomlqa.synthesis.calibration import FORMAT, comparable_asr_settings, error_statistics

    errors = [0.0, 0.05, 0.1, 0.1, 0.15]
    doc = {
        "format": FORMAT,
        "reference": {"name": "fleurs", "clips": 5, "skipped": {}},
        "asr_settings": comparable_asr_settings({**SynthesisConfig().asr.model_dump(mode="json"), "model": asr_model}),
        "languages": {
            "en": {
                "n": 5,
                "metric": "wer",
                **error_statistics(errors),
                "clips": [
                    {"id": f"en-{i}", "error": e, "tokens": 20, "edits": round(20 * e)} for i, e in enumerate(errors)
                ],
            }
        },
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.slow
def test_the_card_states_its_limits_metadata_and_citations_shows_figures_and_holds_no_absolute_path(tmp_path):
    import pyarrow.parquet as pq
    from helpers import audiomlqa

    from audiomlqa.weights.whisper_base import whisper_base_dir

    out, ds = tmp_path / "synth", tmp_path / "dataset"
    judge = whisper_base_dir()  # the judge as a local folder: the card names it, never locates it
    cal = _calibration_file(tmp_path / "calibration.json", str(judge))
    args = ["--languages", "en,vi", "--per-language", "2", "--tts", "espeak", "--max-attempts", "1", "-o", out]
    args += ["--asr-model", judge]
    run = audiomlqa("synthesize", *args, "--calibration", cal, "thresholds.vi=1e9", "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    assert (out / "figures" / "errors.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = audiomlqa("publish", out, "--to", ds, "--include-rejected")
    assert run.returncode == 0, run.stderr[-2000:]

    card = (ds / "README.md").read_text(encoding="utf-8")
    header = yaml.safe_load(card.split("---")[1])
    assert header["task_ids"] == ["extractive-qa"] and header["source_datasets"] == ["extended|mlqa"]
    standing = standing_attempts(read_manifest(out / "manifest.jsonl")).values()
    kept = sorted({r.question_lang for r in standing if r.accepted})
    assert "vi" in kept and header["language"] == kept  # en's calibrated threshold decides en: the card follows it
    assert header["multilinguality"] == ["multilingual" if len(kept) > 1 else "monolingual"]
    assert header["size_categories"] == ["n<1K"]
    assert header["language_creators"] == ["crowdsourced", "machine-generated"]
    limitations = card.split("## Limitations")[1].split("\n## ")[0]
    assert "vi: eSpeak NG formant synthesis" in limitations and "en: eSpeak NG" in limitations
    assert (
        "en calibrated per token: at most the p90 of the ASR's errors on 5 human clips for the clip's length (fleurs"
        in limitations
    )
    assert "Not measured on human speech: vi" in limitations and "Unverified: vi" in limitations
    assert "en median 0.100 over 5 clips" in limitations and f"ASR model ({judge.name})" in limitations
    for key in ("lewis2020mlqa", "conneau2023fleurs", "gopal2026languageaware"):
        assert key in card.split("## Citation")[1]
    for figure in ("figures/errors.png", "figures/pass-rate.png"):
        assert f"]({figure})" in card and (ds / figure).read_bytes()[:4] == b"\x89PNG"
    record = json.loads((ds / "publish.json").read_text(encoding="utf-8"))
    assert {"figures/errors.png", "figures/pass-rate.png"} <= set(record["files"])
    table = pq.read_table(next((ds / "data" / "en").glob("*.parquet")))
    values = " ".join(str(v) for c in table.column_names if c != "audio" for v in table.column(c).to_pylist())
    for text in (card, (ds / "publish.json").read_text(encoding="utf-8"), values):
        assert str(tmp_path) not in text and str(judge.parent) not in text
    assert "audiomlqa publish synth --to dataset --include-rejected" in card
