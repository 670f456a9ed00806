"""The language-aware distilled Speech LLM on tiny random models built from real configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from audiomlqa.errors import AudioMLQAError  # noqa: E402
from audiomlqa.speechllm import SpeechLLM, SpeechLLMConfig  # noqa: E402
from audiomlqa.speechllm.data import batch_indices  # noqa: E402
from audiomlqa.speechllm.model import selection_weights, teacher_forcing_probability  # noqa: E402
from audiomlqa.speechllm.train import TrainConfig, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LANGS = ["en", "de", "zh"]
TINY = {"languages": LANGS, "num_banks": 3, "num_queries": 8, "gate_hidden": 16}


def tiny_model(**overrides) -> SpeechLLM:
    torch.manual_seed(0)
    return SpeechLLM.from_config(SpeechLLMConfig.from_dict({**TINY, **overrides}))


def fixed_batch(model: SpeechLLM):
    """Four deterministic 'utterances' (seeded noise shaped like speech bursts) with real transcripts."""
    rng = np.random.default_rng(0)
    audios = [
        (rng.normal(0, 0.1, 16000 + 4000 * i) * np.sin(np.linspace(0, 20 + 5 * i, 16000 + 4000 * i))).astype(np.float32)
        for i in range(4)
    ]
    texts = ["Where is the river?", "Wo liegt die Insel?", "北京在哪里？", "Who wrote the book?"]
    ids = [model.tokenizer(t, add_special_tokens=False).input_ids for t in texts]
    return model.features(audios), ids, torch.tensor([0, 1, 2, 0])


@pytest.fixture(scope="module")
def short_corpus(tmp_path_factory) -> Path:
    """Real ASR data: nine short questions (1-2 s, within the tiny Whisper's 2 s window) spoken by eSpeak, three voices
    per language, written as the audio folder ``audiomlqa asr-corpus`` makes (in a second: no ASR round trip; reading
    a synthesis output is tested in test_config and test_reliability)."""
    from audiomlqa.audio import prepare, write_flac
    from audiomlqa.tts import load_backend

    texts = {
        "en": ["Where is the river?", "Who wrote the book?", "How old is the city?"],
        "de": ["Wo liegt die Insel?", "Wer baute die Brücke?", "Wie alt ist die Stadt?"],
        "zh": ["北京在哪里？", "谁写了这本书？", "这座城市有多老？"],
    }
    out, tts, rows = tmp_path_factory.mktemp("short"), load_backend("espeak"), []
    for lang, sentences in texts.items():
        voices = tts.voices(lang)
        for i, text in enumerate(sentences):
            name, voice = f"{lang}/{i:05d}.flac", voices[i % len(voices)]
            write_flac(out / name, prepare(tts.synthesize(text, lang, voice)))
            rows.append({"file_name": name, "text": text, "language": lang, "voice": voice})
    (out / "metadata.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return out


def train_config(corpus: Path, out: Path, **overrides) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "model": {**TINY, "teacher_forcing_fraction": 1.0},  # coins drawn at every step, the resumed ones too
            "data": {"source": str(corpus), "accepted_only": False},
            "output_dir": str(out),
            "max_steps": 4,
            "batch_size": 3,
            "learning_rate": 1e-3,
            "warmup_steps": 1,
            "save_every": 2,
            **overrides,
        }
    )


def test_shapes_and_frozen_modes():
    model = tiny_model()
    features, ids, langs = fixed_batch(model)
    speech = model.speech_tokens(features, langs)
    assert speech.tokens.shape == (4, 8, model.llm.config.hidden_size)
    assert speech.logits.shape == (4, 3) and speech.weights.shape == (4, 3)
    assert model.projector.bank.shape == (3, 8, 32)
    model.train()
    assert model.projector.training and not model.encoder.training and not model.llm.training
    assert all(not p.requires_grad for p in [*model.encoder.parameters(), *model.llm.parameters()])
    assert {n.split(".")[0] for n, _ in model.projector.named_parameters()} == {"bank", "gate", "qformer", "proj"}


def test_hard_selection_passes_gradients_to_the_gate_through_the_straight_through_estimator():
    model = tiny_model(selection="hard", loss_weights={"lid": 0.0, "in": 1.0, "out": 1.0})
    features, ids, langs = fixed_batch(model)
    speech = model.speech_tokens(features, langs, teacher_forcing=0.0)
    assert torch.all((speech.weights == 0) | (speech.weights == 1)), "hard selection is one-hot in the forward pass"
    model(features, ids, langs, teacher_forcing=0.0).loss.backward()
    gate_grads = [p.grad for p in model.projector.gate.parameters()]
    assert all(g is not None for g in gate_grads) and sum(float(g.abs().sum()) for g in gate_grads) > 0


def test_the_distillation_distances_are_the_formulas_on_fixed_tensors():
    from audiomlqa.speechllm import losses

    tokens = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]]])
    targets = [
        torch.tensor([[0.0, 0.0], [0.0, 0.0]]),
        torch.tensor([[0.0, 0.0]]),
    ]
    # utterance 1: the last 2 tokens against 2 targets: |(1,1)| = √2, |(3,4)| = 5; utterance 2: |(0,2)| = 2
    assert losses.input_distillation_loss(tokens, targets).item() == pytest.approx((2**0.5 + 5 + 2) / 3)
    assert losses.input_distillation_loss(tokens, targets, "mse").item() == pytest.approx((1 + 12.5 + 2) / 3)
    student, teacher = torch.tensor([[3.0, 4.0], [0.0, 1.0]]), torch.zeros(2, 2)
    assert losses.output_distillation_loss(student, teacher).item() == pytest.approx((5 + 1) / 2)
    assert losses.output_distillation_loss(student, teacher, "mse").item() == pytest.approx((12.5 + 0.5) / 2)
    empty = [torch.zeros(0, 2), torch.zeros(0, 2)]
    assert losses.input_distillation_loss(tokens, empty).item() == 0.0


def test_the_gates_pool_over_speech_and_ignore_the_padding_after_it():
    from audiomlqa.speechllm.model import AttentionPoolGate, ConvGate

    torch.manual_seed(0)
    speech = torch.randn(2, 12, 8)
    noisy = speech.clone()
    noisy[:, 8:] = 100 * torch.randn(2, 4, 8)  # what comes after 8 frames: padding, here loud noise
    frames = torch.tensor([8, 8])
    for gate in (AttentionPoolGate(8, 16, 3), ConvGate(8, 16, 3)):
        assert not torch.allclose(gate(speech), gate(noisy)), "pooled over everything, the padding counts"
        assert torch.allclose(gate(speech, frames), gate(noisy, frames), atol=1e-5), type(gate).__name__
        assert not torch.allclose(gate(speech, frames), gate(speech, torch.tensor([4, 4])))


def test_teacher_forcing_follows_its_cosine_schedule_and_forces_the_gold_language():
    p = [teacher_forcing_probability(s, 100, 0.5) for s in range(101)]
    assert p[0] == 1.0 and p[25] == pytest.approx(0.5) and p[50] == 0.0 and p[100] == 0.0
    assert all(a >= b for a, b in zip(p, p[1:]))
    logits = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    gold = torch.tensor([2, 2])
    assert torch.equal(selection_weights(logits, "hard", gold, teacher_forcing=1.0), torch.eye(3)[[2, 2]])
    assert torch.equal(selection_weights(logits, "hard", gold, teacher_forcing=0.0), torch.eye(3)[[0, 1]])
    soft = selection_weights(logits, "soft")
    assert torch.allclose(soft.sum(-1), torch.ones(2)) and soft[0, 0] > 0.9


@pytest.mark.parametrize(
    "distance, first, last, distillation_first, distillation_last",
    [
        ("l2", 10.1761, 4.2518, 9.0851, 3.2107),
        pytest.param("mse", 1.7472, 1.1520, 0.6562, 0.1119, marks=pytest.mark.slow),
    ],
)
def test_thirty_steps_on_a_fixed_batch_drive_the_loss_down(
    distance, first, last, distillation_first, distillation_last
):
    model = tiny_model()
    model.config.distance = distance
    features, ids, langs = fixed_batch(model)
    frozen = {n: p.clone() for n, p in [*model.encoder.named_parameters(), *model.llm.named_parameters()]}
    trainable = {n: p.clone() for n, p in model.projector.named_parameters()}
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-3)
    model.train()
    losses, distillation = [], []
    for step in range(30):
        out = model(features, ids, langs, teacher_forcing=teacher_forcing_probability(step, 30, 0.5))
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(out.loss.detach()))
        distillation.append(float(out.loss_in + out.loss_out))
    # torchtune-style: the values themselves, not just a trend (CPU float32, fixed seeds). L_IN + L_OUT fall
    # ~3x under the L2 distance (~6x under MSE, which squares); L_LID stays near ln 3 on a random encoder.
    assert losses[0] == pytest.approx(first, rel=1e-3) and losses[-1] == pytest.approx(last, rel=2e-2)
    assert distillation[0] == pytest.approx(distillation_first, rel=1e-3)
    assert distillation[-1] == pytest.approx(distillation_last, rel=5e-2)
    assert distillation[-1] < 0.4 * distillation[0]
    assert all(torch.equal(p, frozen[n]) for n, p in [*model.encoder.named_parameters(), *model.llm.named_parameters()])
    assert all(
        not torch.equal(p, trainable[n])
        for n, p in model.projector.named_parameters()
        if n != "qformer.embed_tokens.weight"
    )


def test_save_then_load_gives_identical_outputs(tmp_path):
    model = tiny_model(selection="soft", gate="attention")
    features, ids, langs = fixed_batch(model)
    torch.manual_seed(1)
    with torch.no_grad():
        model.projector.bank.add_(torch.randn_like(model.projector.bank))  # not the initial weights
    model.save_pretrained(tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert meta["frozen"] == {"whisper": "tiny-random/whisper", "llm": "tiny-random/llm"}
    assert meta["trainable_parameters"] == sum(p.numel() for p in model.projector.parameters())
    loaded = SpeechLLM.from_pretrained(tmp_path / "ckpt")
    with torch.no_grad():
        assert torch.equal(model.speech_tokens(features).tokens, loaded.speech_tokens(features).tokens)
        assert torch.equal(model(features, ids, langs).loss, loaded(features, ids, langs).loss)
    audios = [np.zeros(8000, np.float32), np.ones(4000, np.float32) * 0.1]
    assert model.generate(audios, max_new_tokens=4) == loaded.generate(audios, max_new_tokens=4)


def test_batched_answers_equal_one_at_a_time_answers():
    """Prompts of different lengths around the speech: separate prefill, padded batch and one by one agree."""
    model = tiny_model()
    with torch.no_grad():  # sharpen the random LLM, so its greedy tokens depend on the input (else it repeats "\n")
        for p in model.llm.parameters():
            p.mul_(3)
    rng = np.random.default_rng(3)
    audios = [rng.normal(0, 0.1, n).astype(np.float32) for n in (16000, 6000, 24000)]
    prompts = [
        "Context: a short one.\nQuestion: <speech>\nAnswer:",
        "Context: " + "a much longer paragraph about rivers and islands, " * 6 + "\nQuestion: <speech>\nAnswer:",
        "<speech>",
    ]
    settings = {"max_new_tokens": 5, "min_new_tokens": 5, "do_sample": False}
    one = [model.generate([a], [p], **settings)[0] for a, p in zip(audios, prompts)]
    assert model.generate(audios, prompts, prefill="separate", **settings) == one
    assert model.generate(audios, prompts, prefill="padded", **settings) == one
    assert len(set(one)) == 3 and all(one)


def test_resume_after_a_crash_equals_an_uninterrupted_run_bit_for_bit(short_corpus, tmp_path):
    """Four steps of 3 of the 9 utterances, crashed after step 3: the two steps redone from the step-2 checkpoint
    need the restored weights, RNG and data order (step 3, the end of the first epoch) and the optimizer moments and
    schedule (step 4, in the second epoch)."""
    whole = train(train_config(short_corpus, tmp_path / "whole"), progress=False)

    def crash(step, _row):
        if step == 3:  # after the step-2 checkpoint, before the step-4 one
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(train_config(short_corpus, tmp_path / "crashed"), progress=False, on_step=crash)
    resumed = train(train_config(short_corpus, tmp_path / "crashed"), progress=False)
    assert resumed.resumed_from == 2 and resumed.steps == 4
    assert [r["loss"] for r in resumed.log] == [r["loss"] for r in whole.log]
    from safetensors.torch import load_file

    a, b = load_file(str(whole.final / "model.safetensors")), load_file(str(resumed.final / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log_steps = [json.loads(x)["step"] for x in (tmp_path / "crashed" / "train_log.jsonl").read_text().splitlines()]
    assert log_steps == list(range(1, 5))
    with pytest.raises(AudioMLQAError, match="other settings"):
        train(train_config(short_corpus, tmp_path / "crashed", learning_rate=2e-3), progress=False)


def test_data_order_is_a_pure_function_of_seed_and_step():
    seen = [
        i
        for step in range(4)
        for i in batch_indices(10, step, 0, batch_size=5, accumulation=1, rank=0, world=1, seed=3)
    ]
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:]) == list(range(10)) and seen[:10] != seen[10:]
    ranks = [batch_indices(100, 2, 1, batch_size=4, accumulation=2, rank=r, world=2, seed=0) for r in range(2)]
    assert not set(ranks[0]) & set(ranks[1])


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_trains_one_model(short_corpus, tmp_path):
    """torchrun + gloo on the recipe as shipped (Whisper base, five banks): each rank reads its own utterances,
    gradients are averaged, one log is written. Two steps of 2 utterances per rank, a checkpoint after each: what is
    tested is the plumbing, not what Whisper base hears. The one-process run beside it is the same command's settings
    (``load_train_config``, as the CLI builds them) stopped after its first step: that step's loss comes before any
    update and its teacher forcing is 1 whatever max_steps is, so only the number of processes tells the two apart."""
    from audiomlqa.speechllm.train import load_train_config

    torchrun = Path(sys.executable).with_name("torchrun")
    recipe = ROOT / "recipes" / "train-tiny-cpu.yaml"
    overrides = [f"data.source={short_corpus}", "save_every=1", "batch_size=2"]
    ddp = subprocess.Popen(  # while the two ranks start, the one-process run trains here
        [str(torchrun), "--nproc_per_node", "2", "-m", "audiomlqa.cli", "train-reference", "--recipe", str(recipe)]
        + [*overrides, "max_steps=2", f"output_dir={tmp_path / 'ddp'}", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ACCELERATE_USE_CPU": "true"},
    )
    single = train(
        load_train_config(recipe, [*overrides, "max_steps=1", f"output_dir={tmp_path / 'one'}"]), progress=False
    )
    stdout, stderr = ddp.communicate(timeout=300)
    assert ddp.returncode == 0, stderr[-2000:]
    assert stdout.count("trained 2 step(s)") == 1
    ddp_rows = [json.loads(x) for x in (tmp_path / "ddp" / "train_log.jsonl").read_text().splitlines()]
    ddp_log = [r for r in ddp_rows if r["split"] == "train"]
    assert [r["step"] for r in ddp_log] == [1, 2]
    assert [r["step"] for r in ddp_rows if r["split"] == "validation"] == [2], "one validation, by rank 0"
    done = sorted(p.parent.name for p in (tmp_path / "ddp" / "checkpoints").glob("step-*/DONE"))
    assert done == ["step-0000001", "step-0000002"], "a checkpoint after each step, written by the two ranks"
    assert ddp_log[0]["loss"] != single.log[0]["loss"], "two ranks read twice the data: the mean loss differs"
    assert SpeechLLM.from_pretrained(tmp_path / "ddp" / "final").config.num_banks == 5


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param(
            "model.gate=lstm", "model.gate: expected 'conv', 'attention' or 'none', got 'lstm'", marks=pytest.mark.slow
        ),
        pytest.param("model.num_banks=3", "num_banks 3 does not match the 5 languages", marks=pytest.mark.slow),
        ("model.llm=tiny-random/llm-no-template", "has no chat template: set model.chat_template"),
        pytest.param("model.gate=none", "gate 'none' needs num_banks 1", marks=pytest.mark.slow),
        pytest.param("model.num_queries=1000", "exceeds the Whisper decoder's 448 positions", marks=pytest.mark.slow),
        pytest.param(
            "model.encoder_window_seconds=31",
            "exceeds the window of 'pypi/whisper-base' (30 s)",
            marks=pytest.mark.slow,
        ),
        pytest.param("data.language_map.zh-CN=klingon", "data.language_map.zh-CN", marks=pytest.mark.slow),
    ],
)
def test_bad_configs_fail_in_one_line_before_any_model_loads(override, message, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "audiomlqa.cli",
            "train-reference",
            "--recipe",
            str(ROOT / "recipes" / "train-tiny-cpu.yaml"),
            override,
            f"output_dir={tmp_path}",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "train_log.jsonl").exists()


def test_the_first_step_learns_and_the_schedule_warms_up_then_decays_to_zero():
    from audiomlqa.speechllm.train import learning_rate_factor

    factors = [learning_rate_factor(s, 4, 20) for s in range(21)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0] and factors[4] == 1.0
    assert all(a >= b for a, b in zip(factors[4:], factors[5:])) and factors[20] == 0.0
    assert learning_rate_factor(0, 0, 10) == 1.0
