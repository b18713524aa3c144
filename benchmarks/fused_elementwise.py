"""The step's elementwise passes three ways: numpy as the layers write them,
numexpr's fused expressions, and numpy split over two threads.

Run:  pip install numexpr && python benchmarks/fused_elementwise.py [--rounds 7]

The profile of a GPT step (profile_gpt_step.py) leaves about a third of it
to elementwise passes, which numpy runs one operation at a time, on one
core.  Two remedies are the obvious ones to weigh:

- numexpr evaluates a whole expression such as GELU's in one pass over
  blocks of the arrays, on several threads;
- the same numpy code on two halves of the batch in two threads: numpy lets
  go of the GIL inside each operation, so the halves can run at once.

Each remedy is measured on the baby GPT's arrays (batch 12, block 64,
d_model 128, d_ff 512, 4 heads), float32, against the layer's own code with
checks off, the variants taking turns in every round.  Every remedy's result
is compared with the layer's before it is timed (rtol 1e-5, float32
rounding), so a faster wrong answer cannot win.  Prints the CPU first.
"""

import argparse
import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import record
from machine import describe, load_now
from shapesafe_nn import checks, no_grad
from shapesafe_nn.layers import GELU, LayerNorm
from shapesafe_nn.layers.activations import softmax

BATCH, BLOCK, D_MODEL, D_FF, HEADS = 12, 64, 128, 512, 4
RTOL = 1e-5  # float32: a few units in the last place, from another order of operations


def gelu_numexpr(numexpr, z):
    # a = z σ(2u), u = √(2/π)(z + 0.044715 z³): the equation of GELU.forward in one
    # string; the constants are float32 arrays, so that numexpr stays in float32
    c, k = np.float32(-2.0 * math.sqrt(2.0 / math.pi)), np.float32(0.044715)
    return numexpr.evaluate("z / (1 + exp(c * (z + k * z * z * z)))")


def layer_norm_numexpr(numexpr, x):
    # the means stay numpy reductions (numexpr reduces on one thread only);
    # the passes between them are fused
    mean = x.mean(axis=-1, keepdims=True)
    centred = numexpr.evaluate("x - mean")
    rstd = 1.0 / np.sqrt(numexpr.evaluate("centred * centred").mean(axis=-1, keepdims=True)
                         + np.float32(1e-5))
    return numexpr.evaluate("centred * rstd")  # γ = 1, β = 0 at initialization


def softmax_numexpr(numexpr, scores):
    shifted = numexpr.evaluate("exp(scores - top)", local_dict={
        "scores": scores, "top": scores.max(axis=-1, keepdims=True)})
    total = shifted.sum(axis=-1, keepdims=True)
    return numexpr.evaluate("shifted / total")


def in_two_threads(pool, function, array):
    """``function`` on each half of the batch, the halves in two threads at once."""
    half = array.shape[0] // 2
    other = pool.submit(function, array[half:])
    first = function(array[:half])
    return np.concatenate([first, other.result()])


def median_us(function, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return 1e6 * statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds, the variants taking turns")
    parser.add_argument("--repeats", type=int, default=50, help="calls per variant and round")
    record.add_results_argument(parser)
    args = parser.parse_args()
    try:
        import numexpr
    except ImportError:
        parser.error("numexpr is not installed: pip install numexpr")
    recording = record.start(args.results, "fused_elementwise")

    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((BATCH, BLOCK, D_FF), dtype=np.float32)
    stream = rng.standard_normal((BATCH, BLOCK, D_MODEL), dtype=np.float32)
    scores = rng.standard_normal((BATCH, HEADS, BLOCK, BLOCK), dtype=np.float32)
    gelu, norm = GELU(), LayerNorm(D_MODEL)
    pool = ThreadPoolExecutor(max_workers=1)

    def ours(layer):
        def run(x):
            with checks("off"), no_grad():
                return layer.forward(x)
        return run

    cases = {  # name -> (numpy as the layer writes it, input, {remedy: function})
        f"GELU forward {hidden.shape}": (ours(gelu), hidden, {
            "numexpr": lambda x: gelu_numexpr(numexpr, x),
            "numpy, 2 threads": lambda x: in_two_threads(pool, ours(gelu), x)}),
        f"LayerNorm forward {stream.shape}": (ours(norm), stream, {
            "numexpr": lambda x: layer_norm_numexpr(numexpr, x),
            "numpy, 2 threads": lambda x: in_two_threads(pool, ours(norm), x)}),
        f"softmax {scores.shape}": (lambda x: softmax(x.copy()), scores, {
            "numexpr": lambda x: softmax_numexpr(numexpr, x),
            "numpy, 2 threads": lambda x: in_two_threads(pool, lambda h: softmax(h.copy()), x)}),
    }
    print(describe())
    print(f"numexpr {numexpr.__version__}, {numexpr.nthreads} threads, "
          f"VML {'yes' if numexpr.use_vml else 'no'}; numpy {np.__version__}")
    print(f"median µs per call over {args.rounds} rounds x {args.repeats} calls, "
          f"the variants taking turns:")
    over_numpy = {}  # case -> variant -> its median time / the layer's
    for name, (plain, x, remedies) in cases.items():
        expected = plain(x)
        for remedy, function in remedies.items():  # the same numbers first, then the time
            np.testing.assert_allclose(function(x), expected, rtol=RTOL, atol=1e-6)
        variants = {"numpy (the layer)": plain, **remedies}
        times = {variant: [] for variant in variants}
        for _ in range(args.rounds):
            for variant, function in variants.items():
                times[variant].append(median_us(lambda: function(x), args.repeats))
        base = statistics.median(times["numpy (the layer)"])
        print(f"  {name}")
        over_numpy[name] = {}
        for variant in variants:
            median = statistics.median(times[variant])
            over_numpy[name][variant] = median / base
            print(f"    {variant:<20} {median:8.1f} µs   / numpy {median / base:5.2f}")
    print(f"after the runs, {load_now()}")
    recording.save({"over_numpy": over_numpy})


if __name__ == "__main__":
    main()
