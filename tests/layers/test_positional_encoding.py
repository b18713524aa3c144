"""Positional encodings: a fixed sinusoid table and a learned table, both added to x."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import ShapeError
from shapesafe_nn.layers import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from shapesafe_nn.layers.positional_encoding import sinusoid_table
from shapesafe_nn.testing import gradcheck


def learned(max_len=6, d_model=4, seed=0):
    return LearnedPositionalEmbedding(max_len, d_model, rng=np.random.default_rng(seed),
                                      dtype=np.float64)


@pytest.mark.parametrize("d_model", [1, 4, 7])  # odd widths end with a lone sine column
def test_sinusoid_table_matches_the_formula_entry_by_entry(d_model):
    table = sinusoid_table(9, d_model, np.float64)
    assert table.shape == (9, d_model)
    for pos in range(9):
        for column in range(d_model):
            two_i = column - column % 2
            angle = pos / 10000 ** (two_i / d_model)
            expected = math.sin(angle) if column % 2 == 0 else math.cos(angle)
            assert table[pos, column] == pytest.approx(expected, abs=1e-12)  # float64 rounding


def test_sinusoidal_forward_adds_the_first_seq_rows():
    layer = SinusoidalPositionalEncoding(10, 6, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 4, 6))
    np.testing.assert_array_equal(layer.forward(x), x + layer.table[:4])
    assert layer.parameters() == []


def test_sinusoidal_default_dtype_is_float32():
    layer = SinusoidalPositionalEncoding(10, 6)
    assert layer.table.dtype == np.float32
    assert layer.forward(np.zeros((1, 3, 6), np.float32)).dtype == np.float32


def test_gradcheck_sinusoidal():
    x = np.random.default_rng(0).standard_normal((2, 5, 7))
    gradcheck(SinusoidalPositionalEncoding(8, 7, dtype=np.float64), x)


def test_gradcheck_learned_input_and_table():
    x = np.random.default_rng(0).standard_normal((3, 4, 4))
    gradcheck(learned(max_len=6, d_model=4), x)  # raises beyond 1e-6


def test_learned_rows_past_seq_get_no_gradient():
    layer = learned(max_len=6, d_model=4)
    layer.forward(np.zeros((2, 3, 4)))
    dout = np.random.default_rng(1).standard_normal((2, 3, 4))
    np.testing.assert_array_equal(layer.backward(dout), dout)
    np.testing.assert_allclose(layer.P.grad[:3], dout.sum(axis=0), rtol=1e-15)
    assert not layer.P.grad[3:].any()


def test_learned_init_follows_gpt2():
    layer = LearnedPositionalEmbedding(256, 128, rng=np.random.default_rng(0))
    assert layer.P.value.dtype == np.float32 and layer.P.dims == "max_len d_model"
    assert abs(layer.P.value.std() - 0.02) < 0.001  # 32,768 draws: std error ~1e-4


@pytest.mark.parametrize("make", [lambda: SinusoidalPositionalEncoding(4, 3),
                                  lambda: LearnedPositionalEmbedding(4, 3)])
def test_a_sequence_longer_than_max_len_is_refused(make):
    layer = make()
    with pytest.raises(ValueError) as error:
        layer.forward(np.zeros((1, 5, 3), np.float32))
    message = str(error.value)
    assert type(layer).__name__ in message
    assert "seq = 5" in message and "max_len = 4" in message


@pytest.mark.parametrize("make", [lambda: SinusoidalPositionalEncoding(4, 3),
                                  lambda: LearnedPositionalEmbedding(4, 3)])
def test_the_wrong_width_names_d_model(make):
    layer = make()
    with pytest.raises(ShapeError) as error:
        layer.forward(np.zeros((1, 2, 5), np.float32))
    assert error.value.dim == "d_model"
    assert type(layer).__name__ in str(error.value) and "d_model" in str(error.value)


@pytest.mark.parametrize("make", [lambda: SinusoidalPositionalEncoding(4, 3),
                                  lambda: LearnedPositionalEmbedding(4, 3)])
def test_input_without_a_batch_axis_is_refused(make):
    with pytest.raises(ShapeError, match="batch seq d_model"):
        make().forward(np.zeros((2, 3), np.float32))


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 4), max_len=st.integers(1, 8), d_model=st.integers(1, 9),
       data=st.data())
def test_output_shapes(batch, max_len, d_model, data):
    seq = data.draw(st.integers(1, max_len))  # every seq the tables cover
    x = np.zeros((batch, seq, d_model), np.float32)
    for layer in (SinusoidalPositionalEncoding(max_len, d_model),
                  LearnedPositionalEmbedding(max_len, d_model, rng=np.random.default_rng(0))):
        out = layer.forward(x)
        assert out.shape == (batch, seq, d_model) and out.dtype == np.float32
        assert layer.backward(out).shape == x.shape


@pytest.mark.reference
def test_sinusoid_matches_the_usual_torch_construction():
    torch = pytest.importorskip("torch")
    max_len, d_model = 50, 9
    # the exp-log form of the annotated-transformer / PyTorch tutorials
    position = torch.arange(max_len, dtype=torch.float64)[:, None]
    div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64)
                         * (-math.log(10000.0) / d_model))
    expected = torch.zeros(max_len, d_model, dtype=torch.float64)
    expected[:, 0::2] = torch.sin(position * div_term)
    expected[:, 1::2] = torch.cos(position * div_term[: d_model // 2])
    np.testing.assert_allclose(sinusoid_table(max_len, d_model, np.float64), expected.numpy(),
                               rtol=0, atol=1e-12)  # exp(log) vs power: float64 rounding


@pytest.mark.reference
def test_learned_matches_torch_position_embedding():
    torch = pytest.importorskip("torch")
    layer = learned(max_len=8, d_model=5)
    rng = np.random.default_rng(3)
    x, dout = rng.standard_normal((3, 6, 5)), rng.standard_normal((3, 6, 5))
    wpe = torch.nn.Embedding(8, 5, dtype=torch.float64)
    with torch.no_grad():
        wpe.weight.copy_(torch.from_numpy(layer.P.value))
    x_t = torch.from_numpy(x).requires_grad_()
    expected = x_t + wpe(torch.arange(6))  # nanoGPT: tok_emb + pos_emb
    (expected * torch.from_numpy(dout)).sum().backward()

    out = layer.forward(x)
    dx = layer.backward(dout)
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-15)  # one addition
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(layer.P.grad, wpe.weight.grad.numpy(), rtol=1e-12, atol=1e-15)
