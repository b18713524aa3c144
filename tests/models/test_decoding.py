"""Greedy decoding: batched, stops at EOS or a maximum length, records nothing."""

import numpy as np
import pytest

from shapesafe_nn import no_grad
from shapesafe_nn.models import Translator, TranslatorConfig
from shapesafe_nn.models.decoding import greedy_decode
from shapesafe_nn.word_tokenizer import BOS_ID, EOS_ID, PAD_ID

SRC = np.array([[3, 4, 5, 6, 7], [8, 3, 4, PAD_ID, PAD_ID], [5, PAD_ID, PAD_ID, PAD_ID, PAD_ID]])
SRC_PADDING = SRC == PAD_ID


def make(seed=36, norm="pre", dropout=0.1):
    """A float64 translator with N(0, 0.5²) weights.  Seed 36 (found by trying
    seeds) gives untrained outputs that differ from sentence to sentence, one
    ending early with EOS and two running to the maximum length.  The rows of
    PAD and BOS are 0, so that neither is the argmax, as in a trained model."""
    model = Translator(TranslatorConfig(src_vocab_size=9, tgt_vocab_size=7, max_len=8, n_layer=2,
                                        n_head=2, d_model=8, d_ff=16, dropout=dropout,
                                        norm=norm, dtype="float64"))
    rng = np.random.default_rng(seed)
    for parameter in model.parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape) * 0.5
    model.tgt_embedding.W.value[[PAD_ID, BOS_ID]] = 0.0
    return model


def step_by_step(model, src, steps):
    """One sentence alone: the argmax of the last position, fed back each step."""
    out = [BOS_ID]
    with no_grad():
        for _ in range(steps):
            logits = model.forward(src[None], np.array([out]))
            out.append(int(logits[0, -1].argmax()))
            if out[-1] == EOS_ID:
                break
    return out


def test_a_padded_batch_matches_step_by_step_argmax_of_each_sentence():
    model = make()
    out = greedy_decode(model, SRC, SRC_PADDING)
    assert out.shape == (3, 8) and (out[:, 0] == BOS_ID).all()
    assert len({tuple(row) for row in out.tolist()}) == 3  # three different outputs
    model.eval()  # what greedy_decode runs in
    lengths = []
    for row, src in enumerate(SRC):
        alone = step_by_step(model, src[~SRC_PADDING[row]], steps=7)
        assert out[row, :len(alone)].tolist() == alone
        assert (out[row, len(alone):] == PAD_ID).all()  # finished early: padding after EOS
        lengths.append(len(alone))
    assert min(lengths) < 8 == max(lengths)  # one stopped at EOS, one at the maximum


def test_it_stops_when_every_sentence_has_written_eos():
    model = make()
    # the last norm writes the same vector v at every position; EOS's row is
    # 10 v, so EOS wins every argmax
    v = np.random.default_rng(0).standard_normal(8)
    last = model.decoder_norm  # pre-LN: the norm after the last block
    last.gamma.value[...], last.beta.value[...] = 0.0, v
    model.tgt_embedding.W.value[EOS_ID] = 10 * v
    assert greedy_decode(model, SRC, SRC_PADDING).tolist() == [[BOS_ID, EOS_ID]] * 3


def test_it_stops_at_the_maximum_length():
    model = make()
    model.tgt_embedding.W.value[EOS_ID] = 0.0  # a logit of 0: never the largest here
    out = greedy_decode(model, SRC, SRC_PADDING, max_new_tokens=3)
    assert out.shape == (3, 4) and not (out == EOS_ID).any()
    with pytest.raises(ValueError, match="max_new_tokens is 8, but BOS and 8 tokens exceed "
                                         "the model's max_len 8; at most 7"):
        greedy_decode(model, SRC, SRC_PADDING, max_new_tokens=8)


def test_it_keeps_no_records_and_restores_training_mode():
    model = make()
    model.train()
    greedy_decode(model, SRC, SRC_PADDING)
    assert model.training and all(m.training for _, m in model.named_modules())
    assert all(m.pending_records() == 0 for _, m in model.named_modules())
