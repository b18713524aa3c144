"""``train translate`` on real sentences: two parallel files (gzip too), BPE
pieces in one joint vocabulary, batches by a token budget, BLEU at each
evaluation; ``translate`` and ``eval translate`` on what it saved; a resumed
BPE run; and the bad input of real corpora, each named by file and line."""

import gzip
import io
import signal

import numpy as np
import pytest

from shapesafe_nn import optim
from shapesafe_nn.saving import load_translator
from shapesafe_nn.saving.checkpoint import load_checkpoint
from shapesafe_nn.tokenizers import SubwordTokenizer

from cli_runner import assert_fails, run

pytest.importorskip("tokenizers")  # BPE pieces

GERMAN = ["Zwei Hunde spielen im Schnee.", "Ein Mann fährt Fahrrad.", "Eine Frau liest ein Buch.",
          "Ein Kind spielt mit einem Ball.", "Zwei Männer sitzen auf einer Bank.",
          "Ein Hund läuft über das Gras.", "Eine Gruppe von Menschen steht vor einem Haus.",
          "Ein Mädchen springt in den See.", "Ein alter Mann spielt Gitarre.",
          "Drei Kinder essen Eis."]
ENGLISH = ["Two dogs play in the snow.", "A man rides a bicycle.", "A woman reads a book.",
           "A child plays with a ball.", "Two men sit on a bench.", "A dog runs across the grass.",
           "A group of people stands in front of a house.", "A girl jumps into the lake.",
           "An old man plays guitar.", "Three children eat ice cream."]
SMALL = ["--preset", "tiny", "--steps", "12", "--eval-interval", "6", "--checks", "off",
         "--tokens", "bpe", "--vocab-size", "150"]


def write_lines(path, lines, compress=False):
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture
def files(tmp_path):
    """Parallel training files (German gzipped) and held-out pairs as a TSV."""
    german = write_lines(tmp_path / "train.de.gz", GERMAN * 3, compress=True)
    english = write_lines(tmp_path / "train.en", ENGLISH * 3)
    val = tmp_path / "val.tsv"
    val.write_text("".join(f"{g}\t{e}\n" for g, e in zip(GERMAN[:4], ENGLISH[:4])),
                   encoding="utf-8")
    return german, english, val


def train(files, tmp_path, *more):
    german, english, val = files
    return run("train", "translate", "--source-file", german, "--target-file", english,
               "--val", val, *SMALL, "--save", tmp_path / "m.npz", *more)


def test_parallel_files_train_a_joint_bpe_translator_that_reports_bleu(files, tmp_path):
    pytest.importorskip("sacrebleu")
    result = train(files, tmp_path)
    assert result.code == 0, result.err
    german, english, _ = files
    assert result.lines[0].startswith("Translator (tiny): ")
    assert result.lines[1].startswith(f"data: {german} and {english}: 30 train / 4 held-out "
                                      f"pairs; BPE pieces, one joint vocab of ")
    assert result.lines[2] == ("tokens: --tokens bpe; BLEU at each evaluation on a fixed "
                               "sample of 4 held-out pairs")
    bleu_lines = [line for line in result.lines if line.startswith("    BLEU ")]
    assert len(bleu_lines) == 3  # steps 0, 6 and 12
    assert all("on 4 held-out pairs (greedy; nrefs:1|case:mixed|eff:no|tok:13a" in line
               for line in bleu_lines)
    assert ", BLEU " in result.lines[-1] and ", chrF " in result.lines[-1]
    model, source, target = load_translator(tmp_path / "m.npz")
    assert isinstance(source, SubwordTokenizer) and source == target
    assert model.config.share_embeddings and model.src_embedding is model.tgt_embedding
    _, meta = load_checkpoint(tmp_path / "m.npz")
    assert "src_embedding.W" not in load_checkpoint(tmp_path / "m.npz")[0]  # stored once
    assert meta["settings"]["source_file"] == str(german)


def test_translate_reads_stdin_and_eval_scores_two_files(files, tmp_path, monkeypatch):
    pytest.importorskip("sacrebleu")
    assert train(files, tmp_path, "--quiet").code == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("Zwei Hunde.\n\nEin Mann.\n"))
    translated = run("translate", "--checkpoint", tmp_path / "m.npz")
    assert translated.code == 0, translated.err
    assert len(translated.lines) == 2  # the blank line is skipped
    german = write_lines(tmp_path / "test.de", GERMAN[4:7])
    english = write_lines(tmp_path / "test.en", ENGLISH[4:7])
    evaluated = run("eval", "translate", "--checkpoint", tmp_path / "m.npz", "--source-file",
                    german, "--target-file", english, "--checks", "off")
    assert evaluated.code == 0, evaluated.err
    assert evaluated.lines[0] == (f"evaluating {tmp_path / 'm.npz'} on 3 pairs: {german} and "
                                  f"{english} (greedy)")
    assert evaluated.lines[-2].startswith("BLEU signature nrefs:1|")
    assert evaluated.lines[-1].startswith("exact match 0.0000 (0/3), chrF ")
    assert_fails(run("eval", "translate", "--checkpoint", tmp_path / "m.npz", "--source-file",
                     german), 2, "--source-file and --target-file go together")


def test_a_token_budget_trains_and_a_budget_below_the_longest_pair_is_refused(files, tmp_path):
    assert train(files, tmp_path, "--batch-tokens", "64", "--quiet").code == 0
    assert_fails(train(files, tmp_path, "--batch-tokens", "3"), 1,
                 "batch_tokens 3 cannot hold the longest pair")


def test_a_bpe_run_resumed_after_ctrl_c_matches_the_uninterrupted_run(files, tmp_path,
                                                                      monkeypatch):
    german, english, val = files
    args = ["train", "translate", "--source-file", german, "--target-file", english, "--val",
            val, *SMALL, "--dropout", "0.1", "--batch-tokens", "64"]
    full = run(*args, "--save", tmp_path / "full.npz")
    assert full.code == 0, full.err
    step, calls = optim.AdamW.step, {"n": 0}

    def step_then_interrupt(self):
        calls["n"] += 1
        if calls["n"] == 7:
            signal.raise_signal(signal.SIGINT)  # arrives before the update below
        step(self)
    monkeypatch.setattr(optim.AdamW, "step", step_then_interrupt)
    assert run(*args, "--save", tmp_path / "part.npz").code == 130
    monkeypatch.setattr(optim.AdamW, "step", step)
    resumed = run("train", "translate", "--resume", tmp_path / "part.npz",
                  "--save", tmp_path / "resumed.npz")
    assert resumed.code == 0, resumed.err
    assert resumed.lines[-1] == full.lines[-1]
    full_arrays, _ = load_checkpoint(tmp_path / "full.npz")
    resumed_arrays, _ = load_checkpoint(tmp_path / "resumed.npz")
    for name in full_arrays:
        assert np.array_equal(full_arrays[name], resumed_arrays[name]), name


def test_the_sources_of_pairs_exclude_each_other(files, tmp_path):
    german, english, val = files
    assert_fails(run("train", "translate", "--source-file", german, "--checks", "off"), 2,
                 "--source-file and --target-file go together")
    assert_fails(run("train", "translate", "--data", val, "--source-file", german,
                     "--target-file", english), 2,
                 "--data and --source-file both give the training pairs; give one")
    assert_fails(run("train", "translate", "--corpus", "multi30k", "--pair", "de-ja"), 2,
                 "--pair: multi30k: a pair is two of en, de, fr, cs")
    assert_fails(run("train", "translate", "--pair", "cs-en"), 2,
                 "--pair cs-en: the bundled numbers are in en, fr, de, ja; for other "
                 "languages give --corpus")


@pytest.mark.parametrize("damage, fragments", [
    (lambda lines: lines[:-1], ("train.de has 29 lines but", "train.en 30")),
    (lambda lines: lines[:4] + ["Ein\tMann."] + lines[5:], ("train.de, line 5: a tab inside",)),
    (lambda lines: lines[:6] + [""] + lines[7:], ("train.de, line 7: the line is empty",)),
])
def test_bad_parallel_files_are_named_by_file_and_line(files, tmp_path, damage, fragments):
    _, english, val = files
    german = write_lines(tmp_path / "train.de", damage(GERMAN * 3))
    result = run("train", "translate", "--source-file", german, "--target-file", english,
                 "--val", val, *SMALL, "--save", tmp_path / "bad.npz")
    assert_fails(result, 1, *fragments)
    assert not (tmp_path / "bad.npz").exists()


def test_bytes_that_are_not_utf8_are_named_by_file_and_line(files, tmp_path):
    _, english, val = files
    german = tmp_path / "latin1.de"
    german.write_bytes("\n".join(GERMAN * 3).encode("latin-1"))
    assert_fails(run("train", "translate", "--source-file", german, "--target-file", english,
                     "--val", val, *SMALL), 1,
                 "latin1.de, line 2: not UTF-8 text (byte 0xe4)")


def test_unknown_characters_of_the_held_out_pairs_are_counted(files, tmp_path):
    german, english, _ = files
    val = tmp_path / "odd.tsv"
    val.write_text("Zwei Hunde spielen im Schnee 😀.\tTwo dogs play in the snow.\n",
                   encoding="utf-8")
    result = run("train", "translate", "--source-file", german, "--target-file", english,
                 "--val", val, *SMALL)
    assert result.code == 0, result.err
    assert ("the held-out pairs hold 1 character(s) the vocabulary lacks, read as <unk>"
            in result.lines)


def test_a_translator_saved_before_bpe_still_evaluates_on_its_held_out_pairs():
    result = run("eval", "translate", "--checkpoint", "docs/assets/numbers_en_ja.npz",
                 "--checks", "off")
    assert result.code == 0, result.err
    # its record, docs/assets/numbers_en_ja.json, says 0.999
    assert result.lines[-1].startswith("exact match 0.9990 (999/1,000)")


def test_a_gpt_checkpoint_is_not_a_translator(tmp_path):
    gpt = tmp_path / "g.npz"
    assert run("train", "gpt", "--preset", "tiny", "--iters", "12", "--checks", "off",
               "--quiet", "--save", gpt).code == 0
    assert_fails(run("translate", "--checkpoint", gpt, "Ein Hund."), 1,
                 "holds a 'gpt' model, not a translator")


def test_text_the_vocabulary_lacks_is_counted_and_a_sentence_too_long_is_named(files, tmp_path,
                                                                               monkeypatch):
    assert train(files, tmp_path, "--quiet", "--max-len", "40").code == 0
    translated = run("translate", "--checkpoint", tmp_path / "m.npz", "Zwei Hunde 😀 ☃.")
    assert translated.code == 0, translated.err
    assert translated.err == ("note: 2 character(s) of the text are not in the model's "
                              "vocabulary; each was read as <unk>\n")
    german = write_lines(tmp_path / "long.de", ["Ein Hund.", " ".join(GERMAN)])
    english = write_lines(tmp_path / "long.en", ["A dog.", "Many dogs."])
    assert_fails(run("eval", "translate", "--checkpoint", tmp_path / "m.npz", "--source-file",
                     german, "--target-file", english, "--checks", "off"), 1,
                 f"{german} and {english}: translate: 'Zwei Hunde spielen im Schnee. Ein "
                 f"Mann f' is ", "tokens long, but the model reads at most max_len = 40 "
                 "(sentence 2)")


def test_the_attention_figure_of_a_bpe_translator_labels_its_pieces(files, tmp_path):
    from shapesafe_nn.pictures import png

    if not png.matplotlib_available():
        pytest.skip("the plot extra (matplotlib)")
    assert train(files, tmp_path, "--quiet").code == 0
    model, source, target = load_translator(tmp_path / "m.npz")
    figure = png.translation_attention_figure(model, source, target, "Zwei Männer spielen.")
    encoder = next(ax for ax in figure.axes if ax.get_title() == "encoder.0.attn, head 0")
    labels = [label.get_text() for label in encoder.get_xticklabels()]
    assert labels == source.pieces("Zwei Männer spielen.") and labels[0] == "▁Zwei"


def test_attention_layer_draws_that_layer_alone_and_names_the_others(files, tmp_path):
    from shapesafe_nn.pictures import png

    if not png.matplotlib_available():
        pytest.skip("the plot extra (matplotlib)")
    assert train(files, tmp_path, "--quiet").code == 0
    model, source, target = load_translator(tmp_path / "m.npz")
    figure = png.translation_attention_figure(model, source, target, "Zwei Männer spielen.",
                                              layer="decoder.0.cross_attn")
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == [f"decoder.0.cross_attn, head {h}" for h in range(model.config.n_head)]
    result = run("attention", "--checkpoint", tmp_path / "m.npz", "--layer", "decoder.9.attn",
                 "--out", tmp_path / "a.png")
    assert_fails(result, 1, "layer 'decoder.9.attn': the model's attention layers are "
                            "encoder.0.attn, decoder.0.self_attn, decoder.0.cross_attn")
    assert not (tmp_path / "a.png").exists()


def test_a_run_saved_before_these_settings_resumes_on_the_bundled_numbers(tmp_path,
                                                                          monkeypatch):
    """A checkpoint whose settings lack vocab_size, batch_tokens, source_file,
    target_file, corpus and norm_type (as every run saved before them) resumes
    with the values those runs had, and ends as the run that never stopped."""
    from shapesafe_nn.saving.checkpoint import save_checkpoint

    args = ["train", "translate", "--preset", "tiny", "--steps", "12", "--eval-interval", "6",
            "--checks", "off", "--quiet"]
    full = run(*args, "--save", tmp_path / "full.npz")
    step, calls = optim.AdamW.step, {"n": 0}

    def step_then_interrupt(self):
        calls["n"] += 1
        if calls["n"] == 7:
            signal.raise_signal(signal.SIGINT)
        step(self)
    monkeypatch.setattr(optim.AdamW, "step", step_then_interrupt)
    assert run(*args, "--save", tmp_path / "part.npz").code == 130
    monkeypatch.setattr(optim.AdamW, "step", step)
    arrays, meta = load_checkpoint(tmp_path / "part.npz")
    for name in ("vocab_size", "batch_tokens", "source_file", "target_file", "corpus",
                 "norm_type"):
        del meta["settings"][name]
    del meta["config"]["norm_type"]
    save_checkpoint(tmp_path / "old.npz", arrays, meta)
    resumed = run("train", "translate", "--resume", tmp_path / "old.npz", "--quiet")
    assert resumed.code == 0, resumed.err
    assert resumed.lines[-1] == full.lines[-1]
