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
