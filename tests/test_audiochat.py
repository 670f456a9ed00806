"""The field's audio chat models (kind ``audiochat``): every family runs end to end through ``audiomlqa score`` on
tiny random models built from its real config classes; batched greedy answers equal one-at-a-time answers; the
audio reaches the model; and a remote-code model without ``trust_remote_code``, a Hub id offline and a processor
without audio are each refused in one line before any weight loads."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from helpers import assert_one_line, audiomlqa  # noqa: E402

from audiomlqa.errors import AudioMLQAError  # noqa: E402
from audiomlqa.evaluation import load_runner, load_spec, preflight, short_answer_prompt  # noqa: E402
from audiomlqa.llm.audiochat import AudioChatLLM, inspect  # noqa: E402
from audiomlqa.llm.names import resolve  # noqa: E402
from audiomlqa.testing.tiny_audiochat import BUILDERS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = sorted(BUILDERS)
CONTEXT = "Berlin ist die Hauptstadt Deutschlands und hat etwa 3,7 Millionen Einwohner."


def clips(*seconds: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(int(16000 * s))).astype(np.float32) for s in seconds]


def prompts(*languages: str) -> list[str]:
    return [short_answer_prompt(CONTEXT, None, lang) for lang in languages]


@pytest.fixture(scope="module")
def dataset(spoken_dataset):
    return spoken_dataset(["en", "de"], 2)  # the one test_judging reads


@pytest.fixture(scope="module", params=FAMILIES)
def family_model(request):
    return request.param, AudioChatLLM(resolve(f"tiny-random/{request.param}"), max_new_tokens=6)


def test_every_shipped_family_has_a_tiny_spec_and_a_real_one():
    specs = [json.loads(p.read_text()) for p in (ROOT / "models").glob("*.json")]
    tiny = {s["checkpoint"] for s in specs if s["kind"] == "audiochat" and s["checkpoint"].startswith("tiny-random/")}
    assert tiny == {f"tiny-random/{f}" for f in FAMILIES}
    real = [s for s in specs if s["kind"] == "audiochat" and not s["checkpoint"].startswith("tiny-random/")]
    assert {"Qwen/Qwen2-Audio-7B-Instruct", "SeaLLMs/SeaLLMs-Audio-7B"} <= {s["checkpoint"] for s in real}
    assert all(s.get("license") and s.get("languages") and s.get("dtype") == "bfloat16" for s in real)
    for path in (ROOT / "models").glob("*.json"):
        if json.loads(path.read_text())["kind"] == "audiochat":
            load_spec(path)  # every field valid; Hub ids are not fetched


@pytest.mark.slow
def test_each_family_runs_end_to_end_through_score(dataset, tmp_path):
    """Every family side by side in one ``score`` run (one process start, not one per family), each checked apart;
    on the de config alone (two questions): en would run the same path again."""
    specs = [ROOT / "models" / f"tiny-{family}.json" for family in FAMILIES]
    out = audiomlqa("score", *specs, "--dataset", dataset, "--configs", "de", "--predictions-dir", tmp_path, "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    reports = {r["model"]: r for r in json.loads(out.stdout)["models"]}
    assert list(reports) == [f"tiny-{family}" for family in FAMILIES]
    for family in FAMILIES:
        report = reports[f"tiny-{family}"]
        assert {c: report["configs"][c]["total"] for c in report["configs"]} == {"de": 2}, family
        runner = report["provenance"]["runner"]
        assert runner["kind"] == "audiochat" and runner["family"] == family and runner["dtype"] == "float32"
        assert runner["checkpoint"] == f"tiny-random/{family}" and report["provenance"]["prompt_version"]
        raw = json.loads((tmp_path / f"tiny-{family}" / "de.raw.json").read_text())
        assert len(raw["raw"]) == 2 and all(isinstance(t, str) for t in raw["raw"].values()), family


def test_batched_greedy_answers_equal_one_at_a_time_answers(family_model):
    """(Phi-4 answers question by question anyway: see the last test.)"""
    family, llm = family_model
    ps, audios = prompts("en", "de", "en"), clips(1.0, 3.5, 2.0)
    batched = llm.generate(ps, audios)
    assert batched == [llm.generate([p], [a])[0] for p, a in zip(ps, audios)], family
    assert len(batched) == 3


def test_the_audio_reaches_the_model(family_model):
    family, llm = family_model
    [p] = prompts("en")
    logits = []
    for audio in (clips(2.0, seed=1)[0], clips(2.0, seed=2)[0]):
        batch = llm.inputs([p], [audio])
        with torch.inference_mode():
            logits.append(llm.model(**batch).logits[0, -1])
    assert not torch.allclose(logits[0], logits[1]), f"{family}: the answer does not depend on the audio"


def test_the_prompt_goes_around_the_audio_in_the_familys_own_template(family_model):
    family, llm = family_model
    [p] = prompts("de")
    ids = llm.inputs([p], clips(1.0))["input_ids"][0]
    text = llm.tokenizer.decode(ids, skip_special_tokens=False)
    assert "Kontext: Berlin ist die Hauptstadt" in text and "Kurze Antwort:" in text
    assert "<speech>" not in text


def test_a_spec_runs_in_the_precision_it_names(tmp_path):
    runner = load_runner(load_spec(ROOT / "models" / "tiny-qwen2-audio.json", ["dtype=bfloat16", "device=cpu"]))
    assert {p.dtype for p in runner.llm.model.parameters()} == {torch.bfloat16}
    assert runner.describe()["dtype"] == "bfloat16"
    assert len(runner.llm.generate(prompts("en"), clips(1.0))) == 1


# -- refused before any weight loads ---------------------------------------------------------------------------


def spec(tmp_path: Path, **fields) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"name": "m", "kind": "audiochat", **fields}))
    return path


REMOTE_CONFIG = """from transformers import Qwen2AudioConfig


class RemoteAudioConfig(Qwen2AudioConfig):
    model_type = "tiny_remote_audio"
"""
REMOTE_MODEL = """from transformers import Qwen2AudioForConditionalGeneration

from .configuration_remote import RemoteAudioConfig


class RemoteAudioModel(Qwen2AudioForConditionalGeneration):
    config_class = RemoteAudioConfig
"""


def remote_code_model(target: Path, weights: bool = True) -> Path:
    """A model transformers does not implement: its config and class come from Python files in its folder, as
    MERaLiON-2's and GLM-4-Voice's do on the Hub (here a renamed Qwen2-Audio, so it can run). Without weights,
    a refusal that needed them would fail differently."""
    shutil.copytree(resolve("tiny-random/qwen2-audio"), target)
    (target / "configuration_remote.py").write_text(REMOTE_CONFIG)
    (target / "modeling_remote.py").write_text(REMOTE_MODEL)
    config = json.loads((target / "config.json").read_text())
    config["model_type"] = "tiny_remote_audio"
    config["auto_map"] = {
        "AutoConfig": "configuration_remote.RemoteAudioConfig",
        "AutoModelForCausalLM": "modeling_remote.RemoteAudioModel",
    }
    (target / "config.json").write_text(json.dumps(config))
    if not weights:
        for w in target.glob("*.safetensors"):
            w.unlink()
    return target


@pytest.mark.slow
def test_a_remote_code_model_without_trust_remote_code_is_refused_in_one_line(tmp_path, dataset):
    folder = remote_code_model(tmp_path / "remote", weights=False)
    spec_path = spec(tmp_path, checkpoint=str(folder))
    out = audiomlqa("score", spec_path, "--dataset", dataset, "--predictions-dir", tmp_path / "p")
    assert_one_line(out, "runs Python code from its repository", '"trust_remote_code": true')
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_a_remote_code_model_runs_when_the_spec_trusts_it(tmp_path):
    folder = remote_code_model(tmp_path / "remote")
    runner = load_runner(load_spec(spec(tmp_path, checkpoint=str(folder), trust_remote_code=True)))
    assert runner.describe()["family"] == "remote-code" and runner.describe()["model_class"] == "RemoteAudioModel"
    ps, audios = prompts("en", "de"), clips(1.0, 2.5)
    assert runner.llm.generate(ps, audios) == [runner.llm.generate([p], [a])[0] for p, a in zip(ps, audios)]


@pytest.mark.slow
def test_a_hub_id_offline_fails_in_one_line(tmp_path, dataset):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = audiomlqa("score", spec(tmp_path, checkpoint="Qwen/Qwen2-Audio-7B-Instruct"), "--dataset", dataset, env=env)
    assert_one_line(out, "cannot fetch audio chat model 'Qwen/Qwen2-Audio-7B-Instruct' from the Hub", "local folder")


@pytest.mark.slow
def test_a_processor_without_audio_and_a_text_llm_are_refused_before_weights(tmp_path, dataset):
    deaf = remote_code_model(tmp_path / "deaf", weights=False)
    (deaf / "processor_config.json").unlink()  # a tokenizer only: nothing turns audio into features
    tokenizer = json.loads((deaf / "tokenizer_config.json").read_text())
    tokenizer.pop("processor_class", None)
    (deaf / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    (deaf / "configuration_remote.py").write_text(  # and a text model's config, which no audio processor maps to
        REMOTE_CONFIG.replace("Qwen2AudioConfig", "PretrainedConfig")
    )
    out = audiomlqa("score", spec(tmp_path, checkpoint=str(deaf), trust_remote_code=True), "--dataset", dataset)
    assert_one_line(out, "takes no audio", "kind audiochat needs an audio chat model")

    text_llm = resolve("tiny-random/llm")
    with pytest.raises(AudioMLQAError, match="model type 'llama' is not an audio chat model"):
        inspect(text_llm, trust_remote_code=False)
    with pytest.raises(AudioMLQAError, match="not found"):
        load_spec(spec(tmp_path, checkpoint=str(tmp_path / "nowhere")))


def test_preflight_checks_a_checkpoint_without_loading_its_weights(monkeypatch):
    from transformers import PreTrainedModel

    resolve("tiny-random/voxtral")

    def refuse(*args, **kwargs):
        raise AssertionError("preflight loaded weights")

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(refuse))
    where = preflight(load_spec(ROOT / "models" / "tiny-voxtral.json"))
    assert where.device in ("cpu", "cuda") and os.path.isdir(resolve("tiny-random/voxtral"))


def test_a_hub_checkpoint_is_fetched_at_its_revision_configs_first_then_its_weights(tmp_path, monkeypatch):
    import audiomlqa.weights.hub
    from audiomlqa.evaluation import AUDIOCHAT_CONFIG_FILES

    calls = []

    def fetch(name, what, *, repo_type="model", allow_patterns=None, revision=None):
        calls.append((name, allow_patterns, revision))
        return Path(resolve("tiny-random/qwen2-audio"))

    monkeypatch.setattr(audiomlqa.weights.hub, "fetch", fetch)
    path = spec(tmp_path, checkpoint="Qwen/Qwen2-Audio-7B-Instruct", revision="refs/pr/7")
    runner = load_runner(load_spec(path))
    assert [c[2] for c in calls] == ["refs/pr/7", "refs/pr/7"]
    assert calls[0][1] == AUDIOCHAT_CONFIG_FILES and "model*.safetensors" in calls[1][1]
    assert not any("consolidated" in p or "vision" in p for p in calls[1][1])
    assert runner.describe()["checkpoint"] == "Qwen/Qwen2-Audio-7B-Instruct"
    assert runner.describe()["revision"] == "refs/pr/7"


def test_phi_4s_speech_lora_is_loaded_and_changes_what_the_model_says(tmp_path):
    with_lora = AudioChatLLM(resolve("tiny-random/phi-4-multimodal"), max_new_tokens=4)
    base = shutil.copytree(
        resolve("tiny-random/phi-4-multimodal"), tmp_path / "base", ignore=shutil.ignore_patterns("speech-lora")
    )
    without = AudioChatLLM(str(base), max_new_tokens=4)
    assert with_lora.describe()["adapter"] == "speech-lora" and without.describe()["adapter"] is None
    [p], [audio] = prompts("en"), clips(1.5)
    with torch.inference_mode():
        a = with_lora.model(**with_lora.inputs([p], [audio])).logits[0, -1]
        b = without.model(**without.inputs([p], [audio])).logits[0, -1]
    assert not torch.allclose(a, b)


def test_phi_4_answers_question_by_question_because_its_encoder_lets_padding_into_a_batch():
    """If this fails, transformers masks Phi-4's padded audio frames now: batch it (Family.one_at_a_time)."""
    import dataclasses

    llm = AudioChatLLM(resolve("tiny-random/phi-4-multimodal"), max_new_tokens=4)
    assert llm.checkpoint.family.one_at_a_time
    ps, audios = prompts("en", "en"), clips(1.3, 3.7)
    with torch.inference_mode():
        together = llm.model(**llm.inputs(ps, audios)).logits[0, -1]
        alone = llm.model(**llm.inputs(ps[:1], audios[:1])).logits[0, -1]
    assert (together - alone).abs().max() > 1e-2
    batched = dataclasses.replace(llm.checkpoint.family, one_at_a_time=False)
    llm.checkpoint = dataclasses.replace(llm.checkpoint, family=batched)
    assert llm.generate(ps, audios) != [llm.generate([p], [a])[0] for p, a in zip(ps, audios)]
