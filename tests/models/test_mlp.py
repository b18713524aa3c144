"""Nielsen's Network: construction, shapes over drawn sizes, gradients, PyTorch as reference."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import Dense, QuadraticCost, ReLU, ShapeError, Sigmoid, SoftmaxCrossEntropy
from shapesafe_nn.models import Network
from shapesafe_nn.models.mlp import NetworkConfig
from shapesafe_nn.testing import gradcheck

layer_sizes = st.lists(st.integers(1, 8), min_size=2, max_size=4)


@st.composite
def wrong_size(draw, right: int) -> int:
    """A positive size other than ``right``: ``right`` plus an offset that is never 0."""
    offset = draw(st.integers(1 - right, 3))
    return right + (offset if offset < 0 else offset + 1)


# ---------------------------------------------------------------------------
# Shapes over drawn sizes
# ---------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(sizes=layer_sizes, batch=st.integers(1, 6), activation=st.sampled_from(["sigmoid", "relu"]),
       output=st.sampled_from(["sigmoid", "logits"]))
def test_forward_and_backward_shapes(sizes, batch, activation, output):
    model = Network(sizes, activation=activation, output=output, input_grad=True)
    out = model.forward(np.ones((batch, sizes[0])))
    assert out.shape == (batch, sizes[-1])
    assert model.backward(np.ones((batch, sizes[-1]))).shape == (batch, sizes[0])
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    assert [(layer.W.grad.shape, layer.b.grad.shape) for layer in dense] == \
        [((d_out, d_in), (d_out,)) for d_in, d_out in zip(sizes, sizes[1:])]


@settings(max_examples=40, deadline=None)
@given(sizes=layer_sizes, batch=st.integers(1, 6), data=st.data())
def test_a_wrong_input_width_is_named(sizes, batch, data):
    wrong = data.draw(wrong_size(sizes[0]))
    with pytest.raises(ShapeError) as info:
        Network(sizes).forward(np.ones((batch, wrong)))
    assert info.value.where == "Network.forward" and info.value.dim == "d_in"
    assert f"d_in is {wrong} here, but d_in = {sizes[0]} was bound by parameter layers.0.W" \
        in str(info.value)


@settings(max_examples=40, deadline=None)
@given(sizes=layer_sizes, batch=st.integers(1, 6), data=st.data())
def test_backward_names_a_wrong_classes(sizes, batch, data):
    model = Network(sizes)
    model.forward(np.ones((batch, sizes[0])))
    wrong = data.draw(wrong_size(sizes[-1]))
    with pytest.raises(ShapeError) as info:
        model.backward(np.ones((batch, wrong)))
    assert info.value.where == "Network.backward" and info.value.dim == "classes"
    # the last weight matrix binds classes before dout is read
    assert f"classes = {sizes[-1]} was bound by parameter layers." in str(info.value)


def test_by_default_backward_fills_every_gradient_but_returns_no_input_gradient():
    rng = np.random.default_rng(5)
    x, dout = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    lean, full = Network([4, 3, 2], seed=5), Network([4, 3, 2], seed=5, input_grad=True)
    for model in (lean, full):
        model.forward(x)
    assert lean.backward(dout) is None
    assert full.backward(dout).shape == (3, 4)
    for (name, p), (_, q) in zip(lean.named_parameters(), full.named_parameters()):
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)


# ---------------------------------------------------------------------------
# Construction
# ---------------------------------------------------------------------------
def test_the_layers_are_nielsens():
    layers = list(Network([784, 30, 10]).layers)
    assert [type(layer) for layer in layers] == [Dense, Sigmoid, Dense, Sigmoid]
    assert (layers[0].d_in, layers[0].d_out, layers[2].d_in, layers[2].d_out) == (784, 30, 30, 10)
    relu_logits = list(Network([4, 3, 2], activation="relu", output="logits").layers)
    assert [type(layer) for layer in relu_logits] == [Dense, ReLU, Dense]


@pytest.mark.parametrize("sizes, match", [
    ([784], r"sizes needs an input and an output size, got \[784\]"),
    ([], r"sizes needs an input and an output size, got \[\]"),
    ([784, 0, 10], r"sizes\[1\] must be a positive integer, not 0"),
    ([784, 30, -10], r"sizes\[2\] must be a positive integer, not -10"),
    ([784, 30.0, 10], r"sizes\[1\] must be a positive integer, not 30.0"),
])
def test_invalid_sizes_are_refused_naming_the_entry(sizes, match):
    with pytest.raises(ValueError, match="NetworkConfig: " + match):
        Network(sizes)


@pytest.mark.parametrize("argument", ["activation", "output", "init"])
def test_an_unknown_choice_is_refused_naming_the_argument_and_the_choices(argument):
    with pytest.raises(ValueError,
                       match=rf"NetworkConfig: {argument} must be one of .*, not 'tanh'"):
        Network([4, 3, 2], **{argument: "tanh"})


def test_nielsen_init_draws_standard_normal_weights_and_biases():
    model = Network([784, 100, 10], init="nielsen", seed=1)
    W, b = model.layers[0].W.value, model.layers[0].b.value
    # 78,400 draws: the sample std and mean have standard errors 0.0025 and 0.0036, so
    # 0.02 is at least 5 sigma; 100 biases: standard error 0.07, so 0.3 is 4 sigma
    assert abs(W.std() - 1) < 0.02 and abs(W.mean()) < 0.02
    assert abs(b.std() - 1) < 0.3


def test_scaled_init_divides_weights_by_sqrt_d_in():
    model = Network([784, 100, 10], init="scaled", seed=1)
    W1, W2 = model.layers[0].W.value, model.layers[2].W.value
    # std·sqrt(d_in) should be 1; standard errors 0.0025 (78,400 draws) and 0.022 (1,000
    # draws), so 0.02 and 0.1 are bounds of 4 sigma or more
    assert abs(W1.std() * np.sqrt(784) - 1) < 0.02
    assert abs(W2.std() * np.sqrt(100) - 1) < 0.1
    assert abs(model.layers[0].b.value.std() - 1) < 0.3  # biases stay N(0, 1)


def test_the_seed_fixes_the_weights_and_dtype_is_honoured():
    a, b, c = Network([5, 4, 3], seed=7), Network([5, 4, 3], seed=7), Network([5, 4, 3], seed=8)
    for (_, p), (_, q), (_, r) in zip(a.named_parameters(), b.named_parameters(),
                                      c.named_parameters()):
        np.testing.assert_array_equal(p.value, q.value)
        assert not np.array_equal(p.value, r.value)
    model = Network([5, 4, 3], dtype=np.float32)
    assert all(p.value.dtype == np.float32 for p in model.parameters())
    assert model.forward(np.ones((2, 5), dtype=np.float32)).dtype == np.float32
    assert model.config == NetworkConfig((5, 4, 3), dtype="float32")
    assert model.config.to_json() == {"sizes": [5, 4, 3], "activation": "sigmoid",
                                      "output": "sigmoid", "init": "nielsen", "seed": 0,
                                      "dtype": "float32"}


def test_a_config_builds_the_same_network_and_survives_json():
    config = NetworkConfig([6, 5, 2], activation="relu", output="logits", init="scaled", seed=3)
    assert NetworkConfig(**config.to_json()) == config  # JSON's list of sizes: the same config
    built, direct = Network.from_config(config), Network([6, 5, 2], activation="relu",
                                                         output="logits", init="scaled", seed=3)
    for (name, p), (_, q) in zip(built.named_parameters(), direct.named_parameters()):
        np.testing.assert_array_equal(p.value, q.value, err_msg=name)


@pytest.mark.parametrize("field, value, words", [
    ("seed", -1, "seed must be an integer >= 0, not -1"),
    ("dtype", "float16", "dtype must be float32 or float64, not 'float16'"),
    ("sizes", "784", "sizes needs an input and an output size, got '784'"),
])
def test_a_config_refuses_a_bad_field_naming_it(field, value, words):
    with pytest.raises(ValueError, match=re.escape(f"NetworkConfig: {words}")):
        NetworkConfig(**{field: value})


# ---------------------------------------------------------------------------
# Outputs, predict, evaluate
# ---------------------------------------------------------------------------
def test_sigmoid_output_lies_in_zero_one_and_logits_are_unsquashed():
    x = np.random.default_rng(0).standard_normal((50, 6)) * 3
    assert ((0 < (out := Network([6, 5, 4]).forward(x))) & (out < 1)).all()
    logits = Network([6, 5, 4], output="logits").forward(x)
    assert (np.abs(logits) > 1).any()  # N(0, 1) weights and biases: outside (0, 1) somewhere


def test_predict_is_the_largest_output_and_evaluate_counts_matches():
    rng = np.random.default_rng(1)
    model = Network([6, 5, 4], seed=2)
    x = rng.standard_normal((20, 6))
    predicted = model.predict(x)
    assert predicted.shape == (20,) and np.issubdtype(predicted.dtype, np.integer)
    np.testing.assert_array_equal(predicted, model.forward(x).argmax(1))
    assert model.evaluate(x, predicted) == 20
    assert model.evaluate(x, (predicted + 1) % 4) == 0
    labels = predicted.copy()
    labels[:7] = (labels[:7] + 1) % 4
    assert model.evaluate(x, labels) == 13


# ---------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("activation, output", [("sigmoid", "sigmoid"), ("relu", "logits")])
def test_gradients_match_finite_differences(activation, output):
    rng = np.random.default_rng(3)
    model = Network([4, 5, 3, 2], activation=activation, output=output, init="scaled", seed=3,
                    input_grad=True)  # so that the input's gradient is checked too
    # float64, eps = 1e-6: central-difference error ~1e-10 (with this seed the ReLU inputs
    # are all at least 0.048 away from its kink at 0, far outside ±eps)
    report = gradcheck(model, rng.standard_normal((3, 4)), tolerance=1e-7)
    assert report.error < 1e-7


@pytest.mark.reference
@pytest.mark.parametrize("output, Cost", [("sigmoid", QuadraticCost),
                                          ("logits", SoftmaxCrossEntropy)])
def test_cost_and_every_gradient_match_pytorch(output, Cost):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    model = Network([6, 5, 4], output=output, seed=4)
    x, labels = rng.standard_normal((8, 6)), rng.integers(0, 4, 8)
    cost = Cost()
    value = cost.forward(model.forward(x), labels)
    model.backward(cost.backward())

    weights = {name: torch.tensor(p.value, requires_grad=True)
               for name, p in model.named_parameters()}
    hidden = torch.sigmoid(F.linear(torch.tensor(x), weights["layers.0.W"], weights["layers.0.b"]))
    z = F.linear(hidden, weights["layers.2.W"], weights["layers.2.b"])
    if output == "sigmoid":
        y = F.one_hot(torch.tensor(labels), 4).double()
        tvalue = (0.5 * ((torch.sigmoid(z) - y) ** 2).sum(1)).mean()
    else:
        tvalue = F.cross_entropy(z, torch.tensor(labels))
    tvalue.backward()

    assert value == pytest.approx(tvalue.item(), rel=1e-12)  # float64 on both sides
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(parameter.grad, weights[name].grad.numpy(),
                                   rtol=1e-10, atol=1e-14, err_msg=name)
