"""Pictures of what a model holds and learns, saved as PNG files.

Each function draws one figure with matplotlib's Agg renderer (no window, no
pyplot state: it works on a server and in tests) and returns the saved
path:

- :func:`plot_attention`: the attention weights of every head of every layer
  for one prompt (rows: layers; columns: heads); :func:`attention_figure`
  gives the same figure unsaved;
- :func:`plot_translation_attention`: a translator's encoder, decoder and
  cross-attention for one sentence;
- :func:`plot_positions`: the sinusoidal position table of Vaswani et al.;
- :func:`plot_mask`: which positions each position may attend to, for each
  mask in :data:`~shapesafe_nn.layers.attention.MASKS` (:func:`mask_figure`
  unsaved);
- :func:`plot_curves`: loss (and accuracy) during training;
- :func:`plot_mnist_errors`: the test digits the network reads wrongly;
- :func:`plot_mnist_weights`: each first-layer neuron's weights as a 28×28 image.

matplotlib is the ``plot`` extra (``pip install "shapesafe_nn[plot]"``),
imported only when a figure is drawn: the rest of the package never needs it.

A label in a script that no installed font has (the kanji of a Japanese
translation, where only matplotlib's own DejaVu Sans is installed) is drawn
as an empty box; instead of matplotlib's warning for each such character,
saving gives one :class:`MissingGlyphsWarning` that names the font package
to install.
"""

import json
import math
import os
import re
import warnings
from pathlib import Path

import numpy as np

from ..data.mnist import PIXELS, SIDE, to_inputs
from ..data.text import CharTokenizer
from ..layers.attention import MASKS, Attention
from ..layers.positional_encoding import sinusoid_table
from ..core import Array, Module
from ..core import no_grad
from ..saving.files import writing_atomically
from ..training.trainer import EvalRecord, History

INSTALL_HINT = 'pip install "shapesafe_nn[plot]"'
MISSING = f"plots need matplotlib, which is not installed: {INSTALL_HINT}"
DPI = 100  # figure sizes below are multiples of 1/4 inch: whole pixels at this DPI
ATTENTION_CELL = 3.0  # inches per head's picture, at least
CHAR_PITCH = 0.1  # inches per character of the prompt in a picture: room for a TICK_FONT label
TICK_FONT = 7  # points
COLORBAR_WIDTH = 0.9  # inches, with its label
TITLE_CHARS_PER_INCH = 12  # characters of a 12-point title in an inch of figure, about
DIGIT_CELL = 1.25  # inches per 28×28 image
MIN_WIDTH = 5.0  # inches: room for a grid's title, however few the images
# Fonts with kanji, tried after matplotlib's own DejaVu Sans, which has none: a
# Japanese token is drawn in the first one installed, else as an empty box.
KANJI_FONTS = ("IPAGothic", "IPAPGothic", "Noto Sans CJK JP", "Noto Sans CJK SC")
# The Debian (and Ubuntu) package a MissingGlyphsWarning names: Noto's CJK fonts
# draw Japanese, Chinese and Korean, and give the families KANJI_FONTS looks for
CJK_FONT_PACKAGE = "fonts-noto-cjk"
# matplotlib's warning for a character no font of a text has
MISSING_GLYPH = re.compile(r"Glyph (\d+) \(.*\) missing from font\(s\)")


class MissingGlyphsWarning(UserWarning):
    """Some characters of a picture's labels are in no installed font: they show as boxes."""


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported (the ``plot`` extra is installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float):
    """A matplotlib Figure of ``width`` × ``height`` inches on an Agg canvas."""
    if not matplotlib_available():
        raise ModuleNotFoundError(MISSING, name="matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, out) -> Path:
    """Save ``figure`` as a PNG at ``out``, which must end in ``.png``; matplotlib's
    warnings about characters no font has become one MissingGlyphsWarning."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"{out}: these pictures are PNG images; name a .png file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with writing_atomically(out) as file:  # a full disk or Ctrl-C leaves the old picture
            figure.savefig(file, format="png")
    missing = []
    for warning in caught:
        glyph = MISSING_GLYPH.search(str(warning.message))
        if glyph is None:  # any other warning goes on as it came
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
        elif chr(int(glyph[1])) not in missing:
            missing.append(chr(int(glyph[1])))
    if missing:
        shown = " ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                         else "")
        warnings.warn(f"{out}: no installed font has {shown}, drawn as empty boxes; install "
                      f"one that does (Debian, Ubuntu: apt install {CJK_FONT_PACKAGE})",
                      MissingGlyphsWarning, stacklevel=3)
    return out


def _grid(count: int, columns: int) -> tuple[int, int]:
    """(rows, columns) for ``count`` pictures, at most ``columns`` to a row."""
    columns = max(1, min(columns, count))
    return math.ceil(count / columns), columns


# ---------------------------------------------------------------------------
# Transformer pictures
# ---------------------------------------------------------------------------
def _shortened(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= width else text[:width - 1] + "…"


def _char_label(char: str) -> str:
    """A tick label that shows a character, also an invisible one."""
    return {" ": "␣", "\n": "\\n", "\t": "\\t"}.get(char, char)


def plot_attention(model: Module, tokenizer: CharTokenizer, prompt: str, out,
                   layer: str | None = None) -> Path:
    """The attention weights of every head of every attention layer (or of
    ``layer`` alone), for ``prompt``.

    Saves :func:`attention_figure` as a PNG at ``out`` and returns the path.
    """
    return _save(attention_figure(model, tokenizer, prompt, layer), out)


def attention_layers(model: Module, layer: str | None = None) -> list[tuple[str, Array]]:
    """``(name, weights)`` of each attention layer that kept its weights, for
    the first example: weights (n_heads, q_seq, kv_seq).  Each layer keeps
    them in its core, ``attend``, and is named by the layer (``blocks.0.attn``).
    ``layer`` keeps that one alone; a name the model lacks is a ValueError
    naming those it has."""
    layers = [(name.removesuffix(".attend"), module.attention_weights[0])
              for name, module in model.named_modules()
              if isinstance(module, Attention) and module.attention_weights is not None]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no attention layer")
    if layer is None:
        return layers
    chosen = [(name, weights) for name, weights in layers if name == layer]
    if not chosen:
        raise ValueError(f"layer {layer!r}: the model's attention layers are "
                         f"{', '.join(name for name, _ in layers)}")
    return chosen


def attention_figure(model: Module, tokenizer: CharTokenizer, prompt: str,
                     layer: str | None = None):
    """The figure :func:`plot_attention` saves (a matplotlib ``Figure``), to look at in Python.

    Runs ``model.forward`` on the prompt's ids (1, seq) in eval mode, then
    reads each attention layer's ``attention_weights`` (n_heads, seq, seq)
    for that one example.  Row ``t`` of a picture is the query at position
    ``t``; its colours say how much it takes from each key position ``s``
    (each row sums to 1; with the causal mask, everything above the diagonal
    is 0: the future it may not see).  The axes are named by the attention
    core's dims: rows ``q_seq``, columns ``kv_seq`` (both the prompt's
    ``seq`` in a GPT).

    Grid: one row per attention layer (``blocks.0.attn``, ...; ``layer``
    alone, if given), one column per head, and a colour bar for the weights
    (0 to 1) on the right.  Every character of the prompt labels its row and
    column (a space shows as ␣), so each picture is ``ATTENTION_CELL``
    inches square, or ``CHAR_PITCH``
    per character for a longer prompt: 4.9 inches for 49 characters.  A
    prompt too long for the title is cut there, with an ellipsis.
    """
    ids = tokenizer.encode(prompt)  # an unknown character: a ValueError naming it
    block_size = getattr(getattr(model, "config", None), "block_size", len(ids))
    if not 1 <= len(ids) <= block_size:
        raise ValueError(f"plot_attention: the prompt has {len(ids)} characters; give 1 to "
                         f"{block_size} (the model's block_size)")
    was_training = model.training
    model.eval()  # no dropout: the weights the model would use to predict
    try:
        with no_grad():  # only looked at: keep no records for a backward
            model.forward(ids[None, :])
    finally:
        model.train(was_training)
    layers = attention_layers(model, layer)
    # a single head's weights are (seq, seq): give them a heads axis of 1
    layers = [(name, weights if weights.ndim == 3 else weights[None]) for name, weights in layers]
    heads = max(weights.shape[0] for _, weights in layers)
    # every character gets its own labelled row and column, at least CHAR_PITCH
    # apart: a long prompt makes the pictures larger, not the labels smaller
    cell = max(ATTENTION_CELL, len(ids) * CHAR_PITCH)
    figure = _figure(heads * cell + COLORBAR_WIDTH, len(layers) * cell)
    # shared axes: the characters label the outer pictures only (laying out tick
    # labels is what makes a figure slow, and the inner ones would repeat them)
    axes = figure.subplots(len(layers), heads, squeeze=False, sharex=True, sharey=True)
    labels = [_char_label(char) for char in prompt]
    positions = np.arange(len(labels))
    axes[0, 0].set_xticks(positions, labels, fontfamily="monospace")
    axes[0, 0].set_yticks(positions, labels, fontfamily="monospace")
    for row, (name, weights) in enumerate(layers):
        for head, ax in enumerate(axes[row]):
            if head < weights.shape[0]:
                image = ax.imshow(weights[head], cmap="viridis", vmin=0.0, vmax=1.0)
                ax.set_title(f"{name}, head {head}", fontsize=9)
            else:  # a layer with fewer heads than the widest
                ax.set_axis_off()
        axes[row, 0].set_ylabel("query position (q_seq)")
    for ax in axes[-1]:
        ax.set_xlabel("key position (kv_seq)")
    for ax in axes.flat:
        ax.tick_params(labelsize=TICK_FONT, length=2)
        ax.label_outer()
    # one scale for every picture: each image is drawn from 0 to 1, so the last one serves
    figure.colorbar(image, ax=axes, label="attention weight", aspect=50, pad=0.01)
    title = "attention weights for "
    room = int(TITLE_CHARS_PER_INCH * figure.get_figwidth()) - len(title) - 2  # 2 quotes
    figure.suptitle(title + repr(_shortened(prompt, room)))
    return figure


def plot_translation_attention(model, source, target, sentence: str, out,
                               layer: str | None = None) -> Path:
    """A translator's attention for one sentence, every layer (or ``layer``) and head.

    Saves :func:`translation_attention_figure` as a PNG at ``out`` and
    returns the path.
    """
    return _save(translation_attention_figure(model, source, target, sentence, layer), out)


def _label_fonts() -> list[str]:
    """Font families for text that may hold kanji: DejaVu Sans, then the
    installed ones of KANJI_FONTS (naming a missing one would make
    matplotlib warn on every label)."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *(name for name in KANJI_FONTS if name in installed)]


def translation_attention_figure(model, source, target, sentence: str,
                                 layer: str | None = None):
    """The figure :func:`plot_translation_attention` saves: the encoder's
    self-attention (src_seq × src_seq), the decoder's (tgt_seq × tgt_seq) and
    its cross-attention (tgt_seq × src_seq), one row per attention layer (or
    ``layer`` alone: ``decoder.2.cross_attn``) and one column per head.

    The model first translates ``sentence`` greedily; then one forward on
    the sentence and its translation (teacher forcing, eval mode) keeps each
    layer's weights.  A decoder row is labelled with the token it writes:
    row ``t`` reads BOS and the first t tokens and predicts token t + 1, so a
    cross-attention row shows which source words the decoder read to write
    that token: the alignment.  Each picture names its axes by the attention
    core's dims and the sentence they run along: rows ``q_seq``, columns
    ``kv_seq`` (``tgt_seq`` by ``src_seq`` in a cross-attention).
    """
    from ..models.decoding import greedy_decode

    src_ids = source.encode(sentence)[None]  # unknown words: a ValueError naming them
    if not 1 <= src_ids.shape[1] <= model.config.max_len:
        raise ValueError(f"plot_translation_attention: the sentence has {src_ids.shape[1]} "
                         f"tokens; give 1 to {model.config.max_len} (the model's max_len)")
    # BOS, the translation, EOS (or the maximum), with the target tokenizer's special ids
    written = greedy_decode(model, src_ids, specials=target.specials)[0]
    written = written[written != target.specials.pad]
    tgt_in = written[:-1] if written[-1] == target.specials.eos or len(written) > 1 else written
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model.forward(src_ids, tgt_in[None])
    finally:
        model.train(was_training)
    # a word, a character or a BPE piece ("▁Männer") per row and column
    src_labels = [_char_label(source.token_text(i)) for i in src_ids[0]]
    tgt_labels = [_char_label(target.token_text(i)) for i in written[1:len(tgt_in) + 1]]
    layers = attention_layers(model, layer)
    heads = max(weights.shape[0] for _, weights in layers)
    longest = max(len(src_labels), len(tgt_labels))
    cell = max(ATTENTION_CELL, longest * 2 * CHAR_PITCH)  # words are wider than characters
    figure = _figure(heads * cell + COLORBAR_WIDTH, len(layers) * cell)
    axes = figure.subplots(len(layers), heads, squeeze=False)
    fonts = _label_fonts()
    for row, (name, weights) in enumerate(layers):
        # the core's q_seq and kv_seq, named by the sentence each runs along
        q_seq = "src_seq" if name.startswith("encoder") else "tgt_seq"
        kv_seq = "tgt_seq" if name.endswith("self_attn") else "src_seq"
        queries = src_labels if q_seq == "src_seq" else tgt_labels
        keys = tgt_labels if kv_seq == "tgt_seq" else src_labels
        for head, ax in enumerate(axes[row]):
            image = ax.imshow(weights[head], cmap="viridis", vmin=0.0, vmax=1.0)
            ax.set_title(f"{name}, head {head}", fontsize=9)
            ax.set_xticks(np.arange(len(keys)), keys, rotation=90, fontfamily=fonts)
            ax.set_yticks(np.arange(len(queries)), queries if head == 0 else [],
                          fontfamily=fonts)
            ax.tick_params(labelsize=TICK_FONT, length=2)
            ax.set_xlabel(f"key (kv_seq = {kv_seq})", fontsize=8)
        axes[row, 0].set_ylabel(f"{'writes' if q_seq == 'tgt_seq' else 'reads'}: query "
                                f"(q_seq = {q_seq})")
    figure.colorbar(image, ax=axes, label="attention weight", aspect=50, pad=0.01)
    translation = target.decode(written)
    title = "attention for "
    room = int(TITLE_CHARS_PER_INCH * figure.get_figwidth()) - len(title) - 8
    figure.suptitle(title + _shortened(f"{sentence!r} -> {translation!r}", room),
                    fontfamily=fonts)
    return figure


def plot_positions(max_len: int, d_model: int, out) -> Path:
    """The sinusoidal position table PE (max_len, d_model) as a heat map.

    Row ``pos`` is what :class:`~shapesafe_nn.layers.SinusoidalPositionalEncoding`
    adds at position ``pos``.  Columns 2i and 2i+1 are a sine and a cosine of
    one frequency; the frequency falls from left to right, so the left
    columns change fast with position and the right ones barely move.
    """
    table = sinusoid_table(max_len, d_model, np.float64)
    figure = _figure(10.0, 5.0)
    ax = figure.subplots()
    image = ax.imshow(table, aspect="auto", cmap="RdBu", vmin=-1.0, vmax=1.0,
                      interpolation="nearest")
    figure.colorbar(image, ax=ax, label="PE[pos, column]")
    ax.set_xlabel("column (d_model): 2i = sin, 2i+1 = cos of pos / 10000^(2i/d_model)")
    ax.set_ylabel("position (max_len)")
    ax.set_title(f"sinusoidal positional encoding, max_len = {max_len}, d_model = {d_model}")
    return _save(figure, out)


def plot_mask(seq: int, out, mask: str = "causal") -> Path:
    """Saves :func:`mask_figure` as a PNG at ``out`` and returns the path."""
    return _save(mask_figure(seq, mask), out)


def mask_figure(seq: int, mask: str = "causal"):
    """One of the attention masks of :data:`~shapesafe_nn.layers.attention.MASKS`,
    (seq, seq): query ``t`` (row) may attend to key ``s`` (column) where it is white.

    The hidden cells, marked -∞, are those the attention sets to -∞ before
    the softmax: ``causal`` hides the future (s > t), ``anti_causal`` the
    past (s < t), and ``none`` nothing.
    """
    if mask not in MASKS:
        raise ValueError(f"plot_mask: mask must be one of {', '.join(MASKS)}, not {mask!r}")
    if seq < 1:
        raise ValueError(f"plot_mask: seq must be at least 1, not {seq}")
    hidden = MASKS[mask](seq)
    figure = _figure(6.0, 5.0)
    ax = figure.subplots()
    ax.imshow(~hidden, cmap="Greys_r", vmin=0, vmax=1)
    if seq <= 16:  # room to write in the cells
        for t, s in zip(*np.nonzero(hidden)):
            ax.text(s, t, "-∞", ha="center", va="center", color="white",
                    fontsize=10 if seq <= 8 else 7)
    ticks = np.arange(0, seq, math.ceil(seq / 16))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("key position s (kv_seq)")
    ax.set_ylabel("query position t (q_seq)")
    ax.set_title(f"{mask!r} mask, seq = {seq}: white = may attend, -∞ = hidden")
    return figure


# ---------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------
def _records(history) -> list[dict]:
    """Records as dicts: from a History, a list of EvalRecord, or a ``--json`` file."""
    if isinstance(history, History):
        return history.to_json()
    if isinstance(history, (str, os.PathLike)):
        path = Path(history)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not JSON ({error})") from None
        records = document.get("history") if isinstance(document, dict) else None
        if not records or not all(isinstance(record, dict) and ("epoch" in record or "step"
                                                                  in record)
                                  for record in records):
            raise ValueError(f"{path}: no training history in it; give the file that "
                             f"`shapesafe-nn train mlp|gpt --json` wrote")
        _refuse_records_without_curves(records, path)
        return records
    if history and all(isinstance(record, EvalRecord) for record in history):
        return [vars(record) for record in history]
    raise ValueError("plot_curves: give a History (train_classifier), a list of EvalRecord "
                     "(train_language_model), or the path of a --json file")


# What each kind of record must hold for its curves: a number, or null where
# a run had nothing to measure (no held-out digits: no accuracy)
CURVES = {"epoch": ("epoch", "train_loss", "accuracy"),
          "step": ("step", "train_loss", "val_loss", "lr")}
MAY_BE_NULL = {"accuracy"}


def _refuse_records_without_curves(records: list[dict], path: Path) -> None:
    """A ``--json`` file edited by hand, or cut short, is refused naming the record
    and the field, before anything is drawn; all records are of the first one's kind."""
    kind = "epoch" if "epoch" in records[0] else "step"
    for number, record in enumerate(records):
        missing = [key for key in CURVES[kind] if key not in record]
        if missing:
            raise ValueError(f"{path}: history record {number} has no "
                             f"{', '.join(missing)}; each {kind} record holds "
                             f"{', '.join(CURVES[kind])}")
        for key in CURVES[kind]:
            value = record[key]
            if not (isinstance(value, int | float) and not isinstance(value, bool)
                    or value is None and key in MAY_BE_NULL):
                raise ValueError(f"{path}: history record {number}: {key} is {value!r}, "
                                 f"not a number")


def plot_curves(history, out) -> Path:
    """Loss curves of a training run.

    ``history`` is what a trainer returned or the ``--json`` file a
    ``train`` command wrote:

    - Nielsen's network (a :class:`~shapesafe_nn.training.trainer.History`): the mean
      training cost per epoch, and the held-out accuracy if there was a test set;
    - the GPT (a list of :class:`~shapesafe_nn.training.trainer.EvalRecord`): train and
      val loss at each evaluation, and the learning rate of the schedule.
    """
    records = _records(history)
    figure = _figure(10.0, 4.0)
    loss_ax, other_ax = figure.subplots(1, 2)
    if "epoch" in records[0]:
        epochs = [record["epoch"] for record in records]
        loss_ax.plot(epochs, [record["train_loss"] for record in records], marker="o",
                     label="train cost")
        loss_ax.set_xlabel("epoch")
        accuracy = [record["accuracy"] for record in records]
        if all(value is not None for value in accuracy):
            other_ax.plot(epochs, accuracy, marker="o", color="tab:green")
            other_ax.set_title("held-out accuracy")
        else:
            other_ax.text(0.5, 0.5, "no held-out set", ha="center", va="center")
        other_ax.set_xlabel("epoch")
    else:
        steps = [record["step"] for record in records]
        for key in ("train_loss", "val_loss"):
            loss_ax.plot(steps, [record[key] for record in records], marker="o",
                         label=key.replace("_", " "))
        loss_ax.set_xlabel("step")
        other_ax.plot(steps, [record["lr"] for record in records], marker="o", color="tab:gray")
        other_ax.set_title("learning rate")
        other_ax.set_xlabel("step")
    loss_ax.set_title("loss")
    loss_ax.legend()
    return _save(figure, out)


# ---------------------------------------------------------------------------
# MNIST pictures
# ---------------------------------------------------------------------------
LABEL_ROWS = 9  # pixel rows above each 28×28 image in a montage, where its label goes


def _draw_montage(figure, images, labels: list[str], columns: int, **imshow) -> None:
    """``images`` (n, 28, 28) side by side, ``columns`` to a row, each under its label.

    One picture on one Axes: a grid of dozens of Axes would cost seconds to
    lay out; this costs milliseconds.  Empty places keep the value 0.
    """
    rows = math.ceil(len(images) / columns)
    tile_height, tile_width = SIDE + LABEL_ROWS, SIDE + 2  # a column of 0s either side
    montage = np.zeros((rows * tile_height, columns * tile_width))
    ax = figure.subplots()
    for index, (image, label) in enumerate(zip(images, labels)):
        top, left = (index // columns) * tile_height, (index % columns) * tile_width
        montage[top + LABEL_ROWS:top + tile_height, left + 1:left + 1 + SIDE] = image
        ax.text(left + tile_width / 2, top + LABEL_ROWS / 2, label, ha="center", va="center",
                fontsize=8)
    ax.imshow(montage, interpolation="nearest", **imshow)
    ax.set_axis_off()


def plot_mnist_errors(model: Module, x, labels, out, max_digits: int = 36) -> Path:
    """The digits ``model`` classifies wrongly: each with its true and predicted label.

    Args:
        model: a trained :class:`~shapesafe_nn.models.Network` (anything with ``predict``).
        x: (N, 784) or (N, 28, 28) uint8 grey levels, as the MNIST loaders return.
        labels: (N,) the true digits.
        max_digits: show at most this many, in the order of ``x``.
    """
    was_training = model.training
    model.eval()
    try:
        predicted = model.predict(to_inputs(x))
    finally:
        model.train(was_training)
    wrong = np.flatnonzero(predicted != labels)
    shown = wrong[:max_digits]
    rows, columns = _grid(max(len(shown), 1), 6)
    figure = _figure(max(columns * DIGIT_CELL, MIN_WIDTH), rows * DIGIT_CELL + 0.5)
    if len(shown):
        _draw_montage(figure, x[shown].reshape(-1, SIDE, SIDE),
                      [f"{labels[i]} read as {predicted[i]}" for i in shown], columns,
                      cmap="gray_r", vmin=0, vmax=255)
    else:
        figure.text(0.5, 0.5, "none wrong", ha="center", va="center")
    figure.suptitle(f"{len(wrong)} of {len(labels)} digits misclassified"
                    + (f" (first {len(shown)})" if len(shown) < len(wrong) else ""))
    return _save(figure, out)


def plot_mnist_weights(model: Module, out) -> Path:
    """Each first-layer neuron's 784 weights as a 28×28 image.

    Row ``j`` of the first Dense layer's ``W`` (d_out, d_in) weighs every
    pixel for neuron ``j``: red pixels push its weighted sum up, blue ones
    down.  Each image is divided by its own largest |weight|, so its colours
    run from -1 (blue) to 1 (red), 0 white.
    """
    first = next((module for _, module in model.named_modules()
                  if getattr(module, "W", None) is not None), None)
    if first is None or first.W.value.shape[1] != PIXELS:
        raise ValueError(f"plot_mnist_weights: the first layer of {type(model).__name__} "
                         f"must be a Dense layer reading {PIXELS} pixels")
    weights = first.W.value.astype(np.float64)
    largest = np.abs(weights).max(axis=1, keepdims=True)
    scaled = weights / np.where(largest > 0, largest, 1.0)  # an all-zero row stays 0
    rows, columns = _grid(len(weights), math.ceil(math.sqrt(len(weights))))
    figure = _figure(max(columns * DIGIT_CELL, MIN_WIDTH), rows * DIGIT_CELL + 0.5)
    _draw_montage(figure, scaled.reshape(-1, SIDE, SIDE),
                  [f"neuron {j}" for j in range(len(weights))], columns,
                  cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    figure.suptitle(f"first-layer weights W ({weights.shape[0]}, {PIXELS}):\n"
                    f"row j as a 28×28 image, red +, blue -")
    return _save(figure, out)
