"""Decoding with the target tokenizer's special ids, and each translation
bounded by its own length limit (1.5 × its source + 10 for a joint vocabulary)."""

import numpy as np
import pytest

from shapesafe_nn.models import Translator, TranslatorConfig
from shapesafe_nn.models.decoding import beam_search, greedy_decode, length_limits
from shapesafe_nn.tokenizers.protocol import SpecialIds

# sources of 5, 3 and 1 tokens, padded with 0
SRC = np.array([[3, 4, 5, 6, 7], [8, 3, 4, 0, 0], [5, 0, 0, 0, 0]])
SRC_PADDING = SRC == 0
WORDS = SpecialIds(pad=0, bos=1, eos=2)


def make(specials: SpecialIds = WORDS, never_stops: bool = True, share: bool = False,
         max_len: int = 12) -> Translator:
    """A float64 translator with N(0, 0.5²) weights.  The rows of PAD and BOS
    are 0, so that neither is ever the argmax (a logit of 0 against random
    ones), as in a trained model; with ``never_stops``, EOS's too, so that no
    sentence ends before its limit."""
    model = Translator(TranslatorConfig(src_vocab_size=9, tgt_vocab_size=9, max_len=max_len,
                                        share_embeddings=share, n_layer=1, n_head=2, d_model=8,
                                        d_ff=16, dropout=0.0, dtype="float64"))
    rng = np.random.default_rng(3)
    for parameter in model.parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape) * 0.5
    never = [specials.pad, specials.bos] + [specials.eos] * never_stops
    model.tgt_embedding.W.value[never] = 0.0
    return model


def test_length_limits_grow_with_the_source_and_stop_at_max_len():
    # 1.5 × 5 + 10 = 17.5 -> 18; 1.5 × 3 + 10 = 14.5 -> 15; 1.5 × 1 + 10 = 11.5 -> 12
    assert length_limits(SRC_PADDING, max_len=100).tolist() == [18, 15, 12]
    assert length_limits(SRC_PADDING, max_len=14).tolist() == [13, 13, 12]
    assert length_limits(SRC_PADDING, max_len=100, ratio=1.0, extra=0).tolist() == [5, 3, 1]


@pytest.mark.parametrize("decode", ["greedy", "beam"])
def test_each_sentence_stops_at_its_own_limit_with_the_tokens_it_would_have_written(decode):
    model = make()
    run = ((lambda limits: greedy_decode(model, SRC, SRC_PADDING, limits)) if decode == "greedy"
           else (lambda limits: beam_search(model, SRC, SRC_PADDING, 3, 0.6, limits)))
    unbounded = run(None)
    assert unbounded.shape == (3, 12) and not (unbounded == 2).any()  # max_len - 1 each
    bounded = run(np.array([4, 9, 2]))
    assert bounded.shape == (3, 10)  # BOS and the longest limit, 9
    for row, limit in enumerate([4, 9, 2]):
        written = bounded[row, 1:]
        assert (written[limit:] == 0).all()  # padding after its limit
        if decode == "greedy":  # greedy's choices do not depend on how long it may go
            assert written[:limit].tolist() == unbounded[row, 1:limit + 1].tolist()
        else:
            assert not np.isin(written[:limit], [0, 1, 2]).any()


def test_one_limit_is_every_sentences():
    model = make()
    out = greedy_decode(model, SRC, SRC_PADDING, 3)
    assert out.shape == (3, 4)
    assert out.tolist() == greedy_decode(model, SRC, SRC_PADDING, np.array([3, 3, 3])).tolist()


@pytest.mark.parametrize("decode", ["greedy", "beam"])
def test_the_special_ids_are_the_tokenizers(decode):
    """A vocabulary with PAD 5, BOS 6 and EOS 7: the answer starts with 6, and a
    sentence that wrote 7 pads with 5."""
    specials = SpecialIds(pad=5, bos=6, eos=7, unk=8)
    model = make(specials, never_stops=False)
    model.tgt_embedding.W.value[7] = 10 * model.tgt_embedding.W.value[7]  # EOS wins soon
    if decode == "greedy":
        out = greedy_decode(model, SRC, SRC_PADDING, specials=specials)
    else:
        out = beam_search(model, SRC, SRC_PADDING, 2, 0.6, specials=specials)
    assert (out[:, 0] == 6).all() and (out == 7).any(axis=1).all()
    for row in out.tolist():
        end = row.index(7)
        assert set(row[end + 1:]) <= {5}


def test_limits_and_specials_that_cannot_be_are_refused():
    model = make()
    with pytest.raises(ValueError, match=r"max_new_tokens must be one whole number or one per "
                                         r"sentence, \(3,\) integers, not int64 \(2,\)"):
        greedy_decode(model, SRC, SRC_PADDING, np.array([3, 4]))
    with pytest.raises(ValueError, match="max_new_tokens holds 0; each must be at least 1"):
        greedy_decode(model, SRC, SRC_PADDING, np.array([3, 0, 4]))
    with pytest.raises(ValueError, match=r"max_new_tokens is 12, but BOS and 12 tokens exceed "
                                         r"the model's max_len 12; at most 11"):
        beam_search(model, SRC, SRC_PADDING, 2, 0.6, np.array([3, 12, 4]))
    with pytest.raises(ValueError, match="the target tokenizer has no pad, bos, eos token"):
        greedy_decode(model, SRC, SRC_PADDING, specials=SpecialIds())


def test_translate_bounds_a_joint_vocabulary_by_the_source_and_other_ones_by_max_len():
    from shapesafe_nn.training.translation import translate

    class Letters:  # one id a letter, a..h -> 1..8 (PAD 0, BOS 1, EOS 2 as words.py)
        specials = WORDS

        def encode(self, text):
            return np.array([ord(char) - 96 for char in text], dtype=np.int64)

        def decode(self, ids):  # the tokens after BOS, up to PAD or EOS
            ids = ids.tolist()[1:] + [0]
            return "".join(chr(96 + i) for i in ids[:min(ids.index(0), (ids + [2]).index(2))])

    letters = Letters()
    # no token is EOS: each translation runs to its bound, 1.5 × 1 + 10 -> 12 tokens
    # and 1.5 × 6 + 10 = 19 tokens with one table; max_len - 1 = 39 with two
    shared = translate(make(share=True, max_len=40), letters, letters, ["c", "cdefgh"])
    assert [len(answer) for answer in shared] == [12, 19]
    separate = translate(make(share=False, max_len=40), letters, letters, ["c", "cdefgh"])
    assert [len(answer) for answer in separate] == [39, 39]
