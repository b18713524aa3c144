"""``train translate``, ``translate``, ``eval translate`` and ``trace translate``,
end to end on the bundled number words and on a pairs file; the batches they
train on; and a resumed run that matches the run that never stopped."""

import importlib.util
import io
import json
import signal

import numpy as np
import pytest

from shapesafe_nn import optim
from shapesafe_nn.data.pair_batches import EncodedPairs, LengthBuckets, UnknownToken
from shapesafe_nn.models import Translator, TranslatorConfig
from shapesafe_nn.optim import AdamW
from shapesafe_nn.pictures import png
from shapesafe_nn.saving import load_translator
from shapesafe_nn.saving.checkpoint import load_checkpoint
from shapesafe_nn.tokenizers.words import BOS_ID, EOS_ID, PAD_ID, WordTokenizer
from shapesafe_nn.training.progress import pairs_fingerprint
from shapesafe_nn.training.translation import Example, exact_match, train_translator, translate

from cli_runner import assert_fails, run

TINY = ["train", "translate", "--preset", "tiny", "--steps", "20", "--eval-interval", "10",
        "--checks", "off"]
PAIRS = [("one", "un"), ("two", "deux"), ("three", "trois"), ("twenty-one", "vingt et un"),
         ("twenty-two", "vingt-deux"), ("thirty-one", "trente et un")]


@pytest.fixture(scope="module")
def tokenizers():
    return (WordTokenizer.from_texts(s for s, _ in PAIRS),
            WordTokenizer.from_texts(t for _, t in PAIRS))


# ---------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------
def test_a_batch_is_teacher_forcing_with_padding(tokenizers):
    source, target = tokenizers
    pairs = EncodedPairs.encode(PAIRS, source, target, max_len=8, where="pairs")
    src, src_mask, tgt_in, tgt_out, tgt_mask = pairs.batch([0, 3])
    # "one" is 1 token, "twenty-one" 3; "un" + BOS + EOS is 3, "vingt et un" 5 + 2
    assert src.shape == src_mask.shape == (2, 3)
    assert tgt_in.shape == tgt_out.shape == tgt_mask.shape == (2, 6)
    assert (tgt_in[:, 0] == BOS_ID).all()
    # the same tokens, shifted by one; the decoder never reads EOS nor predicts BOS
    assert ((tgt_in[:, 1:] == tgt_out[:, :-1]) | tgt_mask[:, 1:]).all()
    assert not (tgt_in == EOS_ID).any() and not (tgt_out == BOS_ID).any()
    assert tgt_out[0].tolist()[:3] == [*target.encode("un"), EOS_ID, PAD_ID][:3]
    assert src_mask.tolist() == [[False, True, True], [False, False, False]]
    assert (tgt_mask == (tgt_in == PAD_ID)).all()


def test_encoding_names_the_pair_of_an_unknown_word_or_a_sentence_too_long(tokenizers):
    source, target = tokenizers
    with pytest.raises(ValueError, match=r"held-out, pair 2: .*not in the vocabulary: 'four'"):
        EncodedPairs.encode([("one", "un"), ("four", "un")], source, target, 8, "held-out")
    with pytest.raises(ValueError, match=r"pairs, pair 1: the target is 7 tokens long, more "
                                         r"than max_len 6; raise --max-len"):
        EncodedPairs.encode([("twenty-one", "vingt et un")], source, target, 6, "pairs")
    # given each pair's line in its file, the message points at the line
    with pytest.raises(UnknownToken, match=r"val.tsv, line 7: .*not in the vocabulary: 'four'"):
        EncodedPairs.encode([("one", "un"), ("four", "un")], source, target, 8, "val.tsv",
                            lines=[3, 7])


def test_length_buckets_draw_sentences_of_about_one_length():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 30, size=2000)
    pairs = EncodedPairs([np.ones(n, dtype=np.int64) for n in lengths],
                         [np.ones(3, dtype=np.int64)] * 2000)
    buckets = LengthBuckets(pairs, batch_size=16)
    spreads, random_spreads = [], []
    for _ in range(50):
        chosen = buckets.draw(rng)
        assert len(set(chosen.tolist())) == 16  # no pair twice in a batch
        spreads.append(np.ptp(lengths[chosen]))
        random_spreads.append(np.ptp(lengths[rng.choice(2000, 16, replace=False)]))
    # a window of 64 neighbours of 2,000 spans about 1 length of 29
    assert max(spreads) <= 2 < min(random_spreads)
    again = LengthBuckets(pairs, batch_size=16).draw(np.random.default_rng(5))
    assert again.tolist() == buckets.draw(np.random.default_rng(5)).tolist()


# ---------------------------------------------------------------------------
# translate() and the training loop
# ---------------------------------------------------------------------------
def tiny_translator(source, target, seed=0):
    return Translator(TranslatorConfig(source.vocab_size, target.vocab_size, max_len=8,
                                       n_layer=1, n_head=2, d_model=32, d_ff=64, dropout=0.0,
                                       seed=seed))


def test_the_loop_learns_six_pairs_by_heart(tokenizers):
    source, target = tokenizers
    model = tiny_translator(source, target)
    pairs = EncodedPairs.encode(PAIRS, source, target, 8, "pairs")
    lines = []
    history = train_translator(
        model, AdamW(model.named_parameters(), lr=3e-3), pairs, pairs, steps=150,
        batch_size=6, schedule=lambda step: 3e-3, smoothing=0.0, grad_clip=1.0,
        eval_interval=50, examples=[Example(*PAIRS[3])], source=source, target=target,
        seed=0, log=lines.append)
    assert [record.step for record in history] == [0, 50, 100, 150]
    assert history[-1].val_loss < 0.05 < history[0].val_loss
    assert "'twenty-one' -> 'vingt et un'  ok" in lines[-1]
    sources = [s for s, _ in PAIRS]
    assert exact_match(translate(model, source, target, sources), [t for _, t in PAIRS]) == 1.0
    # beam search and a batch in another order give the same answers
    assert translate(model, source, target, sources[::-1], beam_size=3) == \
        [t for _, t in PAIRS][::-1]


def test_translate_refuses_an_empty_unknown_or_too_long_sentence(tokenizers):
    source, target = tokenizers
    model = tiny_translator(source, target)
    with pytest.raises(ValueError, match="a sentence is empty"):
        translate(model, source, target, ["one", "  "])
    with pytest.raises(ValueError, match="not in the vocabulary: 'four', 'seven'"):
        translate(model, source, target, ["seven-four"])
    with pytest.raises(ValueError, match=r"'one-one-one-one-one' is 9 tokens long, but the "
                                         r"model reads at most max_len = 8"):
        translate(model, source, target, ["one-one-one-one-one"])


def test_exact_match_counts_whole_sentences():
    assert exact_match(["vingt et un", "deux"], ["vingt et un", "deux "]) == 0.5
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        exact_match(["a", "b"], ["a"])


# ---------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("translate")
    result = run(*TINY, "--save", folder / "tiny.npz", "--json", folder / "tiny.json")
    assert result.code == 0, result.err
    return folder, result


def test_train_translate_prints_its_model_data_progress_and_exact_match(tiny_run):
    folder, result = tiny_run
    assert result.lines[0].startswith("Translator (tiny): ")
    assert "1 + 1 layers (post-LN)" in result.lines[0]
    assert result.lines[1] == ("data: bundled number words, en-fr: 20,000 train / 1,000 "
                               "held-out pairs; source words, vocab 37; target words, vocab 32")
    assert sum(line.startswith("step ") for line in result.lines) == 3  # steps 0, 10, 20
    assert result.lines[-1].startswith("exact match ")
    assert "/1,000 held-out pairs, greedy), val loss" in result.lines[-1]
    document = json.loads((folder / "tiny.json").read_text())
    assert document["settings"]["pair"] == "en-fr" and "exact_match" in document["final"]


def test_translate_and_eval_translate_read_the_saved_checkpoint(tiny_run, monkeypatch):
    folder, _ = tiny_run
    model, source, target = load_translator(folder / "tiny.npz")
    expected = translate(model, source, target, ["twenty-one", "nine"])
    result = run("translate", "--checkpoint", folder / "tiny.npz", "twenty-one", "nine")
    assert result.code == 0, result.err
    assert result.lines == expected
    monkeypatch.setattr("sys.stdin", io.StringIO("twenty-one\n\nnine\n"))
    assert run("translate", "--checkpoint", folder / "tiny.npz").lines == expected
    evaluated = run("eval", "translate", "--checkpoint", folder / "tiny.npz", "--checks", "off")
    assert evaluated.code == 0, evaluated.err
    assert "on 1,000 pairs: the held-out pairs of bundled number words, en-fr (greedy)" in \
        evaluated.out
    last = evaluated.lines[-1]
    assert last.startswith("exact match ") and last.endswith(", greedy")
    if importlib.util.find_spec("sacrebleu"):  # the translate extra
        assert ", chrF " in last and ", BLEU " in last
    else:
        assert "chrF and BLEU need sacrebleu" in evaluated.out


def test_translate_reads_standard_input_without_its_byte_order_mark(tiny_run, monkeypatch):
    folder, _ = tiny_run
    given = run("translate", "--checkpoint", folder / "tiny.npz", "twenty-one", "nine")
    monkeypatch.setattr("sys.stdin", io.StringIO("\ufefftwenty-one\nnine\n"))
    read = run("translate", "--checkpoint", folder / "tiny.npz")
    assert read.code == 0, read.err
    assert read.lines == given.lines


def test_translate_reads_the_bytes_of_standard_input_as_utf_8(tiny_run, monkeypatch):
    """Bytes, as a pipe gives them: UTF-8 with its byte-order mark dropped."""
    folder, _ = tiny_run
    given = run("translate", "--checkpoint", folder / "tiny.npz", "twenty-one", "nine")
    piped = io.TextIOWrapper(io.BytesIO("\ufefftwenty-one\nnine\n".encode("utf-8")))
    monkeypatch.setattr("sys.stdin", piped)
    read = run("translate", "--checkpoint", folder / "tiny.npz")
    assert read.code == 0, read.err
    assert read.lines == given.lines


def test_translate_names_an_unknown_word_in_one_line(tiny_run):
    folder, _ = tiny_run
    assert_fails(run("translate", "--checkpoint", folder / "tiny.npz", "twenty-one zillion"), 1,
                 "not in the vocabulary: 'zillion'")
    assert_fails(run("translate", "--checkpoint", folder / "tiny.npz", ""), 1,
                 "a sentence is empty")


def test_train_translate_reads_a_pairs_file_and_holds_out_a_tenth(tmp_path):
    lines = [f"{s}\t{t}\tattribution #{i}" for i, (s, t) in enumerate(PAIRS * 5)]
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("train", "translate", "--data", tmp_path / "pairs.tsv", "--preset", "tiny",
                 "--steps", "12", "--eval-interval", "6", "--checks", "off",
                 "--save", tmp_path / "mine.npz")
    assert result.code == 0, result.err
    assert f"data: {tmp_path / 'pairs.tsv'}: 27 train / 3 held-out pairs" in result.out
    evaluated = run("eval", "translate", "--checkpoint", tmp_path / "mine.npz")
    assert evaluated.code == 0, evaluated.err
    assert f"on 3 pairs: the held-out pairs of {tmp_path / 'pairs.tsv'}" in evaluated.out
    (tmp_path / "bad.tsv").write_text("one\tun\ntwo deux\n", encoding="utf-8")
    assert_fails(run("train", "translate", "--data", tmp_path / "bad.tsv", "--preset", "tiny"),
                 1, "bad.tsv, line 2: 1 column(s) where 2 are needed")


def test_norm_type_rms_trains_saves_and_loads_and_norm_stays_the_placement(tmp_path):
    result = run(*TINY, "--norm", "pre", "--norm-type", "rms", "--save", tmp_path / "rms.npz")
    assert result.code == 0, result.err
    assert "1 + 1 layers (pre-RMSNorm)" in result.out
    model, _, _ = load_translator(tmp_path / "rms.npz")
    assert (model.config.norm, model.config.norm_type) == ("pre", "rms")
    assert type(model.encoder[0].ln1).__name__ == "RMSNorm"
    assert run("eval", "translate", "--checkpoint", tmp_path / "rms.npz").code == 0
    assert_fails(run("train", "translate", "--norm-type", "batch"), 2,
                 "argument --norm-type: invalid choice: 'batch'")


def test_pair_and_data_clash_and_german_is_read_by_characters(tmp_path):
    assert run("train", "translate", "--pair", "en-de", "--data", "x.tsv").code == 2
    result = run("train", "translate", "--pair", "en-de", "--preset", "tiny", "--steps", "11",
                 "--eval-interval", "11", "--checks", "off")
    assert result.code == 0, result.err
    assert "source words, vocab 37; target characters, vocab" in result.out
    quiet = run("train", "translate", "--pair", "en-de", "--preset", "tiny", "--steps", "11",
                "--eval-interval", "11", "--checks", "off", "--quiet")
    assert quiet.lines == result.lines[-1:]  # the summary line alone


def test_trace_translate_shows_both_lengths_and_the_cross_scores():
    result = run("trace", "translate", "--batch", "3")
    assert result.code == 0, result.err
    assert result.lines[0] == "Translator (numbers preset, untrained) on 3 en-fr test pairs:"
    header = result.lines[1]
    src_seq = int(header.split("src_seq ")[1].split()[0])
    tgt_seq = int(header.split("tgt_seq ")[1].split()[0])
    assert src_seq != tgt_seq  # the point of the picture; true for this batch
    # the core's line, then its arguments, the scores inside it and its output
    start = next(index for index, line in enumerate(result.lines)
                 if line.startswith("decoder.0.cross_attn.attend "))
    cross = result.lines[start + 1:start + 7]
    assert f"    q (batch *heads q_seq d_head) = (3, 4, {tgt_seq}, 32)" in cross
    assert f"    k (batch *heads kv_seq d_head) = (3, 4, {src_seq}, 32)" in cross
    assert (f"    inside: scores, weights, dropped (batch *heads q_seq kv_seq) = "
            f"(3, 4, {tgt_seq}, {src_seq})") in cross


def interrupted_run(args, folder, name, at_step):
    """``train translate args --save folder/name``, stopped by Ctrl-C at ``at_step``."""
    step, calls = optim.AdamW.step, {"n": 0}

    def step_then_interrupt(self):
        calls["n"] += 1
        if calls["n"] == at_step:
            signal.raise_signal(signal.SIGINT)  # arrives before the update below
        step(self)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(optim.AdamW, "step", step_then_interrupt)
        stopped = run(*args, "--save", folder / name)
    assert stopped.code == 130, stopped.err
    return folder / name


def write_pairs(path, pairs):
    path.write_text("".join(f"{source}\t{target}\n" for source, target in pairs),
                    encoding="utf-8")
    return path


def test_a_translator_resumed_after_ctrl_c_matches_the_uninterrupted_run(tmp_path):
    args = [*TINY, "--dropout", "0.1"]
    full = run(*args, "--save", tmp_path / "full.npz")
    assert full.code == 0, full.err
    part = interrupted_run(args, tmp_path, "part.npz", at_step=13)
    resumed = run("train", "translate", "--resume", part, "--save", tmp_path / "resumed.npz")
    assert resumed.code == 0, resumed.err
    assert resumed.lines[-1] == full.lines[-1]
    full_arrays, _ = load_checkpoint(tmp_path / "full.npz")
    resumed_arrays, _ = load_checkpoint(tmp_path / "resumed.npz")
    for name in full_arrays:
        assert np.array_equal(full_arrays[name], resumed_arrays[name]), name


def test_held_out_pairs_that_are_also_training_pairs_are_counted(tmp_path):
    data = write_pairs(tmp_path / "pairs.tsv", PAIRS * 5)
    args = ["train", "translate", "--data", data, "--preset", "tiny", "--steps", "2",
            "--warmup", "1", "--eval-interval", "2", "--checks", "off"]
    overlapping = write_pairs(tmp_path / "val.tsv", [PAIRS[0], ("three", "deux"), PAIRS[4]])
    result = run(*args, "--val", overlapping)
    assert result.code == 0, result.err
    # ("three", "deux") is no training pair: source and target must both match
    assert ("the held-out pairs: 2 of 3 are also training pairs (source and target alike), "
            "which the held-out scores count as unseen") in result.lines
    apart = write_pairs(tmp_path / "apart.tsv", [("one", "deux"), ("two", "un")])
    result = run(*args, "--val", apart)
    assert result.code == 0, result.err
    assert "also training pairs" not in result.out


def test_a_resumed_run_keeps_its_held_out_pairs_and_an_older_one_still_resumes(tmp_path):
    data = write_pairs(tmp_path / "pairs.tsv", PAIRS * 5)
    val = write_pairs(tmp_path / "val.tsv", PAIRS[:2])
    args = [*TINY, "--data", data, "--val", val]
    part = interrupted_run(args, tmp_path, "part.npz", at_step=13)
    _, meta = load_checkpoint(part)
    assert meta["held_out_sha256"] == pairs_fingerprint(PAIRS[:2])
    resumed = run("train", "translate", "--resume", part, "--save", tmp_path / "resumed.npz")
    assert resumed.code == 0, resumed.err
    assert load_checkpoint(tmp_path / "resumed.npz")[1]["held_out_sha256"] == \
        meta["held_out_sha256"]
    # a checkpoint saved before the held-out pairs had a fingerprint has none to
    # compare: it resumes on the held-out pairs there are now
    arrays = dict(np.load(part))
    older = json.loads(str(arrays.pop("__meta__")))
    del older["held_out_sha256"]
    np.savez(tmp_path / "older.npz", **arrays, __meta__=np.array(json.dumps(older)))
    write_pairs(val, PAIRS[2:4])
    assert_fails(run("train", "translate", "--resume", part), 1,
                 "that run was scored on other held-out data than")
    resumed = run("train", "translate", "--resume", tmp_path / "older.npz")
    assert resumed.code == 0, resumed.err


# ---------------------------------------------------------------------------
# The attention picture
# ---------------------------------------------------------------------------
needs_matplotlib = pytest.mark.skipif(not png.matplotlib_available(),
                                      reason="the plot extra (matplotlib)")


@needs_matplotlib
def test_the_attention_figure_has_the_encoder_the_decoder_and_the_alignment(tokenizers):
    source, target = tokenizers
    model = tiny_translator(source, target)
    model.train()
    figure = png.translation_attention_figure(model, source, target, "twenty-one")
    assert model.training  # the mode it was in comes back
    written = translate(model, source, target, ["twenty-one"])[0]
    pictures = [ax for ax in figure.axes if ax.get_images()]
    # 1 encoder + 1 decoder block: encoder self, decoder self, decoder cross; 2 heads each
    titles = [ax.get_title() for ax in pictures]
    assert titles == [f"{name}, head {head}" for name in
                      ("encoder.0.attn", "decoder.0.self_attn", "decoder.0.cross_attn")
                      for head in (0, 1)]
    cross = pictures[4]
    # each picture's axes are the core's dims, named by the sentence they run along
    assert (cross.get_ylabel(), cross.get_xlabel()) == ("writes: query (q_seq = tgt_seq)",
                                                        "key (kv_seq = src_seq)")
    assert pictures[0].get_ylabel() == "reads: query (q_seq = src_seq)"
    assert pictures[2].get_xlabel() == "key (kv_seq = tgt_seq)"
    src_tokens = ["twenty", "-", "one"]
    assert [label.get_text() for label in cross.get_xticklabels()] == src_tokens
    tgt_seq, src_seq = cross.get_images()[0].get_array().shape
    assert src_seq == 3 and tgt_seq >= 1  # (tgt_seq, src_seq): one row per token written
    assert written[:10] in figure.get_suptitle()


@needs_matplotlib
def test_the_attention_command_draws_a_translator_and_refuses_a_prompt(tiny_run, tmp_path):
    folder, _ = tiny_run
    out = tmp_path / "alignment.png"
    result = run("attention", "--checkpoint", folder / "tiny.npz", "--source", "twenty-one",
                 "--out", out)
    assert result.code == 0, result.err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run("attention", "--checkpoint", folder / "tiny.npz", "--prompt", "x").code == 2
    assert_fails(run("attention", "--checkpoint", folder / "tiny.npz", "--source", "zillion",
                     "--out", out), 1, "--source 'zillion'", "not in the vocabulary")


def test_both_schedules_peak_at_lr_after_the_warm_up():
    from shapesafe_nn.cli.translate import DEFAULT_SETTINGS, schedule_for

    for schedule in ("cosine", "paper"):
        settings = DEFAULT_SETTINGS | {"schedule": schedule, "lr": 2e-3, "warmup": 100}
        rates = [schedule_for(settings)(step) for step in range(settings["steps"])]
        assert max(rates) == pytest.approx(2e-3, rel=1e-12), schedule
        assert int(np.argmax(rates)) in (99, 100), schedule  # the end of the warm-up
    paper = schedule_for(DEFAULT_SETTINGS | {"schedule": "paper", "lr": 2e-3, "warmup": 100})
    assert paper(399) == pytest.approx(2e-3 * (100 / 400) ** 0.5, rel=1e-12)  # then 1/√step
