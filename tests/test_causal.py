"""assert_causal passes the package's causal layers and fails, saying which
promise broke, on the two mistakes no shape check sees: attention that reads
later positions, and sequences of a batch that see each other."""

import numpy as np
import pytest

from shapesafe_nn import Module
from shapesafe_nn.layers import MultiHeadAttention, TransformerBlock
from shapesafe_nn.layers.attention import causal_mask
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.shapes import Array, Float, checked
from shapesafe_nn.testing import assert_causal

D_MODEL, HEADS = 8, 2


def x_of(batch: int = 3, seq: int = 5, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((batch, seq, D_MODEL)).astype(dtype)


def attention(mask: str = "causal", dtype=np.float32) -> MultiHeadAttention:
    return MultiHeadAttention(D_MODEL, HEADS, mask=mask, rng=np.random.default_rng(0),
                              dtype=dtype)


class SoftmaxOverQueries(Module):
    """Causal self-attention with q = k = v = x whose softmax runs down the
    columns (over the queries) instead of along the rows: the same (seq, seq)
    weights, so every shape fits."""

    @checked
    def forward(self, x: Float[Array, "batch seq d_model"]) -> Float[Array, "batch seq d_model"]:
        seq = x.shape[1]
        scores = np.where(causal_mask(seq), -np.inf, x @ x.swapaxes(-1, -2))
        weights = np.exp(scores - scores.max(axis=-2, keepdims=True))
        weights /= weights.sum(axis=-2, keepdims=True)  # the bug: axis=-2, not -1
        return weights @ x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_causal_layers_pass_and_nothing_moves(dtype):
    assert assert_causal(attention(dtype=dtype), x_of(dtype=dtype)) == 0.0
    block = TransformerBlock(D_MODEL, HEADS, rng=np.random.default_rng(0), dtype=dtype)
    assert assert_causal(block, x_of(dtype=dtype)) == 0.0


def test_a_gpt_on_token_ids_passes():
    model = GPT(GPTConfig(vocab_size=7, block_size=6, n_layer=1, n_head=HEADS, d_model=D_MODEL))
    ids = np.random.default_rng(0).integers(0, 7, size=(2, 6))
    assert assert_causal(model, ids) == 0.0


def test_attention_without_its_mask_reads_the_future():
    with pytest.raises(AssertionError) as error:
        assert_causal(attention("none"), x_of())
    message = str(error.value)
    assert message.startswith("MultiHeadAttention is not causal: changing position 1 of "
                              "sequence 0 moved its output at position 0, which comes before it")
    assert "is the mask causal" in message


def test_a_softmax_over_the_wrong_axis_reads_the_future():
    with pytest.raises(AssertionError, match="SoftmaxOverQueries is not causal"):
        assert_causal(SoftmaxOverQueries(), x_of(dtype=np.float64))


def test_seq_batch_data_in_a_batch_seq_layer_mixes_the_sequences():
    """(seq, batch, d_model) data: the layer reads its batch axis as positions."""
    seq_first = x_of().transpose(1, 0, 2)
    with pytest.raises(AssertionError) as error:
        assert_causal(attention(), seq_first, seq_axis=0, batch_axis=1)
    assert str(error.value).startswith("MultiHeadAttention mixes the sequences of a batch: "
                                       "changing position 0 of sequence 0 moved the output "
                                       "of sequence 1")
    # the same data, laid out as the layer reads it: causal
    assert assert_causal(attention(), seq_first.transpose(1, 0, 2)) == 0.0


def test_a_function_is_checked_like_a_layer_and_the_mode_comes_back():
    layer = attention()
    layer.train()

    def leaky(x):  # each position also adds the mean of the whole sequence
        return layer.forward(x) + x.mean(axis=1, keepdims=True)

    with pytest.raises(AssertionError, match="leaky is not causal"):
        assert_causal(leaky, x_of())
    assert assert_causal(layer, x_of()) == 0.0
    assert layer.training  # eval during the check only


def test_inputs_it_cannot_change_are_refused():
    with pytest.raises(ValueError, match="every token id in x is the same"):
        assert_causal(attention(), np.zeros((2, 5), np.int64))
    with pytest.raises(ValueError, match="seq_axis and batch_axis are both axis 1"):
        assert_causal(attention(), x_of(), seq_axis=1, batch_axis=1)
