"""Hints that know the usual mistakes: a transposed mask or ids array, a float
0/1 mask, one-hot labels, and a computed dim (``2*n_pairs``) that names what
bound its parts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import Module, Parameter, ShapeError, SoftmaxCrossEntropy, checked
from shapesafe_nn.layers import MultiHeadAttention
from shapesafe_nn.models import Translator, TranslatorConfig
from shapesafe_nn.shapes import DIMENSIONS, Array, Float, register_dim
from shapesafe_nn.testing import mismatched_inputs_for


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(ShapeError) as error:
        call(*args, **kwargs)
    assert len(str(error.value).splitlines()) <= 6
    return str(error.value)


def small_translator() -> Translator:
    return Translator(TranslatorConfig(src_vocab_size=10, tgt_vocab_size=11, d_model=8, d_ff=16,
                                       n_head=2, n_layer=1, max_len=16))


def test_transposed_source_ids_are_blamed_though_the_target_ids_tripped_the_check():
    src, tgt = np.zeros((2, 7), np.int64), np.zeros((2, 5), np.int64)
    message = refused(small_translator().forward, src.T, tgt)
    assert message == (
        "Translator.forward: argument src_ids looks transposed\n"
        "  expected: src_ids: integer array (batch src_seq)\n"
        "  got:      int64 (7, 2)\n"
        "  batch is 2 in tgt_ids, but src_ids bound batch = 7; read as src_ids.T, both agree\n"
        "  hint: src_ids looks transposed: pass src_ids.T, shaped (batch src_seq)")


def test_the_later_argument_is_blamed_when_it_alone_reads_as_transposed():
    src, tgt = np.zeros((2, 7), np.int64), np.zeros((2, 5), np.int64)
    message = refused(small_translator().forward, src, tgt.T)
    assert message.splitlines()[0] == ("Translator.forward: argument tgt_ids has the wrong shape "
                                       "or type")
    assert "hint: tgt_ids looks transposed: pass tgt_ids.T, shaped (batch tgt_seq)" in message


def test_a_transposed_key_padding_mask_is_called_transposed():
    layer = MultiHeadAttention(8, 2, mask="none")
    x, mask = np.ones((2, 5, 8), np.float32), np.zeros((2, 5), bool)
    message = refused(layer.forward, x, key_padding_mask=mask.T)
    assert "hint: key_padding_mask looks transposed: pass key_padding_mask.T, shaped (batch seq)" \
        in message


def test_a_float_0_1_mask_gets_the_polarity_in_its_hint():
    layer = MultiHeadAttention(8, 2, mask="none")
    message = refused(layer.forward, np.ones((2, 5, 8), np.float32),
                      key_padding_mask=np.ones((2, 5)))
    assert message.endswith("hint: True hides: key_padding_mask.astype(bool) if 1 = hidden, "
                            "key_padding_mask == 0 if 1 = keep")


def test_one_hot_labels_into_a_cost_of_class_ids_suggest_argmax():
    labels = np.eye(3)[[0, 1, 2, 0]]
    message = refused(SoftmaxCrossEntropy().forward, np.zeros((4, 3)), labels)
    assert message.endswith("hint: pass the class ids: labels.argmax(axis=-1)")
    assert "one-hot rows" in message


def _pair_up_class():
    class PairUp(Module):
        """Puts each pair of rows side by side: (2*n_pairs, d_in) -> (n_pairs, 2*d_in)."""

        def __init__(self, n_pairs: int, d_in: int):
            super().__init__()
            self.P = Parameter(np.zeros((n_pairs, d_in)), "n_pairs d_in")

        @checked
        def forward(self, x: Float[Array, "2*n_pairs d_in"]) -> Float[Array, "n_pairs 2*d_in"]:
            return x.reshape(self.P.value.shape[0], -1) + np.tile(self.P.value, 2)

    return PairUp


@pytest.fixture(scope="module")
def PairUp():  # noqa: N802 (it is a class)
    """A layer with computed dims; n_pairs is in the dim table only while these tests run
    (the docs pages print the table)."""
    register_dim("n_pairs", "pairs of rows, in the tests' PairUp layer")
    yield _pair_up_class()
    del DIMENSIONS["n_pairs"]


def test_a_computed_dim_that_disagrees_says_what_bound_its_names(PairUp):
    message = refused(PairUp(4, 3).forward, np.ones((6, 3)))
    assert ("2*n_pairs is 6 here, but 2*n_pairs = 8: n_pairs = 4 was bound by parameter P "
            "(n_pairs d_in) = (4, 3)") in message


def test_mismatched_inputs_include_the_computed_dim(PairUp):
    from shapesafe_nn.testing.strategies import _Call
    assert ("2*n_pairs", None, 0) in _Call(PairUp(4, 3), "forward", 8, None, None).constrained()


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_mismatched_inputs_perturb_computed_dims_too(PairUp, data):
    (x,), dim = data.draw(mismatched_inputs_for(PairUp(4, 3)))
    with pytest.raises(ShapeError) as error:
        PairUp(4, 3).forward(x)
    assert error.value.dim == dim.dim
    assert x.shape != (8, 3)
