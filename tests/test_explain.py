"""A numpy error on a line of a checked method is a ShapeError in dimension
names; a backward's gradients must keep their parameters' shapes and dtypes;
an error inside a sub-layer names the chain of calls."""

import inspect

import numpy as np
import pytest

from shapesafe_nn import Dense, Module, Parameter, ShapeError, checked, checks
from shapesafe_nn.shapes import Array, Float


class MyDense(Module):
    """A learner's own Dense; each subclass below makes one usual mistake."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.W = Parameter(np.random.default_rng(0).standard_normal((d_out, d_in)), "d_out d_in")

    @checked
    def forward(self, x: Float[Array, "batch d_in"]) -> Float[Array, "batch d_out"]:
        self.save_for_backward(x=x)
        return x @ self.W.value.T

    @checked
    def backward(self, dout: Float[Array, "batch d_out"]) -> Float[Array, "batch d_in"]:
        self.W.grad += dout.T @ self.saved["x"]
        return dout @ self.W.value


class TransposedInBackward(MyDense):
    @checked
    def backward(self, dout: Float[Array, "batch d_out"]) -> Float[Array, "batch d_in"]:
        self.W.grad += dout.T @ self.saved["x"]
        return dout @ self.W.value.T  # the mistake: W is (d_out d_in) already


class ReplacedGradient(MyDense):
    @checked
    def backward(self, dout: Float[Array, "batch d_out"]) -> Float[Array, "batch d_in"]:
        self.W.grad = self.saved["x"].T @ dout  # the mistake: (d_in d_out), and not added
        return dout @ self.W.value


class BroadcastMistake(MyDense):
    @checked
    def forward(self, x: Float[Array, "batch d_in"]) -> Float[Array, "batch d_out"]:
        self.save_for_backward(x=x)
        return x * self.W.value[:, 0]  # (batch d_in) against (d_out)


class RaisesOnPurpose(MyDense):
    @checked
    def forward(self, x: Float[Array, "batch d_in"]) -> Float[Array, "batch d_out"]:
        if x.max() > 10:
            raise ValueError("RaisesOnPurpose: x must stay below 10")
        return x @ self.W.value.T


def _line_of(cls, text: str) -> int:
    """The line number, in this file, of the method's line holding ``text``."""
    lines, first = inspect.getsourcelines(cls.backward if "dout" in text else cls.forward)
    return first + next(i for i, line in enumerate(lines) if text in line)


@pytest.mark.parametrize("mode", ["always", "first", "off"])
def test_a_matmul_mistake_in_a_learners_backward_is_said_in_dim_names(mode):
    layer = TransposedInBackward(4, 5)
    with checks(mode):
        layer.forward(np.ones((3, 4)))
        with pytest.raises(ShapeError) as error:
            layer.backward(np.ones((3, 5)))
    line = _line_of(TransposedInBackward, "dout @ self.W.value.T")
    assert str(error.value) == (
        f"TransposedInBackward.backward: line {line} failed: dout @ self.W.value.T\n"
        f"  dout            (batch=3, d_out=5)\n"
        f"  self.W.value.T  (d_in=4, d_out=5)      <- W is (d_out d_in)\n"
        f"  matmul needs the last axis of the left (d_out=5) to equal the\n"
        f"  second-last of the right (d_in=4)")
    assert isinstance(error.value.__cause__, ValueError)  # numpy's own, kept
    assert error.value.original is error.value.__cause__
    assert error.value.where == "TransposedInBackward.backward"


def test_a_broadcast_mistake_names_the_arrays_and_the_rule():
    with pytest.raises(ShapeError) as error:
        BroadcastMistake(4, 5).forward(np.ones((3, 4)))
    lines = str(error.value).splitlines()
    assert lines[0].endswith("failed: x * self.W.value[:, 0]")
    assert lines[1].split() == ["x", "(batch=3,", "d_in=4)"]
    assert "each pair must be" in lines[-2] and "(3,4) (5,)" in lines[-1]
    assert len(lines) <= 6


def test_a_value_error_the_layer_raises_itself_passes_through_unchanged():
    with pytest.raises(ValueError, match="RaisesOnPurpose: x must stay below 10") as error:
        RaisesOnPurpose(4, 5).forward(np.full((3, 4), 11.0))
    assert not isinstance(error.value, ShapeError)


def test_a_gradient_replaced_with_another_shape_is_refused_and_put_back():
    layer = ReplacedGradient(4, 5)
    layer.forward(np.ones((3, 4)))
    kept = layer.W.grad
    with pytest.raises(ShapeError) as error:
        layer.backward(np.ones((3, 5)))
    assert str(error.value) == (
        "ReplacedGradient.backward: the gradient of parameter W changed shape or dtype\n"
        "  expected: W.grad: float64 (d_out=5, d_in=4), as W itself\n"
        "  got:      float64 (4, 5)\n"
        "  W.grad must keep W's shape (d_out d_in) and dtype; the backward left it as "
        "float64 (4, 5)\n"
        "  hint: add a gradient shaped (d_out d_in) into it: self.W.grad += dW")
    assert layer.W.grad is kept  # the layer's gradient is as it was


def test_a_gradient_replaced_with_another_dtype_is_refused():
    class Float32Gradient(MyDense):
        @checked
        def backward(self, dout: Float[Array, "batch d_out"]) -> Float[Array, "batch d_in"]:
            self.W.grad = (self.W.grad + dout.T @ self.saved["x"]).astype(np.float32)
            return dout @ self.W.value

    layer = Float32Gradient(4, 5)
    layer.forward(np.ones((3, 4)))
    with pytest.raises(ShapeError, match=r"gradient of parameter W changed shape or dtype"):
        layer.backward(np.ones((3, 5)))


class SwiGLU(Module):
    """Shazeer 2020: down(silu(gate x) * up x); three Dense and no shape_anchors."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.gate, self.up = Dense(d_model, d_ff), Dense(d_model, d_ff)
        self.down = Dense(d_ff, d_model)

    @checked
    def forward(self, x: Float[Array, "batch d_model"]) -> Float[Array, "batch d_model"]:
        g, u = self.gate.forward(x), self.up.forward(x)
        return self.down.forward(g / (1 + np.exp(-g)) * u)


def test_an_error_in_a_sub_layer_names_the_chain_and_suggests_shape_anchors():
    with pytest.raises(ShapeError) as error:
        SwiGLU(5, 6).forward(np.ones((6, 4)))
    lines = str(error.value).splitlines()
    assert lines[0] == "SwiGLU.forward -> gate: Dense.forward: argument x has the wrong shape " \
                       "or type"
    assert lines[5] == ("  SwiGLU.forward has no weights or shape_anchors to check x against "
                        "first: see help(Module.shape_anchors)")
    assert error.value.chain == ["SwiGLU.forward -> gate: "]
    assert error.value.where == "Dense.forward"


def test_with_shape_anchors_the_outer_layer_blames_its_own_argument():
    class AnchoredSwiGLU(SwiGLU):
        shape_anchors = (("gate.W", "d_ff d_model"),)

    with pytest.raises(ShapeError) as error:
        AnchoredSwiGLU(5, 6).forward(np.ones((6, 4)))
    assert str(error.value).splitlines()[0] == \
        "AnchoredSwiGLU.forward: argument x has the wrong shape or type"
    assert "d_model = 5 was bound by parameter gate.W" in str(error.value)
