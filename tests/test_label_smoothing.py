"""The translator's cost: cross-entropy with label smoothing that ignores padding."""

import numpy as np
import pytest

from shapesafe_nn.losses import LabelSmoothedCrossEntropy, SoftmaxCrossEntropy
from shapesafe_nn.testing import gradcheck

PAD = 0
LOGITS = np.random.default_rng(0).standard_normal((2, 4, 5))  # (batch, tgt_seq, vocab)
# sentence 0 has 4 real tokens, sentence 1 has 2 and 2 of padding
LABELS = np.array([[3, 1, 4, 2], [2, 4, PAD, PAD]])


def test_without_smoothing_and_padding_it_is_softmax_cross_entropy():
    ours = LabelSmoothedCrossEntropy().forward(LOGITS, LABELS)
    assert ours == pytest.approx(SoftmaxCrossEntropy().forward(LOGITS, LABELS), rel=1e-12)


def test_padded_positions_cost_nothing_and_get_no_gradient():
    cost = LabelSmoothedCrossEntropy(smoothing=0.1, ignore_index=PAD)
    padded = cost.forward(LOGITS, LABELS)
    dlogits = cost.backward()
    assert (dlogits[1, 2:] == 0).all()
    # the mean over the 6 real tokens: the same as without the padded rows
    real = LABELS != PAD
    alone = cost.forward(LOGITS[real][None], LABELS[real][None])
    assert padded == pytest.approx(alone, rel=1e-12)
    np.testing.assert_allclose(dlogits[real], cost.backward()[0], rtol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_gradcheck_with_padding(smoothing):
    cost = LabelSmoothedCrossEntropy(smoothing=smoothing, ignore_index=PAD)
    report = gradcheck(cost, LOGITS.copy(), LABELS)  # raises beyond 1e-6
    assert report.compared == LOGITS.size


def test_a_batch_of_padding_only_is_refused():
    with pytest.raises(ValueError, match="every label is the ignored 0"):
        LabelSmoothedCrossEntropy(ignore_index=PAD).forward(LOGITS, np.zeros((2, 4), np.int64))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="LabelSmoothedCrossEntropy: smoothing must be a prob"):
        LabelSmoothedCrossEntropy(smoothing=1.0)
    with pytest.raises(ValueError, match="LabelSmoothedCrossEntropy: ignore_index must be"):
        LabelSmoothedCrossEntropy(ignore_index=-1)


@pytest.mark.reference
def test_matches_torch_cross_entropy_with_ignore_index_and_label_smoothing():
    torch = pytest.importorskip("torch")
    cost = LabelSmoothedCrossEntropy(smoothing=0.1, ignore_index=PAD)
    ours = cost.forward(LOGITS, LABELS)
    dlogits = cost.backward()
    logits = torch.from_numpy(LOGITS.copy()).requires_grad_()
    theirs = torch.nn.functional.cross_entropy(logits.reshape(-1, 5),
                                               torch.from_numpy(LABELS).reshape(-1),
                                               ignore_index=PAD, label_smoothing=0.1)
    theirs.backward()
    # float64 on both sides: only the order of the sums differs
    assert ours == pytest.approx(theirs.item(), rel=1e-12)
    np.testing.assert_allclose(dlogits, logits.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_the_loss_and_gradient_are_those_of_q_written_down(dtype, tolerance):
    """The cost sums (1 - ε) log p_label + (ε / classes) Σ log p instead of
    building q, a (rows, vocab) array: the same numbers, within rounding
    (``tolerance``, relative, as the sums run in another order)."""
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((3, 7, 50)).astype(dtype) * 4
    labels = rng.integers(1, 50, size=(3, 7))
    labels[2, 4:] = PAD
    smoothing, classes = 0.1, 50
    rows, kept = logits.reshape(-1, classes).astype(np.float64), labels.ravel() != PAD
    shifted = rows[kept] - rows[kept].max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    q = np.full_like(log_p, smoothing / classes)
    q[np.arange(len(q)), labels.ravel()[kept]] += 1.0 - smoothing
    expected_grad = np.zeros_like(rows)
    expected_grad[kept] = (np.exp(log_p) - q) / len(q)
    cost = LabelSmoothedCrossEntropy(smoothing, ignore_index=PAD)
    loss = cost.forward(logits, labels)
    assert loss == pytest.approx(-(q * log_p).sum() / len(q), rel=tolerance)
    dlogits = cost.backward()
    assert dlogits.dtype == dtype
    np.testing.assert_allclose(dlogits.reshape(-1, classes), expected_grad, rtol=tolerance,
                               atol=tolerance / len(q))


def test_it_keeps_one_rows_by_vocab_array_for_its_backward_not_two():
    """A translator's 2,000 target tokens by 8,000 BPE pieces make each (rows,
    vocab) array 64 MB in float32: q, built out, was a second one, and its
    product with log p a third; without them the cost and its gradient took
    half the time at that size."""
    cost = LabelSmoothedCrossEntropy(0.1, ignore_index=PAD)
    kept = []
    save = cost.save_for_backward

    def watch(**arrays):
        kept.extend(value.shape for value in arrays.values() if isinstance(value, np.ndarray))
        save(**arrays)
    cost.save_for_backward = watch
    cost.forward(LOGITS, LABELS)
    assert [shape for shape in kept if len(shape) == 2] == [(6, 5)]  # 6 real tokens, vocab 5
    cost.backward()
