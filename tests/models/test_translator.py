"""The translator: teacher forcing on two padded sequences, tied embeddings,
gradients by finite differences, and torch.nn.Transformer on the same weights."""

import numpy as np
import pytest

from shapesafe_nn import ShapeError
from shapesafe_nn.data.pairs import load_numbers
from shapesafe_nn.losses import LabelSmoothedCrossEntropy
from shapesafe_nn.models import Translator, TranslatorConfig
from shapesafe_nn.testing import gradcheck
from shapesafe_nn.tokenizers.words import PAD_ID, WordTokenizer, pad_batch

SRC_VOCAB, TGT_VOCAB = 9, 7
# two source sentences of 5 and 3 tokens, two targets of 4 and 2 (PAD = 0 after them)
SRC = np.array([[3, 4, 5, 6, 7], [8, 3, 4, PAD_ID, PAD_ID]])
TGT = np.array([[1, 3, 4, 5], [1, 6, PAD_ID, PAD_ID]])
SRC_PADDING, TGT_PADDING = SRC == PAD_ID, TGT == PAD_ID
LABELS = np.array([[3, 4, 5, 2], [6, 2, PAD_ID, PAD_ID]])  # the targets shifted left, EOS = 2


def make(norm="post", share=False, dropout=0.0, d_model=8, n_layer=2, norm_type="layer"):
    """A float64 translator with weights large enough to matter (N(0, 0.5²))."""
    vocab = SRC_VOCAB if share else TGT_VOCAB
    model = Translator(TranslatorConfig(
        src_vocab_size=SRC_VOCAB, tgt_vocab_size=vocab, share_embeddings=share, max_len=6,
        n_layer=n_layer, n_head=2, d_model=d_model, d_ff=2 * d_model, dropout=dropout,
        norm=norm, norm_type=norm_type, dtype="float64"))
    rng = np.random.default_rng(1)
    for parameter in model.parameters():
        parameter.value[...] = rng.standard_normal(parameter.value.shape) * 0.5
    return model


@pytest.mark.parametrize("norm, share, norm_type", [("post", False, "layer"), ("pre", True, "layer"),
                                                ("post", False, "rms"), ("pre", True, "rms")])
def test_gradcheck_of_the_whole_model_with_padding(norm, share, norm_type):
    model = make(norm, share, d_model=4, n_layer=1, norm_type=norm_type)
    report = gradcheck(model, SRC, TGT, SRC_PADDING, TGT_PADDING)  # raises beyond 1e-6
    assert report.compared == model.num_parameters()


def test_gradcheck_in_training_mode_with_dropout():
    gradcheck(make(dropout=0.2, d_model=4, n_layer=1), SRC, TGT, SRC_PADDING, TGT_PADDING)


def test_shared_embeddings_are_one_table_tied_to_the_output():
    shared, separate = make(share=True), make()
    names = [name for name, _ in shared.named_parameters()]
    assert "tgt_embedding.W" in names and "src_embedding.W" not in names
    assert shared.src_embedding.W is shared.tgt_embedding.W
    # separate: a (9, 8) source table and a (7, 8) target table; shared: one (9, 8)
    assert separate.num_parameters() - shared.num_parameters() == TGT_VOCAB * 8


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_a_padded_batch_gives_what_each_sentence_alone_gives(norm):
    model = make(norm)
    padded = model.forward(SRC, TGT, SRC_PADDING, TGT_PADDING)
    alone = model.forward(SRC[1:, :3], TGT[1:, :2])
    # the same sums, except that the padded terms are exact zeros
    np.testing.assert_allclose(padded[1, :2], alone[0], rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(padded[0], model.forward(SRC[:1], TGT[:1])[0], rtol=1e-11,
                               atol=1e-12)


def test_the_decoder_is_causal_through_the_whole_model():
    model = make()
    logits = model.forward(SRC, TGT)
    changed = TGT.copy()
    changed[:, 2:] = 5
    np.testing.assert_array_equal(model.forward(SRC, changed)[:, :2], logits[:, :2])


def test_a_source_too_long_and_mismatched_batches_are_named():
    model = make()
    with pytest.raises(ValueError, match="src_ids holds 7 tokens, but the model reads at most "
                                         "max_len = 6"):
        model.forward(np.ones((2, 7), np.int64), TGT)
    with pytest.raises(ShapeError) as error:
        model.forward(SRC, TGT[:1])
    assert error.value.argument == "tgt_ids" and error.value.dim == "batch"
    with pytest.raises(ShapeError) as error:
        model.forward(SRC, TGT, SRC_PADDING[:, :4])
    assert error.value.argument == "src_padding_mask" and error.value.dim == "src_seq"


def test_config_errors_are_named():
    with pytest.raises(ValueError, match="share_embeddings needs one vocabulary"):
        TranslatorConfig(src_vocab_size=5, tgt_vocab_size=6, share_embeddings=True)
    with pytest.raises(ValueError, match="TranslatorConfig: norm must be one of post, pre"):
        TranslatorConfig(src_vocab_size=5, tgt_vocab_size=6, norm="sandwich")
    with pytest.raises(ValueError, match="TranslatorConfig: norm_type must be one of layer, rms"):
        TranslatorConfig(src_vocab_size=5, tgt_vocab_size=6, norm_type="batch")


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_norm_type_names_every_norm_of_the_translator(norm):
    from shapesafe_nn.layers import LayerNorm, RMSNorm

    for norm_type, Norm in (("layer", LayerNorm), ("rms", RMSNorm)):
        model = make(norm, n_layer=1, norm_type=norm_type)
        norms = {name for name, module in model.named_modules() if isinstance(module, Norm)}
        # two per encoder block, three per decoder block, and pre-LN's two last ones
        assert norms == {"encoder.0.ln1", "encoder.0.ln2", "decoder.0.ln1", "decoder.0.ln2",
                         "decoder.0.ln3"} | ({"encoder_norm", "decoder_norm"}
                                             if norm == "pre" else set())


def test_the_bundled_numbers_go_through_in_float32():
    pairs = load_numbers("en-fr", "test")[:4]
    source = WordTokenizer.from_texts([s for s, _ in pairs])
    target = WordTokenizer.from_texts([t for _, t in pairs])
    src, src_padding = pad_batch([source.encode(s) for s, _ in pairs])
    full, tgt_padding = pad_batch([target.encode(t, bos=True, eos=True) for _, t in pairs])
    model = Translator(TranslatorConfig(source.vocab_size, target.vocab_size, n_layer=1,
                                        d_model=16, d_ff=32, dropout=0.0))
    logits = model.forward(src, full[:, :-1], src_padding, tgt_padding[:, :-1])
    assert logits.dtype == np.float32 and logits.shape == (4, full.shape[1] - 1, target.vocab_size)
    cost = LabelSmoothedCrossEntropy(0.1, ignore_index=PAD_ID)
    # untrained: close to a uniform guess, log(vocab)
    assert abs(cost.forward(logits, full[:, 1:]) - np.log(target.vocab_size)) < 0.2
    model.backward(cost.backward())
    assert all(np.all(np.isfinite(p.grad)) for p in model.parameters())


@pytest.mark.reference
@pytest.mark.parametrize("norm, share", [("post", False), ("pre", False), ("post", True)])
def test_logits_loss_and_every_gradient_match_torch_transformer(norm, share):
    torch = pytest.importorskip("torch")
    from shapesafe_nn.testing.torch_translator import translator_logits

    model = make(norm, share)
    labels = LABELS
    cost = LabelSmoothedCrossEntropy(smoothing=0.1, ignore_index=PAD_ID)
    logits = model.forward(SRC, TGT, SRC_PADDING, TGT_PADDING)
    loss = cost.forward(logits, labels)
    model.backward(cost.backward())

    ours = {name: torch.from_numpy(p.value.copy()).requires_grad_()
            for name, p in model.named_parameters()}
    expected = translator_logits(torch, model.config, ours, *(torch.from_numpy(a) for a in (
        SRC, TGT, SRC_PADDING, TGT_PADDING)))
    expected_loss = torch.nn.functional.cross_entropy(
        expected.reshape(-1, expected.shape[-1]), torch.from_numpy(labels).reshape(-1),
        ignore_index=PAD_ID, label_smoothing=0.1)
    expected_loss.backward()
    # float64 on both sides, the same operations in a different order: the
    # differences are rounding, about 1e-15 relative; the tolerances leave room
    # for the sums of two stacks of blocks
    np.testing.assert_allclose(logits, expected.detach().numpy(), rtol=1e-9, atol=1e-11)
    assert loss == pytest.approx(expected_loss.item(), rel=1e-10)
    assert len(ours) == len(list(model.named_parameters()))
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(parameter.grad, ours[name].grad.numpy(), rtol=1e-8,
                                   atol=1e-11, err_msg=name)


def test_a_checkpoint_saved_before_norm_type_loads_with_layer_norms():
    from pathlib import Path

    from shapesafe_nn.saving import load_translator
    from shapesafe_nn.saving.checkpoint import load_checkpoint

    bundled = Path(__file__).parents[2] / "docs" / "assets" / "numbers_en_ja.npz"
    assert "norm_type" not in load_checkpoint(bundled)[1]["config"]  # written before it existed
    model, _, _ = load_translator(bundled)
    assert model.config.norm_type == "layer"
    assert type(model.decoder[0].ln3).__name__ == "LayerNorm"
