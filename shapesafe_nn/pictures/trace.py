"""Trace a model: every layer's input, output and gradient, with their shapes.

*Know the dimension of every symbol and variable*, for a whole model at once::

    print(trace(Network([784, 30, 10]), x))   # x: ten digits, (10, 784)

prints one row per layer call, under the headings ``layer type input output
gradient params``; the row of the first Dense layer reads, column by column::

    layer     layers.0
    type      Dense
    input     x (batch d_in) = (10, 784)
    output    (batch d_out) = (10, 30)
    gradient  dout (batch d_out) = (10, 30)
    params    23,550

:func:`trace` runs one forward and one backward and, for each call of each
layer, in the order the forward calls them, reads the *symbolic* shape from
the layer's own annotations (``x: Float[Array, "batch d_in"]``) and the
*concrete* shape from the array that arrived.  The gradient column is what
``backward`` receives: ∂C/∂(the layer's output), so it always has the
output's shape.  The model's own output gradient is drawn at random (seeded):
the shapes, not the numbers, are the point.

How: each module instance gets, for the length of the trace, its own
``forward`` and ``backward`` that note their arguments and then call the
class's checked methods.  They are removed afterwards, also when the call
fails, and every parameter's gradient is put back as it was.
"""

import contextlib
import functools
import inspect
import typing
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..core import Module

_ABSENT = object()  # marks "the instance had no attribute of this name"


@dataclass
class TraceRow:
    """One call of one layer."""

    name: str  # nested name, "blocks.0.attn"; "(model)" for the model itself
    layer: str  # class name, "MultiHeadAttention"
    input: str  # "x (batch seq d_model) = (12, 64, 128)"
    output: str = "not returned"
    gradient: str = "no backward"
    parameters: int = 0  # its own parameters, not those of the layers inside it


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


def _cell(name: str | None, hint, value) -> str:
    """``"x (batch d_in) = (10, 784)"``: the name, the annotation's dims, the array's shape."""
    dims = _dims(hint)
    label = " ".join(part for part in (name, dims and f"({dims})") if part)
    if isinstance(value, np.ndarray):
        shown = str(value.shape)
    elif value is None:
        shown = "None"
    else:
        shown = type(value).__name__
    return f"{label} = {shown}" if label else shown


def _arguments(method, args: tuple, kwargs: dict) -> str:
    names, hints = _signature(method)
    cells = [_cell(name, hints.get(name), value) for name, value in zip(names, args)]
    # an optional mask left out (key_padding_mask=None) is no shape to show
    cells += [_cell(name, hints.get(name), value) for name, value in kwargs.items()
              if value is not None]
    return ", ".join(cells)


@contextlib.contextmanager
def _recording(model: Module) -> Iterator[list[TraceRow]]:
    """Note every forward and backward call of every module inside ``model``."""
    own = Counter()  # parameters per module name; a shared one counts where first named
    for name, parameter in model.named_parameters():
        own[name.rpartition(".")[0] or "(model)"] += parameter.value.size
    rows: list[TraceRow] = []
    waiting: dict[int, list[TraceRow]] = {}  # rows whose backward has not come yet
    patched: list[tuple[Module, str, object]] = []

    def wrap(name: str, module: Module) -> None:
        cls = type(module)
        # the methods bound to this instance; None where it has none (Module defines neither)
        forward, backward = getattr(module, "forward", None), getattr(module, "backward", None)

        def traced_forward(*args, **kwargs):
            counted = not any(row.name == name for row in rows)  # a layer called twice
            row = TraceRow(name, cls.__name__, _arguments(cls.forward, args, kwargs),
                           parameters=own[name] if counted else 0)
            rows.append(row)  # before the call: the table reads in call order
            result = forward(*args, **kwargs)
            row.output = _cell(None, _signature(cls.forward)[1].get("return"), result)
            waiting.setdefault(id(module), []).append(row)
            return result

        def traced_backward(*args, **kwargs):
            pending = waiting.get(id(module))
            if pending:  # backward differentiates this module's latest forward
                pending.pop().gradient = _arguments(cls.backward, args, kwargs)
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
    try:
        for name, module in modules.values():
            wrap(name, module)
        yield rows
        called = {row.name for row in rows}
        rows += [TraceRow(name, type(module).__name__, "not called", "", "", own[name])
                 for name, module in modules.values() if name not in called]
    finally:
        for module, attribute, previous in reversed(patched):
            if previous is _ABSENT:
                object.__delattr__(module, attribute)
            else:
                object.__setattr__(module, attribute, previous)


def _columns(rows: list[TraceRow]) -> list[list[str]]:
    return [[row.name, row.layer, row.input, row.output, row.gradient, f"{row.parameters:,}"]
            for row in rows]


HEADER = ["layer", "type", "input", "output", "gradient", "params"]


def _plain(rows: list[TraceRow], total: int) -> str:
    body = _columns(rows)
    widths = [max(len(line[i]) for line in [HEADER, *body]) for i in range(len(HEADER))]
    widths[-1] = max(widths[-1], len(f"{total:,}"))

    def line(cells: list[str]) -> str:
        text = "  ".join(cell.ljust(width) for cell, width in zip(cells[:-1], widths))
        return f"{text}  {cells[-1].rjust(widths[-1])}"

    rule = "-" * len(line(HEADER))
    total_line = line(["total", "", "", "", "", f"{total:,}"])
    return "\n".join([line(HEADER), rule, *map(line, body), rule, total_line])


def _markdown(rows: list[TraceRow], total: int) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    def code(text: str) -> str:
        return f"`{text}`" if text else ""

    body = [line([code(cells[0]), cells[1], *map(code, cells[2:5]), cells[5]])
            for cells in _columns(rows)]
    return "\n".join([line(HEADER), "|" + "---|" * (len(HEADER) - 1) + "---:|", *body,
                      line(["**total**", "", "", "", "", f"**{total:,}**"])])


def trace(model: Module, *inputs, markdown: bool = False, seed: int = 0) -> Trace:
    """One forward and one backward of ``model`` on ``inputs``, as a table of shapes.

    Each row is one call of one layer, in the order the forward makes them,
    named as ``named_modules`` names it (``blocks.0.attn``): its input and
    output (symbolic dims from its ``forward``'s annotations, concrete shapes
    from the arrays), the gradient its ``backward`` receives (from
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
