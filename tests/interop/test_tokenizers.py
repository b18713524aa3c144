"""Character and BPE tokenizers, and how a checkpoint keeps them (JSON, no pickle)."""

import numpy as np
import pytest

from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.saving import load_gpt, save_gpt
from shapesafe_nn.tokenizers import (BPETokenizer, CharTokenizer, char_tokenizer_json,
                                     read_tokenizer_json, tokenizer_from_json)

pytest.importorskip("tokenizers")

TEXT = "It is the east, and Juliet is the sun.\nArise, fair sun, and kill the envious moon,\n"


def test_a_trained_bpe_has_word_pieces_and_decodes_what_it_encodes():
    tokenizer = BPETokenizer.train(TEXT * 5, vocab_size=280)
    assert tokenizer.vocab_size == 280  # the 256 bytes and 24 merges
    ids = tokenizer.encode(TEXT)
    assert ids.dtype == np.int64 and ids.ndim == 1
    assert len(ids) < 0.6 * len(TEXT)  # pieces longer than one character
    assert tokenizer.decode(ids) == TEXT
    assert tokenizer.decode(tokenizer.encode("naïve ☃")) == "naïve ☃"  # bytes: none unknown


def test_bpe_decode_refuses_ids_outside_its_vocabulary():
    tokenizer = BPETokenizer.train(TEXT, vocab_size=260)
    with pytest.raises(ValueError, match=r"BPETokenizer.decode: ids holds 260 at index \(1,\), outside \[0, 260\)"):
        tokenizer.decode(np.array([1, 260]))


def test_a_char_tokenizer_as_tokenizer_json_reads_back_as_itself(tmp_path):
    tokenizer = CharTokenizer.from_text(TEXT)
    path = tmp_path / "tokenizer.json"
    path.write_text(char_tokenizer_json(tokenizer))
    back = read_tokenizer_json(path)
    assert back == tokenizer
    hugging_face = BPETokenizer.from_file(path)  # as the tokenizers package reads it
    np.testing.assert_array_equal(hugging_face.encode(TEXT), tokenizer.encode(TEXT))
    assert hugging_face.decode(tokenizer.encode(TEXT)) == TEXT


def test_checkpoints_keep_either_kind_as_json(tmp_path):
    for tokenizer in (CharTokenizer.from_text(TEXT), BPETokenizer.train(TEXT, 270)):
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=8, n_layer=1,
                              n_head=2, d_model=8))
        save_gpt(tmp_path / "model.npz", model, tokenizer)
        loaded, back = load_gpt(tmp_path / "model.npz")  # the one line
        assert type(back) is type(tokenizer)
        assert back.to_json() == tokenizer.to_json()
        np.testing.assert_array_equal(loaded.token_embedding.W.value,
                                      model.token_embedding.W.value)


@pytest.mark.parametrize("text, words", [
    ("not json", "the checkpoint: the tokenizer is not JSON"),
    ('{"vocab": 3}', "neither characters"),
    ('{"model": {"type": "Nonsense"}}', "not a tokenizer.json the tokenizers package can read")])
def test_a_damaged_tokenizer_is_refused(text, words):
    with pytest.raises(ValueError, match=words):
        tokenizer_from_json(text)
