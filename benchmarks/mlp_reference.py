"""`shapesafe-nn train mlp` against the algorithm of the book's own network.py.

Run:  python benchmarks/mlp_reference.py [--rounds 2] [--epochs 30]
Smoke run:  python benchmarks/mlp_reference.py --rounds 1 --epochs 1

The work of the MLP main command with its defaults, the book's chapter-1
run: ``Network([784, 30, 10])``, sigmoid neurons, the quadratic cost,
η = 3.0, mini-batches of 10, 30 epochs on the bundled 4,000 training
digits, the 1,000 held-out digits evaluated after every epoch.  It runs
``shapesafe-nn train mlp --quiet`` in this process (``cli.main``), under
checks ``always`` (the default), ``first`` and ``off``.

Against it, the same run by the algorithm of Nielsen's ``network.py``
(*Neural Networks and Deep Learning*, chapter 1, "Implementing our network
to classify digits"), written again below: column vectors, and each
mini-batch's gradient summed one example at a time by backpropagation,
then one step ``w -= η/m Σ ∇w``.  Same sizes, epochs, mini-batch size, η,
the same digits and the same held-out evaluation after every epoch.

The variants take turns, whole runs, in every round; the script prints the
median wall time of each, the final held-out accuracies (the initial
weights differ, so they agree only roughly) and the ratios, all measured in
this one process.
"""

import argparse
import contextlib
import io
import statistics
import time

import numpy as np

import record
from machine import describe, load_now
from shapesafe_nn.cli import main as shapesafe_nn
from shapesafe_nn.cli.mlp import BOOK, DEFAULT_HOLDOUT, training_data
from shapesafe_nn.data import to_inputs

MODES = ("always", "first", "off")


# ---------------------------------------------------------------------------
# The book's algorithm (network.py, chapter 1), one example at a time.  Each
# example is a column: x (784, 1), the label one-hot y (10, 1); layer l has
# weights (n_l, n_{l-1}) and biases (n_l, 1).
# ---------------------------------------------------------------------------
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    """σ'(z) = σ(z)(1 - σ(z))."""
    s = sigmoid(z)
    return s * (1 - s)


class BookNetwork:
    """The book's ``Network``: biases and weights drawn from N(0, 1)."""

    def __init__(self, sizes: list[int], rng: np.random.Generator):
        self.sizes = sizes
        self.biases = [rng.standard_normal((n, 1)) for n in sizes[1:]]
        self.weights = [rng.standard_normal((n, m)) for m, n in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        """a' = σ(w a + b), layer after layer (the book's eq. 22)."""
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(w @ a + b)
        return a

    def backprop(self, x, y):
        """∇b and ∇w of the quadratic cost of one example (the book's chapter 2,
        equations BP1 to BP4)."""
        activations, zs = [x], []
        for b, w in zip(self.biases, self.weights):
            zs.append(w @ activations[-1] + b)
            activations.append(sigmoid(zs[-1]))
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])  # BP1: ∇_a C ⊙ σ'(z^L)
        nabla_b[-1], nabla_w[-1] = delta, delta @ activations[-2].T  # BP3, BP4
        for layer in range(2, len(self.sizes)):
            delta = (self.weights[-layer + 1].T @ delta) * sigmoid_prime(zs[-layer])  # BP2
            nabla_b[-layer], nabla_w[-layer] = delta, delta @ activations[-layer - 1].T
        return nabla_b, nabla_w

    def update_mini_batch(self, mini_batch, eta: float):
        """Sum the gradients of the mini-batch's examples, then one step of size η/m."""
        sum_b = [np.zeros_like(b) for b in self.biases]
        sum_w = [np.zeros_like(w) for w in self.weights]
        for x, y in mini_batch:
            nabla_b, nabla_w = self.backprop(x, y)
            sum_b = [total + nb for total, nb in zip(sum_b, nabla_b)]
            sum_w = [total + nw for total, nw in zip(sum_w, nabla_w)]
        step = eta / len(mini_batch)
        self.weights = [w - step * nw for w, nw in zip(self.weights, sum_w)]
        self.biases = [b - step * nb for b, nb in zip(self.biases, sum_b)]

    def evaluate(self, test_data) -> int:
        """How many test digits the largest output names correctly."""
        return sum(int(np.argmax(self.feedforward(x)) == label) for x, label in test_data)

    def SGD(self, training_data, epochs: int, mini_batch_size: int, eta: float, test_data,
            rng: np.random.Generator) -> int:
        """Shuffle, cut into mini-batches, update on each, evaluate: each epoch.
        Returns the last epoch's count of correct test digits."""
        for _ in range(epochs):
            rng.shuffle(training_data)
            for start in range(0, len(training_data), mini_batch_size):
                self.update_mini_batch(training_data[start:start + mini_batch_size], eta)
            correct = self.evaluate(test_data)
        return correct


def book_data(train, test):
    """The book's data layout (its mnist_loader): training pairs (x (784, 1), y
    one-hot (10, 1)); test pairs (x (784, 1), the label)."""
    (x_train, y_train), (x_test, y_test) = train, test
    one_hot = np.eye(10)[:, :, None]  # one_hot[label]: (10, 1)
    training = [(x[:, None], one_hot[label]) for x, label in zip(to_inputs(x_train), y_train)]
    testing = [(x[:, None], int(label)) for x, label in zip(to_inputs(x_test), y_test)]
    return training, testing


# ---------------------------------------------------------------------------
def run_command(mode: str, epochs: int) -> str:
    """``shapesafe-nn train mlp --quiet`` in this process; its summary line."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = shapesafe_nn(["train", "mlp", "--quiet", "--checks", mode,
                               "--epochs", str(epochs)])
    if status != 0:
        raise SystemExit(f"train mlp --checks {mode} failed with status {status}")
    return printed.getvalue().strip().splitlines()[-1]


def run_book(train, test, epochs: int, seed: int) -> str:
    training, testing = book_data(train, test)  # part of the run, as loading is in the command
    rng = np.random.default_rng(seed)
    network = BookNetwork(BOOK["sizes"], rng)
    correct = network.SGD(training, epochs, BOOK["batch_size"], BOOK["lr"], testing, rng)
    return f"test accuracy {correct / len(testing):.4f} ({correct}/{len(testing)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds, the variants taking turns")
    parser.add_argument("--epochs", type=int, default=BOOK["epochs"],
                        help=f"epochs per run (default {BOOK['epochs']}, the book's)")
    record.add_results_argument(parser)
    args = parser.parse_args()
    if args.rounds < 1 or args.epochs < 1:
        parser.error("--rounds and --epochs must be positive")
    recording = record.start(args.results, "mlp_reference")
    train, test, description = training_data(None, DEFAULT_HOLDOUT)

    variants = {f"shapesafe-nn train mlp, checks {mode}": (lambda mode=mode:
                                                           run_command(mode, args.epochs))
                for mode in MODES}
    variants["the book's network.py algorithm"] = lambda: run_book(train, test, args.epochs, 0)

    print(describe())
    print(f"Network {BOOK['sizes']}, sigmoid, quadratic cost, η = {BOOK['lr']}, batch "
          f"{BOOK['batch_size']}, {args.epochs} epochs, test after each; {description}")
    print(f"median of {args.rounds} rounds, whole runs taking turns")
    seconds = {name: [] for name in variants}
    summary = {}
    for _ in range(args.rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            summary[name] = run()
            seconds[name].append(time.perf_counter() - start)
    median = {name: statistics.median(times) for name, times in seconds.items()}
    for name in variants:
        print(f"  {name:<38} {median[name]:7.2f} s   {summary[name]}")
    book = median["the book's network.py algorithm"]
    ratios = {mode: median[f"shapesafe-nn train mlp, checks {mode}"] / book for mode in MODES}
    print("ratios of medians (the command / the book's algorithm), all from this process:")
    for mode in MODES:
        print(f"  checks {mode + ':':<8} {ratios[mode]:.2f}")
    print(f"after the runs, {load_now()}")
    recording.save({"seconds": median, "summaries": summary, "command_over_book": ratios})


if __name__ == "__main__":
    main()
