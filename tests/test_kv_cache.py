"""The key/value cache: the cached path computes what the plain forward computes.

The cache is inference only, so there is no gradient to check.  What is
tested: the shapes it keeps, (batch, n_heads, seq_so_far, d_head); the
logits of a GPT fed a few tokens at a time against the plain forward of the
whole sequence; the next token's logits alone (the last block remembering
the earlier positions' keys and values) against the same; the same sampled
ids with and without the cache, also once the window slides; and each
refusal (past max_len, while recording gradients, keys of other shapes, a
second layer, rows that select cannot keep, a mask under which keys change).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import ShapeError, checks, no_grad
from shapesafe_nn.layers import CrossAttention, MultiHeadAttention, TransformerBlock
from shapesafe_nn.layers.kv_cache import KVCache
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.models.ladder import LadderConfig, build_gpt

# float64: the cached path does the same sums as the plain one, some of them
# by other BLAS kernels (a one-row product is blocked differently), so they
# agree to rounding, about 1e-15 here; 1e-10 leaves room and still catches
# any wrong position, key or mask, which moves logits by 1e-2 or more
CACHED_VS_PLAIN = 1e-10
MODES = ("always", "first", "off")


def gpt(positions="learned", mask="causal", block_size=6, seed=0, dtype="float64") -> GPT:
    """A small float64 GPT whose weights are spread well away from their initial
    values (biases 0, gains 1), so no term vanishes by construction."""
    model = GPT(GPTConfig(vocab_size=7, block_size=block_size, n_layer=2, n_head=2, d_model=8,
                          positions=positions, mask=mask, dtype=dtype, seed=seed))
    rng = np.random.default_rng(seed)
    for name, parameter in model.named_parameters():
        centre = 1.0 if name.endswith("gamma") else 0.0
        parameter.value[...] = centre + rng.standard_normal(parameter.value.shape) * 0.5
    return model


def feed_in_chunks(model: GPT, ids: np.ndarray, chunks: list[int]) -> np.ndarray:
    """The logits of ``ids`` (batch, seq), fed to one cache ``chunks[0]`` tokens,
    then ``chunks[1]``, ...: (batch, seq, vocab)."""
    cache = model.new_cache()
    logits, start = [], 0
    with no_grad():
        for size in chunks:
            logits.append(model.forward(ids[:, start:start + size], cache=cache))
            start += size
    return np.concatenate(logits, axis=1)


# ---------------------------------------------------------------------------
# The cache alone
# ---------------------------------------------------------------------------
def test_the_cache_keeps_batch_heads_positions_so_far_and_head_width():
    rng = np.random.default_rng(0)
    cache = KVCache(max_len=5)
    appended = []
    with no_grad():
        for seq in (2, 1, 2):
            k, v = rng.standard_normal((2, 3, seq, 4)), rng.standard_normal((2, 3, seq, 4))
            keys, values = cache.append(k, v)
            appended.append((k, v))
            # (batch, n_heads, seq_so_far, d_head)
            assert keys.shape == values.shape == (2, 3, cache.seq_so_far, 4)
    assert cache.seq_so_far == 5
    np.testing.assert_array_equal(cache.keys, np.concatenate([k for k, _ in appended], axis=2))
    np.testing.assert_array_equal(cache.values, np.concatenate([v for _, v in appended], axis=2))
    assert "seq_so_far=5" in repr(cache) and "(2, 3, 5, 4)" in repr(cache)


def test_the_cache_refuses_to_grow_past_max_len():
    cache = KVCache(max_len=3)
    k = np.zeros((1, 2, 2, 4))
    with no_grad():
        cache.append(k, k)
        with pytest.raises(ValueError) as error:
            cache.append(k, k)
    message = str(error.value)
    assert "KVCache.append" in message and "past max_len = 3" in message
    assert "start a new cache" in message
    assert cache.seq_so_far == 2  # the refused call stored nothing


def test_the_cache_refuses_to_grow_while_recording_gradients():
    """A backward would reach only the new positions, never the keys kept from
    earlier calls: the gradient would be silently incomplete."""
    k = np.zeros((1, 2, 1, 4))
    with pytest.raises(RuntimeError, match="KVCache: a cache is for inference only.*no_grad"):
        KVCache(4).append(k, k)


@pytest.mark.parametrize("k_shape, v_shape, dtype, text", [
    ((1, 3, 1, 4), (1, 3, 1, 4), np.float64, "n_heads 2"),  # another layer's heads
    ((2, 2, 1, 4), (2, 2, 1, 4), np.float64, "batch 1"),  # another batch
    ((1, 2, 1, 4), (1, 2, 1, 4), np.float32, "float64"),  # another dtype
    ((1, 2, 1, 4), (1, 2, 2, 4), np.float64, "k and v must both be"),
])
def test_the_cache_refuses_keys_that_are_not_its_layers(k_shape, v_shape, dtype, text):
    cache = KVCache(8)
    with no_grad():
        cache.append(np.zeros((1, 2, 1, 4)), np.zeros((1, 2, 1, 4)))
        with pytest.raises(ValueError, match="KVCache.append") as error:
            cache.append(np.zeros(k_shape, dtype), np.zeros(v_shape, dtype))
    assert text in str(error.value)


def full_cache(batch: int = 3) -> KVCache:
    """A cache holding two positions of ``batch`` sequences, each row its own numbers."""
    cache = KVCache(4)
    k = np.arange(batch * 2 * 2 * 4, dtype=np.float64).reshape(batch, 2, 2, 4)
    with no_grad():
        cache.append(k, -k)
    return cache


def test_select_keeps_the_rows_given_in_their_order_twice_or_not_at_all():
    cache = full_cache()
    before = cache.keys.copy()
    cache.select(np.array([2, 0, 2]))
    np.testing.assert_array_equal(cache.keys, before[[2, 0, 2]])
    np.testing.assert_array_equal(cache.values, -before[[2, 0, 2]])


@pytest.mark.parametrize("rows, message", [
    (np.array([0, 3]), "KVCache.select: rows[1] is 3, but the cache holds 3 sequences: each "
                       "row must be in 0..2"),
    (np.array([-1, 0]), "KVCache.select: rows[0] is -1, but the cache holds 3 sequences: each "
                        "row must be in 0..2"),
    (np.array([0.0, 1.0]), "KVCache.select: rows must be a 1-D array of integers (row "
                           "numbers), not float64 (2,)"),
    (np.array([True, False, True]), "KVCache.select: rows must be a 1-D array of integers "
                                    "(row numbers), not bool (3,)"),
    (np.array([[0, 1]]), "KVCache.select: rows must be a 1-D array of integers (row "
                         "numbers), not int64 (1, 2)"),
])
def test_select_names_rows_outside_the_cache_or_not_row_numbers_and_keeps_everything(rows,
                                                                                   message):
    """numpy would raise a bare IndexError for 3 and for floats, and read -1 as
    the last row and booleans as a mask, without a word."""
    cache = full_cache()
    before = cache.keys.copy()
    with pytest.raises(ValueError) as error:
        cache.select(rows)
    assert str(error.value) == message
    np.testing.assert_array_equal(cache.keys, before)


def test_an_empty_cache_has_no_keys_to_read():
    with pytest.raises(ValueError, match="empty"):
        KVCache(4).keys
    with pytest.raises(ValueError, match="max_len must be a positive integer"):
        KVCache(0)


# ---------------------------------------------------------------------------
# Attention and a block: the cached path equals the plain forward
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_cached_attention_equals_the_plain_forward_one_position_at_a_time(mode):
    layer = MultiHeadAttention(8, 2, rng=np.random.default_rng(0), dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((2, 5, 8))
    cache = KVCache(5)
    with checks(mode), no_grad():
        plain = layer.forward(x)
        cached = np.concatenate([layer.forward(x[:, t:t + 1], cache=cache) for t in range(5)],
                                axis=1)
        # the last query read all five keys: its weights are (batch, n_heads, 1, kv_seq 5)
        assert layer.attention_weights.shape == (2, 2, 1, 5)
    np.testing.assert_allclose(cached, plain, rtol=CACHED_VS_PLAIN, atol=CACHED_VS_PLAIN)
    assert cache.keys.shape == (2, 2, 5, 4)  # (batch, n_heads, seq_so_far, d_head)


def test_a_cached_block_equals_the_plain_block():
    block = TransformerBlock(8, 2, rng=np.random.default_rng(0), dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((1, 4, 8))
    cache = KVCache(4)
    with no_grad():
        plain = block.forward(x)
        cached = np.concatenate([block.forward(x[:, :3], cache=cache),
                                 block.forward(x[:, 3:], cache=cache)], axis=1)
    np.testing.assert_allclose(cached, plain, rtol=CACHED_VS_PLAIN, atol=CACHED_VS_PLAIN)


@pytest.mark.parametrize("mode", MODES)
def test_one_cache_for_two_layers_is_refused_in_every_check_mode(mode):
    """``first`` skips the checks of a call whose shapes it has seen; the cache's
    own check runs on every call, so a cache fed by another layer of the very
    same shapes, whose keys would silently join the first's, is caught all the same."""
    first = MultiHeadAttention(8, 2, rng=np.random.default_rng(0), dtype=np.float64)
    second = MultiHeadAttention(8, 2, rng=np.random.default_rng(1), dtype=np.float64)
    x = np.zeros((1, 1, 8))
    cache = KVCache(4)
    with checks(mode), no_grad():
        second.forward(x, cache=KVCache(4))  # a call of these shapes was seen
        first.forward(x, cache=cache)
        with pytest.raises(ValueError) as error:
            second.forward(x, cache=cache)
    assert str(error.value) == (
        "KVCache: this cache holds the keys and values of a MultiHeadAttention, but another "
        "MultiHeadAttention was given it: each layer attends over keys of its own, so one "
        "cache serves one layer; give each layer a KVCache of its own (a model's new_cache() "
        "makes one per layer)")
    assert cache.seq_so_far == 1  # the refused call stored nothing


def test_a_model_s_caches_swapped_between_blocks_are_refused_naming_both_blocks():
    model = gpt()
    cache = model.new_cache()
    with no_grad():
        model.forward(np.array([[1, 2]]), cache=cache)
        with pytest.raises(ValueError) as error:
            model.forward(np.array([[3]]), cache=cache[::-1])
    assert ("holds the keys and values of blocks.1.attn (a MultiHeadAttention in a GPT), but "
            "blocks.0.attn (a MultiHeadAttention in a GPT) was given it") in str(error.value)
    assert [block_cache.seq_so_far for block_cache in cache] == [2, 2]


def test_a_cross_attention_s_cache_is_its_own_source_s_keys_alone():
    """A second cross-attention given the first's cache would read the first's
    projection of the source as its own keys, without a word."""
    rng = np.random.default_rng(0)
    first, second = (CrossAttention(8, 2, rng=rng, dtype=np.float64) for _ in range(2))
    x, memory = rng.standard_normal((1, 1, 8)), rng.standard_normal((1, 3, 8))
    cache = KVCache(4)
    with no_grad():
        first.forward(x, memory, cache=cache)
        with pytest.raises(ValueError, match="holds the keys and values of a CrossAttention, "
                                             "but another CrossAttention was given it"):
            second.forward(x, memory, cache=cache)


@pytest.mark.parametrize("mask", ["none", "anti_causal"])
def test_a_cache_needs_the_causal_mask(mask):
    layer = MultiHeadAttention(8, 2, mask, dtype=np.float64)
    with no_grad(), pytest.raises(ValueError, match="needs the causal mask"):
        layer.forward(np.zeros((1, 1, 8)), cache=KVCache(4))


def test_a_cache_with_a_key_padding_mask_is_refused():
    layer = MultiHeadAttention(8, 2, dtype=np.float64)
    with no_grad(), pytest.raises(ValueError, match="key_padding_mask with a KVCache"):
        layer.forward(np.zeros((1, 1, 8)), np.zeros((1, 1), dtype=bool), cache=KVCache(4))


def test_a_cached_forward_outside_no_grad_is_refused_and_keeps_nothing():
    layer = MultiHeadAttention(8, 2, dtype=np.float64)
    cache = KVCache(4)
    with pytest.raises(RuntimeError, match="inference only"):
        layer.forward(np.zeros((1, 1, 8)), cache=cache)
    # refused before any work: not even the projection kept a record
    assert cache.seq_so_far == 0
    assert all(module.pending_records() == 0 for _, module in layer.named_modules())


# ---------------------------------------------------------------------------
# The GPT: logits and sampled ids
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_gpt_logits_fed_one_token_at_a_time_equal_the_plain_forward(positions):
    model = gpt(positions)
    ids = np.random.default_rng(3).integers(0, 7, (2, 6))  # a full block
    with no_grad():
        plain = model.forward(ids)
    cached = feed_in_chunks(model, ids, [1] * 6)
    np.testing.assert_allclose(cached, plain, rtol=CACHED_VS_PLAIN, atol=CACHED_VS_PLAIN)


MODEL_FOR_CHUNKS = gpt()  # built once: hypothesis calls the test 25 times


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=6).filter(lambda c: sum(c) <= 6),
       st.integers(0, 2**32 - 1))
def test_gpt_logits_fed_in_any_chunks_equal_the_plain_forward(chunks, seed):
    model = MODEL_FOR_CHUNKS
    ids = np.random.default_rng(seed).integers(0, 7, (1, sum(chunks)))
    with no_grad():
        plain = model.forward(ids)
    np.testing.assert_allclose(feed_in_chunks(model, ids, chunks), plain,
                               rtol=CACHED_VS_PLAIN, atol=CACHED_VS_PLAIN)


def test_the_gpt_cache_keeps_one_kv_cache_per_block_with_the_positions_so_far():
    model = gpt()
    cache = model.new_cache()
    with no_grad():
        model.forward(np.array([[1, 2, 3]]), cache=cache)
        model.forward(np.array([[4]]), cache=cache)
    assert len(cache) == model.config.n_layer
    for block_cache in cache:  # (batch, n_heads, seq_so_far, d_head)
        assert block_cache.keys.shape == block_cache.values.shape == (1, 2, 4, 4)


def test_the_gpt_refuses_to_feed_a_cache_past_block_size():
    model = gpt(block_size=6)
    cache = model.new_cache()
    with no_grad():
        model.forward(np.zeros((1, 5), dtype=np.int64), cache=cache)
        with pytest.raises(ValueError) as error:
            model.forward(np.zeros((1, 2), dtype=np.int64), cache=cache)
    message = str(error.value)
    assert "GPT.forward" in message and "5 cached and 2 new" in message
    assert "block_size is 6" in message and "start a new cache" in message


# ---------------------------------------------------------------------------
# Only the next token's logits: the last block remembers, and answers for one position
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunks", [[6], [3, 1, 2], [1] * 6])
def test_next_token_logits_are_the_plain_forwards_at_each_chunks_last_position(mode, chunks):
    model = gpt()
    ids = np.random.default_rng(4).integers(0, 7, (2, 6))
    with no_grad(), checks(mode):
        plain = model.forward(ids)
        cache, full_cache, stop = model.new_cache(), model.new_cache(), 0
        for size in chunks:
            logits = model.next_token_logits(ids[:, stop:stop + size], cache)
            model.forward(ids[:, stop:stop + size], cache=full_cache)
            stop += size
            np.testing.assert_allclose(logits, plain[:, stop - 1],
                                       rtol=CACHED_VS_PLAIN, atol=CACHED_VS_PLAIN)
    # every block, the last one too, kept every position's keys and values
    for kept, full in zip(cache, full_cache, strict=True):
        assert kept.seq_so_far == full.seq_so_far == 6
        np.testing.assert_allclose(kept.keys, full.keys, rtol=CACHED_VS_PLAIN,
                                   atol=CACHED_VS_PLAIN)
        np.testing.assert_allclose(kept.values, full.values, rtol=CACHED_VS_PLAIN,
                                   atol=CACHED_VS_PLAIN)


def test_remember_appends_the_keys_and_values_forward_appends_and_computes_no_output():
    rng = np.random.default_rng(5)
    block = TransformerBlock(8, 2, rng=rng, dtype=np.float64)
    x = rng.standard_normal((2, 3, 8))
    remembered, forwarded = KVCache(4), KVCache(4)
    with no_grad():
        assert block.remember(x, remembered) is None
        block.forward(x, cache=forwarded)
    # the same rows through the same fused product: the same numbers, bit for bit
    np.testing.assert_array_equal(remembered.keys, forwarded.keys)
    np.testing.assert_array_equal(remembered.values, forwarded.values)


def test_remember_outside_no_grad_is_refused_and_keeps_nothing():
    attention = MultiHeadAttention(8, 2, dtype=np.float64)
    cache = KVCache(4)
    with pytest.raises(RuntimeError, match="no_grad"):
        attention.remember(np.zeros((1, 2, 8)), cache)
    assert cache.seq_so_far == 0


def test_remember_names_the_layer_the_argument_and_the_dim_of_a_wrong_x():
    attention = MultiHeadAttention(8, 2, dtype=np.float64)
    with no_grad(), pytest.raises(ShapeError) as error:
        attention.remember(np.zeros((1, 2, 6)), KVCache(4))
    message = str(error.value)
    assert message.startswith("MultiHeadAttention.remember: argument x has the wrong shape")
    assert "d_model is 6 here, but d_model = 8" in message


def test_next_token_logits_refuse_to_run_past_block_size_and_lower_rungs():
    model = gpt(block_size=6)
    cache = model.new_cache()
    with no_grad():
        model.next_token_logits(np.zeros((1, 5), dtype=np.int64), cache)
        with pytest.raises(ValueError) as error:
            model.next_token_logits(np.zeros((1, 2), dtype=np.int64), cache)
    assert "GPT.next_token_logits: ids hold 5 cached and 2 new positions" in str(error.value)
    heads = build_gpt(LadderConfig(vocab_size=7, block_size=6, n_layer=1, n_head=2, d_model=8,
                                   rung="heads"))
    with no_grad(), pytest.raises(ValueError, match="rung 'heads' keeps no keys and values"):
        heads.next_token_logits(np.zeros((1, 2), dtype=np.int64), [KVCache(6)])


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
@pytest.mark.parametrize("top_k", [None, 3])
def test_generate_samples_the_same_ids_with_and_without_the_cache(positions, top_k):
    """20 new tokens after a prompt of 2 run 16 past block_size 6: the window
    slides, every position moves, and the cache is rebuilt each step."""
    model = gpt(positions)
    prompt = np.array([5, 0])
    for seed in (0, 1, 2):
        cached = model.generate(prompt, 20, top_k=top_k, seed=seed)
        plain = model.generate(prompt, 20, top_k=top_k, seed=seed, use_cache=False)
        np.testing.assert_array_equal(cached, plain)


def test_generate_from_a_prompt_longer_than_block_size_matches_the_plain_path():
    model = gpt()
    prompt = np.arange(10) % 7  # cropped to its last 6 tokens from the first step
    np.testing.assert_array_equal(model.generate(prompt, 5, seed=0),
                                  model.generate(prompt, 5, seed=0, use_cache=False))


def test_generate_without_the_causal_mask_reads_the_whole_window_each_step():
    """Under "none", an earlier position reads later ones, so its keys change:
    generate takes the plain path (a cache would be refused)."""
    model = gpt(mask="none")
    np.testing.assert_array_equal(model.generate(np.array([1]), 8, seed=0),
                                  model.generate(np.array([1]), 8, seed=0, use_cache=False))


def test_generate_leaves_no_records():
    model = gpt()
    model.generate(np.array([1, 2]), 8, seed=0)
    assert all(layer.pending_records() == 0 for _, layer in model.named_modules())
