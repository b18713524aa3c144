"""The shape core: ShapeError's text, check modes, expect, the dim table, check_ids."""

import os
import subprocess
import sys
from pathlib import Path

import jaxtyping
import numpy as np
import pytest
from beartype.roar import BeartypeException

from shapesafe_nn import (
    Dense,
    Module,
    ShapeError,
    SoftmaxCrossEntropy,
    checked,
    checks,
    expect,
    get_checks,
    set_checks,
    shapes,
)
from shapesafe_nn.layers import GELU, Dropout, Sigmoid
from shapesafe_nn.core import call as call_module
from shapesafe_nn.shapes import Array, Float, check_ids, register_dim

ROOT = Path(__file__).resolve().parents[1]


def raised_by(call, *args) -> ShapeError:
    """The ShapeError that ``call(*args)`` raises (the test fails if there is none)."""
    with pytest.raises(ShapeError) as info:
        call(*args)
    return info.value


# ---------------------------------------------------------------------------
# The required case: Dense(784, 30) given 785 features
# ---------------------------------------------------------------------------
def test_dense_given_785_features_names_layer_argument_dim_and_both_sizes():
    error = raised_by(Dense(784, 30).forward, np.zeros((32, 785)))
    text = str(error)
    for word in ("Dense.forward", "x", "d_in", "784", "785"):
        assert word in text, f"{word!r} missing from:\n{text}"
    assert "d_in is 785 here, but d_in = 784 was bound by parameter W" in text
    assert len(text.splitlines()) <= 6, text


def test_shape_error_is_a_type_error_and_a_jaxtyping_type_check_error():
    layer = Dense(784, 30)
    with pytest.raises(TypeError):
        layer.forward(np.zeros((32, 785)))
    with pytest.raises(jaxtyping.TypeCheckError):
        layer.forward(np.zeros((32, 785)))


def test_shape_error_keeps_the_details_as_attributes():
    error = raised_by(Dense(784, 30).forward, np.zeros((32, 785)))
    assert error.where == "Dense.forward"
    assert error.argument == "x"
    assert error.dim == "d_in"
    assert error.bindings == {"d_out": 30, "d_in": 784}
    assert error.actual == "float64 (32, 785)"
    # the original beartype violation, with its full reason, stays reachable
    assert isinstance(error.original, BeartypeException)
    assert "d_in" in str(error.original) and "785" in str(error.original)


# ---------------------------------------------------------------------------
# Each kind of mistake says what is wrong
# ---------------------------------------------------------------------------
def test_wrong_rank_says_how_many_axes():
    error = raised_by(Dense(4, 3).forward, np.zeros(4))
    assert "x has 1 axis but (batch d_in) needs 2" in str(error)
    assert "reshape x" in str(error)
    assert error.dim is None


def test_integer_array_where_floats_are_declared_says_the_dtype_and_how_to_convert():
    error = raised_by(Dense(4, 3).forward, np.zeros((2, 4), dtype=np.int64))
    text = str(error)
    assert "x holds int64 but a floating-point array is declared" in text
    assert "x.astype(np.float64)" in text  # the layer's own dtype
    assert len(text.splitlines()) <= 6, text


@pytest.mark.parametrize("value, kind", [([[0.0] * 4] * 2, "list"), (np.float64(1.0), "float64")])
def test_a_value_that_is_not_an_array_is_named_by_its_type(value, kind):
    error = raised_by(Dense(4, 3).forward, value)
    text = str(error)
    assert f"x is a {kind}, not a numpy array" in text
    assert "np.asarray(x" in text
    assert len(text.splitlines()) <= 6, text


@pytest.mark.parametrize("layer, args, advice", [
    (Dense(2, 3), ([[0.0, 1.0]],), "np.asarray(x, dtype=np.float64)"),
    (SoftmaxCrossEntropy(), (np.zeros((2, 3)), [0, 1]), "np.asarray(labels, dtype=np.int64)"),
], ids=["float64-layer", "integer-labels"])
def test_the_conversion_hint_for_a_list_names_the_declared_dtype(layer, args, advice):
    error = raised_by(layer.forward, *args)
    assert advice in str(error)


@pytest.mark.parametrize("shape, transposed", [
    ((784, 10), True),  # the book's column layout: x.T
    ((32, 785), False),  # one pixel too many: not a transpose
], ids=["columns", "wrong-d_in"])
def test_the_hint_says_transposed_only_when_swapping_the_axes_would_fit(shape, transposed):
    hint = str(raised_by(Dense(784, 30).forward, np.zeros(shape))).splitlines()[-1]
    assert ("x looks transposed: pass x.T, shaped (batch d_in)" in hint) == transposed, hint
    assert ("build the layer with d_in = 785" in hint) == (not transposed), hint


class Truncating(Module):
    """A buggy layer: it promises its input's shape but drops the last feature."""

    @checked
    def forward(self, x: Float[Array, "batch d_in"]) -> Float[Array, "batch d_in"]:
        return x[:, :-1]


def test_a_layer_returning_the_wrong_shape_is_blamed_not_its_caller():
    error = raised_by(Truncating().forward, np.zeros((2, 5)))
    text = str(error)
    assert "Truncating.forward: return value has the wrong shape" in text
    assert "d_in is 4 here, but d_in = 5 was bound by argument x" in text
    assert "bug inside Truncating.forward" in text
    assert error.dim == "d_in"


def test_backward_with_another_batch_than_its_forward_names_batch_and_the_forward():
    layer = Dense(4, 3)
    layer.forward(np.zeros((8, 4)))
    error = raised_by(layer.backward, np.zeros((5, 3)))
    text = str(error)
    assert "Dense.backward" in text and "dout" in text
    assert "batch is 5 here, but batch = 8 was bound by the forward call" in text
    assert error.dim == "batch"


def test_backward_before_forward_is_a_runtime_error_that_says_so():
    with pytest.raises(RuntimeError, match=r"Dense.backward: no forward is waiting for this "):
        Dense(4, 3).backward(np.zeros((2, 3)))


def test_a_refused_call_changes_no_parameter_gradient_or_saved_input():
    rng = np.random.default_rng(0)
    layer = Dense(4, 3, rng=rng)
    x, dout = rng.standard_normal((2, 4)), rng.standard_normal((2, 3))
    layer.forward(x)
    W, b = layer.W.value.copy(), layer.b.value.copy()
    with pytest.raises(ShapeError):
        layer.forward(np.zeros((7, 5)))  # refused: what the first forward saved must survive
    with pytest.raises(ShapeError):
        layer.backward(np.zeros((2, 4)))  # refused before any gradient is added
    assert not layer.W.grad.any() and not layer.b.grad.any()
    dx = layer.backward(dout)  # still differentiates the forward of x
    np.testing.assert_array_equal(layer.W.value, W)
    np.testing.assert_array_equal(layer.b.value, b)
    np.testing.assert_allclose(layer.W.grad, dout.T @ x, rtol=1e-12)  # float64 rounding only
    np.testing.assert_allclose(dx, dout @ W, rtol=1e-12)


# ---------------------------------------------------------------------------
# Check modes
# ---------------------------------------------------------------------------
def test_set_and_get_checks():
    assert get_checks() == "always"
    for mode in ("first", "off", "always"):
        set_checks(mode)
        assert get_checks() == mode


def test_an_unknown_mode_is_refused_and_the_mode_stays():
    set_checks("first")
    with pytest.raises(ValueError, match=r"always, first, off, not 'sometimes'"):
        set_checks("sometimes")
    with pytest.raises(ValueError, match="sometimes"):
        with checks("sometimes"):
            pass
    assert get_checks() == "first"


def test_checks_context_restores_the_previous_mode_even_after_an_exception():
    set_checks("first")
    with checks("off"):
        assert get_checks() == "off"
    assert get_checks() == "first"
    with pytest.raises(ZeroDivisionError):
        with checks("off"):
            1 / 0
    assert get_checks() == "first"


@pytest.mark.parametrize("mode", ["off", "first"])
def test_environment_variable_sets_the_starting_mode(mode):
    result = subprocess.run(
        [sys.executable, "-c", "import shapesafe_nn; print(shapesafe_nn.get_checks())"],
        env={**os.environ, "SHAPESAFE_CHECKS": mode}, cwd=ROOT,
        capture_output=True, text=True, check=True)
    assert result.stdout.strip() == mode


def test_an_invalid_environment_variable_imports_then_fails_at_the_first_checked_call():
    program = ("import numpy as np, shapesafe_nn\n"
               "print('imported')\n"
               "shapesafe_nn.Dense(2, 3).forward(np.zeros((1, 2)))")
    result = subprocess.run([sys.executable, "-c", program],
                            env={**os.environ, "SHAPESAFE_CHECKS": "sometimes"}, cwd=ROOT,
                            capture_output=True, text=True)
    assert result.stdout == "imported\n"  # importing never raises for it
    assert result.returncode != 0
    assert ("ValueError: SHAPESAFE_CHECKS must be one of always, first, off, not 'sometimes'"
            in result.stderr)


def test_checks_from_environment_names_an_invalid_value_in_one_line(monkeypatch):
    monkeypatch.setenv("SHAPESAFE_CHECKS", "sometimes")
    with pytest.raises(ValueError) as error:
        shapes.checks_from_environment()
    assert str(error.value) == ("SHAPESAFE_CHECKS must be one of always, first, off, "
                                "not 'sometimes'")
    monkeypatch.setenv("SHAPESAFE_CHECKS", "first")
    assert shapes.checks_from_environment() == "first"


@pytest.fixture
def count_checks(monkeypatch):
    """Count the shape checks actually run: a list that grows by one per check."""
    runs = []
    real = call_module.Call.check

    def counting(call, label, argument, hint, value):
        runs.append(hint)
        return real(call, label, argument, hint, value)

    monkeypatch.setattr(call_module.Call, "check", counting)
    return runs


def test_mode_always_checks_every_call(count_checks):
    layer = Dense(4, 3)
    layer.forward(np.zeros((2, 4)))
    per_call = len(count_checks)
    assert per_call == 4  # W, b, x and the return value
    layer.forward(np.zeros((2, 4)))
    assert len(count_checks) == 2 * per_call


def test_mode_first_checks_each_new_shape_once_and_still_computes(count_checks):
    rng = np.random.default_rng(0)
    layer = Dense(4, 3, rng=rng)
    x = rng.standard_normal((2, 4))
    set_checks("first")
    with pytest.raises(ShapeError, match="d_in"):
        layer.forward(np.zeros((2, 5)))  # new shape: checked, refused
    layer.forward(x)
    checks_so_far = len(count_checks)
    again = layer.forward(x)  # seen shapes: skipped, but computed
    assert len(count_checks) == checks_so_far
    np.testing.assert_allclose(again, x @ layer.W.value.T + layer.b.value, rtol=1e-12)
    with pytest.raises(ShapeError, match="d_in"):
        layer.forward(np.zeros((2, 6)))  # a new wrong shape after seen ones: checked again
    with pytest.raises(ShapeError, match="d_in"):
        layer.forward(np.zeros((2, 5)))  # a refused shape is never remembered as seen


def test_mode_first_still_ties_backward_to_its_forward():
    layer = Dense(4, 3)
    set_checks("first")
    layer.forward(np.zeros((2, 4)))
    layer.backward(np.zeros((2, 3)))
    layer.forward(np.zeros((6, 4)))
    layer.forward(np.zeros((2, 4)))  # a repeat (skipped) still records batch = 2
    with pytest.raises(ShapeError, match="batch is 6 here, but batch = 2"):
        layer.backward(np.zeros((6, 3)))


def test_mode_off_runs_no_check(count_checks):
    layer = Dense(4, 3)
    set_checks("off")
    ints = np.ones((2, 4), dtype=np.int64)  # refused in the other modes
    out = layer.forward(ints)
    assert out.shape == (2, 3)
    # numpy's own error, said in the layer's dims: no check ran, but the line is explained
    with pytest.raises(ShapeError, match="Dense.forward: line .* failed: z = x @ self.W.value.T") \
            as error:
        layer.forward(np.zeros((2, 5)))
    assert isinstance(error.value.__cause__, ValueError)
    assert "matmul" in str(error.value.__cause__)
    assert count_checks == []


# ---------------------------------------------------------------------------
# expect: intermediates inside a checked call
# ---------------------------------------------------------------------------
class Widening(Module):
    """Checks an intermediate ``h``; ``extra`` columns make ``h`` wrong."""

    def __init__(self, extra: int):
        super().__init__()
        self.extra = extra

    @checked
    def forward(self, x: Float[Array, "batch d_in"]) -> Float[Array, "batch d_in"]:
        d_in = x.shape[1]
        h = expect("h", x @ np.ones((d_in, d_in + self.extra)), "batch d_in")
        return h[:, :d_in]


def test_expect_passes_a_right_intermediate_through():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(Widening(0).forward(x), x.sum(1, keepdims=True).repeat(3, 1))


def test_expect_blames_a_wrong_intermediate_against_the_arguments_dims():
    error = raised_by(Widening(1).forward, np.zeros((2, 3)))
    text = str(error)
    assert "Widening.forward: intermediate h has the wrong shape" in text
    assert "d_in is 4 here, but d_in = 3 was bound by argument x" in text
    assert error.dim == "d_in"


def test_expect_checks_nothing_outside_a_checked_call():
    value = np.zeros((2, 3))
    assert expect("h", value, "batch") is value


def test_expect_is_skipped_with_its_call_in_modes_first_and_off():
    with checks("off"):
        assert Widening(1).forward(np.zeros((2, 3))).shape == (2, 3)
    set_checks("first")
    layer = Widening(0)
    layer.forward(np.zeros((2, 3)))
    layer.extra = 1  # the shapes the key sees are unchanged, so the repeat is not checked
    assert layer.forward(np.zeros((2, 3))).shape == (2, 3)


# ---------------------------------------------------------------------------
# The dim table
# ---------------------------------------------------------------------------
def test_an_unknown_dim_name_is_refused_when_the_method_is_decorated():
    with pytest.raises(NameError, match=r"'x' uses the dim 'pixels'.*register_dim"):
        class Images(Module):
            @checked
            def forward(self, x: Float[Array, "batch pixels"]) -> Float[Array, "batch"]:
                return x.sum(1)
    with pytest.raises(NameError, match=r"'return' uses the dim 'pixels'"):
        class Returns(Module):
            @checked
            def forward(self, x: Float[Array, "batch"]) -> Float[Array, "batch pixels"]:
                return x[:, None]
    # a computed dim reads names too: 2*pixels binds pixels as surely as "pixels" does
    with pytest.raises(NameError, match=r"'x' uses the dim 'pixels'"):
        class Pairs(Module):
            @checked
            def forward(self, x: Float[Array, "batch 2*pixels"]) -> Float[Array, "batch"]:
                return x.sum(1)


def test_register_dim_adds_a_name_that_is_then_checked(monkeypatch):
    monkeypatch.delitem(shapes.DIMENSIONS, "pixels", raising=False)  # undone after the test
    register_dim("pixels", "pixels in one image")
    assert shapes.DIMENSIONS["pixels"] == "pixels in one image"

    class Pair(Module):
        @checked
        def forward(self, x: Float[Array, "batch pixels"],
                    y: Float[Array, "batch pixels"]) -> Float[Array, "batch pixels"]:
            return x - y

    assert Pair().forward(np.zeros((2, 3)), np.ones((2, 3))).shape == (2, 3)
    error = raised_by(Pair().forward, np.zeros((2, 3)), np.ones((2, 4)))
    assert "pixels is 4 here, but pixels = 3 was bound by argument x" in str(error)
    with pytest.raises(ValueError, match="not a Python identifier"):
        register_dim("two words", "no")
    register_dim("pixels", "pixels in one image")  # the same meaning again: nothing changes
    with pytest.raises(ValueError, match=r"register_dim: 'pixels' already means 'pixels in one "
                                         r"image'; choose another name for 'image width'"):
        register_dim("pixels", "image width")
    assert shapes.DIMENSIONS["pixels"] == "pixels in one image"


# ---------------------------------------------------------------------------
# check_ids
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad, index", [(-1, 1), (5, 2)])
def test_check_ids_refuses_ids_outside_the_range_and_names_id_and_range(bad, index):
    ids = np.array([0, 4, 2])
    ids[index] = bad
    with pytest.raises(ValueError) as info:
        check_ids("Embedding.forward", "ids", ids, 5)
    assert str(info.value) == (f"Embedding.forward: ids holds {bad} at index ({index},), "
                               f"outside [0, 5)")


def test_check_ids_accepts_ids_in_range_and_no_ids():
    check_ids("Embedding.forward", "ids", np.array([[0, 4], [3, 1]]), 5)
    check_ids("Embedding.forward", "ids", np.zeros((0,), dtype=np.int64), 5)


@pytest.mark.parametrize("layer", [Sigmoid(), GELU(), Dropout(0.5, seed=0)],
                         ids=["Sigmoid", "GELU", "Dropout"])
def test_a_single_number_is_refused_naming_the_layer_and_the_fix(layer):
    """A 0-d array fits (*shape), but numpy would return a scalar from it."""
    error = raised_by(layer.forward, np.array(0.5))
    text = str(error)
    assert text.startswith(f"{type(layer).__name__}.forward: argument ")
    assert "is a single number" in text and "np.atleast_1d(" in text
    assert error.dim == "shape" and error.actual == "float64 ()"
    layer.forward(np.array([0.5]))  # one axis: fine


def test_a_variadic_mismatch_names_its_dim():
    """``.dim`` names the variadic part that disagrees, as it names a named dim."""
    layer = Sigmoid()
    layer.forward(np.zeros((3, 4)))
    error = raised_by(layer.backward, np.zeros((3, 5)))
    assert error.dim == "shape" and "'*shape' is (3, 5)" in str(error)
