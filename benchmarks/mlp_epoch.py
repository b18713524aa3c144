"""Seconds per epoch of the book's default MLP training, batched vs per example.

Run:  python benchmarks/mlp_epoch.py [--epochs 3]

Trains Network([784, 30, 10]) (sigmoid, quadratic cost, η = 3.0, batch 10)
on the bundled 4,000-digit training split, timing whole epochs:

- the batched Network under each check mode (off, first, always), the modes
  taking turns epoch by epoch;
- the book's algorithm one example at a time (models/per_example.py).

Prints the median epoch time of each and the ratios, all measured in this
one process, so the ratios hold even on a noisy machine.
"""

import argparse
import statistics
import time

import numpy as np

import record
from machine import describe, load_now
from shapesafe_nn import SGD, QuadraticCost, checks
from shapesafe_nn.data import load_bundled, stratified_split, to_inputs
from shapesafe_nn.models import Network
from shapesafe_nn.models.per_example import PerExampleNetwork
from shapesafe_nn.training.trainer import train_classifier

BATCH, ETA = 10, 3.0
MODES = ("off", "first", "always")


def batched_epoch_seconds(x, y, epochs: int) -> dict[str, list[float]]:
    """Epoch times of one Network per check mode, the modes taking turns epoch
    by epoch so that a slow stretch of a noisy machine hits them all alike."""
    runs = {}
    for mode in MODES:
        network = Network([784, 30, 10], seed=0)
        runs[mode] = (network, SGD(network.parameters(), lr=ETA))
    times = {mode: [] for mode in MODES}
    for epoch in range(epochs):
        for mode, (network, optimizer) in runs.items():
            with checks(mode):
                start = time.perf_counter()
                train_classifier(network, QuadraticCost(), optimizer, (x, y), None, epochs=1,
                                 batch_size=BATCH, seed=epoch, quiet=True, log=lambda _: None)
                times[mode].append(time.perf_counter() - start)
    return times


def per_example_epoch_seconds(x, y, epochs: int) -> list[float]:
    book = PerExampleNetwork.from_network(Network([784, 30, 10], seed=0))
    times = []
    for epoch in range(epochs):
        order = np.random.default_rng(epoch).permutation(len(x))
        start = time.perf_counter()
        for first in range(0, len(order), BATCH):
            batch = order[first:first + BATCH]
            book.update_mini_batch(x[batch], y[batch], ETA)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed per variant")
    record.add_results_argument(parser)
    args = parser.parse_args()
    recording = record.start(args.results, "mlp_epoch")
    print(describe())  # the ratios below hold for this CPU
    images, labels = load_bundled()
    x_uint8, y, _, _ = stratified_split(images, labels, 1000, seed=0)
    x = to_inputs(x_uint8)
    medians = {f"batched, checks {mode}": statistics.median(seconds)
               for mode, seconds in batched_epoch_seconds(x, y, args.epochs).items()}
    medians["per example (the book's loop)"] = statistics.median(
        per_example_epoch_seconds(x, y, args.epochs))
    print(f"{len(x):,} examples per epoch, batch {BATCH}, median of {args.epochs} epochs")
    for name, seconds in medians.items():
        print(f"  {name:<32} {seconds:8.3f} s/epoch")
    book = medians["per example (the book's loop)"]
    off = medians["batched, checks off"]
    print(f"batched (checks off) vs per example: {book / off:.1f}x faster")
    print(f"batched (checks first) vs per example: {book / medians['batched, checks first']:.1f}x faster")
    print(f"checks first / off:  {medians['batched, checks first'] / off:.3f}")
    print(f"checks always / off: {medians['batched, checks always'] / off:.3f}")
    print(f"after the runs, {load_now()}")
    recording.save({
        "seconds_per_epoch": medians,
        "batched_over_per_example": book / off,  # how many times faster, checks off
        "first_over_off": medians["batched, checks first"] / off,
        "always_over_off": medians["batched, checks always"] / off,
    })


if __name__ == "__main__":
    main()
