"""SubwordTokenizer: a BPE learned from a translator's sentences, one vocabulary
for both languages, decoded back to the text without "▁"; and the one
protocol every tokenizer follows, saved in checkpoints as JSON."""

import json

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from shapesafe_nn.tokenizers import (BPETokenizer, CharTokenizer, SpecialIds,  # noqa: E402
                                     SubwordTokenizer, Tokenizer, WordTokenizer,
                                     tokenizer_from_json)
from shapesafe_nn.tokenizers.subwords import BOS_ID, EOS_ID, PAD_ID, UNK_ID  # noqa: E402

GERMAN = ["Zwei junge Männer spielen Fußball.", "Ein Hund läuft über das Gras.",
          "Eine Frau spielt Gitarre.", "Zwei Hunde spielen im Schnee."]
ENGLISH = ["Two young men are playing soccer.", "A dog runs across the grass.",
           "A woman is playing guitar.", "Two dogs play in the snow."]


@pytest.fixture(scope="module")
def joint():
    return SubwordTokenizer.train(GERMAN + ENGLISH, vocab_size=120)


def test_the_special_tokens_come_first_and_a_vocab_size_is_an_upper_bound(joint):
    assert joint.specials == SpecialIds(pad=PAD_ID, bos=BOS_ID, eos=EOS_ID, unk=UNK_ID)
    assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    assert [joint.tokenizer.id_to_token(i) for i in range(4)] == ["<pad>", "<bos>", "<eos>",
                                                                  "<unk>"]
    assert joint.vocab_size <= 120
    # a frequent word is one piece, with "▁" for the space before it
    assert "▁Zwei" in joint.pieces("Zwei Katzen")


def test_every_sentence_decodes_back_to_itself_without_the_piece_marks(joint):
    for sentence in GERMAN + ENGLISH + ["Zwei  Hunde", "Hund"]:
        ids = joint.encode(sentence)
        assert ids.dtype == np.int64 and ids.ndim == 1
        text = joint.decode(ids)
        assert text == sentence and "▁" not in text and "@@" not in text


def test_bos_and_eos_frame_a_sentence_and_decoding_stops_at_eos(joint):
    ids = joint.encode("Ein Hund", bos=True, eos=True)
    assert ids[0] == BOS_ID and ids[-1] == EOS_ID
    assert joint.decode([*ids, *joint.encode("Gras"), PAD_ID]) == "Ein Hund"
    assert joint.decode([BOS_ID, PAD_ID]) == ""


def test_a_character_never_seen_is_unk_counted_and_decoded_as_unk(joint):
    ids = joint.encode("Ein Hund 😀 läuft")
    assert joint.count_unknown(ids) == 1
    assert joint.decode(ids) == "Ein Hund <unk> läuft"
    assert joint.count_unknown(joint.encode(GERMAN[0])) == 0


def test_the_same_sentences_give_the_same_pieces():
    again = SubwordTokenizer.train(GERMAN + ENGLISH, vocab_size=120)
    assert again.to_json() == SubwordTokenizer.train(GERMAN + ENGLISH, 120).to_json()


def test_decode_refuses_ids_outside_the_vocabulary_and_two_dimensions(joint):
    with pytest.raises(ValueError, match=r"SubwordTokenizer.decode: ids holds 999 at index "
                                         r"\(1,\), outside \[0, "):
        joint.decode([5, 999])
    with pytest.raises(ValueError, match=r"one sequence \(seq,\)"):
        joint.decode(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="takes a str, not int"):
        joint.encode(5)


def test_from_json_reads_what_to_json_wrote_and_refuses_another_layout(joint):
    again = SubwordTokenizer.from_json(joint.to_json())
    assert again == joint and again.encode(GERMAN[1]).tolist() == joint.encode(GERMAN[1]).tolist()
    with pytest.raises(ValueError, match="ckpt: not a subword tokenizer's JSON"):
        SubwordTokenizer.from_json('{"chars": ["a"]}', source="ckpt")
    # GPT-2's byte-level BPE is a tokenizer.json too, but not this layout
    byte_level = BPETokenizer.train("low lower lowest " * 20, vocab_size=270)
    with pytest.raises(ValueError, match="ckpt: a subword tokenizer is a BPE with Metaspace"):
        SubwordTokenizer.from_json(json.dumps({"subword_bpe": json.loads(byte_level.to_json())}),
                                   source="ckpt")
    with pytest.raises(ValueError, match="ckpt: the subword tokenizer cannot be read"):
        SubwordTokenizer.from_json('{"subword_bpe": {"model": 3}}', source="ckpt")


@pytest.mark.parametrize("kind", ["characters", "words", "word characters", "subwords",
                                  "gpt-2 bpe"])
def test_every_tokenizer_follows_the_protocol_and_comes_back_from_its_json(kind, joint):
    tokenizer = {
        "characters": lambda: CharTokenizer.from_text("Ein Hund"),
        "words": lambda: WordTokenizer.from_texts(GERMAN),
        "word characters": lambda: WordTokenizer.from_texts(GERMAN, whole_words=False),
        "subwords": lambda: joint,
        "gpt-2 bpe": lambda: BPETokenizer.train("Ein Hund läuft. " * 20, vocab_size=270),
    }[kind]()
    assert isinstance(tokenizer, Tokenizer)
    again = tokenizer_from_json(tokenizer.to_json())
    assert type(again) is type(tokenizer) and again.vocab_size == tokenizer.vocab_size
    assert again.specials == tokenizer.specials
    ids = tokenizer.encode("Ein Hund")
    assert again.encode("Ein Hund").tolist() == ids.tolist()
    assert again.decode(ids) == "Ein Hund"
    # a translator needs pad, bos and eos; a GPT's vocabularies have none
    needs = [] if kind in ("words", "word characters", "subwords") else ["pad", "bos", "eos"]
    assert tokenizer.specials.missing_for_translation() == needs


def test_an_unknown_tokenizer_json_names_the_kinds_it_could_be():
    with pytest.raises(ValueError, match=r"ckpt: the tokenizer is neither characters .*words "
                                         r".*subwords .* nor a tokenizer.json"):
        tokenizer_from_json('{"pieces": []}', source="ckpt")
