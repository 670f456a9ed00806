"""Time audiomlqa's MLQA scorer against a literal implementation of the official algorithm.

Both score the same predictions for all 49 MLQA dev files in one process; parsing and the one-off
punctuation tables are excluded from both timings. Usage:

    python benchmarks/bench_scorer.py [--mlqa ../shared/data/mlqa/MLQA_V1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from audiomlqa.scoring import metric as scoring
from audiomlqa.sources import read_mlqa_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import official_mlqa as ref  # noqa: E402  (the literal rendering of the official scorer lives with the tests)

DEFAULT_MLQA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mlqa" / "MLQA_V1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mlqa", type=Path, default=DEFAULT_MLQA)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    files = read_mlqa_dir(args.mlqa, "dev")
    raw = [json.loads(f.path.read_text(encoding="utf-8"))["data"] for f in files]
    # Realistic predictions: gold for half the questions, a context slice for the others.
    preds = [{q.id: (q.answers[0].text if i % 2 else q.context[:40]) for i, q in enumerate(f.questions)} for f in files]
    golds = [f.gold for f in files]
    scoring.normalize_answer("warm-up", "en")  # build the punctuation table outside the timing
    n_questions = sum(len(g) for g in golds)

    def ours():
        return [scoring.score(g, p, f.context_lang) for g, p, f in zip(golds, preds, files)]

    def reference():
        return [ref.evaluate(d, p, f.context_lang) for d, p, f in zip(raw, preds, files)]

    def best_of(fn):
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return min(times), out

    t_ours, a = best_of(ours)
    t_ref, b = best_of(reference)
    assert all((x.exact_match, x.f1) == (y["exact_match"], y["f1"]) for x, y in zip(a, b)), "scores differ"
    print(f"files: {len(files)}, questions: {n_questions}, best of {args.repeat}")
    print(f"audiomlqa scorer:   {t_ours:.3f} s  ({n_questions / t_ours:,.0f} questions/s)")
    print(f"literal reference:  {t_ref:.3f} s  ({n_questions / t_ref:,.0f} questions/s)")
    print(f"speed-up (reference / ours): {t_ref / t_ours:.2f}x; scores identical on all {len(files)} files")


if __name__ == "__main__":
    main()
