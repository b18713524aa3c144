"""Plots: each draws a valid, non-blank PNG of the stated size, from Python and from the CLI.

Sizes are the figure size in inches times ``png.DPI`` (100), read back from
the PNG's IHDR chunk.  Without matplotlib (simulated by making its import
fail) every plot command exits 1 with one line naming the extra to install,
before doing any work.
"""

import builtins
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run

from shapesafe_nn.data import CharTokenizer, load_bundled, load_text
from shapesafe_nn.layers.attention import MASKS
from shapesafe_nn.models import GPT, GPTConfig, Network
from shapesafe_nn.pictures import png
from shapesafe_nn.training.trainer import EpochRecord, EvalRecord, History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# drawing needs the plot extra; the tests of its absence at the end run everywhere
draws = pytest.mark.skipif(not png.matplotlib_available(), reason="the plot extra (matplotlib)")




def assert_png(path: Path, width: int, height: int) -> None:
    """A PNG of width × height pixels, not all one colour."""
    from matplotlib.image import imread

    header = Path(path).read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE and header[12:16] == b"IHDR", header
    assert struct.unpack(">II", header[16:24]) == (width, height)
    pixels = imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].var() > 0  # something is drawn


# ---------------------------------------------------------------------------
# Real data and trained models, made once
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """An MLP and a GPT trained by the CLI for a moment, with their --json files."""
    folder = tmp_path_factory.mktemp("viz")
    x, y = load_bundled()
    np.savez(folder / "digits.npz", x=x[::25], y=y[::25])  # 200 real digits, 20 of each
    (folder / "text.txt").write_text(load_text()[:4000], encoding="utf-8")
    code, _, err = run("train", "mlp", "--data", folder / "digits.npz", "--holdout", 60,
                       "--epochs", 2, "--sizes", "784,12,10", "--quiet",
                       "--save", folder / "mlp.npz", "--json", folder / "mlp.json")
    assert code == 0, err
    code, _, err = run("train", "gpt", "--preset", "tiny", "--data", folder / "text.txt",
                       "--iters", 4, "--warmup", 1, "--eval-interval", 2, "--eval-iters", 1,
                       "--block-size", 16, "--quiet", "--save", folder / "gpt.npz",
                       "--json", folder / "gpt.json")
    assert code == 0, err
    return {name: folder / name
            for name in ("digits.npz", "text.txt", "mlp.npz", "mlp.json", "gpt.npz", "gpt.json")}


def tiny_gpt() -> tuple[GPT, CharTokenizer]:
    tokenizer = CharTokenizer.from_text("abcdefgh ")
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=12, n_layer=3, n_head=2,
                          d_model=8))
    return model, tokenizer


# ---------------------------------------------------------------------------
# The functions
# ---------------------------------------------------------------------------
@draws
def test_positions(tmp_path):
    out = png.plot_positions(64, 128, tmp_path / "positions.png")
    assert out == tmp_path / "positions.png"
    assert_png(out, 1000, 500)


@draws
@pytest.mark.parametrize("mask", MASKS)
def test_every_mask_is_drawn_with_its_hidden_cells_marked(mask, tmp_path):
    figure = png.mask_figure(5, mask)
    ax = figure.axes[0]
    # white (1) where a query may attend, and -∞ written in every hidden cell
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), ~MASKS[mask](5))
    marked = {(round(text.get_position()[1]), round(text.get_position()[0]))
              for text in ax.texts if text.get_text() == "-∞"}
    assert marked == {(int(t), int(s)) for t, s in zip(*np.nonzero(MASKS[mask](5)))}
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("query position t (q_seq)",
                                                  "key position s (kv_seq)")
    assert ax.get_title().startswith(f"{mask!r} mask, seq = 5")
    assert_png(png.plot_mask(8, tmp_path / "mask.png", mask), 600, 500)
    assert_png(png.plot_mask(40, tmp_path / "long.png", mask), 600, 500)  # no cell labels


@draws
def test_the_anti_causal_mask_hides_the_lower_left():
    """The seed's question, "what if the lower left were -∞?", as a picture."""
    hidden = png.mask_figure(4, "anti_causal").axes[0].get_images()[0].get_array() == 0
    assert hidden[3, 0] and not hidden[0, 3] and not hidden.diagonal().any()


@draws
def test_a_mask_that_does_not_exist_or_an_empty_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="seq must be at least 1"):
        png.plot_mask(0, tmp_path / "none.png")
    with pytest.raises(ValueError, match="mask must be one of causal, none, anti_causal"):
        png.plot_mask(4, tmp_path / "m.png", "sideways")
    with pytest.raises(ValueError, match=r"m\.svg: these pictures are PNG images"):
        png.plot_mask(4, tmp_path / "m.svg")
    assert not list(tmp_path.iterdir())


@draws
def test_characters_no_font_has_give_one_warning_naming_the_font_package(tmp_path):
    """matplotlib warns once per missing character; the save says it once, with
    what to install.  DejaVu Sans alone is asked for: no installed font decides."""
    figure = png._figure(3.0, 2.0)
    figure.text(0.1, 0.5, "三十二万千 and 九百", fontfamily="DejaVu Sans")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png._save(figure, tmp_path / "kanji.png")
    assert [warning.category for warning in caught] == [png.MissingGlyphsWarning]
    message = str(caught[0].message)
    assert "no installed font has 三 十 二 万 千 and 2 more, drawn as empty boxes" in message
    assert message.endswith("(Debian, Ubuntu: apt install fonts-noto-cjk)")


@draws
def test_attention_grid_is_layers_by_heads(tmp_path):
    model, tokenizer = tiny_gpt()
    out = png.plot_attention(model, tokenizer, "a bad cafe", tmp_path / "attention.png")
    # 2 heads across and 3 layers down, 3 inches each, and the colour bar
    assert_png(out, 2 * 300 + 90, 3 * 300)
    assert model.training  # the mode it was in comes back
    weights = model.blocks[0].attn.attention_weights  # what was drawn: one prompt
    assert weights.shape == (1, 2, 10, 10)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)  # float32 softmax rows


@draws
def test_attention_of_one_layer_is_one_row_of_heads(tmp_path):
    model, tokenizer = tiny_gpt()
    out = png.plot_attention(model, tokenizer, "a bad cafe", tmp_path / "attention.png",
                             layer="blocks.1.attn")
    assert_png(out, 2 * 300 + 90, 1 * 300)  # 2 heads across, the one layer down
    with pytest.raises(ValueError, match=r"layer 'blocks.3.attn': the model's attention "
                                         r"layers are blocks.0.attn, blocks.1.attn, "
                                         r"blocks.2.attn$"):
        png.attention_figure(model, tokenizer, "a bad cafe", layer="blocks.3.attn")


PIZZA = "The pizza came out of the oven and it tasted good"  # page 4's 49 characters


@draws
def test_attention_labels_every_character_of_a_long_prompt_readably(tmp_path):
    tokenizer = CharTokenizer.from_text(PIZZA)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=64, n_layer=2, n_head=3,
                          d_model=12))
    figure = png.attention_figure(model, tokenizer, PIZZA)
    pictures = [ax for ax in figure.axes if ax.get_images()]
    corner = pictures[3]  # row 1, column 0: the outer picture that shows both axes' labels
    for labels in (corner.get_xticklabels(), corner.get_yticklabels()):
        assert "".join(label.get_text() for label in labels) == PIZZA.replace(" ", "␣")
        assert all(label.get_fontsize() >= 7 for label in labels)
    # the pictures grow to 0.1 inch a character instead: 4.9 inches for 49
    assert_png(png.plot_attention(model, tokenizer, PIZZA, tmp_path / "pizza.png"),
               3 * 490 + 90, 2 * 490)
    assert figure.get_suptitle() == f"attention weights for {PIZZA!r}"  # wide enough: whole


@draws
def test_attention_axes_are_named_by_the_dims_of_the_attention_core():
    model, tokenizer = tiny_gpt()
    figure = png.attention_figure(model, tokenizer, "a bad cafe")
    pictures = [ax for ax in figure.axes if ax.get_images()]
    assert {ax.get_ylabel() for ax in pictures[::2]} == {"query position (q_seq)"}
    assert {ax.get_xlabel() for ax in pictures[-2:]} == {"key position (kv_seq)"}


@draws
def test_attention_has_one_colour_bar_for_the_weights():
    model, tokenizer = tiny_gpt()
    figure = png.attention_figure(model, tokenizer, "a bad cafe")
    bars = [ax for ax in figure.axes if ax.get_ylabel() == "attention weight"]
    assert len(bars) == 1
    assert bars[0].get_ylim() == (0.0, 1.0)  # every picture's scale: weights are 0 to 1


@draws
def test_a_title_too_long_for_the_figure_ends_with_an_ellipsis():
    tokenizer = CharTokenizer.from_text("abcdefgh ")
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=64, n_layer=1,
                          n_head=1, d_model=8))
    prompt = "abc defgh " * 5
    title = png.attention_figure(model, tokenizer, prompt).get_suptitle()
    shown = title.removeprefix("attention weights for '").removesuffix("'")
    assert shown.endswith("…") and prompt.startswith(shown[:-1]), title
    assert len(title) <= 12 * (5.0 + 0.9)  # 12 characters an inch: the figure's width


@draws
def test_attention_refuses_prompts_the_model_cannot_read(tmp_path):
    model, tokenizer = tiny_gpt()
    with pytest.raises(ValueError, match="'z' at position 1 is not in the vocabulary"):
        png.plot_attention(model, tokenizer, "az", tmp_path / "a.png")
    with pytest.raises(ValueError, match="the prompt has 13 characters; give 1 to 12"):
        png.plot_attention(model, tokenizer, "a" * 13, tmp_path / "a.png")
    with pytest.raises(ValueError, match="the prompt has 0 characters"):
        png.plot_attention(model, tokenizer, "", tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()


@draws
def test_curves_from_both_trainers(tmp_path):
    history = History([EpochRecord(0, 0.3, 700, 1000), EpochRecord(1, 0.2, 800, 1000)])
    assert_png(png.plot_curves(history, tmp_path / "mlp.png"), 1000, 400)
    without_test = History([EpochRecord(0, 0.3, None, None)])
    assert_png(png.plot_curves(without_test, tmp_path / "no-test.png"), 1000, 400)
    records = [EvalRecord(0, 4.2, 4.3, 1e-4), EvalRecord(50, 3.1, 3.3, 1e-3)]
    assert_png(png.plot_curves(records, tmp_path / "gpt.png"), 1000, 400)


@draws
def test_curves_from_the_json_files(files, tmp_path):
    for name in ("mlp.json", "gpt.json"):
        assert_png(png.plot_curves(files[name], tmp_path / f"{name}.png"), 1000, 400)


@draws
def test_curves_refuse_what_is_not_a_history(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match=f"{broken}: not JSON"):
        png.plot_curves(broken, tmp_path / "c.png")
    other = tmp_path / "other.json"
    other.write_text('{"history": [{"x": 1}]}')
    with pytest.raises(ValueError, match=f"{other}: no training history in it"):
        png.plot_curves(other, tmp_path / "c.png")
    with pytest.raises(ValueError, match="give a History"):
        png.plot_curves([], tmp_path / "c.png")


@draws
def test_mnist_errors_shows_each_wrong_digit(tmp_path):
    x, y = load_bundled()
    x, y = x[::100], y[::100]  # 50 real digits
    model = Network([784, 10, 10])  # untrained: reads most of them wrongly
    wrong = int(np.sum(model.predict(x / 255.0) != y))
    assert wrong >= 36  # enough to fill the 6 × 6 grid
    assert_png(png.plot_mnist_errors(model, x, y, tmp_path / "errors.png"), 750, 6 * 125 + 50)
    assert_png(png.plot_mnist_errors(model, x, y, tmp_path / "few.png", max_digits=8),
               750, 2 * 125 + 50)
    # labels equal to the predictions: nothing wrong, one empty cell and the title
    right = model.predict(x / 255.0)
    assert_png(png.plot_mnist_errors(model, x, right, tmp_path / "none.png"), 500, 175)


@draws
def test_mnist_weights_one_image_per_neuron(tmp_path):
    assert_png(png.plot_mnist_weights(Network([784, 30, 10]), tmp_path / "w.png"),
               6 * 125, 5 * 125 + 50)  # 30 neurons: 6 across, 5 down
    assert_png(png.plot_mnist_weights(Network([784, 4, 10]), tmp_path / "w4.png"),
               500, 2 * 125 + 50)
    with pytest.raises(ValueError, match="a Dense layer reading 784 pixels"):
        png.plot_mnist_weights(Network([20, 4, 10]), tmp_path / "w20.png")


# ---------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------
@draws
@pytest.mark.parametrize("argv, size", [
    (["plot", "positions", "--max-len", 16, "--d-model", 8], (1000, 500)),
    (["plot", "mask", "--seq", 5], (600, 500)),
    (["plot", "mask", "--mask", "anti_causal", "--seq", 5], (600, 500)),
    (["plot", "mask", "--mask", "none"], (600, 500)),
    (["plot", "curves", "--json", "mlp.json"], (1000, 400)),
    (["plot", "curves", "--json", "gpt.json"], (1000, 400)),
    (["plot", "mnist-errors", "--checkpoint", "mlp.npz"], (750, 6 * 125 + 50)),
    (["plot", "mnist-errors", "--checkpoint", "mlp.npz", "--data", "digits.npz"],
     (750, 6 * 125 + 50)),
    (["plot", "mnist-weights", "--checkpoint", "mlp.npz"], (500, 3 * 125 + 50)),
    (["attention", "--checkpoint", "gpt.npz", "--prompt", "To be"], (2 * 300 + 90, 2 * 300)),
])
def test_plot_commands_write_their_png(files, tmp_path, argv, size):
    argv = [files.get(arg, arg) if isinstance(arg, str) else arg for arg in argv]
    out = tmp_path / "picture.png"
    code, stdout, err = run(*argv, "--out", out)
    assert code == 0, err
    assert stdout == f"wrote {out}\n"
    assert_png(out, *size)


@draws
@draws
def test_train_mlp_plot_draws_the_curves(files, tmp_path):
    out = tmp_path / "curves.png"
    code, stdout, err = run("train", "mlp", "--data", files["digits.npz"], "--holdout", 60,
                            "--epochs", 2, "--sizes", "784,12,10", "--plot", out)
    assert code == 0, err
    assert f"wrote {out}\n" in stdout
    assert_png(out, 1000, 400)


@pytest.mark.parametrize("argv", [["plot", "mask"], ["plot", "positions"],
                                  ["attention", "--checkpoint", "gpt.npz"],
                                  ["train", "mlp", "--epochs", 1, "--plot"]])
def test_a_picture_named_other_than_png_is_refused_before_any_work(files, tmp_path, argv):
    argv = [files.get(arg, arg) if isinstance(arg, str) else arg for arg in argv]
    out = tmp_path / "m.svg"
    code, stdout, err = run(*argv, out) if argv[-1] == "--plot" else run(*argv, "--out", out)
    assert code == 1 and stdout == ""
    flag = "--plot" if argv[-1] == "--plot" else "--out"
    assert err == f"shapesafe-nn: error: {flag} {out}: plots are PNG images; name a .png file\n"
    assert not out.exists()


def test_a_warning_while_drawing_prints_as_one_line(capsys):
    from shapesafe_nn.cli.inspect import warnings_in_one_line

    def draws_kanji(args) -> int:
        warnings.warn("no installed font has 三", png.MissingGlyphsWarning)
        return 0

    assert warnings_in_one_line(draws_kanji)(None) == 0
    assert capsys.readouterr().err == "shapesafe-nn: warning: no installed font has 三\n"


def test_plot_commands_report_bad_input_in_one_line(files, tmp_path):
    for argv, fragment in (
            (["attention", "--checkpoint", files["gpt.npz"], "--prompt", "~"], "'~'"),
            (["attention", "--checkpoint", files["mlp.npz"]], "not a gpt"),
            (["plot", "curves", "--json", tmp_path / "missing.json"], "missing.json"),
            (["plot", "mnist-weights", "--checkpoint", files["gpt.npz"]], "not an mlp")):
        code, _, err = run(*argv, "--out", tmp_path / "x.png")
        assert code == 1 and err.startswith("shapesafe-nn: error: ") and err.count("\n") == 1
        assert fragment in err, err
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------------------
# Without matplotlib
# ---------------------------------------------------------------------------
@pytest.fixture
def no_matplotlib(monkeypatch):
    """Every ``import matplotlib...`` fails, as where the plot extra is not installed."""
    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)


def test_functions_say_which_extra_to_install(no_matplotlib, tmp_path):
    assert not png.matplotlib_available()
    with pytest.raises(ModuleNotFoundError, match=r'pip install "shapesafe_nn\[plot\]"'):
        png.plot_mask(4, tmp_path / "mask.png")
    assert not (tmp_path / "mask.png").exists()


@pytest.mark.parametrize("argv", [
    ["plot", "positions"], ["plot", "mask"], ["plot", "curves", "--json", "m.json"],
    ["plot", "mnist-errors", "--checkpoint", "mlp.npz"],
    ["plot", "mnist-weights", "--checkpoint", "mlp.npz"],
    ["attention", "--checkpoint", "gpt.npz"],
    ["train", "mlp", "--epochs", 1, "--quiet", "--plot"],
])
def test_commands_without_matplotlib_exit_1_naming_the_extra(no_matplotlib, tmp_path, argv):
    # the files named do not exist: reading one would fail with another message
    argv = [tmp_path / arg if str(arg).endswith((".npz", ".json")) else arg for arg in argv]
    out = tmp_path / "picture.png"
    code, stdout, err = run(*argv, out) if argv[-1] == "--plot" else run(*argv, "--out", out)
    assert code == 1
    assert err == f"shapesafe-nn: error: {png.MISSING}\n"
    assert 'pip install "shapesafe_nn[plot]"' in err
    assert stdout == ""  # refused before any work: no training, no loading
    assert not out.exists()
