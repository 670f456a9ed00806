"""The one short GPU run the scale issue asks for, prepared on the CPU: the text runner's LLM on CUDA in bf16 and
fp32, ``prefill: separate`` vs ``padded``, against the same prompts on the CPU in fp32.

    python benchmarks/gpu_check.py [--llm tiny-random/llm] [--questions 32] [--max-new-tokens 16] [--out DIR]

Prints, per (device, dtype, prefill): questions/s, peak GPU memory, and how many answers equal the CPU fp32
answers; writes the same as JSON to ``--out`` (``$OUT`` on the device machine). Without CUDA it runs the CPU
reference only and says so, so the script itself is checked on a CPU before a GPU is spent on it.

On the device machine (torch, transformers, accelerate; no datasets, no pydantic, no PyPI model packages) it needs
only this tree and the model as a plain folder: build ``tiny-random/llm`` here and carry it with ``--llm`` pointing at
the folder (``python -c "from audiomlqa.llm.names import resolve; print(resolve('tiny-random/llm'))"``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import audiomlqa
from audiomlqa.evaluation import short_answer_prompt
from audiomlqa.llm.text import TextLLM
from audiomlqa.sources import load_questions

# Imports nothing that needs pydantic or datasets, which the GPU machines' image lacks: carry only this tree.
PACKAGED_SAMPLE = Path(audiomlqa.__file__).with_name("data") / "mlqa-sample"


def run(
    llm_name: str, prompts: list[str], device: str, dtype: str, prefill: str, max_new_tokens: int, batch_size: int
) -> dict:
    import torch

    llm = TextLLM(llm_name, device=device, dtype=dtype, prefill=prefill, max_new_tokens=max_new_tokens)
    llm.generate(prompts[:2])  # warm-up (CUDA kernels, allocator)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    answers = [a for i in range(0, len(prompts), batch_size) for a in llm.generate(prompts[i : i + batch_size])]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return {
        "device": device,
        "dtype": dtype,
        "prefill": prefill,
        "questions_per_second": len(prompts) / seconds,
        "peak_gpu_mib": peak,
        "answers": answers,
    }


def main() -> None:
    import torch
    from transformers.utils import logging

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llm", default="tiny-random/llm")
    ap.add_argument("--questions", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu-check"))
    args = ap.parse_args()
    logging.set_verbosity_error()

    questions = load_questions(PACKAGED_SAMPLE, limit=args.questions)
    prompts = [short_answer_prompt(q.context, q.question, q.context_lang) for q in questions]
    reference = run(args.llm, prompts, "cpu", "float32", "separate", args.max_new_tokens, args.batch_size)
    results = [reference]
    if torch.cuda.is_available():
        for dtype in ("bfloat16", "float32"):
            for prefill in ("separate", "padded"):
                results.append(run(args.llm, prompts, "cuda", dtype, prefill, args.max_new_tokens, args.batch_size))
        card = torch.cuda.get_device_name(0)
    else:
        card = None
        print("no CUDA on this machine: only the CPU reference ran")
    print(f"{args.llm}; {len(prompts)} questions from the packaged sample; GPU: {card or 'none'}")
    for r in results:
        same = sum(a == b for a, b in zip(r["answers"], reference["answers"]))
        peak = "—" if r["peak_gpu_mib"] is None else f"{r['peak_gpu_mib']:.0f} MiB"
        print(
            f"  {r['device']:4s} {r['dtype']:8s} {r['prefill']:8s} {r['questions_per_second']:8.2f} q/s   "
            f"peak {peak:>9s}   same answers as CPU fp32: {same}/{len(prompts)}"
        )
        r["same_as_cpu_fp32"] = same
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps({"gpu": card, "llm": args.llm, "results": results}, indent=1))


if __name__ == "__main__":
    main()
