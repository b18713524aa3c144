"""Costs: one number that says how wrong the outputs are, and its gradient.

Each cost averages over every example (and every position, for a sequence
model), as Nielsen does: C = (1/n) Σ_x C_x.  Each takes integer labels, one
per example, and returns a Python float; ``backward()`` returns ∂C/∂(output)
with the output's shape.
"""

import numpy as np

from .core import Module
from .core import Array, Float, Integer, check_ids, checked
from .core.validate import non_negative_int, probability


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

    Shapes: ``logits`` ``(*shape, classes)``, ``labels`` ``(*shape,)``: one row of
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


class LabelSmoothedCrossEntropy(Module):
    r"""C = -(1/n) Σ_{kept rows} Σ_k q_k log p_k,  q = (1 - ε) y + ε / classes.

    ``p = softmax(logits)``; ``y`` is the label's one-hot vector.

    The cost of a translator (Vaswani et al. 2017, §5.4, with ε = 0.1).  Two
    changes to :class:`SoftmaxCrossEntropy`:

    - *Label smoothing* (Szegedy et al. 2016, *Rethinking the Inception
      Architecture*, §7): the target is not the one-hot ``y`` but ``q``,
      which keeps ε of the probability spread evenly over every class, so
      the model is never pushed to make its right answer infinitely sure
      (which "hurts perplexity, as the model learns to be more unsure, but
      improves accuracy and BLEU score", §5.4).  ε = 0 is the plain
      cross-entropy.
    - *Ignored rows*: a position whose label is ``ignore_index`` (the
      padding, PAD) adds nothing to the cost, and ``n`` counts only the kept
      rows, so a batch of short sentences padded to a long one costs what its
      real tokens cost.

    The gradient of the softmax and the cross-entropy together is again
    simple: ``∂C/∂logits = (p - q) / n`` on a kept row, 0 on an ignored one.

    Shapes: ``logits`` ``(*shape, classes)``, ``labels`` ``(*shape,)``: a translator's
    (batch, tgt_seq, vocab) and (batch, tgt_seq).  The same as
    ``torch.nn.functional.cross_entropy(..., ignore_index=..., label_smoothing=ε)``.

    Args:
        smoothing: ε, in [0, 1).
        ignore_index: the label of rows to ignore (the PAD id), or None.
    """

    def __init__(self, smoothing: float = 0.0, ignore_index: int | None = None):
        super().__init__()
        self.smoothing = probability(self, "smoothing", smoothing)
        if ignore_index is not None:
            non_negative_int(self, "ignore_index", ignore_index)
        self.ignore_index = ignore_index

    def extra_repr(self) -> str:
        return f"smoothing={self.smoothing}, ignore_index={self.ignore_index}"

    @checked
    def forward(self, logits: Float[Array, "*shape classes"],
                labels: Integer[Array, "*shape"]) -> float:
        check_ids("LabelSmoothedCrossEntropy.forward", "labels", labels, logits.shape[-1])
        classes = logits.shape[-1]
        rows = logits.reshape(-1, classes)
        kept = (np.ones(len(rows), dtype=bool) if self.ignore_index is None
                else labels.ravel() != self.ignore_index)
        if not kept.any():
            raise ValueError(f"LabelSmoothedCrossEntropy.forward: every label is the ignored "
                             f"{self.ignore_index} (padding): there is nothing to score")
        # log p by log-sum-exp, on the kept rows only: one copy of them, then in place
        # (at a translator's vocab of 8,000, each (rows, classes) pass is 64 MB)
        log_p = rows[kept]
        log_p -= log_p.max(axis=-1, keepdims=True)
        p = np.exp(log_p)
        total = p.sum(axis=-1, keepdims=True)
        log_p -= np.log(total)
        p /= total
        # Σ_k q_k log p_k = (1 - ε) log p_label + (ε / classes) Σ_k log p_k: the same sum
        # without writing q down, which would cost as much as log p itself
        n, targets = len(log_p), labels.ravel()[kept]
        at_label = log_p[np.arange(n), targets].sum()
        self.save_for_backward(p=p, targets=targets, kept=kept, shape=logits.shape)
        return float(-((1.0 - self.smoothing) * at_label
                       + self.smoothing / classes * log_p.sum()) / n)

    @checked
    def backward(self) -> Float[Array, "*shape classes"]:
        p, targets, kept = self.saved["p"], self.saved["targets"], self.saved["kept"]
        n, classes = p.shape
        # (p - q) / n, q = ε / classes everywhere plus 1 - ε at the label; ignored rows stay 0
        dkept = (p - self.smoothing / classes) / n
        dkept[np.arange(n), targets] -= (1.0 - self.smoothing) / n
        dlogits = np.zeros((len(kept), classes), dtype=p.dtype)
        dlogits[kept] = dkept
        return dlogits.reshape(self.saved["shape"])
