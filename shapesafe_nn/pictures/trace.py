"""Trace a model: every layer's input, output and gradient, with their shapes.

*Know the dimension of every symbol and variable*, for a whole model at once::

    print(trace(Network([784, 30, 10]), x))   # x: ten digits, (10, 784)

prints each layer call as a line with its name, its class and the
parameters it holds, and under it what went in and what came out, each as
its dims and its shape; the first Dense layer of Nielsen's network reads::

    layers.0    Dense                       23,550
        x (batch d_in) = (10, 784) → (batch d_out) = (10, 30)

:func:`trace` runs one forward and one backward and, for each call of each
layer, in the order the forward calls them, reads the *symbolic* shape from
the layer's own annotations (``x: Float[Array, "batch d_in"]``) and the
*concrete* shape from the array that arrived.  Three more things are read
along the way:

- the intermediates a forward checks with :func:`~shapesafe_nn.core.call.expect`
  whose dims differ from its arguments' and its output's: the attention
  scores, (batch, *heads, q_seq, kv_seq), get a line of their own;
- a dim that a layer binds to a product of its caller's dims: a Dense layer
  fed one row per position shows ``batch=768 (= batch·seq)``;
- the gradient each ``backward`` receives, ∂C/∂(the layer's output), which
  always has the output's shape: the table says so once, in its heading,
  and each row keeps it in ``gradient``.  The model's own output gradient
  is drawn at random (seeded): the shapes, not the numbers, are the point.

The plain table fits a terminal of :data:`WIDTH` (100) columns: a call
takes two lines, or one more per further argument and intermediate.

How: each module instance gets, for the length of the trace, its own
``forward`` and ``backward`` that note their arguments and then call the
class's checked methods.  They are removed afterwards, also when the call
fails, and every parameter's gradient is put back as it was.
"""

import contextlib
import functools
import inspect
import math
import typing
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..core import Module
from ..core.call import intermediate_watchers

_ABSENT = object()  # marks "the instance had no attribute of this name"
WIDTH = 100  # columns a line of the plain table may fill: a terminal's
INDENT = "    "  # before the lines of shapes under a layer's line


@dataclass
class TraceRow:
    """One call of one layer."""

    name: str  # nested name, "blocks.0.attn"; "(model)" for the model itself
    layer: str  # class name, "MultiHeadAttention"
    input: str  # "x (batch seq d_model) = (12, 64, 128)"; the arguments joined by ", "
    output: str = "not returned"
    gradient: str = "no backward"
    parameters: int = 0  # its own parameters, not those of the layers inside it
    arguments: list[str] = field(default_factory=list)  # the cells of ``input``, one each
    # the intermediates its forward checked with expect() that have dims of their
    # own: "scores, weights (batch *heads q_seq kv_seq) = (12, 4, 64, 64)"
    inside: list[str] = field(default_factory=list)
    # a dim bound to a product of the calling layer's dims: "batch=768 (= batch·seq)"
    flattened: str = ""


class Trace(str):
    """The table as a ``str`` (print it, save it); ``rows`` and ``total`` keep the parts.

    Its ``repr`` is the table itself, so ``trace(model, x)`` at a Python
    prompt shows the table rather than one long quoted line.
    """

    rows: list[TraceRow]
    total: int

    def __repr__(self) -> str:
        return str(self)


@functools.cache
def _signature(method) -> tuple[list[str], dict]:
    """The argument names (without ``self``) and the annotations of a layer method."""
    names = list(inspect.signature(method).parameters)[1:]
    return names, typing.get_type_hints(method, include_extras=True)


def _dims(hint) -> str | None:
    """The symbolic shape in an annotation: ``"batch d_in"``, also inside ``X | None``."""
    if hasattr(hint, "dim_str"):
        return hint.dim_str
    return next((dims for arg in typing.get_args(hint) if (dims := _dims(arg))), None)


def _shown(value) -> str:
    if isinstance(value, np.ndarray):
        return str(value.shape)
    return "None" if value is None else type(value).__name__


def _cell(name: str | None, dims: str | None, value) -> str:
    """``"x (batch d_in) = (10, 784)"``: the name, the annotation's dims, the array's shape."""
    label = " ".join(part for part in (name, dims and f"({dims})") if part)
    return f"{label} = {_shown(value)}" if label else _shown(value)


def _named_sizes(dims: str | None, value) -> dict[str, int]:
    """The size of each plainly named axis: ``("batch d_in", (10, 784))`` ->
    ``{"batch": 10, "d_in": 784}``; axes after a ``*variadic`` one count from the end."""
    if dims is None or not isinstance(value, np.ndarray):
        return {}
    names = dims.split()
    variadic = next((i for i, name in enumerate(names) if name.startswith(("*", "..."))), None)
    if len(names) - (variadic is not None) > value.ndim:
        return {}
    sizes = {}
    for axis, name in enumerate(names):
        if name.isidentifier() and name != "_" and axis != variadic:
            position = axis if variadic is None or axis < variadic else axis - len(names)
            sizes[name] = value.shape[position]
    return sizes


def _arguments(method, args: tuple, kwargs: dict) -> list[tuple[str, str | None, object]]:
    """(name, dims, value) of each argument given; an optional mask left out
    (``key_padding_mask=None``) is no shape to show."""
    names, hints = _signature(method)
    given = list(zip(names, args)) + [(name, value) for name, value in kwargs.items()
                                      if value is not None]
    return [(name, _dims(hints.get(name)), value) for name, value in given]


def _flattened(sizes: dict[str, int], caller: list[tuple[str, str | None, object]]) -> str:
    """``"batch=768 (= batch·seq)"`` where a dim of this call is the product of
    the leading named axes of one of the caller's arguments, though the caller
    bound the same name to another size: the caller reshaped (batch, seq,
    d_model) into (batch·seq, d_model) rows."""
    bound = {}
    for _, dims, value in caller:
        bound.update(_named_sizes(dims, value))
    for dim, size in sizes.items():
        if dim not in bound or bound[dim] == size:
            continue
        for _, dims, value in caller:
            names = dims.split() if dims and isinstance(value, np.ndarray) else []
            for count in range(2, min(len(names), value.ndim if names else 0) + 1):
                leading = names[:count]
                if (all(name.isidentifier() for name in leading)
                        and math.prod(value.shape[:count]) == size):
                    return f"{dim}={size} (= {'·'.join(leading)})"
    return ""


def _inside(seen: list[tuple[str, str, object]], cells: list[str], output: str) -> list[str]:
    """The intermediates worth a line: grouped by dims and shape, and only those
    whose dims no argument or output already shows."""
    shown = {cell.partition(" (")[2].partition(")")[0] for cell in cells}
    shown.add(output.partition("(")[2].partition(")")[0])
    groups: dict[tuple[str, str], list[str]] = {}
    for name, value, dims in seen:
        if dims not in shown:
            groups.setdefault((dims, _shown(value)), []).append(name)
    return [f"{', '.join(dict.fromkeys(names))} ({dims}) = {shape}"
            for (dims, shape), names in groups.items()]


@contextlib.contextmanager
def _recording(model: Module) -> Iterator[list[TraceRow]]:
    """Note every forward and backward call of every module inside ``model``."""
    own = Counter()  # parameters per module name; a shared one counts where first named
    for name, parameter in model.named_parameters():
        own[name.rpartition(".")[0] or "(model)"] += parameter.value.size
    rows: list[TraceRow] = []
    waiting: dict[int, list[TraceRow]] = {}  # rows whose backward has not come yet
    patched: list[tuple[Module, str, object]] = []
    # the forwards running now, innermost last: (row, its arguments, intermediates seen)
    running: list[tuple[TraceRow, list, list]] = []

    def watch(name: str, value, dims: str) -> None:
        if running:  # an expect() inside a backward has no forward row to go in
            running[-1][2].append((name, value, dims))

    def wrap(name: str, module: Module) -> None:
        cls = type(module)
        # the methods bound to this instance; None where it has none (Module defines neither)
        forward, backward = getattr(module, "forward", None), getattr(module, "backward", None)

        def traced_forward(*args, **kwargs):
            counted = not any(row.name == name for row in rows)  # a layer called twice
            arguments = _arguments(cls.forward, args, kwargs)
            cells = [_cell(*argument) for argument in arguments]
            row = TraceRow(name, cls.__name__, ", ".join(cells), arguments=cells,
                           parameters=own[name] if counted else 0)
            if running:
                sizes = {}
                for _, dims, value in arguments:
                    sizes.update(_named_sizes(dims, value))
                row.flattened = _flattened(sizes, running[-1][1])
            rows.append(row)  # before the call: the table reads in call order
            seen: list = []
            running.append((row, arguments, seen))
            try:
                result = forward(*args, **kwargs)
            finally:
                running.pop()
            row.output = _cell(None, _dims(_signature(cls.forward)[1].get("return")), result)
            row.inside = _inside(seen, cells, row.output)
            waiting.setdefault(id(module), []).append(row)
            return result

        def traced_backward(*args, **kwargs):
            pending = waiting.get(id(module))
            if pending:  # backward differentiates this module's latest forward
                pending.pop().gradient = ", ".join(
                    _cell(*argument) for argument in _arguments(cls.backward, args, kwargs))
            return backward(*args, **kwargs)

        for attribute, original, replacement in (("forward", forward, traced_forward),
                                                 ("backward", backward, traced_backward)):
            if original is not None:
                patched.append((module, attribute, module.__dict__.get(attribute, _ABSENT)))
                # object.__setattr__: past Module's bookkeeping of parameters and sub-modules
                object.__setattr__(module, attribute, replacement)

    modules = {}  # id -> (name, module): one instance listed twice is wrapped once
    for name, module in model.named_modules():
        modules.setdefault(id(module), (name or "(model)", module))
    watching = intermediate_watchers.set((*intermediate_watchers.get(), watch))
    try:
        for name, module in modules.values():
            wrap(name, module)
        yield rows
        called = {row.name for row in rows}
        rows += [TraceRow(name, type(module).__name__, "not called", "", "", own[name])
                 for name, module in modules.values() if name not in called]
    finally:
        intermediate_watchers.reset(watching)
        for module, attribute, previous in reversed(patched):
            if previous is _ABSENT:
                object.__delattr__(module, attribute)
            else:
                object.__setattr__(module, attribute, previous)


# ---------------------------------------------------------------------------
# The plain table: a line per call, and its shapes under it
# ---------------------------------------------------------------------------
def _without_name(cell: str) -> str:
    """A cell without its argument's name: ``"x (batch d_in) = (10, 784)"`` ->
    ``"(batch d_in) = (10, 784)"``, and ``"x = (5, 4)"`` -> ``"(5, 4)"``."""
    rest = cell.partition(" ")[2]
    return rest.removeprefix("= ")


def _shape_lines(row: TraceRow) -> list[str]:
    """What went in and came out of one call, each line within WIDTH once indented."""
    if row.input == "not called":
        return ["not called"]
    output = ("same" if len(row.arguments) == 1 and _without_name(row.arguments[0]) == row.output
              else row.output)
    note = f"   {row.flattened}" if row.flattened else ""
    room = WIDTH - len(INDENT)
    single = f"{row.arguments[0] if row.arguments else '()'} → {output}{note}"
    if len(row.arguments) <= 1 and not row.inside and len(single) <= room:
        lines = [single]
    else:
        lines = list(row.arguments)
        if note and len(lines[0] + note) <= room:
            lines[0] += note
        elif note:
            lines.append(note.strip())
        lines += [f"inside: {line}" for line in row.inside] + [f"→ {output}"]
    if row.gradient == "no backward":
        lines.append("no backward")
    return lines


def _plain(rows: list[TraceRow], total: int) -> str:
    name_width = max(len(row.name) for row in rows)
    type_width = max(len(row.layer) for row in rows)
    counts = [f"{row.parameters:,}" for row in rows]
    heading = ["input → output: (dims of the annotation) = (shape of the array); "
               "same: as the input",
               "each backward received ∂C/∂(its output), shaped as that output"]
    shapes = [[INDENT + line for line in _shape_lines(row)] for row in rows]
    left = [f"{row.name.ljust(name_width)}  {row.layer}" for row in rows]
    width = max(len(line) for block in [heading, *shapes] for line in block)
    width = max(width, *(len(text) + 2 + len(count) for text, count in zip(left, counts)),
                name_width + 2 + type_width + 2 + len(f"{total:,}"))

    def line(text: str, count: str) -> str:
        return text + count.rjust(width - len(text))

    rule = "-" * width
    body = [entry for text, count, block in zip(left, counts, shapes)
            for entry in [line(text, count), *block]]
    title = line(f"{'layer'.ljust(name_width)}  type", "params")
    return "\n".join([title, *(INDENT + text for text in heading), rule, *body, rule,
                      line("total", f"{total:,}")])


def _markdown(rows: list[TraceRow], total: int) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    def code(text: str) -> str:
        return f"`{text}`" if text else ""

    body = []
    for row in rows:
        given = code(row.input) + (f" {row.flattened}" if row.flattened else "")
        body.append(line([code(row.name), row.layer, given, code(row.output), code(row.gradient),
                          f"{row.parameters:,}"]))
        body += [line(["", "inside", code(inside), "", "", ""]) for inside in row.inside]
    header = ["layer", "type", "input", "output", "gradient", "params"]
    return "\n".join([line(header), "|" + "---|" * (len(header) - 1) + "---:|", *body,
                      line(["**total**", "", "", "", "", f"**{total:,}**"])])


def trace(model: Module, *inputs, markdown: bool = False, seed: int = 0) -> Trace:
    """One forward and one backward of ``model`` on ``inputs``, as a table of shapes.

    Each row is one call of one layer, in the order the forward makes them,
    named as ``named_modules`` names it (``blocks.0.attn``): its input and
    output (symbolic dims from its ``forward``'s annotations, concrete shapes
    from the arrays), the intermediates inside it with dims of their own
    (``inside``), a dim bound to a product of its caller's dims
    (``flattened``), the gradient its ``backward`` receives (from
    ``backward``'s annotations), and the number of parameters it holds
    itself.  The last line is the total, ``model.num_parameters()``.

    The gradient of the model's output is drawn from N(0, 1) with ``seed``.
    Afterwards every parameter's ``grad`` is what it was before; what the
    layers saved for backward is that of this call.

    Args:
        model: any Module built from the package's layers, your own included.
        inputs: what ``model.forward`` takes: ``x`` (batch, 784), ``ids`` (batch, seq), ...
        markdown: a Markdown table (for docs) instead of aligned plain text.
        seed: seeds the output gradient.

    Returns:
        The table, a :class:`Trace` (a ``str`` that also keeps ``rows`` and ``total``).
    """
    parameters = model.parameters()
    gradients = [parameter.grad.copy() for parameter in parameters]
    try:
        with _recording(model) as rows:
            output = model.forward(*inputs)
            if not (isinstance(output, np.ndarray) and np.issubdtype(output.dtype, np.floating)):
                raise TypeError(f"trace: {type(model).__name__}.forward returned "
                                f"{_cell(None, None, output)}, not a float array, so there is "
                                f"no output gradient to send back")
            rng = np.random.default_rng(seed)
            model.backward(rng.standard_normal(output.shape).astype(output.dtype))
    finally:
        for parameter, gradient in zip(parameters, gradients):
            parameter.grad[...] = gradient
    total = model.num_parameters()
    table = Trace(_markdown(rows, total) if markdown else _plain(rows, total))
    table.rows, table.total = rows, total
    return table
