"""Device and precision: every runner loads its model where the spec (or --device) says, in the dtype it says;
a device the machine lacks, or a Hub checkpoint offline, fails in one line before anything loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from audiomlqa.errors import AudioMLQAError  # noqa: E402
from audiomlqa.evaluation import load_runner, load_spec, placement  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def spec_file(tmp_path: Path, **fields) -> Path:
    path = tmp_path / f"{fields['name']}.json"
    path.write_text(json.dumps(fields))
    return path


def dtypes(module) -> set:
    return {p.dtype for p in module.parameters()}


def devices(module) -> set:
    return {p.device.type for p in module.parameters()}


def test_auto_is_the_cpu_in_float32_here_and_an_explicit_dtype_is_honoured(tmp_path):
    auto = load_spec(ROOT / "models" / "tiny-text.json")
    assert placement(auto).device == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        assert placement(auto).dtype == "float32"
        assert dtypes(load_runner(auto).llm.model) == {torch.float32}
    half = load_spec(ROOT / "models" / "tiny-text.json", ["dtype=bfloat16", "device=cpu"])
    runner = load_runner(half)
    assert dtypes(runner.llm.model) == {torch.bfloat16} and devices(runner.llm.model) == {"cpu"}
    assert runner.describe()["dtype"] == "bfloat16" and runner.describe()["device"] == "cpu"


def test_the_cascade_puts_its_asr_and_its_llm_in_the_spec_precision(tmp_path):
    spec = load_spec(ROOT / "models" / "tiny-cascade.json", ["dtype=bfloat16", "device=cpu"])
    runner = load_runner(spec)
    assert dtypes(runner.asr.model) == {torch.bfloat16} and dtypes(runner.llm.model) == {torch.bfloat16}
    assert runner.describe()["asr"]["dtype"] == "bfloat16"


def test_the_speechllm_freezes_its_whisper_and_llm_in_the_spec_precision(tmp_path):
    from audiomlqa.speechllm import SpeechLLM, SpeechLLMConfig

    cfg = SpeechLLMConfig.from_dict({"languages": ["en", "de"], "num_banks": 2, "num_queries": 4, "gate_hidden": 8})
    SpeechLLM.from_config(cfg).save_pretrained(tmp_path / "ckpt")
    spec = load_spec(
        spec_file(
            tmp_path, name="s", kind="speechllm", checkpoint=str(tmp_path / "ckpt"), dtype="bfloat16", device="cpu"
        )
    )
    model = load_runner(spec).model
    assert dtypes(model.encoder) == {torch.bfloat16} and dtypes(model.llm) == {torch.bfloat16}
    assert dtypes(model.projector) == {torch.float32}  # trained parts stay fp32; their output is cast
    assert devices(model) == {"cpu"}


def test_a_user_adapter_is_told_the_resolved_device_and_dtype(tmp_path):
    seen = {}

    import tiny_models

    class Recording(tiny_models.LeadWordsRunner):
        def __init__(self, data, base=None):
            seen.update(data)
            super().__init__(data, base)

    tiny_models.Recording = Recording
    spec = load_spec(spec_file(tmp_path, name="rec", kind="rec", adapter="tiny_models:Recording"))
    load_runner(spec)
    assert seen["device"] in ("cpu", "cuda") and seen["dtype"] in ("float32", "bfloat16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it_fails_in_one_line_before_anything_loads(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "audiomlqa",
            "score",
            ROOT / "models" / "tiny-text.json",
            "--dataset",
            tmp_path / "nowhere",
            "--device",
            "cuda",
            "--predictions-dir",
            tmp_path / "p",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "device 'cuda' asked for, but this machine has no CUDA GPU" in out.stderr
    assert not (tmp_path / "p").exists()
    with pytest.raises(AudioMLQAError, match="unknown device 'tpu'"):
        placement(load_spec(ROOT / "models" / "tiny-text.json", ["device=tpu"]))


def test_a_hub_checkpoint_offline_fails_in_one_line_and_a_folder_loads(tmp_path):
    spec = spec_file(tmp_path, name="hub", kind="speechllm", checkpoint="someone/lang-aware-hard")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run(
        [sys.executable, "-m", "audiomlqa", "score", spec, "--dataset", tmp_path / "nowhere"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "cannot fetch Speech LLM checkpoint 'someone/lang-aware-hard' from the Hub" in out.stderr

    from audiomlqa.speechllm import SpeechLLM, SpeechLLMConfig

    cfg = SpeechLLMConfig.from_dict({"languages": ["en"], "num_banks": 1, "gate": "none", "num_queries": 4})
    SpeechLLM.from_config(cfg).save_pretrained(tmp_path / "folder")
    assert SpeechLLM.from_pretrained(str(tmp_path / "folder")).config.num_queries == 4


def test_pushing_a_checkpoint_offline_fails_in_one_line_and_keeps_it(tmp_path, monkeypatch):
    from audiomlqa.weights.hub import push

    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "config.json").write_text("{}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AudioMLQAError, match=r"could not push to the Hub repo 'someone/model' .*complete in"):
        push(tmp_path / "final", "someone/model", repo_type="model", message="m")
    assert (tmp_path / "final" / "config.json").exists()


def test_faster_whisper_is_built_on_the_gpu_the_spec_names_not_gpu_0(tmp_path):
    from audiomlqa.asr.faster_whisper import model_arguments
    from audiomlqa.evaluation import placed_asr as _placed_asr

    spec = load_spec(ROOT / "models" / "tiny-cascade.json", ["asr.backend=faster-whisper", "asr.model=null"])
    on_second_gpu = spec.fields.model_copy(update={"device": "cuda:1", "dtype": "float16"})
    asr = _placed_asr(on_second_gpu)
    assert asr.device == "cuda:1" and asr.compute_type == "float16"
    arguments = model_arguments("whisper-dir", asr.device, asr.compute_type, 0)
    assert (arguments["device"], arguments["device_index"]) == ("cuda", 1)
    on_cpu = model_arguments("w", "cpu", "int8", 0)
    assert (on_cpu["device"], on_cpu["device_index"]) == ("cpu", 0)
    with pytest.raises(AudioMLQAError, match="cuda:N"):
        model_arguments("w", "cuda:one", "int8", 0)


def test_each_process_of_a_two_process_launch_builds_its_whisper_on_its_own_gpu(tmp_path):
    script = tmp_path / "which_gpu.py"
    script.write_text(
        "import json, os\n"
        "from audiomlqa.asr.faster_whisper import model_arguments\n"
        "a = model_arguments('whisper-dir', 'cuda', 'float16', 0)\n"
        "print(json.dumps({'rank': int(os.environ['RANK']), 'device': a['device'], 'index': a['device_index']}))\n"
    )
    torchrun = Path(sys.executable).with_name("torchrun")
    out = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--standalone", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    seen = sorted((r["rank"], r["device"], r["index"]) for r in map(json.loads, out.stdout.splitlines()))
    assert seen == [(0, "cuda", 0), (1, "cuda", 1)]


def test_a_judge_loads_as_a_runner_at_its_placement_with_its_device_map(tmp_path, monkeypatch):
    import audiomlqa.llm.text
    from audiomlqa.evaluation import Judge, ToJudge

    loaded = []
    real = audiomlqa.llm.text.load_causal_lm
    monkeypatch.setattr(audiomlqa.llm.text, "load_causal_lm", lambda llm, **kw: loaded.append(kw) or real(llm, **kw))
    spec = json.loads((ROOT / "models" / "judge-tiny.json").read_text())
    path = spec_file(tmp_path, **{**spec, "device_map": {"": "cpu"}, "generation": {"do_sample": True}})
    judge = Judge(load_spec(path))
    assert placement(judge.spec).device_map == {"": "cpu"}
    assert [kw["device_map"] for kw in loaded] == [{"": "cpu"}], "the judge's device map reached the loader"
    assert devices(judge.runner.llm.model) == {"cpu"}
    assert judge.runner.llm.generation["do_sample"] is False, "a judge decodes greedily, whatever its spec says"
    assert "kind" not in judge.describe() and judge.describe()["judge"] == "judge-tiny"
    [(score, raw)] = judge.scores([ToJudge("en", "q1", "Who wrote Faust?", ("Goethe",), "Goethe")])
    assert isinstance(raw, str) and (score is None or score in range(6))
