"""Greedy decoding and beam search: batched, stop at EOS or a maximum length,
record nothing; beam size 1 is greedy, and a wide enough beam is exhaustive."""

import itertools

import numpy as np
import pytest

from shapesafe_nn import ShapeError, no_grad
from shapesafe_nn.models import Translator, TranslatorConfig
from shapesafe_nn.models.decoding import beam_search, greedy_decode, log_softmax
from shapesafe_nn.tokenizers.words import BOS_ID, EOS_ID, PAD_ID

SRC = np.array([[3, 4, 5, 6, 7], [8, 3, 4, PAD_ID, PAD_ID], [5, PAD_ID, PAD_ID, PAD_ID, PAD_ID]])
SRC_PADDING = SRC == PAD_ID


def make(seed=126, norm="pre", dropout=0.1):
    """A float64 translator with N(0, 0.5²) weights.  Seed 126 (found by trying
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


def test_beam_size_1_is_greedy():
    model = make()
    greedy = greedy_decode(model, SRC, SRC_PADDING)
    assert beam_search(model, SRC, SRC_PADDING, beam_size=1).tolist() == greedy.tolist()


def test_a_padded_batch_gives_each_sentence_its_own_beam():
    model = make()
    batch = beam_search(model, SRC, SRC_PADDING, beam_size=3)
    for row, src in enumerate(SRC):
        alone = beam_search(model, src[~SRC_PADDING[row]][None], beam_size=3)[0]
        assert batch[row, :len(alone)].tolist() == alone.tolist()
        assert (batch[row, len(alone):] == PAD_ID).all()


def sequence_log_p(model, src, tokens):
    """Σ log p(token | source, the tokens before it), read from one forward."""
    with no_grad():
        logits = model.forward(src[None], np.array([[BOS_ID, *tokens[:-1]]]))
    log_p = log_softmax(logits[0].astype(np.float64))
    return float(log_p[np.arange(len(tokens)), tokens].sum())


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_a_beam_as_wide_as_every_prefix_finds_the_best_sentence(alpha):
    # every sentence of at most 3 tokens: ends at its first EOS, or has 3 tokens
    model = make()
    model.eval()
    src, vocab, steps = SRC[1, :3], 7, 3
    sentences = [list(tokens) for length in range(1, steps + 1)
                 for tokens in itertools.product(range(vocab), repeat=length)
                 if (EOS_ID not in tokens[:-1]) and (tokens[-1] == EOS_ID or length == steps)]

    def penalized(tokens):  # GNMT's length penalty, as beam_search applies it
        return sequence_log_p(model, src, tokens) / ((5 + len(tokens)) / 6) ** alpha

    best = max(sentences, key=penalized)
    found = beam_search(model, src[None], beam_size=vocab ** steps, length_penalty=alpha,
                        max_new_tokens=steps)[0].tolist()
    found = found[1:]  # after BOS; PAD after an EOS that came early
    if EOS_ID in found:
        found = found[:found.index(EOS_ID) + 1]
    assert found == best


def test_beam_search_refuses_bad_settings_and_keeps_no_records():
    model = make()
    with pytest.raises(ValueError, match="beam_search.*beam_size"):
        beam_search(model, SRC, SRC_PADDING, beam_size=0)
    with pytest.raises(ValueError, match="beam_search.*length_penalty"):
        beam_search(model, SRC, SRC_PADDING, length_penalty=-1.0)
    with pytest.raises(ValueError, match="beam_search: max_new_tokens is 8"):
        beam_search(model, SRC, SRC_PADDING, max_new_tokens=8)
    model.train()
    beam_search(model, SRC, SRC_PADDING, beam_size=2)
    assert model.training
    assert all(m.pending_records() == 0 for _, m in model.named_modules())


def test_the_cached_decoder_gives_the_plain_decoders_hidden_states():
    model = make()
    model.eval()
    tgt = np.array([[BOS_ID, 3, 4, 5], [BOS_ID, 6, 3, 3], [BOS_ID, 5, 5, 4]])
    with no_grad():
        memory = model.encode(SRC, SRC_PADDING)
        plain = model.decode(tgt, memory, SRC_PADDING)
        cache = model.new_cache()
        first = model.decode(tgt[:, :2], memory, SRC_PADDING, cache=cache)  # two at once
        steps = [model.decode(tgt[:, t:t + 1], memory, SRC_PADDING, cache=cache)
                 for t in range(2, 4)]  # then one at a time
    # (batch, n_heads, seen, d_head), and the source's (batch, n_heads, src_seq, d_head)
    assert [c.self_attn.keys.shape for c in cache] == [(3, 2, 4, 4)] * 2
    assert [c.memory.keys.shape for c in cache] == [(3, 2, memory.shape[1], 4)] * 2
    cached = np.concatenate([first, *steps], axis=1)
    # float64, the same sums in another grouping: equal to rounding
    np.testing.assert_allclose(cached, plain, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="4 cached and 5 new positions exceed max_len 8"), \
            no_grad():
        model.decode(tgt[:, :1].repeat(5, axis=1), memory, SRC_PADDING, cache=cache)


def test_the_cached_decoder_projects_the_memory_once_per_block(monkeypatch):
    """The source does not change while its translation is written: each
    cross-attention computes its keys and values at the first step only."""
    model = make()
    calls = []
    for block in model.decoder:
        projection = block.cross_attn.kv
        monkeypatch.setattr(projection, "forward",
                            lambda rows, real=projection.forward: calls.append(1) or real(rows))
    greedy_decode(model, SRC, SRC_PADDING, max_new_tokens=5)
    assert len(calls) == len(model.decoder)  # one per block, not one per block and step
    calls.clear()
    greedy_decode(model, SRC, SRC_PADDING, max_new_tokens=5, use_cache=False)
    assert len(calls) == 5 * len(model.decoder)


def test_a_memory_cache_refuses_a_source_of_another_shape_and_recording():
    model = make()
    model.eval()
    with no_grad():
        memory = model.encode(SRC, SRC_PADDING)
        cache = model.new_cache()
        model.decode(np.full((3, 1), BOS_ID), memory, SRC_PADDING, cache=cache)
        shorter = memory[:, :-1]  # another source: one position fewer
        with pytest.raises(ShapeError) as error:
            model.decode(np.full((3, 1), 4), shorter, SRC_PADDING[:, :-1], cache=cache)
    message = str(error.value)
    # the first line names the chain: "DecoderBlock.forward -> cross_attn: CrossAttention..."
    assert message.splitlines()[0].endswith(
        "cross_attn: CrossAttention.forward: intermediate k has the wrong shape or type")
    assert f"kv_seq is {memory.shape[1]} here, but kv_seq = {memory.shape[1] - 1}" in message
    with pytest.raises(RuntimeError, match="no_grad"):  # a cache is for inference only
        model.decoder[0].cross_attn.forward(np.zeros((3, 1, 8)), memory, SRC_PADDING,
                                            cache=cache[0].memory)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_decoding_with_and_without_the_cache_writes_the_same_tokens(beam_size):
    model = make()
    for decode in (lambda **kw: beam_search(model, SRC, SRC_PADDING, beam_size, **kw),
                   lambda **kw: greedy_decode(model, SRC, SRC_PADDING, **kw)):
        assert decode(use_cache=True).tolist() == decode(use_cache=False).tolist()
