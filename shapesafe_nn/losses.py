"""Costs: one number that says how wrong the outputs are, and its gradient.

Both costs average over every example (and every position, for a sequence
model), as Nielsen does: C = (1/n) Σ_x C_x.  Each takes integer labels, one
per example, and returns a Python float; ``backward()`` returns ∂C/∂(output)
with the output's shape.
"""

import numpy as np

from .module import Module
from .shapes import Array, Float, Integer, check_ids, checked


def one_hot(labels: Array, classes: int, dtype=np.float64) -> Array:
    """Row ``i`` is all zeros but a 1 at ``labels[i]``: Nielsen's ``vectorized_result``."""
    check_ids("one_hot", "labels", labels, classes)
    y = np.zeros((labels.size, classes), dtype=dtype)
    y[np.arange(labels.size), labels.ravel()] = 1.0
    return y.reshape(labels.shape + (classes,))


class QuadraticCost(Module):
    r"""C = (1/n) Σ_x ½ ‖a_x - y_x‖²  (Nielsen ch. 1, eq. 6);  ∂C/∂a = (a - y) / n.

    ``y`` is the one-hot vector of the label.  Shapes: ``a`` (batch, classes),
    ``labels`` (batch,).
    """

    @checked
    def forward(self, a: Float[Array, "batch classes"], labels: Integer[Array, "batch"]) -> float:
        check_ids("QuadraticCost.forward", "labels", labels, a.shape[1])
        y = one_hot(labels, a.shape[1], a.dtype)
        difference = a - y
        self.save_for_backward(difference=difference)
        return float(0.5 * np.sum(difference * difference) / len(a))

    @checked
    def backward(self) -> Float[Array, "batch classes"]:
        difference = self.saved["difference"]
        return difference / len(difference)


class SoftmaxCrossEntropy(Module):
    r"""C = -(1/n) Σ log p_{label},  p = softmax(logits);  ∂C/∂logits = (p - y) / n.

    Softmax and cross-entropy fused: the gradient of the pair is the simple
    ``p - y`` (Nielsen ch. 3, eq. 84, with a softmax output layer), and
    ``log p`` is computed as ``z - max z - log Σ e^{z - max z}`` (log-sum-exp),
    which never takes the log of an underflowed 0.

    Shapes: ``logits`` (*shape, classes), ``labels`` (*shape,): one row of
    logits per example (MNIST) or per position (a language model's
    (batch, seq, vocab) with labels (batch, seq)).
    """

    @checked
    def forward(self, logits: Float[Array, "*shape classes"],
                labels: Integer[Array, "*shape"]) -> float:
        check_ids("SoftmaxCrossEntropy.forward", "labels", labels, logits.shape[-1])
        # One row per prediction: (n, classes) with n = batch (or batch * seq).
        rows = logits.reshape(-1, logits.shape[-1])
        shifted = rows - rows.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        picked = (np.arange(len(rows)), labels.ravel())  # (row, its label) pairs
        self.save_for_backward(log_p=log_p, picked=picked, shape=logits.shape)
        return float(-log_p[picked].mean())

    @checked
    def backward(self) -> Float[Array, "*shape classes"]:
        log_p, picked = self.saved["log_p"], self.saved["picked"]
        dlogits = np.exp(log_p)  # p
        dlogits[picked] -= 1.0  # p - y
        dlogits /= len(log_p)
        return dlogits.reshape(self.saved["shape"])
