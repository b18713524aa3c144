"""The contract every layer, cost and model keeps, driven by one table
(tests/layer_cases.py):

- backward agrees with finite differences, in float64, on inputs drawn from
  the layer's own annotations (away from 0, every drawn side at least 2: with
  a single position no gradient reaches attention's scores);
- a layer used twice (two forwards, then two backwards in reverse order)
  gets the gradients finite differences give for both uses together;
- forward and backward agree with the same computation written in PyTorch.

The shape errors of every layer are driven by the same table, in
tests/test_strategies.py.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_cases import CASES

from shapesafe_nn import Module, checks
from shapesafe_nn.testing import gradcheck, inputs_for

# float64 everywhere: gradcheck's central differences need it, and against
# PyTorch only the order of the sums may differ
# derandomize: the same few examples on every run and machine, so that a failure
# is reproducible (each example is a gradient check of every entry: only a few fit)
FEW = settings(max_examples=3, deadline=None, derandomize=True)
# The finite differences repeat the first call's shapes thousands of times: check
# them once ("first"), so the gradient checks spend their time on arithmetic
CHECK_ONCE = "first"


def draws(layer, case, **options):
    """The gradient checks' draws: small (each entry costs two forwards), sides >= 2."""
    return inputs_for(layer, dims=case.dims, dtype=np.float64, max_side=4, min_side=2,
                      away_from_zero=True, **options)


def compared_entries(layer: Module, args: tuple, no_gradient_for: tuple) -> int:
    """Every entry gradcheck must compare: each float input's, each parameter's."""
    inputs = sum(a.size for position, a in enumerate(args)
                 if np.issubdtype(a.dtype, np.floating) and position not in no_gradient_for)
    return inputs + layer.num_parameters()


@pytest.mark.parametrize("name", CASES)
@FEW
@given(data=st.data())
def test_backward_matches_finite_differences(name, data):
    case = CASES[name]
    layer = case.build(np.float64)
    args = data.draw(draws(layer, case), label="args")
    with checks(CHECK_ONCE):
        report = gradcheck(layer, *args, no_gradient_for=case.no_gradient_for)  # 1e-6
    assert report.compared == compared_entries(layer, args, case.no_gradient_for)


def _as_tuple(gradients) -> tuple:
    return gradients if isinstance(gradients, tuple) else (gradients,)


class CalledTwice(Module):
    """``layer`` on two sets of inputs, as one function for gradcheck: its output
    is both outputs side by side (or the sum, for a cost), and its backward
    runs the layer's two backwards in reverse order, as reverse mode does."""

    def __init__(self, layer: Module, split: int):
        super().__init__()
        self.layer = layer
        self._split = split  # how many of the inputs go to the first call

    def forward(self, *inputs):
        first = self.layer.forward(*inputs[:self._split])
        second = self.layer.forward(*inputs[self._split:])
        if np.isscalar(first):  # a cost: one number each
            return first + second
        self._shapes = (first.shape, second.shape)
        return np.concatenate([first.ravel(), second.ravel()])

    def backward(self, dout=None):
        if dout is None:  # a cost: the same dC = 1 for both terms of the sum
            second, first = self.layer.backward(), self.layer.backward()
        else:
            first_shape, second_shape = self._shapes
            size = int(np.prod(first_shape))
            second = self.layer.backward(dout[size:].reshape(second_shape))
            first = self.layer.backward(dout[:size].reshape(first_shape))
        return _as_tuple(first) + _as_tuple(second)


@pytest.mark.parametrize("name", CASES)
@FEW
@given(data=st.data())
def test_a_layer_called_twice_gets_both_gradients(name, data):
    case = CASES[name]
    layer = case.build(np.float64)
    first = data.draw(draws(layer, case), label="first call")
    second = data.draw(draws(layer, case), label="second call")
    twice = CalledTwice(layer, len(first))
    no_gradient_for = case.no_gradient_for + tuple(p + len(first) for p in case.no_gradient_for)
    with checks(CHECK_ONCE):
        report = gradcheck(twice, *first, *second, no_gradient_for=no_gradient_for)  # 1e-6
    assert report.compared == compared_entries(twice, first + second, no_gradient_for)
    assert all(module.pending_records() == 0 for _, module in layer.named_modules())


WITH_REFERENCE = [name for name, case in CASES.items() if case.reference is not None]


@pytest.mark.reference
@pytest.mark.parametrize("name", WITH_REFERENCE)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_forward_and_backward_match_pytorch(name, data):
    torch = pytest.importorskip("torch")
    case = CASES[name]
    layer = case.build(np.float64)
    args = data.draw(inputs_for(layer, dims=case.dims, dtype=np.float64), label="args")

    out = layer.forward(*args)
    is_cost = np.isscalar(out)
    dout = None if is_cost else np.random.default_rng(0).standard_normal(np.shape(out))
    gradients = _as_tuple(layer.backward() if is_cost else layer.backward(dout))

    tensors = [torch.from_numpy(a.copy()) for a in args]
    floats = [position for position, a in enumerate(args) if np.issubdtype(a.dtype, np.floating)
              and position not in case.no_gradient_for]
    for position in floats:
        tensors[position].requires_grad_()
    parameters = {name: torch.from_numpy(p.value.copy()).requires_grad_()
                  for name, p in layer.named_parameters()}
    expected = case.reference(torch, layer, tensors, parameters)
    (expected if is_cost else (expected * torch.from_numpy(dout)).sum()).backward()

    # allclose counts NaN == NaN: every array compared must be finite first
    assert np.all(np.isfinite(out))
    # float64 on both sides: only the order of the sums differs
    tolerance = dict(rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out, expected.detach().numpy(), **tolerance, err_msg="output")
    for position, gradient in zip(floats, gradients):
        assert np.all(np.isfinite(gradient)), f"input {position}"
        np.testing.assert_allclose(gradient, tensors[position].grad.numpy(), **tolerance,
                                   err_msg=f"input {position}")
    for parameter_name, parameter in layer.named_parameters():
        theirs = parameters[parameter_name].grad
        theirs = np.zeros_like(parameter.grad) if theirs is None else theirs.numpy()
        assert np.all(np.isfinite(parameter.grad)), parameter_name
        np.testing.assert_allclose(parameter.grad, theirs, **tolerance, err_msg=parameter_name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_case_is_built_with_spread_parameters_so_each_one_is_seen(name):
    """A γ of ones or a β of zeros hides a backward that forgets them."""
    layer = CASES[name].build(np.float64)
    for path, parameter in layer.named_parameters():
        value = parameter.value
        assert value.size == 1 or np.ptp(value) > 0, f"{name}: {path} is one constant"
