"""Costs: values, gradients, stability, label checks, and PyTorch as reference."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import QuadraticCost, ShapeError, SoftmaxCrossEntropy
from shapesafe_nn.losses import one_hot
from shapesafe_nn.testing import assert_finite_allclose, gradcheck

sizes = st.integers(1, 8)
COSTS = [QuadraticCost, SoftmaxCrossEntropy]


@st.composite
def wrong_size(draw, right: int) -> int:
    """A positive size other than ``right``: ``right`` plus an offset that is never 0."""
    offset = draw(st.integers(1 - right, 3))
    return right + (offset if offset < 0 else offset + 1)


def labels_for(rng, shape, classes) -> np.ndarray:
    return rng.integers(0, classes, shape)


# ---------------------------------------------------------------------------
# Shapes over drawn dims
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("Cost", COSTS)
@settings(max_examples=30, deadline=None)
@given(batch=sizes, classes=sizes)
def test_cost_is_a_float_and_its_gradient_has_the_output_shape(Cost, batch, classes):
    rng = np.random.default_rng(0)
    cost = Cost()
    value = cost.forward(rng.standard_normal((batch, classes)),
                         labels_for(rng, batch, classes))
    assert type(value) is float and value >= 0
    assert cost.backward().shape == (batch, classes)


@settings(max_examples=30, deadline=None)
@given(batch=sizes, seq=sizes, vocab=sizes)
def test_cross_entropy_takes_a_sequence_of_positions(batch, seq, vocab):
    rng = np.random.default_rng(0)
    cost = SoftmaxCrossEntropy()
    cost.forward(rng.standard_normal((batch, seq, vocab)), labels_for(rng, (batch, seq), vocab))
    assert cost.backward().shape == (batch, seq, vocab)


@settings(max_examples=30, deadline=None)
@given(batch=sizes, classes=sizes, data=st.data())
def test_quadratic_cost_names_a_labels_batch_that_differs(batch, classes, data):
    wrong = data.draw(wrong_size(batch))
    with pytest.raises(ShapeError) as info:
        QuadraticCost().forward(np.zeros((batch, classes)), np.zeros(wrong, dtype=np.int64))
    assert info.value.argument == "labels" and info.value.dim == "batch"
    assert f"batch is {wrong} here, but batch = {batch} was bound by argument a" \
        in str(info.value)


@settings(max_examples=30, deadline=None)
@given(batch=sizes, classes=sizes, data=st.data())
def test_cross_entropy_names_labels_whose_shape_differs(batch, classes, data):
    wrong = data.draw(wrong_size(batch))
    with pytest.raises(ShapeError) as info:
        SoftmaxCrossEntropy().forward(np.zeros((batch, classes)), np.zeros(wrong, dtype=np.int64))
    text = str(info.value)
    # `*shape` is variadic: the text names it and both shapes, there is no single dim
    assert "SoftmaxCrossEntropy.forward: argument labels" in text
    assert f"'*shape' is ({wrong},), which does not equal the existing value of ({batch},)" \
        in text


@pytest.mark.parametrize("Cost", COSTS)
def test_float_labels_are_refused(Cost):
    with pytest.raises(ShapeError, match=r"labels holds float64 but a(n)? integer array"):
        Cost().forward(np.zeros((2, 3)), np.array([0.0, 1.0]))


# ---------------------------------------------------------------------------
# Values and gradients
# ---------------------------------------------------------------------------
def test_quadratic_cost_value():
    a = np.array([[0.5, 0.5], [1.0, 0.0]])
    # example 0: ½(0.25 + 0.25); example 1 (label 0): 0; mean over 2 examples
    assert QuadraticCost().forward(a, np.array([1, 0])) == pytest.approx(0.125, rel=1e-15)


def test_cross_entropy_of_uniform_logits_is_log_classes():
    value = SoftmaxCrossEntropy().forward(np.zeros((4, 10)), np.arange(4))
    assert value == pytest.approx(np.log(10), rel=1e-14)


@pytest.mark.parametrize("Cost", COSTS)
def test_gradients_match_finite_differences(Cost):
    rng = np.random.default_rng(1)
    # float64, eps = 1e-6: central-difference error ~1e-10
    report = gradcheck(Cost(), rng.standard_normal((5, 4)), labels_for(rng, 5, 4),
                       tolerance=1e-7)
    assert report.error < 1e-7
    assert report.compared == 5 * 4  # every entry of a; the labels are not differentiated


def test_cross_entropy_gradient_over_a_sequence_matches_finite_differences():
    rng = np.random.default_rng(2)
    report = gradcheck(SoftmaxCrossEntropy(), rng.standard_normal((2, 3, 5)),
                       labels_for(rng, (2, 3), 5), tolerance=1e-7)
    assert report.error < 1e-7
    assert report.compared == 2 * 3 * 5


@pytest.mark.parametrize("Cost", COSTS)
def test_backward_before_forward_says_so(Cost):
    with pytest.raises(RuntimeError, match=f"{Cost.__name__}.backward: no forward is waiting"):
        Cost().backward()


# ---------------------------------------------------------------------------
# Stability and labels
# ---------------------------------------------------------------------------
def test_cross_entropy_is_finite_for_huge_logits():
    logits = np.array([[1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0]])
    cost = SoftmaxCrossEntropy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow or log(0) would warn
        value = cost.forward(logits, np.array([0, 1]))
        dlogits = cost.backward()
    # example 0 is certain and right (0), example 1 is 2000 nats wrong; mean 1000
    assert value == pytest.approx(1000.0, rel=1e-12)
    assert_finite_allclose(dlogits, [[0, 0, 0], [0.5, -0.5, 0]], rtol=0, atol=1e-12)


@pytest.mark.parametrize("Cost", COSTS)
@pytest.mark.parametrize("label", [-1, 3])
def test_a_label_outside_the_classes_is_refused_naming_it_and_the_count(Cost, label):
    with pytest.raises(ValueError, match=rf"labels holds {label} at index \(1,\), "
                                         rf"outside \[0, 3\)"):
        Cost().forward(np.zeros((2, 3)), np.array([0, label]))


def test_one_hot():
    y = one_hot(np.array([2, 0]), 3)
    np.testing.assert_array_equal(y, [[0, 0, 1], [1, 0, 0]])
    assert y.dtype == np.float64
    assert one_hot(np.array([[1, 0]]), 2, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(one_hot(np.array([[1, 0]]), 2), [[[0, 1], [1, 0]]])
    with pytest.raises(ValueError, match=r"one_hot: labels holds 10 .* outside \[0, 10\)"):
        one_hot(np.array([0, 10]), 10)


# ---------------------------------------------------------------------------
# PyTorch as reference
# ---------------------------------------------------------------------------
@pytest.mark.reference
def test_quadratic_cost_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a, labels = rng.uniform(0, 1, (6, 4)), labels_for(rng, 6, 4)
    cost = QuadraticCost()
    value = cost.forward(a, labels)
    da = cost.backward()

    ta = torch.tensor(a, requires_grad=True)
    y = torch.nn.functional.one_hot(torch.tensor(labels), 4).double()
    tvalue = (0.5 * ((ta - y) ** 2).sum(1)).mean()
    tvalue.backward()

    assert value == pytest.approx(tvalue.item(), rel=1e-12)  # float64 on both sides
    assert_finite_allclose(da, ta.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.reference
@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 5)], ids=["batch-classes", "batch-seq-vocab"])
@pytest.mark.parametrize("scale", [1.0, 1000.0], ids=["normal", "extreme"])
def test_cross_entropy_matches_pytorch(shape, scale):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    logits, labels = rng.standard_normal(shape) * scale, labels_for(rng, shape[:-1], shape[-1])
    cost = SoftmaxCrossEntropy()
    value = cost.forward(logits, labels)
    dlogits = cost.backward()

    tlogits = torch.tensor(logits, requires_grad=True)
    # torch wants (N, classes) rows and (N,) targets: flatten the positions
    tvalue = torch.nn.functional.cross_entropy(tlogits.reshape(-1, shape[-1]),
                                               torch.tensor(labels).reshape(-1))
    tvalue.backward()

    assert value == pytest.approx(tvalue.item(), rel=1e-12)  # float64 on both sides
    assert_finite_allclose(dlogits, tlogits.grad.numpy(), rtol=1e-10, atol=1e-14)
