"""TokenBudget: batches of pairs of about one length, as many as fit a budget of
tokens a side, padding included; and what EncodedPairs takes from the
tokenizers (their PAD, BOS and EOS) and counts (their UNK)."""

import numpy as np
import pytest

from shapesafe_nn.data.pair_batches import EncodedPairs, LengthBuckets, TokenBudget


def pairs_of_lengths(source_lengths, target_lengths) -> EncodedPairs:
    return EncodedPairs([np.full(n, 5, dtype=np.int64) for n in source_lengths],
                        [np.full(n + 1, 6, dtype=np.int64) for n in target_lengths])


def test_each_batch_fits_the_budget_on_both_sides_and_holds_neighbours_in_length():
    rng = np.random.default_rng(0)
    source_lengths = rng.integers(1, 40, size=3000)
    target_lengths = source_lengths + rng.integers(0, 5, size=3000)
    pairs = pairs_of_lengths(source_lengths, target_lengths)
    budget = TokenBudget(pairs, batch_tokens=400)
    sizes, spreads = [], []
    for _ in range(200):
        chosen = budget.draw(rng)
        src, _, tgt_in, _, _ = pairs.batch(chosen)
        assert src.size <= 400 and tgt_in.size <= 400  # padded: batch × longest
        assert len(set(chosen.tolist())) == len(chosen) >= 1
        sizes.append(len(chosen))
        spreads.append(np.ptp(source_lengths[chosen]))
    # short sentences come many to a batch, long ones few
    assert max(sizes) >= 4 * min(sizes)
    assert np.median(spreads) <= 4 < np.ptp(source_lengths)


def test_the_largest_batch_that_fits_is_taken():
    # every pair 10 tokens a side: a budget of 35 holds 3 of them, never 4
    pairs = pairs_of_lengths([10] * 50, [10] * 50)
    draws = [TokenBudget(pairs, 35).draw(np.random.default_rng(seed)) for seed in range(5)]
    assert {len(chosen) for chosen in draws} == {3}


def test_the_same_generator_state_gives_the_same_batch():
    pairs = pairs_of_lengths(range(1, 101), range(1, 101))
    first = TokenBudget(pairs, 300).draw(np.random.default_rng(7))
    assert TokenBudget(pairs, 300).draw(np.random.default_rng(7)).tolist() == first.tolist()


def test_a_budget_smaller_than_the_longest_pair_is_refused():
    pairs = pairs_of_lengths([3, 30], [4, 12])
    with pytest.raises(ValueError, match=r"batch_tokens 20 cannot hold the longest pair, 30 "
                                         r"tokens on one side; give at least 30"):
        TokenBudget(pairs, 20)
    with pytest.raises(ValueError, match="batch_tokens"):
        TokenBudget(pairs, 0)


def test_encoded_pairs_pad_with_the_tokenizers_pad_and_count_their_unk():
    class Pieces:  # a tokenizer whose specials are not words.py's 0, 1, 2
        from shapesafe_nn.tokenizers.protocol import SpecialIds
        specials = SpecialIds(pad=7, bos=8, eos=9, unk=6)

        def encode(self, text):
            return np.array([6 if char == "?" else ord(char) - 96 for char in text])

    tokenizer = Pieces()
    pairs = EncodedPairs.encode([("ab", "c?"), ("a", "abc")], tokenizer, tokenizer, 10, "pairs")
    assert pairs.pad_id == 7
    assert pairs.targets[0].tolist() == [8, 3, 6, 9]
    src, src_mask, tgt_in, tgt_out, _ = pairs.batch([0, 1])
    assert src.tolist() == [[1, 2], [1, 7]] and src_mask.tolist() == [[False, False], [False, True]]
    assert tgt_in.tolist() == [[8, 3, 6, 7], [8, 1, 2, 3]]
    assert tgt_out.tolist() == [[3, 6, 9, 7], [1, 2, 3, 9]]
    assert pairs.count(tokenizer.specials.unk) == 1 and pairs.count(None) == 0
    # a length-bucketed batch of the same pairs pads the same way
    assert len(LengthBuckets(pairs, batch_size=2).draw(np.random.default_rng(0))) == 2
