"""Does the BLAS thread count change a product's bits?  Per OpenBLAS kernel.

Run:  python benchmarks/thread_count_bits.py             # about a minute
Smoke run (seconds):  python benchmarks/thread_count_bits.py --kernels Haswell --sizes 32 128

Not a timing: the fact ``shapesafe_nn/cli/threads.py`` is built on.  For
each kernel of OpenBLAS named (``OPENBLAS_CORETYPE``; numpy's OpenBLAS
carries them all and picks one for the CPU), a fresh process multiplies
random matrices of every shape (M, K) @ (K, N) with M, K and N from
``--sizes``, in float32 and float64, once on 1 thread and once on 2, and
counts the shapes whose two products differ in any bit.  Then the same for
products of a few rows (1, 2, 4 and 8: sampling computes one row at a
time, a beam search one per hypothesis) against the widths of ``--sizes``.
"""

import argparse
import itertools
import json
import os
import subprocess
import sys

import record

KERNELS = ("Haswell", "Zen", "SkylakeX", "Prescott", "Nehalem")
ROWS = (1, 2, 4, 8)

# What each kernel's process runs: its findings as one JSON line.
SWEEP = """
import itertools, json, sys
import numpy as np
from threadpoolctl import ThreadpoolController
sizes, rows = json.loads(sys.argv[1]), json.loads(sys.argv[2])
[blas] = ThreadpoolController().select(user_api="blas").lib_controllers
rng = np.random.default_rng(0)

def differs(m, k, n, dtype):
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    blas.set_num_threads(1)
    one = a @ b
    blas.set_num_threads(2)
    return not np.array_equal(one, a @ b)

found = {"kernel": blas.architecture, "version": blas.version}
for dtype in ("float32", "float64"):
    shapes = list(itertools.product(sizes, repeat=3))
    found[dtype] = [sum(differs(m, k, n, dtype) for m, k, n in shapes), len(shapes)]
    for r in rows:
        few = list(itertools.product([r], sizes, sizes))
        label = f"{dtype}, {r} row" + ("s" if r > 1 else "")
        found[label] = [sum(differs(m, k, n, dtype) for m, k, n in few), len(few)]
print(json.dumps(found))
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS),
                        help="OpenBLAS kernels to ask (OPENBLAS_CORETYPE)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128, 512, 2048],
                        help="the values M, K and N each take")
    record.add_results_argument(parser)
    return parser.parse_args()


def sweep(kernel: str, sizes: list[int]) -> dict:
    """The findings of a process whose OpenBLAS runs ``kernel``."""
    environment = dict(os.environ, OPENBLAS_CORETYPE=kernel)
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        environment.pop(variable, None)  # it must be able to run on 2 threads
    result = subprocess.run([sys.executable, "-c", SWEEP, json.dumps(sizes), json.dumps(ROWS)],
                            env=environment, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def main() -> None:
    args = parse_args()
    recording = record.start(args.results, "thread_count_bits")
    print(f"shapes (M, K) @ (K, N), M, K and N each of {args.sizes}; products that differ "
          f"in any bit between 1 and 2 BLAS threads, of those tried")
    columns = ["float32", "float64", *(f"float32, {r} row" + ("s" if r > 1 else "")
                                       for r in ROWS)]
    print(f"{'kernel':<18}" + "".join(f"{column:>18}" for column in columns))
    figures = {}
    for kernel in args.kernels:
        found = sweep(kernel, args.sizes)
        # a name may run another's code: Zen runs Haswell's, Prescott Katmai's
        ran = kernel if found["kernel"].lower() == kernel.lower() else \
            f"{kernel} ({found['kernel']})"
        figures[ran] = {column: found[column] for column in columns}
        print((f"{ran:<18}" + "".join(f"{found[c][0]:>12} of {found[c][1]:<3}"
                                         for c in columns)).rstrip())
    print(f"OpenBLAS {found['version']}")
    recording.save(figures)


if __name__ == "__main__":
    main()
