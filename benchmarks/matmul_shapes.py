"""Why the GPT's projections reshape to 2-D: numpy's 3-D @ 2-D matmul against one 2-D product.

Run:  python benchmarks/matmul_shapes.py [--repeats 50]

The same numbers two ways, for the projections of the baby GPT (batch 12,
block 64, float32): ``x @ W`` with x of shape (batch, seq, d_in), which
numpy computes as a loop of per-sequence products, and
``x.reshape(batch * seq, d_in) @ W``, one matrix product over every row.
Prints the median time of each and their ratio, measured in this process.
"""

import argparse
import statistics
import time

import numpy as np

import record

BATCH, SEQ = 12, 64
SHAPES = {  # (d_in, d_out) of each product in a baby GPT block, and its head
    "W_qkv (128 -> 384)": (128, 384),
    "W_o (128 -> 128)": (128, 128),
    "feed-forward fc (128 -> 512)": (128, 512),
    "head, tied (128 -> vocab 73)": (128, 73),
}


def median_seconds(product, repeats: int) -> float:
    product()  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        product()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    record.add_results_argument(parser)
    args = parser.parse_args()
    recording = record.start(args.results, "matmul_shapes")
    rng = np.random.default_rng(0)
    print(f"x: (batch {BATCH}, seq {SEQ}, d_in), float32; median of {args.repeats}")
    print(f"  {'product':<30} {'3-D @ 2-D':>10} {'2-D rows':>10} {'ratio':>7}")
    ms = {}  # product -> {"3-D @ 2-D": ms, "2-D rows": ms}
    for name, (d_in, d_out) in SHAPES.items():
        x = rng.standard_normal((BATCH, SEQ, d_in), dtype=np.float32)
        w = rng.standard_normal((d_in, d_out), dtype=np.float32)
        rows = x.reshape(BATCH * SEQ, d_in)
        assert np.allclose(x @ w, (rows @ w).reshape(BATCH, SEQ, d_out), atol=1e-4)
        stacked = median_seconds(lambda x=x, w=w: x @ w, args.repeats)
        flat = median_seconds(lambda rows=rows, w=w: rows @ w, args.repeats)
        print(f"  {name:<30} {1000 * stacked:8.3f}ms {1000 * flat:8.3f}ms "
              f"{stacked / flat:6.1f}x")
        ms[name] = {"3-D @ 2-D": 1000 * stacked, "2-D rows": 1000 * flat}
    recording.save({"ms": ms})


if __name__ == "__main__":
    main()
