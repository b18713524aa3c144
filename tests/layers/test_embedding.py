"""Embedding: a row of W per token id; gradients add up over repeated ids."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import ShapeError
from shapesafe_nn.layers import Embedding
from shapesafe_nn.testing import gradcheck


def make(vocab=7, d_model=4, seed=0, dtype=np.float64):
    return Embedding(vocab, d_model, rng=np.random.default_rng(seed), dtype=dtype)


def test_forward_picks_the_rows_of_the_ids():
    layer = make()
    ids = np.array([[0, 6, 6], [3, 1, 0]])
    out = layer.forward(ids)
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out[0, 1], layer.W.value[6])
    np.testing.assert_array_equal(out[1, 0], layer.W.value[3])


def test_gradcheck_of_the_table_with_repeated_ids():
    ids = np.array([[1, 2, 1, 1], [0, 2, 5, 1]])  # 1 and 2 repeat, 3, 4, 6 never appear
    gradcheck(make(), ids)  # raises if any entry of W.grad is off by more than 1e-6


def test_repeated_ids_add_their_gradients_and_the_ids_get_none():
    layer = make()
    ids = np.array([[2, 2, 2]])
    layer.forward(ids)
    dout = np.arange(12.0).reshape(1, 3, 4)
    assert layer.backward(dout) is None
    np.testing.assert_array_equal(layer.W.grad[2], dout[0].sum(axis=0))  # exact: small integers
    assert not np.delete(layer.W.grad, 2, axis=0).any()


def test_default_dtype_and_init_follow_gpt2():
    layer = Embedding(500, 64, rng=np.random.default_rng(0))
    assert layer.W.value.dtype == np.float32
    assert layer.W.dims == "vocab d_model"
    assert abs(layer.W.value.std() - 0.02) < 0.001  # 32,000 draws: std error ~1e-4


@pytest.mark.parametrize("bad", [-1, -7, 7, 100])
def test_ids_outside_the_vocabulary_are_refused(bad):
    ids = np.array([[0, 1], [2, bad]])
    with pytest.raises(ValueError) as error:
        make(vocab=7).forward(ids)
    message = str(error.value)
    assert "Embedding" in message and "ids" in message
    assert str(bad) in message and "7" in message  # the bad id and the vocab size


def test_ids_of_the_wrong_rank_raise_a_shape_error():
    with pytest.raises(ShapeError) as error:
        make().forward(np.zeros(5, dtype=np.int64))
    assert error.value.where == "Embedding.forward" and error.value.argument == "ids"
    assert "batch seq" in str(error.value)


def test_float_ids_raise_a_shape_error():
    with pytest.raises(ShapeError, match="integer"):
        make().forward(np.zeros((2, 3)))


def test_a_gradient_of_the_wrong_width_names_d_model():
    layer = make(d_model=4)
    layer.forward(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ShapeError) as error:
        layer.backward(np.zeros((2, 3, 5)))
    assert error.value.dim == "d_model" and "d_model" in str(error.value)
    assert "Embedding.backward" in str(error.value)


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 4), seq=st.integers(1, 6), vocab=st.integers(1, 9),
       d_model=st.integers(1, 8), data=st.data())
def test_output_shape(batch, seq, vocab, d_model, data):
    layer = Embedding(vocab, d_model, rng=np.random.default_rng(0))
    ids = np.array(data.draw(st.lists(st.integers(0, vocab - 1), min_size=batch * seq,
                                      max_size=batch * seq))).reshape(batch, seq)
    out = layer.forward(ids)
    assert out.shape == (batch, seq, d_model) and out.dtype == np.float32


@pytest.mark.reference
def test_matches_torch_embedding():
    torch = pytest.importorskip("torch")
    layer = make(vocab=11, d_model=5)
    ids = np.random.default_rng(1).integers(0, 11, size=(3, 6))
    reference = torch.nn.Embedding(11, 5, dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.W.value))
    dout = np.random.default_rng(2).standard_normal((3, 6, 5))
    expected = reference(torch.from_numpy(ids))
    (expected * torch.from_numpy(dout)).sum().backward()

    out = layer.forward(ids)
    layer.backward(dout)
    np.testing.assert_array_equal(out, expected.detach().numpy())  # a lookup: exact
    np.testing.assert_allclose(layer.W.grad, reference.weight.grad.numpy(),
                               rtol=1e-12, atol=1e-12)  # float64 sums in another order
