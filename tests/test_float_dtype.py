"""The float dtype is bound like a dim: the first float parameter (or, in a
layer without parameters, the first float argument) binds it, and a float
array of another dtype is a ShapeError naming what bound it.  Integer ids and
boolean masks keep their own rules."""

import numpy as np
import pytest

from shapesafe_nn import Dense, Module, ShapeError, Sigmoid, checked, expect
from shapesafe_nn.layers import Embedding, LayerNorm, MultiHeadAttention
from shapesafe_nn.shapes import Array, Float


def refused(call, *args) -> ShapeError:
    with pytest.raises(ShapeError) as error:
        call(*args)
    return error.value


def test_a_float64_x_into_a_float32_dense_names_the_parameter_that_bound_float32():
    layer = Dense(4, 3, dtype=np.float32)
    error = refused(layer.forward, np.ones((2, 4)))
    assert str(error) == (
        "Dense.forward: argument x has the wrong float dtype\n"
        "  expected: x: float array (batch d_in) of float32\n"
        "  got:      float64 (2, 4)\n"
        "  x holds float64, but this layer's float dtype = float32 was bound by parameter W\n"
        "  hint: x.astype(np.float32), or build the layer with dtype=np.float64")
    assert (error.where, error.argument) == ("Dense.forward", "x")
    assert layer.pending_records() == 0  # the refused call left nothing behind


@pytest.mark.parametrize("make, x", [
    (lambda: LayerNorm(8, dtype=np.float32), np.ones((2, 3, 8))),
    (lambda: MultiHeadAttention(8, 2, dtype=np.float32), np.ones((2, 3, 8))),
])
def test_layer_norm_and_attention_refuse_another_float_dtype(make, x):
    error = refused(make().forward, x)
    assert "x holds float64, but this layer's float dtype = float32 was bound by parameter" \
        in str(error)


def test_a_float64_dout_into_a_float32_backward_is_refused_and_consumes_nothing():
    layer = Dense(4, 3, dtype=np.float32)
    out = layer.forward(np.ones((2, 4), np.float32))
    error = refused(layer.backward, np.ones((2, 3)))
    assert "dout holds float64, but this layer's float dtype = float32 was bound by parameter W" \
        in str(error)
    assert layer.pending_records() == 1
    layer.backward(np.ones_like(out))  # the right dtype still finds its forward
    assert layer.pending_records() == 0


def test_a_layer_without_parameters_is_bound_by_its_first_float_argument():
    act = Sigmoid()
    out = act.forward(np.zeros((2, 3), np.float32))
    error = refused(act.backward, np.ones((2, 3)))
    assert "float dtype = float32 was bound by argument z of the forward" in str(error)
    assert act.backward(np.ones_like(out)).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_float_dtype_runs_through_and_keeps_its_dtype(dtype):
    layer = Dense(4, 3, dtype=dtype)
    out = layer.forward(np.ones((2, 4), dtype))
    assert out.dtype == dtype
    assert layer.backward(np.ones_like(out)).dtype == dtype
    assert layer.W.grad.dtype == dtype


def test_integer_ids_keep_their_own_dtype_in_a_float32_embedding():
    embedding = Embedding(5, 3, dtype=np.float32)
    for ids in (np.array([[0, 4]], np.int64), np.array([[0, 4]], np.int32)):
        assert embedding.forward(ids).dtype == np.float32


class Promoting(Module):
    """A layer whose body adds a float64 table to a float32 input."""

    @checked
    def forward(self, x: Float[Array, "batch d_in"]) -> Float[Array, "batch d_in"]:
        return x + np.ones(x.shape[1])  # np.ones is float64: the result is promoted


class PromotingInside(Module):
    @checked
    def forward(self, x: Float[Array, "batch d_in"]) -> Float[Array, "batch d_in"]:
        h = expect("h", x * np.float64(2.0) + np.zeros(x.shape), "batch d_in")
        return h.astype(x.dtype)


def test_a_result_promoted_by_the_layers_own_code_is_a_bug_inside_it():
    error = refused(Promoting().forward, np.ones((2, 3), np.float32))
    assert str(error).splitlines()[0] == "Promoting.forward: return value has the wrong float dtype"
    assert "this is a bug inside Promoting.forward: an operation changed the float dtype" \
        in str(error)


def test_an_intermediate_that_changed_dtype_is_refused_by_expect():
    error = refused(PromotingInside().forward, np.ones((2, 3), np.float32))
    assert "intermediate h has the wrong float dtype" in str(error)
    assert "h holds float64, but this layer's float dtype = float32 was bound by argument x" \
        in str(error)


def test_a_second_parameter_of_another_dtype_is_refused():
    layer = Dense(4, 3, dtype=np.float32)
    layer.b.value = layer.b.value.astype(np.float64)
    error = refused(layer.forward, np.ones((2, 4), np.float32))
    assert "parameter b has the wrong float dtype" in str(error)
    assert "build every parameter of the layer with one dtype (np.float32)" in str(error)
