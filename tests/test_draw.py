"""``draw``: SVG pictures of a layer's matrix products, labelled from its annotations.

Each picture is parsed with ``xml.etree``.  A box is a ``<g class="box">``
whose ``<title>`` reads ``name: (dims) = (sizes)`` and whose ``<rect>`` has
the box's size in px; the dim labels are ``<text>`` elements of class
``rows`` (beside a box) or ``cols`` (under it).  The tests check the labels,
that every side is its size times one scale, that the names are the layer's
own annotations (a subclass that renames its dims is drawn with the new
names), the CLI, and that each picture on the pages is what the command
shown beside it draws now.
"""

import math
import re
import typing
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_runner import assert_fails, run

from shapesafe_nn import Parameter, checked
from shapesafe_nn.pictures.svg import (SMALLEST_SIDE, Box, Dim, draw_block, draw_dense, draw_head,
                               draw_multi_head, times)
from shapesafe_nn.layers import (AttentionHead, Dense, FeedForward, MultiHeadAttention,
                                 TransformerBlock)
from shapesafe_nn.shapes import Array, Float

SVG = "{http://www.w3.org/2000/svg}"
DOCS = Path(__file__).resolve().parent.parent / "docs"
TITLE = re.compile(r"(.+): \(([^)]*)\) = \(([^)]*)\)")  # "x: (batch, d_in) = (10, 784)"


@dataclass
class Drawn:
    """One box as the SVG shows it."""

    name: str
    dims: tuple[str, ...]
    sizes: tuple[int, ...]
    width: float
    height: float


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode("utf-8"))  # bytes: the text declares its encoding


def drawn_boxes(root: ET.Element) -> list[Drawn]:
    boxes = []
    for group in root.iter(f"{SVG}g"):
        if group.get("class") != "box":
            continue
        name, dims, sizes = TITLE.fullmatch(group.find(f"{SVG}title").text).groups()
        rect = group.find(f"{SVG}rect")
        boxes.append(Drawn(name, tuple(dims.split(", ")),
                           tuple(int(size) for size in sizes.split(",") if size.strip()),
                           float(rect.get("width")), float(rect.get("height"))))
    return boxes


def by_name(root: ET.Element) -> dict[str, Drawn]:
    """The boxes by name; a name drawn twice (x in each projection) is one shape."""
    boxes: dict[str, Drawn] = {}
    for box in drawn_boxes(root):
        assert boxes.setdefault(box.name, box).dims == box.dims, box
    return boxes


def labels(root: ET.Element, kind: str) -> set[str]:
    return {text.text for text in root.iter(f"{SVG}text") if text.get("class") == kind}


def shapes(root: ET.Element) -> dict[str, tuple[tuple[str, ...], tuple[int, ...]]]:
    return {name: (box.dims, box.sizes) for name, box in by_name(root).items()}


def assert_to_scale(root: ET.Element) -> None:
    """Every side is its size times one scale (a vector is one unit tall); a side
    the scale would draw thinner than SMALLEST_SIDE is drawn that thick."""
    boxes = drawn_boxes(root)
    largest = max(size for box in boxes for size in box.sizes)
    longest = max(max(box.width, box.height) for box in boxes)
    scale = longest / largest
    for box in boxes:
        rows, cols = box.sizes if len(box.sizes) == 2 else (1, *box.sizes)
        for side, size in ((box.height, rows), (box.width, cols)):
            # the SVG keeps one decimal of a px
            assert math.isclose(side, max(SMALLEST_SIDE, size * scale), abs_tol=0.06), box


# ---------------------------------------------------------------------------
# The four pictures
# ---------------------------------------------------------------------------
def test_dense_is_x_times_w_transposed_plus_b():
    root = parse(draw_dense(Dense(784, 30), batch=10))
    assert shapes(root) == {"x": (("batch", "d_in"), (10, 784)),
                            "Wᵀ": (("d_in", "d_out"), (784, 30)),
                            "b": (("d_out",), (30,)),
                            "z": (("batch", "d_out"), (10, 30))}
    assert labels(root, "rows") == {"batch = 10", "d_in = 784"}
    assert labels(root, "cols") == {"d_in = 784", "d_out = 30"}
    assert_to_scale(root)
    boxes = by_name(root)
    # d_in is one length wherever it is drawn: x's width, Wᵀ's height
    assert boxes["x"].width == boxes["Wᵀ"].height
    assert boxes["x"].width / boxes["z"].width == pytest.approx(784 / 30, rel=0.01)


def test_dense_without_a_bias_draws_none():
    root = parse(draw_dense(Dense(5, 3, bias=False), batch=2))
    assert set(by_name(root)) == {"x", "Wᵀ", "z"}
    assert "+ b" not in root.find(f"{SVG}title").text


def test_one_head_projects_x_then_scores_every_position_against_every_position():
    root = parse(draw_head(AttentionHead(6, 3), batch=2, seq=4))
    found = shapes(root)
    for letter in "qkv":
        assert found[f"W_{letter}ᵀ"] == (("d_model", "d_head"), (6, 3))
        assert found[letter] == (("seq", "d_head"), (4, 3))
    assert found["kᵀ"] == (("d_head", "seq"), (3, 4))
    assert found["scores"] == found["weights"] == (("seq", "seq"), (4, 4))
    assert found["out"] == (("seq", "d_head"), (4, 3))
    assert {"seq = 4", "d_model = 6", "d_head = 3"} <= labels(root, "rows") | labels(root, "cols")
    assert "batch = 2" in root.find(f"{SVG}title").text  # one of the batch is drawn
    assert_to_scale(root)


def test_multi_head_splits_into_heads_and_merges_them_side_by_side():
    root = parse(draw_multi_head(MultiHeadAttention(12, 3), batch=2, seq=5))
    found = shapes(root)
    assert found["W_qkvᵀ"] == (("d_model", "3*d_model"), (12, 36))
    assert found["qkv"] == (("seq", "3*d_model"), (5, 36))
    assert found["q"] == (("seq", "d_model"), (5, 12))
    for h in range(3):
        assert found[f"q_{h}"] == found[f"head_{h}"] == (("seq", "d_head"), (5, 4))
    assert "q_3" not in found
    assert found["scores_h"] == (("seq", "seq"), (5, 5))
    assert found["merged"] == found["out"] == (("seq", "d_model"), (5, 12))
    assert labels(root, "cols") >= {"n_heads = 3, each d_head = 4", "3*d_model = 36"}
    assert_to_scale(root)
    boxes = by_name(root)
    assert boxes["merged"].width == pytest.approx(3 * boxes["head_0"].width, abs=0.1)


def test_block_draws_attention_then_the_feed_forward_on_the_residual_stream():
    root = parse(draw_block(TransformerBlock(12, 3, d_ff=40), batch=2, seq=5))
    found = shapes(root)
    assert found["W_1ᵀ"] == (("d_model", "d_ff"), (12, 40))
    assert found["W_2ᵀ"] == (("d_ff", "d_model"), (40, 12))
    assert found["hidden"] == found["gelu(hidden)"] == (("seq", "d_ff"), (5, 40))
    for name in ("x", "ln1(x)", "attn", "h", "ln2(h)", "ff", "out"):
        assert found[name] == (("seq", "d_model"), (5, 12)), name
    assert found["scores_h"] == (("seq", "seq"), (5, 5))
    assert_to_scale(root)


def test_block_names_its_activation():
    block = TransformerBlock(8, 2)
    block.ff = FeedForward(8, 32, activation="relu")
    assert "relu(hidden)" in by_name(parse(draw_block(block, batch=1, seq=3)))


# ---------------------------------------------------------------------------
# The labels are the layer's own annotations
# ---------------------------------------------------------------------------
class Unembedding(Dense):
    """A Dense whose annotations say what it is for: a position's d_model numbers to
    one score per token of the vocab."""

    def __init__(self, d_model: int, vocab: int):
        super().__init__(d_model, vocab)
        self.W = Parameter(self.W.value, "vocab d_model")
        self.b = Parameter(self.b.value, "vocab")

    @checked
    def forward(self, x: Float[Array, "batch d_model"]) -> Float[Array, "batch vocab"]:
        return super().forward(x)


def test_the_picture_follows_the_annotations_not_the_class():
    root = parse(draw_dense(Unembedding(12, 65), batch=3))
    assert shapes(root) == {"x": (("batch", "d_model"), (3, 12)),
                            "Wᵀ": (("d_model", "vocab"), (12, 65)),
                            "b": (("vocab",), (65,)),
                            "z": (("batch", "vocab"), (3, 65))}
    assert not any("d_in" in text or "d_out" in text
                   for text in labels(root, "rows") | labels(root, "cols"))


def test_the_head_is_labelled_by_its_forward_annotation_and_its_shape_anchor():
    x_dims = typing.get_type_hints(AttentionHead.forward, include_extras=True)["x"].dim_str
    anchor = dict(AttentionHead.shape_anchors)["query.W"]
    found = shapes(parse(draw_head(AttentionHead(6, 3), batch=2, seq=4)))
    assert found["x"][0] == tuple(x_dims.split()[-2:])  # (batch) seq d_model
    assert found["W_qᵀ"][0] == tuple(reversed(anchor.split()))  # d_head d_model, transposed


def test_a_product_of_different_inner_dims_is_refused():
    x = Box("x", Dim("seq", 4), Dim("d_model", 6))
    w = Box("W", Dim("d_head", 6), Dim("d_model", 6))
    assert times(x, w.transposed("Wᵀ"), "y") == Box("y", Dim("seq", 4), Dim("d_head", 6))
    with pytest.raises(ValueError, match="inner dims d_model = 6 and d_head = 6 differ"):
        times(x, w, "y")  # same sizes, other names: not one dim


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------
def test_the_command_writes_the_picture(tmp_path):
    out = tmp_path / "dense.svg"
    code, printed, err = run("draw", "dense", "--d-in", 20, "--d-out", 5, "--batch", 3,
                             "--out", out)
    assert code == 0, err
    assert printed == f"wrote {out}\n"
    assert shapes(parse(out.read_text(encoding="utf-8")))["z"] == (("batch", "d_out"), (3, 5))


@pytest.mark.parametrize("layer, flags, box", [
    ("head", ["--d-model", 8, "--d-head", 2, "--seq", 3], ("scores", ("seq", "seq"), (3, 3))),
    ("multi-head", ["--d-model", 8, "--n-heads", 4, "--seq", 3],
     ("head_3", ("seq", "d_head"), (3, 2))),
    ("block", ["--d-model", 8, "--n-heads", 2, "--d-ff", 24, "--seq", 3],
     ("hidden", ("seq", "d_ff"), (3, 24))),
])
def test_each_layer_is_drawn_with_the_sizes_given(tmp_path, layer, flags, box):
    out = tmp_path / "picture.svg"
    code, _, err = run("draw", layer, *flags, "--out", out)
    assert code == 0, err
    name, dims, sizes = box
    assert shapes(parse(out.read_text(encoding="utf-8")))[name] == (dims, sizes)


def test_the_command_refuses_bad_flags(tmp_path):
    assert_fails(run("draw", "dense", "--d-in", 0), 2, "--d-in", "must be a positive number")
    assert_fails(run("draw", "head", "--out", tmp_path / "head.png"), 2,
                 "draw writes SVG; name a .svg file")
    assert_fails(run("draw", "multi-head", "--n-heads", 5, "--out", tmp_path / "m.svg"), 2,
                 "--d-model 12 is not divisible by --n-heads 5")
    assert_fails(run("draw", "block", "--out", tmp_path / "missing" / "block.svg"), 1,
                 "the folder", "does not exist")
    assert not list(tmp_path.iterdir())


def test_each_picture_on_the_pages_is_what_its_command_draws_now(tmp_path):
    """A page shows ``$ shapesafe-nn draw ... --out NAME.svg`` beside
    ``images/NAME.svg``: the command, run again, writes the same file."""
    commands = [line[len("$ shapesafe-nn "):].split()
                for page in sorted(DOCS.glob("*.md"))
                for line in page.read_text(encoding="utf-8").splitlines()
                if line.startswith("$ shapesafe-nn draw ")]
    assert len(commands) >= 4
    for words in commands:
        name = words[words.index("--out") + 1]
        assert f"](images/{name})" in "".join(page.read_text(encoding="utf-8")
                                              for page in DOCS.glob("*.md")), name
        words[words.index("--out") + 1] = str(tmp_path / name)
        code, _, err = run(*words)
        assert code == 0, err
        assert (tmp_path / name).read_bytes() == (DOCS / "images" / name).read_bytes(), (
            f"docs/images/{name} is stale: python docs/make_images.py draws it again")
