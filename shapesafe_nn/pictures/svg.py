"""Pictures of shapes: a layer's matrix products drawn as boxes, written as SVG.

*Know the dimension of every symbol and variable*, seen at a glance.  As in
the matrix figures of Jay Alammar's *The Illustrated Transformer*, a box
stands for a matrix, and a (batch, d_in) box times a (d_in, d_out) box gives
a (batch, d_out) box.  Here each box is labelled with its dims by name and
size (``batch = 10`` beside its rows, ``d_in = 784`` under its columns), and
its sides are drawn to scale.

Nothing is drawn by hand.  Each picture runs its layer once through
:func:`~shapesafe_nn.pictures.trace.trace`, on zeros of the sizes asked for, and reads

- the dim names from the layer's checked annotations: its ``forward``'s, as
  the trace prints them (``x (batch d_in) = (10, 784)``), and its
  parameters' declared dims (``W: d_out d_in``, or a ``shape_anchors`` entry
  such as ``query.W: d_head d_model`` where the weights live in sub-layers);
- the sizes from the arrays of that call and from the parameters.

A product's box is derived, not read: (a, b) times (b, c) is (a, c), refused
if the inner dims differ.  Where the layer annotates the result as well (its
``forward``'s return), the derived box must be the annotated one, so a
picture cannot show a shape the checks would refuse.

One function per picture, each returning the SVG text:

- :func:`draw_dense`: ``z = x Wᵀ + b``;
- :func:`draw_head`: one attention head, the projections to q, k and v, the
  (seq, seq) scores and the weighted average of the values;
- :func:`draw_multi_head`: multi-head attention, with its split into heads
  and their merge;
- :func:`draw_block`: a transformer block, attention and feed-forward on the
  residual stream.

The sequence layers are drawn for one sequence: every sequence of the batch
goes through the same products.  ``shapesafe-nn draw`` writes the pictures to
files.  The SVG is plain text built here, with no drawing library: each box
is a ``<g class="box">`` holding a ``<title>`` (``x: (batch, d_in) = (10,
784)``, which a browser shows when the pointer rests on the box), its
``<rect>`` and its name; the dim labels are ``<text>`` elements of class
``rows`` (beside a box) and ``cols`` (under it).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np

from ..layers import AttentionHead, Dense, MultiHeadAttention, TransformerBlock
from ..core import Module
from ..core import anchor_value
from .trace import trace


# ---------------------------------------------------------------------------
# What a picture is made of: dims, boxes, and lines of boxes and operators
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Dim:
    """One axis of a box: its name in the annotations and its size in the traced call."""

    name: str
    size: int

    def __str__(self) -> str:
        return f"{self.name} = {self.size}"


@dataclass(frozen=True)
class Box:
    """A matrix of ``rows`` by ``cols``; a vector has no ``rows`` and is drawn one row tall.

    ``kind`` picks its colour: ``"array"`` (what flows through the layer),
    ``"parameter"`` (what it learns) or ``"attention"`` (scores and weights,
    a position against every position).
    """

    name: str
    rows: Dim | None
    cols: Dim
    kind: str = "array"

    def transposed(self, name: str) -> "Box":
        return Box(name, self.cols, self.rows, self.kind)

    def renamed(self, name: str) -> "Box":
        return Box(name, self.rows, self.cols, self.kind)

    @property
    def shape(self) -> str:
        """``"(batch, d_in) = (10, 784)"``, or ``"(d_out) = (30,)"`` for a vector."""
        dims = [dim for dim in (self.rows, self.cols) if dim is not None]
        return (f"({', '.join(dim.name for dim in dims)}) = "
                f"{tuple(dim.size for dim in dims)}")


def times(left: Box, right: Box, name: str, kind: str = "array") -> Box:
    """The box of ``left @ right``: left's rows by right's columns.

    The columns of ``left`` and the rows of ``right`` must be one dim, by name
    and by size, or the product is refused, as a shape check would refuse it.
    """
    if left.cols != right.rows:
        raise ValueError(f"draw: {left.name} {left.shape} times {right.name} {right.shape}: "
                         f"the inner dims {left.cols} and {right.rows} differ")
    return Box(name, left.rows, right.cols, kind)


def plus(left: Box, right: Box, name: str) -> Box:
    """The box of ``left + right`` for two boxes of the same dims (the residual stream)."""
    if (left.rows, left.cols) != (right.rows, right.cols):
        raise ValueError(f"draw: {left.name} {left.shape} plus {right.name} {right.shape}: "
                         f"the dims differ")
    return left.renamed(name)


@dataclass(frozen=True)
class Group:
    """Boxes of one shape side by side, the heads of multi-head attention;
    ``count`` is how many (``n_heads = 3``)."""

    boxes: tuple[Box, ...]
    count: Dim

    @property
    def label(self) -> str:
        return f"{self.count}, each {self.boxes[0].cols}"


Term = Box | Group | str  # a box, boxes side by side, or an operator


@dataclass
class Line:
    """One equation of a picture, drawn left to right under its caption."""

    caption: str
    terms: list[Term]


@dataclass
class Figure:
    """A whole picture: a title, its equations top to bottom, and a footer that
    says where its dims came from."""

    title: str
    lines: list[Line]
    source: str  # where the dims came from, for the footer


# ---------------------------------------------------------------------------
# Reading dims and sizes from the trace and the parameters
# ---------------------------------------------------------------------------
# one annotated array in a trace cell: "x (batch d_in) = (10, 784)"; a return value has no name
CELL = re.compile(r"(?:(\w+) )?\(([^()]*)\) = \(([^()]*)\)")


@dataclass
class Call:
    """One traced call of one layer: each annotated array's dims, and every dim's size.

    ``sizes`` maps a name to an int, a variadic one (``*heads``) to the
    tuple of sizes it stood for (``()`` in a single head).
    """

    arrays: dict[str, list[str]]  # "x" -> ["batch", "d_in"]; the return value is "return"
    sizes: dict[str, int | tuple[int, ...]]


def _bind(dims: Sequence[str], shape: Sequence[int]) -> dict[str, int | tuple[int, ...]]:
    """Each dim name with its size: ``_bind(["batch", "d_in"], (10, 784))``.

    A variadic dim (``*heads``) takes the axes the other names leave over.
    """
    star = next((index for index, dim in enumerate(dims) if dim.startswith("*")), None)
    if star is None:
        if len(dims) != len(shape):
            raise ValueError(f"draw: dims {' '.join(dims)} do not fit the shape {tuple(shape)}")
        return dict(zip(dims, shape))
    after = len(dims) - star - 1
    bound = dict(zip(dims[:star], shape[:star]))
    bound[dims[star]] = tuple(shape[star:len(shape) - after])
    bound.update(zip(dims[star + 1:], shape[len(shape) - after:]))
    return bound


def _merged(*bindings: dict) -> dict:
    """One table of sizes from several; a name bound to two sizes is refused."""
    sizes: dict = {}
    for binding in bindings:
        for name, size in binding.items():
            if sizes.setdefault(name, size) != size:
                raise ValueError(f"draw: {name} is {sizes[name]} and also {size}")
    return sizes


def _traced_calls(layer: Module, x: np.ndarray) -> dict[str, Call]:
    """Trace ``layer`` on ``x``; each call's annotated arrays, by the trace's layer name.

    Only one call per name is kept, the first: every layer drawn here calls
    each of its sub-layers once.
    """
    calls: dict[str, Call] = {}
    for row in trace(layer, x).rows:
        arrays, sizes = {}, {}
        for name, dims, shape in CELL.findall(f"{row.input}, {row.output}"):
            dims = dims.split()
            shape = [int(size) for size in shape.split(",") if size.strip()]
            arrays[name or "return"] = dims
            sizes = _merged(sizes, _bind(dims, shape))
        calls.setdefault(row.name, Call(arrays, sizes))
    return calls


def _declared(layer: Module, path: str) -> list[str]:
    """A parameter's dims in ``layer``'s own names.

    Its ``shape_anchors`` entry where it has one: the weights of an attention
    head live in Dense sub-layers, whose own names (``d_out d_in``) are not
    the head's (``d_head d_model``).  Otherwise the parameter's declared dims.
    """
    anchors = dict(type(layer).shape_anchors)
    if path in anchors:
        return anchors[path].split()
    parameter = layer
    for name in path.split("."):
        parameter = getattr(parameter, name)
    return parameter.dims.split()


def _matrix(name: str, dims: Sequence[str], sizes: dict, kind: str = "array") -> Box:
    """The box of the last two of ``dims`` (of the last, for a vector), sized from ``sizes``.

    The axes before them (batch, heads) are a stack of such matrices, each
    multiplied alike; the picture draws one.
    """
    rows = Dim(dims[-2], sizes[dims[-2]]) if len(dims) > 1 else None
    return Box(name, rows, Dim(dims[-1], sizes[dims[-1]]), kind)


def _parameter_matrix(layer: Module, path: str, name: str, sizes: dict,
                  dims: Sequence[str] | None = None) -> tuple[Box, dict]:
    """The box of the parameter at ``path``, with the sizes it binds added to ``sizes``.

    ``dims`` defaults to its declared dims; a size that disagrees with one
    already bound is refused.
    """
    dims = _declared(layer, path) if dims is None else dims
    sizes = _merged(sizes, _bind(dims, anchor_value(layer, path).shape))
    return _matrix(name, dims, sizes, "parameter"), sizes


def _agreeing(derived: Box, call: Call, sizes: dict) -> Box:
    """``derived``, a product's box, after checking that it is the box of the
    call's return annotation: the picture agrees with the checked dims."""
    annotated = _matrix(derived.name, call.arrays["return"], sizes, derived.kind)
    if annotated != derived:
        raise ValueError(f"draw: {derived.name} is {derived.shape} by the products, but the "
                         f"annotation says {annotated.shape}")
    return derived


def _sequence_input(layer: Module, batch: int, seq: int) -> np.ndarray:
    """Zeros of (batch, seq, d_model) in the layer's dtype: only the shapes matter."""
    return np.zeros((batch, seq, layer.d_model), dtype=layer.parameters()[0].value.dtype)


# ---------------------------------------------------------------------------
# The pictures
# ---------------------------------------------------------------------------
def dense_figure(layer: Dense, batch: int) -> Figure:
    """x (batch, d_in) × Wᵀ (d_in, d_out) + b (d_out) = z (batch, d_out)."""
    x = np.zeros((batch, layer.d_in), dtype=layer.W.value.dtype)
    call = _traced_calls(layer, x)["(model)"]
    w, sizes = _parameter_matrix(layer, "W", "W", call.sizes)
    x_box, w_t = _matrix("x", call.arrays["x"], sizes), w.transposed("Wᵀ")
    terms: list[Term] = [x_box, "×", w_t]
    formula, caption = "z = x Wᵀ", "each row of x, one example, times Wᵀ"
    if layer.b is not None:
        b, sizes = _parameter_matrix(layer, "b", "b", sizes)
        terms += ["+", b]
        formula, caption = f"{formula} + b", f"{caption}; b is added to every row"
    z = _agreeing(times(x_box, w_t, "z"), call, sizes)
    return Figure(f"{_name(layer)}: {formula}", [Line(caption, [*terms, "=", z])],
                  f"{type(layer).__name__}.forward's annotations and its parameters' dims")


def head_figure(layer: AttentionHead, batch: int, seq: int) -> Figure:
    """x W_qᵀ = q (and k, v); q kᵀ = scores (seq, seq); weights v = out (seq, d_head)."""
    call = _traced_calls(layer, _sequence_input(layer, batch, seq))["(model)"]
    x = _matrix("x", call.arrays["x"], call.sizes)
    # the head names the dims of W_q alone (its shape anchor); W_k and W_v have the
    # same shape, which _parameter_matrix checks by binding the same dims to them
    w_dims = _declared(layer, "query.W")
    sizes, lines, projected = call.sizes, [], []
    for letter, path, meaning in (("q", "query.W", "query"), ("k", "key.W", "key"),
                                  ("v", "value.W", "value")):
        w, sizes = _parameter_matrix(layer, path, f"W_{letter}", sizes, w_dims)
        w_t = w.transposed(f"W_{letter}ᵀ")
        projected.append(times(x, w_t, letter))
        lines.append(Line(f"{letter} = x W_{letter}ᵀ: each position's {meaning}",
                          [x, "×", w_t, "=", projected[-1]]))
    q, k, v = projected
    k_t = k.transposed("kᵀ")
    scores = times(q, k_t, "scores", "attention")
    weights = scores.renamed("weights")
    out = _agreeing(times(weights, v, "out"), call, sizes)
    lines += [Line(f"scores: every query against every key ({layer.attend.score})",
                   [q, "×", k_t, "=", scores]),
              Line(f"weights = softmax(scores, {layer.attend.mask} mask): each row sums to 1 "
                   f"and averages the values", [weights, "×", v, "=", out])]
    return Figure(f"{_name(layer)}, one of batch = {batch} sequences", lines,
                  f"{type(layer).__name__}.forward's annotations and its shape anchor")


def attention_lines(layer: MultiHeadAttention, call: Call, core: Call, x: Box, sizes: dict,
                    out_name: str, split_and_merge: bool) -> tuple[list[Line], Box, dict]:
    """Multi-head attention on ``x``: its lines, its output's box, and the sizes bound.

    ``call`` is the layer's traced call, ``core`` that of its attention core,
    from which the heads' count and width are read: ``q (batch *heads q_seq
    d_head)``, where ``*heads`` stands for (n_heads,).  ``out_name`` names
    the output.
    """
    (n_heads,) = core.sizes["*heads"]
    if core.sizes["q_seq"] != x.rows.size:
        raise ValueError(f"draw: the attention core's q_seq {core.sizes['q_seq']} is not "
                         f"{x.rows}")
    d_model, d_head = x.cols, Dim(core.arrays["q"][-1], core.sizes[core.arrays["q"][-1]])
    # qkv's dims are named in the layer's code (expect "batch seq 3*d_model"), not
    # declared on its Dense: bind them to qkv.W here, which refuses a wrong size
    wide = Dim("3*d_model", 3 * d_model.size)
    w_qkv, sizes = _parameter_matrix(layer, "qkv.W", "W_qkv",
                                     _merged(sizes, {wide.name: wide.size}),
                                     [wide.name, d_model.name])
    w_qkv_t = w_qkv.transposed("W_qkvᵀ")
    # one head's q, k and v: the sequence's rows, d_head of the d_model columns
    q_h, k_h, v_h = (Box(f"{letter}_h", x.rows, d_head) for letter in "qkv")
    k_h_t = k_h.transposed("k_hᵀ")
    scores = times(q_h, k_h_t, "scores_h", "attention")
    head = times(scores.renamed("weights_h"), v_h, "head_h")
    heads_count = Dim("n_heads", n_heads)
    heads = Group(tuple(head.renamed(f"head_{h}") for h in range(n_heads)), heads_count)
    # as wide as the heads side by side: W_oᵀ's rows refuse it unless that is d_model
    merged_heads = Box("merged", x.rows, Dim(d_model.name, n_heads * d_head.size))
    w_o, sizes = _parameter_matrix(layer, "proj.W", "W_o", sizes)
    w_o_t = w_o.transposed("W_oᵀ")
    out = times(merged_heads, w_o_t, out_name)

    lines = [Line(f"one Dense makes every query, key and value: qkv = {x.name} W_qkvᵀ + b_qkv",
                  [x, "×", w_qkv_t, "=", times(x, w_qkv_t, "qkv")])]
    if split_and_merge:
        lines.append(Line("split: q, the first d_model columns of qkv, into the heads' "
                          "columns; k and v alike",
                          [Box("q", x.rows, d_model), "→",
                           Group(tuple(q_h.renamed(f"q_{h}") for h in range(n_heads)),
                                 heads_count)]))
    lines += [Line(f"each of the {heads_count} heads on its own: scores_h "
                   f"({layer.attend.score})",
                   [q_h, "×", k_h_t, "=", scores]),
              Line(f"weights_h = softmax(scores_h, {layer.attend.mask} mask), averaging the "
                   f"values", [scores.renamed("weights_h"), "×", v_h, "=", head])]
    if split_and_merge:
        lines.append(Line("merge: the heads' outputs side by side", [heads, "→", merged_heads]))
    lines.append(Line(f"the heads merged, proj mixes what they found: {out_name} = merged "
                      f"W_oᵀ + b_o",
                      [merged_heads, "×", w_o_t, "=", out]))
    return lines, _agreeing(out, call, sizes), sizes


def multi_head_figure(layer: MultiHeadAttention, batch: int, seq: int) -> Figure:
    """qkv = x W_qkvᵀ, split into heads, each head's scores and average, merge, W_oᵀ."""
    calls = _traced_calls(layer, _sequence_input(layer, batch, seq))
    call = calls["(model)"]
    x = _matrix("x", call.arrays["x"], call.sizes)
    lines, _, _ = attention_lines(layer, call, calls["attend"], x, call.sizes, "out",
                                  split_and_merge=True)
    return Figure(f"{_name(layer)}, one of batch = {batch} sequences", lines,
                  f"the annotations of {type(layer).__name__}.forward and of its attention "
                  f"core, and its parameters")


def block_figure(layer: TransformerBlock, batch: int, seq: int) -> Figure:
    """Attention, then the feed-forward network, each added onto the residual stream."""
    calls = _traced_calls(layer, _sequence_input(layer, batch, seq))
    call = calls["(model)"]
    x = _matrix("x", call.arrays["x"], call.sizes)
    ln1_x = _matrix("ln1(x)", calls["ln1"].arrays["return"], call.sizes)
    lines, attn, sizes = attention_lines(layer.attn, calls["attn"], calls["attn.attend"], ln1_x,
                                         call.sizes, "attn", split_and_merge=False)
    h = plus(x, attn, "h")
    ff = layer.ff
    activation = type(ff.activation).__name__.lower()
    w_1, sizes = _parameter_matrix(ff, "fc.W", "W_1", sizes)
    w_2, sizes = _parameter_matrix(ff, "proj.W", "W_2", sizes)
    w_1_t, w_2_t = w_1.transposed("W_1ᵀ"), w_2.transposed("W_2ᵀ")
    ln2_h = _matrix("ln2(h)", calls["ln2"].arrays["return"], sizes)
    hidden = times(ln2_h, w_1_t, "hidden")
    activated = hidden.renamed(f"{activation}(hidden)")
    ff_out = _agreeing(times(activated, w_2_t, "ff"), calls["ff"], sizes)
    out = _agreeing(plus(h, ff_out, "out"), call, sizes)
    lines += [Line("the residual stream: attention's output added to x", [x, "+", attn, "=", h]),
              Line("feed-forward, each position alone: hidden = ln2(h) W_1ᵀ + b_1",
                   [ln2_h, "×", w_1_t, "=", hidden]),
              Line(f"ff = {activation}(hidden) W_2ᵀ + b_2: back to d_model",
                   [activated, "×", w_2_t, "=", ff_out]),
              Line("added to the stream: the block's output has x's shape",
                   [h, "+", ff_out, "=", out])]
    return Figure(f"{_name(layer)}, one of batch = {batch} sequences", lines,
                  f"the annotations of {type(layer).__name__}.forward and of its sub-layers, "
                  f"and their parameters")


def _name(layer: Module) -> str:
    """``Dense(d_in=784, d_out=30)``: the first line of the layer's repr, without its count."""
    return repr(layer).splitlines()[0].split("  #")[0]


def draw_dense(layer: Dense, batch: int = 10) -> str:
    """The SVG of ``layer``'s product for a batch of ``batch`` examples:
    x (batch, d_in) × Wᵀ (d_in, d_out) + b (d_out) = z (batch, d_out)."""
    return to_svg(dense_figure(layer, batch))


def draw_head(layer: AttentionHead, batch: int = 2, seq: int = 4) -> str:
    """The SVG of one attention head on sequences of ``seq`` positions: q, k and v
    from x, the (seq, seq) scores, and the weighted average of the values."""
    return to_svg(head_figure(layer, batch, seq))


def draw_multi_head(layer: MultiHeadAttention, batch: int = 2, seq: int = 5) -> str:
    """The SVG of multi-head attention on sequences of ``seq`` positions: the fused
    qkv projection, the split into heads, one head's products, the merge, proj."""
    return to_svg(multi_head_figure(layer, batch, seq))


def draw_block(layer: TransformerBlock, batch: int = 2, seq: int = 5) -> str:
    """The SVG of a transformer block on sequences of ``seq`` positions: its
    attention's products, then the feed-forward's, each added to the stream."""
    return to_svg(block_figure(layer, batch, seq))


# ---------------------------------------------------------------------------
# SVG
# ---------------------------------------------------------------------------
FONT = 13  # px; monospace, so that a label's width can be known without a font
CHAR = 0.6 * FONT  # a monospace character's advance, about
LINE = 18  # px from one line of text to the next
LONGEST_SIDE = 240  # px for the largest size in a picture...
MOST_PER_UNIT = 24  # ...unless that would draw one unit wider than this
SMALLEST_SIDE = 3  # px: a thinner side would vanish, so it is drawn this thick
MARGIN = 16
GAP = 6  # px between a label and its box, and between the boxes of a group
OPERATOR = 40  # px for an operator between two boxes
COLOURS = {"array": "#cfe2f3", "parameter": "#fce5cd", "attention": "#d9ead3"}


def _members(term: Term) -> tuple[Box, ...]:
    """The boxes of a term: itself, a group's boxes, or none for an operator."""
    if isinstance(term, Box):
        return (term,)
    return term.boxes if isinstance(term, Group) else ()


def _text_width(text: str) -> float:
    return len(text) * CHAR


def _number(value: float) -> str:
    return f"{value:.1f}"


class _Canvas:
    """SVG elements, laid out top to bottom, and the width they need."""

    def __init__(self, scale: float):
        self.scale = scale
        self.parts: list[str] = []
        self.width = 0.0

    def side(self, dim: Dim | None) -> float:
        """A side's length in px: the size times the scale (a vector: one unit)."""
        return max(SMALLEST_SIDE, (dim.size if dim is not None else 1) * self.scale)

    def text(self, x: float, y: float, text: str, anchor: str = "start", css: str = "") -> None:
        left = x - {"start": 0, "middle": 0.5, "end": 1}[anchor] * _text_width(text)
        self.width = max(self.width, left + _text_width(text))
        css_class = f' class="{css}"' if css else ""
        self.parts.append(f'<text x="{_number(x)}" y="{_number(y)}" text-anchor="{anchor}"'
                          f'{css_class}>{escape(text)}</text>')

    def depth(self, boxes: Sequence[Box]) -> float:
        """How far below the top of ``boxes`` their columns' label may start: under the
        deepest box, and under the rows' label, which stands level with a box's middle."""
        deepest = max(self.side(box.rows) for box in boxes)
        return max(deepest, (deepest + FONT) / 2)

    def boxes(self, boxes: tuple[Box, ...], under: str, left: float, top: float) -> float:
        """Draw ``boxes`` side by side from ``left``; the right edge of what was drawn.

        Each box has its name above it; the first box's rows dim stands to the
        left, and ``under`` (the columns' dim) under them all.
        """
        rows = boxes[0].rows
        label = str(rows) if rows is not None else ""
        label_width = _text_width(label) + GAP if label else 0
        slots = [max(self.side(box.cols), _text_width(box.name)) for box in boxes]
        span = sum(slots) + GAP * (len(boxes) - 1)
        content = max(span, _text_width(under))
        x = left + label_width + (content - span) / 2
        for box, slot in zip(boxes, slots):
            width, height = self.side(box.cols), self.side(box.rows)
            box_left = x + (slot - width) / 2
            self.parts.append(f'<g class="box"><title>{escape(f"{box.name}: {box.shape}")}'
                              f'</title>')
            self.parts.append(f'<rect x="{_number(box_left)}" y="{_number(top)}" '
                              f'width="{_number(width)}" height="{_number(height)}" '
                              f'fill="{COLOURS[box.kind]}" stroke="#333" stroke-width="1"/>')
            self.text(box_left + width / 2, top - GAP, box.name, "middle", "name")
            self.parts.append("</g>")
            if label and box is boxes[0]:
                self.text(box_left - GAP, top + height / 2, label, "end", "rows")
            x += slot + GAP
        self.text(left + label_width + content / 2, top + self.depth(boxes) + FONT + 2, under,
                  "middle", "cols")
        return left + label_width + content

    def line(self, line: Line, top: float) -> float:
        """Draw one equation under its caption; the y where the next one starts."""
        self.text(MARGIN, top + FONT, line.caption, css="caption")
        boxes_top = top + 2 * LINE + GAP
        members = [box for term in line.terms for box in _members(term)]
        heights = [self.side(box.rows) for box in members]
        # operators sit level with the middle of the flattest box, which is
        # beside the operator in every picture here (x × Wᵀ, q × kᵀ)
        middle = boxes_top + max(min(heights), FONT) / 2
        x = MARGIN
        for term in line.terms:
            if isinstance(term, str):
                self.text(x + OPERATOR / 2, middle, term, "middle", "operator")
                x += OPERATOR
            elif isinstance(term, Group):
                x = self.boxes(term.boxes, term.label, x, boxes_top)
            else:
                x = self.boxes((term,), str(term.cols), x, boxes_top)
        return boxes_top + self.depth(members) + FONT + 2 + LINE


# one look for each kind of text; dominant-baseline centres a label on the middle of a box
STYLE = """
text { fill: #000; }
.title { font-weight: bold; }
.caption { fill: #555; font-style: italic; }
.footer { fill: #555; }
.name { font-weight: bold; }
.rows, .operator { dominant-baseline: central; }
.operator { font-size: 20px; font-weight: bold; }
"""


def to_svg(figure: Figure) -> str:
    """The figure as an SVG document, every box to one scale."""
    largest = max(dim.size for line in figure.lines for term in line.terms
                  for box in _members(term) for dim in (box.rows, box.cols) if dim is not None)
    canvas = _Canvas(min(MOST_PER_UNIT, LONGEST_SIDE / largest))
    canvas.text(MARGIN, MARGIN + FONT, figure.title, css="title")
    y = MARGIN + LINE + GAP
    for line in figure.lines:
        y = canvas.line(line, y)
    footer = [f"Dims from {figure.source}; sizes from one traced call.",
              f"To scale: a side of size n is n × {canvas.scale:.3g} px (at least "
              f"{SMALLEST_SIDE} px). Orange: parameters; blue: arrays; green: attention."]
    for text in footer:
        canvas.text(MARGIN, y + FONT, text, css="footer")
        y += LINE
    width, height = round(canvas.width + MARGIN), round(y + MARGIN)
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="{FONT}">',
        f"<title>{escape(figure.title)}</title>",
        f"<style>{STYLE}</style>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        *canvas.parts,
        "</svg>",
        "",
    ])
