"""The build-up ladder (``models/ladder.py``, ``LadderConfig.rung``): each rung
computes what its line says, passes the gradient check, learns, and is a setting
of ``train gpt``; the default rung is the GPT as it was built before the ladder,
exactly."""

import numpy as np
import pytest
from cli_runner import assert_fails, run

from shapesafe_nn import Module, ShapeError, checks
from shapesafe_nn.layers import (Dropout, Embedding, LayerNorm, LearnedPositionalEmbedding,
                                 Sequential, TransformerBlock)
from shapesafe_nn.losses import SoftmaxCrossEntropy
from shapesafe_nn.models import GPT, GPTConfig
from shapesafe_nn.models.ladder import RUNGS, LadderConfig, build_gpt
from shapesafe_nn.optim import AdamW
from shapesafe_nn.saving import load_gpt
from shapesafe_nn.saving.checkpoint import load_checkpoint, save_checkpoint
from shapesafe_nn.testing import gradcheck

TINY = dict(vocab_size=7, block_size=5, n_layer=2, n_head=2, d_model=8)
TRAIN_GPT = ["train", "gpt", "--preset", "tiny", "--iters", "3", "--warmup", "1",
             "--eval-interval", "3", "--eval-iters", "1", "--checks", "off"]


def make(rung: str, dtype="float64", scale=0.3, seed=0, **config) -> GPT:
    """A tiny GPT at ``rung`` with every parameter moved well away from its initial
    value (biases 0, gains 1), so that no term of the gradient vanishes by construction."""
    model = build_gpt(LadderConfig(rung=rung, dtype=dtype, **TINY | config))
    rng = np.random.default_rng(seed)
    for name, parameter in model.named_parameters():
        centre = 1.0 if name.endswith("gamma") else 0.0
        parameter.value[...] = centre + rng.standard_normal(parameter.value.shape) * scale
    return model


def some_ids(batch=2, seq=4, seed=1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, TINY["vocab_size"], (batch, seq))


# ---------------------------------------------------------------------------
# Each rung is what its line in the model's docstring says
# ---------------------------------------------------------------------------
def test_the_rungs_follow_the_lecture_and_the_default_is_the_whole_gpt():
    assert RUNGS == ("bigram", "average", "head", "heads", "feed_forward", "residual", "full")
    assert LadderConfig(vocab_size=7).rung == "full"
    assert type(build_gpt(LadderConfig(vocab_size=7))) is GPT
    assert type(build_gpt(GPTConfig(vocab_size=7))) is GPT  # a plain config is the GPT


def test_each_rung_is_a_small_model_of_its_own_and_the_last_two_are_the_gpt():
    models = {rung: type(make(rung)).__name__ for rung in RUNGS}
    assert models == {"bigram": "Bigram", "average": "Average", "head": "Head",
                      "heads": "Heads", "feed_forward": "HeadsThenFeedForward",
                      "residual": "GPT", "full": "GPT"}


def test_bigram_logits_are_the_rows_of_one_vocab_by_vocab_table():
    model = make("bigram")
    ids = some_ids()
    table = model.token_embedding.W.value
    assert table.shape == (7, 7) and model.num_parameters() == 49
    np.testing.assert_array_equal(model.forward(ids), table[ids])


def test_average_is_the_mean_of_each_position_and_all_before_it():
    model = make("average")
    ids = some_ids(seq=5)
    E, P = model.token_embedding.W.value, model.positions.P.value
    x = E[ids] + P[:5]  # (batch, seq, d_model)
    mean_of_the_past = np.cumsum(x, axis=1) / np.arange(1, 6)[None, :, None]
    np.testing.assert_allclose(model.forward(ids), mean_of_the_past @ E.T, rtol=1e-12)
    assert model.num_parameters() == E.size + P.size  # nothing learned but the tables


@pytest.mark.parametrize("rung, block", [
    ("head", "AttentionHead"), ("heads", "MultiHeadAttention"), ("feed_forward", "Sequential"),
    ("residual", "TransformerBlock"), ("full", "TransformerBlock")])
def test_rungs_from_head_up_stack_n_layer_blocks_of_their_kind(rung, block):
    model = make(rung)
    assert [type(b).__name__ for b in model.blocks] == [block] * TINY["n_layer"]
    if rung == "feed_forward":
        assert [type(layer).__name__ for layer in model.blocks[0]] == ["MultiHeadAttention",
                                                                      "FeedForward"]
    # the final layer norm comes with the residual stream, as in the lecture
    assert hasattr(model, "ln_f") == (rung in ("residual", "full"))


def test_each_rung_has_more_parameters_than_the_one_before_from_average_up():
    counts = [make(rung).num_parameters() for rung in RUNGS[1:-1]]  # full adds none
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert make("full").num_parameters() == make("residual").num_parameters()


@pytest.mark.parametrize("rung", RUNGS)
def test_the_logits_at_t_ignore_every_later_token_at_every_rung(rung):
    model = make(rung)
    ids = some_ids(seq=5)
    changed = ids.copy()
    changed[:, 3:] = (changed[:, 3:] + 1) % TINY["vocab_size"]
    np.testing.assert_allclose(model.forward(changed)[:, :3], model.forward(ids)[:, :3],
                               rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# Gradients: finite differences at every rung, in float64
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("rung, dropout", [(rung, 0.0) for rung in RUNGS] + [("full", 0.3)])
def test_gradcheck_every_parameter_at_every_rung(rung, dropout):
    model = make(rung, dropout=dropout)
    ids = some_ids(seq=3)  # seq < block_size: the last rows of P must get exactly 0
    # gradients, not shapes, are under test here: checks off makes the forwards quick
    with checks("off"):
        report = gradcheck(model, ids)  # fixes every dropout mask; raises beyond 1e-6
    assert report.error < 1e-6
    assert report.compared == model.num_parameters()


# ---------------------------------------------------------------------------
# The default rung is the GPT as it was before the ladder
# ---------------------------------------------------------------------------
class GPTBeforeTheLadder(Module):
    """The GPT as it was written before rungs existed, from the same layers,
    drawing from the seed in the same order, with the same parameter names."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        c = config
        rng = np.random.default_rng(c.seed)
        self.token_embedding = Embedding(c.vocab_size, c.d_model, rng=rng, dtype=c.dtype)
        self.positions = LearnedPositionalEmbedding(c.block_size, c.d_model, rng=rng,
                                                    dtype=c.dtype)
        self.dropout = Dropout(c.dropout, seed=int(rng.integers(2**63)))
        self.blocks = Sequential(*[
            TransformerBlock(c.d_model, c.n_head, c.d_ff, c.dropout, c.mask, score=c.score,
                             gelu=c.gelu, rng=rng, dtype=c.dtype) for _ in range(c.n_layer)])
        self.ln_f = LayerNorm(c.d_model, dtype=c.dtype)

    def forward(self, ids):
        x = self.dropout.forward(self.positions.forward(self.token_embedding.forward(ids)))
        h = self.ln_f.forward(self.blocks.forward(x))
        return h @ self.token_embedding.W.value.T


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_default_rung_draws_and_computes_exactly_the_gpt_before_the_ladder(dtype):
    config = LadderConfig(dropout=0.2, dtype=dtype, seed=3, **TINY)  # dropout: the same masks
    model, before = build_gpt(config), GPTBeforeTheLadder(config)
    ours, theirs = dict(model.named_parameters()), dict(before.named_parameters())
    assert list(ours) == list(theirs)
    for name in ours:
        np.testing.assert_array_equal(ours[name].value, theirs[name].value, err_msg=name)
    ids = some_ids(seq=5)
    # The parameters above are equal bit for bit (the same draws).  The logits are
    # not compared bit for bit: GPT.forward takes its head as one 2-D product over
    # every position, this reference as a 3-D one, and OpenBLAS picks a different
    # kernel for each on some CPUs (Haswell, Zen: a one-ulp difference).
    tolerance = {"float32": 1e-5, "float64": 1e-12}[dtype]  # relative, a few ulps of each
    for _ in range(2):  # the dropout generators advance alike
        np.testing.assert_allclose(model.forward(ids), before.forward(ids), rtol=tolerance,
                                   atol=tolerance)


def test_full_at_dropout_0_is_the_residual_rung_exactly():
    full, residual = make("full"), make("residual")
    assert [name for name, _ in full.named_parameters()] == \
        [name for name, _ in residual.named_parameters()]
    ids = some_ids(seq=5)
    np.testing.assert_array_equal(full.forward(ids), residual.forward(ids))


# ---------------------------------------------------------------------------
# Learning, sampling, refusals
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("rung", RUNGS)
def test_every_rung_lowers_its_loss_at_every_one_of_a_few_adamw_steps(rung):
    model = build_gpt(LadderConfig(rung=rung, **TINY))  # its own initialization, float32
    optimizer = AdamW(model.named_parameters(), lr=1e-2)
    cost = SoftmaxCrossEntropy()
    ids = some_ids(batch=4, seq=5)
    targets = np.roll(ids, -1, axis=1)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        losses.append(cost.forward(model.forward(ids), targets))
        model.backward(cost.backward())
        optimizer.step()
    # from GPT-2's small initial weights the lower rungs start slowly, but they start
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses


@pytest.mark.parametrize("rung", RUNGS)
def test_every_rung_samples_and_only_transformer_blocks_keep_a_cache(rung):
    model = make(rung)
    prompt = np.array([1, 2])
    sampled = model.generate(prompt, 8, seed=0)  # past block_size: the window slides
    np.testing.assert_array_equal(sampled, model.generate(prompt, 8, seed=0, use_cache=False))
    if rung in ("residual", "full"):
        assert len(model.new_cache()) == TINY["n_layer"]
    else:
        with pytest.raises(ValueError, match=f"rung '{rung}' has no TransformerBlocks"):
            model.new_cache()


@pytest.mark.parametrize("rung", RUNGS)
def test_ids_without_a_batch_axis_are_a_shape_error_at_every_rung(rung):
    with pytest.raises(ShapeError, match="ids"):
        make(rung).forward(np.array([1, 2, 3]))


@pytest.mark.parametrize("rung", RUNGS[:-1])
def test_dropout_below_the_full_rung_is_refused(rung):
    with pytest.raises(ValueError, match=f"dropout 0.1 is what rung 'full' adds; rung '{rung}'"):
        LadderConfig(rung=rung, dropout=0.1, **TINY)


@pytest.mark.parametrize("rung", RUNGS[:-2])
def test_a_norm_type_below_the_residual_rung_is_refused(rung):
    with pytest.raises(ValueError, match=f"norm_type 'rms' is the norm of rungs residual and "
                                         f"full; rung '{rung}' has no norm"):
        LadderConfig(rung=rung, norm_type="rms", **TINY)


def test_an_unknown_rung_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="rung must be one of bigram, average, head, heads, "
                                         "feed_forward, residual, full, not 'trigram'"):
        LadderConfig(rung="trigram", **TINY)


def test_a_config_saved_before_the_ladder_loads_as_the_full_gpt(tmp_path):
    path = tmp_path / "ck.npz"
    assert run(*TRAIN_GPT, "--save", path, "--weights-only").code == 0
    arrays, meta = load_checkpoint(path)
    del meta["config"]["rung"]  # as in every checkpoint written before the ladder
    meta = {key: value for key, value in meta.items() if key not in ("format", "version")}
    old, _ = load_gpt(save_checkpoint(tmp_path / "old.npz", arrays, meta))
    new, _ = load_gpt(path)
    assert old.config == new.config and old.config.rung == "full"
    np.testing.assert_array_equal(old.forward(some_ids()), new.forward(some_ids()))


# ---------------------------------------------------------------------------
# train gpt --rung
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("rung", RUNGS)
def test_train_gpt_trains_each_rung_and_saves_it_in_the_config(rung, tmp_path):
    path = tmp_path / f"{rung}.npz"
    result = run(*TRAIN_GPT, "--rung", rung, "--save", path)
    assert result.code == 0, result.err
    printed = result.out + result.err
    assert (f"GPT (tiny, rung {rung}):" in printed) == (rung != "full"), printed
    model, _ = load_gpt(path)
    assert model.config.rung == rung
    assert run("sample", "--checkpoint", path, "--tokens", "5").code == 0


def test_a_bad_rung_name_is_refused_when_the_flags_are_parsed():
    assert_fails(run("train", "gpt", "--rung", "trigram"), 2,
                 "argument --rung: invalid choice: 'trigram'")


def test_dropout_below_the_full_rung_is_refused_before_any_work():
    assert_fails(run(*TRAIN_GPT, "--rung", "residual", "--dropout", "0.2"), 2,
                 "argument --dropout: LadderConfig: dropout 0.2 is what rung 'full' adds; "
                 "rung 'residual' has none")


def test_resume_refuses_a_changed_rung(tmp_path):
    path = tmp_path / "head.npz"
    assert run(*TRAIN_GPT, "--rung", "head", "--save", path).code == 0
    assert_fails(run("train", "gpt", "--resume", path, "--rung", "heads"), 2,
                 f"--resume {path} continues that run with its saved settings; "
                 f"leave out --rung (to change them, start a new run)")
    # the saved rung repeated is no change: what stops this run is that it is complete
    assert_fails(run("train", "gpt", "--resume", path, "--rung", "head"), 1,
                 f"{path}: that run is complete (3 of 3 iterations)")
