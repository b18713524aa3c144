"""Strategies drawn from annotations: every exported layer takes what
``inputs_for`` draws, and refuses, by name, each dim ``mismatched_inputs_for`` puts off."""

import copy
import inspect
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_cases import CASES, tiny_gpt_config

from shapesafe_nn import (Module, Parameter, QuadraticCost, SoftmaxCrossEntropy, checked, checks,
                          layers, losses, models)
from shapesafe_nn.layers import Dense, FeedForward, MultiHeadAttention, Sequential, Sigmoid
from shapesafe_nn.models import GPT, Network
from shapesafe_nn.shapes import Array, Float, ShapeError
from shapesafe_nn.testing import fixed_dims, inputs_for, mismatched_inputs_for
from shapesafe_nn.testing.strategies import Mismatch

EXAMPLES = settings(max_examples=12, deadline=None)
TINY_GPT = tiny_gpt_config()

# Calls where every shape fits: one argument whose dims nothing fixes (the
# activations, Dropout), ids whose vocab is in their values and not their
# shape, and a cost's backward(), which takes no argument.
NOTHING_TO_MISMATCH = {
    *((name, "forward") for name in ("Sigmoid", "ReLU", "Tanh", "Softmax", "GELU", "Dropout",
                                     "Embedding", "GPT")),
    ("QuadraticCost", "backward"), ("SoftmaxCrossEntropy", "backward"),
    ("LabelSmoothedCrossEntropy", "backward"),
}
MISMATCHABLE = [(name, method) for name in CASES for method in ("forward", "backward")
                if (name, method) not in NOTHING_TO_MISMATCH]


def test_every_exported_layer_has_a_case():
    costs = {name for name, value in vars(losses).items()
             if isinstance(value, type) and issubclass(value, Module) and value is not Module}
    # Sequential declares no shapes of its own; a KVCache is what a layer keeps, not a layer
    exported = ({*layers.__all__} - {"Sequential", "KVCache"}
                | costs | {*models.__all__} - {"GPTConfig", "TranslatorConfig"})
    assert set(CASES) == exported


# ---------------------------------------------------------------------------
# The three properties, for every layer
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
@EXAMPLES
@given(data=st.data())
def test_forward_accepts_every_drawn_input(name, data):
    case = CASES[name]
    layer = case.build(np.float32)
    args = data.draw(inputs_for(layer, dims=case.dims), label="args")
    with checks("always"):
        out = layer.forward(*args)  # the checked call also checks the output's shape
    assert np.all(np.isfinite(out))  # inputs in [-3, 3] give finite outputs


@pytest.mark.parametrize("name", CASES)
@EXAMPLES
@given(data=st.data())
def test_backward_after_forward_returns_the_input_shape(name, data):
    case = CASES[name]
    layer = case.build(np.float32)
    forward_args, backward_args = data.draw(inputs_for(layer, "backward", dims=case.dims),
                                            label="(forward_args, backward_args)")
    with checks("always"):
        layer.forward(*forward_args)
        dx = layer.backward(*backward_args)
    if case.backward_returns_none:
        assert dx is None
        return
    # one gradient per float argument: dx, or a tuple (Attention's dq, dk, dv)
    floats = [a for a in forward_args if np.issubdtype(a.dtype, np.floating)]
    gradients = dx if isinstance(dx, tuple) else (dx,)
    assert len(gradients) == len(floats)
    for gradient, x in zip(gradients, floats):
        assert gradient.shape == x.shape and gradient.dtype == x.dtype
        assert np.all(np.isfinite(gradient))


@pytest.mark.parametrize("name, method", MISMATCHABLE)
@EXAMPLES
@given(data=st.data())
def test_every_mismatch_raises_a_shape_error_naming_its_dim(name, method, data):
    case = CASES[name]
    layer = case.build(np.float32)
    args, dim = data.draw(mismatched_inputs_for(layer, method, dims=case.dims),
                          label="(args, dim)")
    with checks("always"):
        if method == "backward":
            forward_args, args = args
            layer.forward(*forward_args)  # right: only dout is off
        with pytest.raises(ShapeError) as info:
            getattr(layer, method)(*args)
    if dim.startswith("*"):  # one axis of a *shape: .dim names it, and so does the text
        assert info.value.dim == dim[1:] and f"'{dim}'" in str(info.value)
    else:
        assert info.value.dim == dim
        assert f"{dim} is " in str(info.value)
    # the label says which argument changed: its name, at its place in the call
    assert info.value.dim == dim.dim
    names = [n for n in inspect.signature(getattr(type(layer), method)).parameters][1:]
    assert names[dim.position] == dim.argument
    if dim.dim in fixed_dims(layer, case.dims):  # bound before the arguments: it blames this one
        assert info.value.argument == dim.argument


@pytest.mark.parametrize("name, method", sorted(NOTHING_TO_MISMATCH))
def test_a_call_that_fits_every_shape_has_no_mismatch(name, method):
    case = CASES[name]
    with pytest.raises(ValueError, match=f"{name}.{method}"):
        mismatched_inputs_for(case.build(np.float32), method, dims=case.dims)


# ---------------------------------------------------------------------------
# The drawing rules
# ---------------------------------------------------------------------------
@EXAMPLES
@given(inputs_for(QuadraticCost()))
def test_a_dim_named_twice_is_drawn_once_and_labels_lie_in_classes(args):
    a, labels = args
    assert labels.shape == (len(a),)
    assert labels.dtype == np.int64 and np.all((0 <= labels) & (labels < a.shape[1]))


@EXAMPLES
@given(inputs_for(GPT(TINY_GPT), "backward"))
def test_gpt_ids_stay_in_vocab_and_seq_within_block_size(example):
    (ids,), (dlogits,) = example
    batch, seq = ids.shape
    assert 1 <= seq <= TINY_GPT.block_size
    assert np.all((0 <= ids) & (ids < TINY_GPT.vocab_size))
    assert dlogits.shape == (batch, seq, TINY_GPT.vocab_size) and dlogits.dtype == np.float32


def test_fixed_dims_come_from_parameters_anchors_and_agreeing_sub_layers():
    assert fixed_dims(Dense(4, 3)) == {"d_in": 4, "d_out": 3}
    assert fixed_dims(FeedForward(4, 16)) == {"d_model": 4, "d_ff": 16}  # its anchors
    gpt = fixed_dims(GPT(TINY_GPT))
    assert gpt["vocab"] == 7 and gpt["d_model"] == 4
    assert gpt["max_len"] == TINY_GPT.block_size  # from its position table
    assert "d_in" not in gpt  # its Dense layers disagree on d_in
    assert fixed_dims(Network([4, 3, 2])) == {"d_in": 4, "classes": 2}  # its anchors


@EXAMPLES
@given(inputs_for(MultiHeadAttention(8, 2), dtype=np.float64))
def test_floats_take_the_dtype_asked_for(args):
    (x,) = args
    assert x.dtype == np.float64 and np.all(np.abs(x) <= 3)


@EXAMPLES
@given(inputs_for(MultiHeadAttention(8, 2)))
def test_floats_take_the_dtype_of_the_parameters(args):
    assert args[0].dtype == np.float32


@EXAMPLES
@given(inputs_for(Sigmoid()), inputs_for(SoftmaxCrossEntropy()))
def test_an_argument_of_star_shape_alone_has_an_axis(sigmoid_args, cost_args):
    # numpy arithmetic on a 0-d array returns a scalar, which no layer may return
    assert sigmoid_args[0].ndim >= 1
    logits, labels = cost_args
    assert labels.ndim >= 1 and logits.shape[:-1] == labels.shape


class Mixer(Module):
    """A layer only for these tests: one parameter fixes d_model, which the
    arguments read after a *shape and inside a product."""

    def __init__(self):
        super().__init__()
        self.w = Parameter(np.ones(3), "d_model")

    @checked
    def forward(self, x: Float[Array, "*shape d_model"],
                qkv: Float[Array, "batch 3*d_model"]) -> Float[Array, "*shape d_model"]:
        return x * self.w.value


@EXAMPLES
@given(inputs_for(Mixer()))
def test_dims_after_a_star_shape_and_symbolic_dims_follow_the_layer(args):
    x, qkv = args
    assert x.shape[-1] == 3 and qkv.shape[1] == 9
    Mixer().forward(x, qkv)


@EXAMPLES
@given(mismatched_inputs_for(Mixer()))
def test_only_a_dim_the_layer_fixes_or_one_computed_from_it_is_put_off(example):
    (x, qkv), dim = example
    if dim == "d_model":
        assert x.shape[-1] != 3 and qkv.shape[1] == 9
        assert (dim.argument, dim.position) == ("x", 0)  # the argument it changed
    else:  # the computed dim itself, its names left as they are
        assert dim == "3*d_model" and x.shape[-1] == 3 and qkv.shape[1] != 9
        assert (dim.argument, dim.position) == ("qkv", 1)
    with pytest.raises(ShapeError) as error:
        Mixer().forward(x, qkv)
    assert error.value.dim == dim.dim


@EXAMPLES
@given(mismatched_inputs_for(Dense(4, 3)))
def test_the_docstring_example_of_mismatched_inputs_for(example):
    (x,), dim = example  # dim == "d_in", dim.argument == "x"
    with pytest.raises(ShapeError) as error:
        Dense(4, 3).forward(x)
    assert error.value.dim == dim.dim == dim == "d_in" and dim.argument == "x"


@EXAMPLES
@given(mismatched_inputs_for(Dense(4, 3), "backward"))
def test_a_backward_mismatch_names_dout(example):
    (forward_args, (dout,)), dim = example
    assert dim in ("batch", "d_out") and (dim.argument, dim.position) == ("dout", 0)


def test_a_mismatch_label_is_a_string_that_keeps_its_argument():
    star = Mismatch("*shape", "dout", 0)
    assert star == "*shape" and star.dim == "shape" and isinstance(star, str)
    assert repr(star) == "Mismatch('*shape', argument='dout', position=0)"
    for twin in (copy.copy(star), copy.deepcopy(star), pickle.loads(pickle.dumps(star))):
        assert (twin, twin.argument, twin.position) == ("*shape", "dout", 0)


class Twice(Module):
    """x side by side with itself: only a forward call knows d_out = 2 d_in."""

    @checked
    def forward(self, x: Float[Array, "batch d_in"]) -> Float[Array, "batch d_out"]:
        return np.concatenate([x, x], axis=1)

    @checked
    def backward(self, dout: Float[Array, "batch d_out"]) -> Float[Array, "batch d_in"]:
        half = dout.shape[1] // 2
        return dout[:, :half] + dout[:, half:]


def test_a_dim_only_forward_computes_must_be_given():
    with pytest.raises(ValueError, match=r"Twice.backward: .* knows d_out.*dims=\{'d_out'"):
        inputs_for(Twice(), "backward")


def test_dims_may_not_contradict_the_layer():
    with pytest.raises(ValueError, match="Dense fixes d_in = 4; dims gives d_in = 5"):
        inputs_for(Dense(4, 3), dims={"d_in": 5})


def test_a_method_without_shapes_has_nothing_to_draw():
    with pytest.raises(TypeError, match="Sequential.forward: argument x has no array annotation"):
        inputs_for(Sequential(Dense(4, 3)))
