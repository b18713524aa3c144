"""The book's algorithm exactly as written: one example at a time.

Nielsen's chapter-1 ``update_mini_batch`` loops over the examples of a
mini-batch, backpropagates each one with column vectors (``a`` is
(d, 1)), sums the gradients, and steps by ``η/m`` times the sum.  This file
does the same, so that the batched :class:`~shapesafe_nn.models.Network`
can be checked against it (equal within 1e-12 in float64) and timed
against it (``benchmarks/mlp_epoch.py``).  It is slow by design: nothing
here is vectorised over the batch.

Shapes, for the layer from ``d_in`` to ``d_out`` neurons:
``w`` (d_out, d_in), ``b`` (d_out, 1), ``a`` (d_in, 1), ``z = w a + b`` (d_out, 1).
"""

import numpy as np

from .mlp import Network


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class PerExampleNetwork:
    """Sigmoid neurons, quadratic cost, SGD: the chapter-1 network, example by example."""

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray]):
        self.weights = [w.copy() for w in weights]
        self.biases = [b.reshape(-1, 1).copy() for b in biases]

    @classmethod
    def from_network(cls, network: Network) -> "PerExampleNetwork":
        """The same weights as a batched sigmoid ``Network`` (its Dense layers' W and b)."""
        dense = [layer for layer in network.layers if hasattr(layer, "W")]
        return cls([layer.W.value for layer in dense], [layer.b.value for layer in dense])

    def feedforward(self, a: np.ndarray) -> np.ndarray:
        for w, b in zip(self.weights, self.biases):
            a = sigmoid(w @ a + b)
        return a

    def backprop(self, x: np.ndarray, y: np.ndarray):
        """∇_b C_x and ∇_w C_x for one example, by the four equations BP1-BP4."""
        activations, zs = [x], []
        for w, b in zip(self.weights, self.biases):
            zs.append(w @ activations[-1] + b)
            activations.append(sigmoid(zs[-1]))
        nabla_b = [np.zeros_like(b) for b in self.biases]
        nabla_w = [np.zeros_like(w) for w in self.weights]
        s = activations[-1]
        delta = (s - y) * s * (1 - s)  # BP1: (a - y) ⊙ σ'(z)
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_b[layer] = delta  # BP3
            nabla_w[layer] = delta @ activations[layer].T  # BP4: a_k δ_j
            if layer > 0:
                s = activations[layer]
                delta = (self.weights[layer].T @ delta) * s * (1 - s)  # BP2
        return nabla_b, nabla_w

    def update_mini_batch(self, xs: np.ndarray, labels: np.ndarray, eta: float) -> None:
        """``w → w - (η/m) Σ_x ∇C_x`` over the m examples: rows of ``xs`` (m, d_in)."""
        sum_b = [np.zeros_like(b) for b in self.biases]
        sum_w = [np.zeros_like(w) for w in self.weights]
        classes = self.weights[-1].shape[0]
        for x, label in zip(xs, labels):
            y = np.zeros((classes, 1))
            y[label] = 1.0
            nabla_b, nabla_w = self.backprop(x.reshape(-1, 1), y)
            sum_b = [s + n for s, n in zip(sum_b, nabla_b)]
            sum_w = [s + n for s, n in zip(sum_w, nabla_w)]
        m = len(xs)
        self.weights = [w - (eta / m) * s for w, s in zip(self.weights, sum_w)]
        self.biases = [b - (eta / m) * s for b, s in zip(self.biases, sum_b)]
