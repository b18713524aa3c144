"""Per-call records: a layer called several times gets one backward per call,
each with its own forward's arrays and dims; no_grad records nothing; a record
no backward consumed is never used by a later pass; the check mode is the
thread's own."""

import threading

import numpy as np
import pytest

from shapesafe_nn import (Dense, QuadraticCost, Sequential, ShapeError, Sigmoid, checks,
                          get_checks, no_grad, set_checks)
from shapesafe_nn.layers import Embedding, LayerNorm
from shapesafe_nn.core.module import PILING_UP
from shapesafe_nn.core.records import is_recording
from shapesafe_nn.testing import gradcheck


def test_a_sigmoid_used_twice_gets_the_gradients_finite_differences_give():
    # the example that was silently wrong with one saved slot per layer:
    # dC/dW0[0,0] was -0.001702 where finite differences give -0.002563
    rng = np.random.default_rng(0)
    act = Sigmoid()
    model = Sequential(Dense(4, 4, rng=rng), act, Dense(4, 4, rng=rng), act)
    x = rng.standard_normal((3, 4))
    report = gradcheck(model, x)
    assert report.error < 1e-6  # float64 central differences, eps 1e-6


def test_an_embedding_read_twice_adds_both_gradients():
    rng = np.random.default_rng(1)
    embedding = Embedding(7, 3, rng=rng, dtype=np.float64)
    source, target = np.array([[0, 1, 1]]), np.array([[1, 2, 6, 6]])
    dsource, dtarget = rng.standard_normal((1, 3, 3)), rng.standard_normal((1, 4, 3))
    embedding.forward(source)
    embedding.forward(target)
    embedding.backward(dtarget)  # the most recent forward first
    embedding.backward(dsource)
    expected = np.zeros((7, 3))
    for ids, dout in ((source, dsource), (target, dtarget)):
        for position, token in enumerate(ids[0]):
            expected[token] += dout[0, position]
    np.testing.assert_allclose(embedding.W.grad, expected, rtol=1e-12)  # float64 sums


def test_each_backward_is_checked_against_its_own_forward_dims():
    rng = np.random.default_rng(2)
    layer = Dense(3, 2, rng=rng)
    layer.forward(rng.standard_normal((4, 3)))  # batch 4
    layer.forward(rng.standard_normal((5, 3)))  # batch 5: its backward comes first
    with pytest.raises(ShapeError, match="batch is 4 here, but batch = 5 was bound by the forward"):
        layer.backward(np.zeros((4, 2)))
    layer.backward(np.zeros((5, 2)))  # the refused dout consumed nothing
    layer.backward(np.zeros((4, 2)))
    assert layer.pending_records() == 0


def test_a_forward_that_fails_leaves_no_record():
    layer = Dense(3, 2)
    with pytest.raises(ShapeError):
        layer.forward(np.zeros((4, 5)))
    assert layer.pending_records() == 0


def test_no_grad_records_nothing_and_its_backward_is_refused():
    layer = Sequential(Dense(3, 2), Sigmoid())
    x = np.ones((4, 3))
    with no_grad():
        assert not is_recording()
        out = layer.forward(x)
    assert is_recording()
    assert all(module.pending_records() == 0 for _, module in layer.named_modules())
    np.testing.assert_array_equal(out, layer.forward(x))  # the same numbers either way
    layer.backward(np.ones((4, 2)))
    with pytest.raises(RuntimeError, match=r"Sequential.backward: no forward is waiting for "
                                           r"this backward: every forward of this Sequential "
                                           r"has had its backward, or ran inside no_grad\(\)"):
        layer.backward(np.ones((4, 2)))


def test_records_of_an_aborted_pass_are_never_used_after_zero_grad():
    layer = Dense(3, 2)
    layer.forward(np.ones((4, 3)))  # a step that stopped before its backward
    layer.zero_grad()
    with pytest.raises(RuntimeError, match="ran before the last zero_grad"):
        layer.backward(np.ones((4, 2)))
    assert layer.pending_records() == 0
    layer.forward(np.ones((4, 3)))  # the new pass works as usual
    layer.backward(np.ones((4, 2)))


def test_the_next_forward_drops_stale_records_so_they_cannot_pile_up():
    layer = Dense(3, 2)
    for _ in range(5):
        layer.forward(np.ones((4, 3)))
        layer.zero_grad()
    layer.forward(np.ones((4, 3)))
    assert len(layer._records) == 1


@pytest.mark.parametrize("forward_mode", ["always", "first"])
def test_switching_checks_off_between_a_forward_and_its_backward_lets_no_wrong_dout_through(
        forward_mode):
    layer = Dense(3, 2)
    with checks(forward_mode):
        layer.forward(np.ones((4, 3)))
    with checks("off"), pytest.raises(ShapeError, match="batch = 4 was bound by the forward"):
        layer.backward(np.ones((7, 2)))


def test_a_forward_run_with_checks_off_leaves_a_backward_checked_against_the_parameters():
    layer = Dense(3, 2)
    with checks("off"):
        layer.forward(np.ones((4, 3)))
    with pytest.raises(ShapeError, match="d_out"):
        layer.backward(np.ones((4, 5)))


@pytest.mark.parametrize("dout_shape", [(1, 3), (3,), (4, 1)])
def test_a_wrong_dout_after_a_forward_run_with_checks_off_is_the_dout_s_not_the_body_s(
        dout_shape):
    """The forward left no dims, so dout (1, 3) bound *shape itself; the result,
    broadcast against the saved (4, 3) output, then disagreed with it and was
    called "a bug inside Sigmoid.backward"."""
    layer, x = Sigmoid(), np.random.default_rng(0).standard_normal((4, 3))
    with checks("off"):
        layer.forward(x)
    with pytest.raises(ShapeError) as error:
        layer.backward(np.ones(dout_shape))
    message = str(error.value)
    assert message.startswith(f"Sigmoid.backward: argument dout float64 {dout_shape} disagrees "
                              f"with the forward it differentiates\n")
    assert message.endswith(
        "hint: pass backward the gradient of this layer's last forward output; that forward "
        "ran with checks off, so dout could be checked against the layer's parameters alone, "
        "not against what the forward saved")
    assert "bug inside" not in message
    assert error.value.argument == "dout"
    # the record still waits: the right dout now gets the checked forward's gradient
    assert layer.pending_records() == 1
    dout = np.random.default_rng(1).standard_normal((4, 3))
    checked = Sigmoid()
    checked.forward(x)
    np.testing.assert_array_equal(layer.backward(dout), checked.backward(dout))


def test_a_dout_that_fails_a_line_of_the_body_after_an_unchecked_forward_changes_nothing():
    """LayerNorm adds its parameters' gradients before the line that meets the
    saved array fails: they are put back, and the record stays."""
    layer, rng = LayerNorm(8, dtype=np.float64), np.random.default_rng(0)
    layer.gamma.grad[...] = rng.standard_normal(8)
    before = layer.gamma.grad.copy(), layer.beta.grad.copy()
    with checks("off"):
        layer.forward(rng.standard_normal((2, 3, 8)))
    with pytest.raises(ShapeError) as error:
        layer.backward(rng.standard_normal((1, 3, 8)))
    assert str(error.value).startswith(
        "LayerNorm.backward: argument dout float64 (1, 3, 8) disagrees with the forward it "
        "differentiates\n  line ")
    np.testing.assert_array_equal(layer.gamma.grad, before[0])
    np.testing.assert_array_equal(layer.beta.grad, before[1])
    assert layer.pending_records() == 1


def test_a_dout_of_another_float_dtype_after_an_unchecked_forward_is_the_dout_s():
    layer = Sigmoid()
    with checks("off"):
        layer.forward(np.zeros((2, 3)))
    with pytest.raises(ShapeError) as error:
        layer.backward(np.zeros((2, 3), dtype=np.float32))
    message = str(error.value)
    assert message.startswith("Sigmoid.backward: argument dout float32 (2, 3) disagrees")
    assert "return value has the wrong float dtype" in message and "bug inside" not in message


def test_the_check_mode_belongs_to_the_thread():
    seen = {}
    inside = threading.Event()
    leave = threading.Event()

    def switch_off_then_wait():
        with checks("off"):
            seen["worker"] = get_checks()
            inside.set()
            leave.wait(5)

    worker = threading.Thread(target=switch_off_then_wait)
    worker.start()
    inside.wait(5)
    seen["main"] = get_checks()
    with pytest.raises(ShapeError):  # this thread still checks
        Dense(3, 2).forward(np.ones((4, 5)))
    leave.set()
    worker.join()
    assert seen == {"worker": "off", "main": "always"}


def test_no_grad_belongs_to_the_thread():
    seen = {}
    inside = threading.Event()
    leave = threading.Event()

    def run_without_records():
        with no_grad():
            inside.set()
            leave.wait(5)

    worker = threading.Thread(target=run_without_records)
    worker.start()
    inside.wait(5)
    seen["main"] = is_recording()
    leave.set()
    worker.join()
    assert seen == {"main": True}


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("mode", ["always", "first"])
def test_np_matrix_is_refused_because_its_star_is_a_matrix_product(mode):
    # as an ndarray subclass np.matrix passed the check, and QuadraticCost's
    # (a - y) * (a - y) became a matrix product: 1.726 silently became 5.115
    a = np.matrix([[0.2, 0.9], [0.6, 0.1]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    set_checks(mode)
    with pytest.raises(ShapeError) as error:
        QuadraticCost().forward(a, y)
    assert str(error.value).splitlines()[0] == "QuadraticCost.forward: argument a is an np.matrix"
    assert "pass np.asarray(a)" in str(error.value)


def test_a_masked_array_is_refused():
    x = np.ma.masked_array(np.ones((2, 3)), mask=[[0, 1, 0], [0, 0, 0]])
    with pytest.raises(ShapeError, match="argument x is an np.MaskedArray"):
        Dense(3, 2).forward(x)


class Tagged(np.ndarray):
    """An ndarray subclass that changes no arithmetic: checked as an ndarray."""


def test_first_mode_checks_a_subclass_again_when_its_shape_changes():
    # first mode keyed any non-ndarray by its type alone, so after one good
    # call a subclass array was never checked again
    layer = Dense(3, 2)
    set_checks("first")
    layer.forward(np.ones((4, 3)).view(Tagged))
    with pytest.raises(ShapeError, match="d_in is 5 here"):
        layer.forward(np.ones((4, 5)).view(Tagged))


def test_forwards_piling_up_without_backwards_are_warned_about():
    layer = Dense(3, 2)
    x = np.ones((1, 3))
    with pytest.warns(ResourceWarning, match="Dense: 1000 forwards are waiting for a backward"):
        for _ in range(PILING_UP):
            layer.forward(x)
    with no_grad():  # the remedy the warning names
        layer.forward(x)
    assert layer.pending_records() == PILING_UP


class ScaledSigmoid(Sigmoid):
    """A subclass written without @checked that calls its parent's methods."""

    def forward(self, z):
        return 2.0 * super().forward(z)

    def backward(self, dout):
        return super().backward(2.0 * dout)


def test_a_subclass_without_checked_keeps_one_record_per_call_and_is_checked():
    layer = ScaledSigmoid()
    z = np.random.default_rng(3).standard_normal((4, 3))
    layer.forward(z)
    assert layer.pending_records() == 1  # one for the outer call, none for super()'s
    gradcheck(layer, z)  # the parent's saved `a` is read by the overriding backward
    layer.forward(z)
    with pytest.raises(ShapeError, match="ScaledSigmoid.backward"):  # checked, by its parent's
        layer.backward(np.ones((4, 5)))                               # annotations


# ---------------------------------------------------------------------------
# Records and passes belong to their own model; the call stack to its thread
# ---------------------------------------------------------------------------
def test_zero_grad_of_one_model_leaves_another_models_forward_waiting():
    a, b = Dense(4, 3), Dense(4, 3)
    y = a.forward(np.ones((2, 4)))
    b.zero_grad()
    a.backward(np.ones_like(y))  # before: "the only forwards waiting ran before the last zero_grad()"
    assert a.pending_records() == 0


def test_an_optimizers_zero_grad_touches_only_the_records_of_its_own_model():
    from shapesafe_nn.optim import SGD
    a, b = Sequential(Dense(4, 3), Sigmoid()), Sequential(Dense(4, 3), Sigmoid())
    y = a.forward(np.ones((2, 4)))
    b.forward(np.ones((2, 4)))  # an aborted step of b
    SGD(b.parameters(), lr=0.1).zero_grad()
    assert all(module.pending_records() == 0 for _, module in b.named_modules())
    a.backward(np.ones_like(y))


def test_two_threads_with_their_own_layer_norms_never_see_each_others_dims():
    errors = []

    def normalize(seq):
        layer = LayerNorm(8, dtype=np.float32)
        try:
            for _ in range(400):
                layer.forward(np.ones((2, seq, 8), np.float32))
        except Exception as error:  # collected: an exception in a thread is lost otherwise
            errors.append(error)

    threads = [threading.Thread(target=normalize, args=(seq,)) for seq in (3, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def _train_then_evaluate_outside_no_grad(model):
    model.forward(np.ones((2, 4)))  # the step's batch
    out = model.forward(np.ones((5, 4)))  # an evaluation batch, outside no_grad()
    model.backward(np.ones_like(out))  # differentiates the evaluation batch


def test_a_step_after_a_backward_that_left_a_forward_waiting_is_refused_before_updating():
    from shapesafe_nn.optim import SGD
    model = Dense(4, 3)
    optimizer = SGD(model.named_parameters(), lr=0.1)
    optimizer.zero_grad()
    _train_then_evaluate_outside_no_grad(model)
    before = model.W.value.copy()
    with pytest.raises(RuntimeError) as error:
        optimizer.step()
    assert str(error.value) == (
        "SGD.step: 2 forwards and 1 backward since zero_grad() in Dense\n"
        "  the backward differentiated the last forward, and 1 forward before it never had one\n"
        "  hint: run evaluation inside no_grad(), so that it records nothing\n"
        "  (no parameter was updated)")
    np.testing.assert_array_equal(model.W.value, before)


def test_zero_grad_after_such_a_pass_clears_it_then_says_what_happened():
    model = Sequential(Dense(4, 3), Sigmoid())
    _train_then_evaluate_outside_no_grad(model)
    with pytest.raises(RuntimeError) as error:
        model.zero_grad()
    assert str(error.value).splitlines()[0] == (
        "Sequential.zero_grad: 2 forwards and 1 backward since zero_grad() in Sequential, "
        "and in 2 other layers")
    assert str(error.value).endswith("(the gradients and records are cleared now)")
    assert all(module.pending_records() == 0 for _, module in model.named_modules())
    assert not any(parameter.grad.any() for parameter in model.parameters())
    model.zero_grad()  # cleared: the next pass starts clean


def test_an_aborted_step_forwards_without_a_backward_trips_nothing():
    from shapesafe_nn.optim import SGD
    model = Dense(4, 3)
    optimizer = SGD(model.parameters(), lr=0.1)
    model.forward(np.ones((2, 4)))  # stopped before its backward
    optimizer.zero_grad()
    out = model.forward(np.ones((2, 4)))
    model.backward(np.ones_like(out))
    optimizer.step()
