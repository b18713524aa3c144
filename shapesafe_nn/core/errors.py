"""ShapeError, and the short message a learner reads when a check fails.

Every message has the same five lines, and a sixth where a call chain needs
one more word::

    Dense.forward: argument x has the wrong shape or type
      expected: x: float array (batch d_in)
      got:      float64 (32, 785)
      d_in is 785 here, but d_in = 784 was bound by parameter W (d_out d_in) = (30, 784)
      hint: give x d_in = 784, or build the layer with d_in = 785

The functions here write those lines from what a checked call
(:class:`~shapesafe_nn.core.call.Call`) knows: where it is, what it has
checked so far and which dims that bound.  The full beartype report stays
reachable as ``error.original``.
"""

import numpy as np
from beartype.door import die_if_unbearable
from jaxtyping import TypeCheckError

from .jaxtyping_internals import _SymbolicDim, get_shape_memo


class ShapeError(TypeCheckError):
    """A value's shape or dtype does not match its annotation, or an argument is empty.

    A subclass of jaxtyping's ``TypeCheckError`` and so of ``TypeError``.
    The message is at most six lines; the attributes keep everything else:

    - ``where``: ``"Dense.forward"``; ``argument``: ``"x"``;
    - ``expected``: the annotation's symbolic shape; ``actual``: ``(dtype, shape)``;
    - ``dim``: the dimension that disagrees (``"shape"`` for a ``*shape`` part;
      ``None`` for rank, dtype or type);
    - ``bindings``: every dim bound so far in this call, ``{"d_in": 784, ...}``;
    - ``chain``: the checked calls around this one, outermost first
      (``["SwiGLU.forward -> gate"]``), empty for a call made directly;
    - ``original``: the beartype violation the check raised, with its full
      text, or the numpy error a line of the layer's own code raised.
    """

    def __init__(self, message, *, where, argument=None, expected=None, actual=None, dim=None,
                 bindings=None, original=None, chain=()):
        super().__init__(message)
        self.where = where
        self.argument = argument
        self.expected = expected
        self.actual = actual
        self.dim = dim
        self.bindings = {} if bindings is None else bindings
        self.original = original
        self.chain = list(chain)

    def _render_traceback_(self) -> list[str]:
        """What IPython and Jupyter print: the message alone, without the frames
        of the checking machinery between the learner's line and the check."""
        return [f"ShapeError: {self}"]


def describe(value) -> str:
    """``float64 (32, 785)`` for an array; the type and a short repr otherwise."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} {value.shape}"
    return f"{type(value).__name__} {value!r}"[:80]


def axes(hint) -> list[str | None]:
    """The dim name at each axis of an array hint; ``None`` for unnamed ones."""
    return [getattr(dim, "name", None) for dim in hint.dims]


def array_kind(hint) -> str:
    """How an error names what an array hint declares."""
    if "float32" in hint.dtypes:
        return "float array"
    return "boolean array" if "bool" in hint.dtypes else "integer array"


def _conversion_target(call, hint) -> str:
    return {"float array": f"np.{call.float_dtype_name}", "integer array": "np.int64",
            "boolean array": "bool"}[array_kind(hint)]


def looks_transposed(hint, value, bound: dict[str, int]) -> bool:
    """A 2-axis argument whose axes, swapped, fit every dim bound so far: x.T was meant."""
    names = axes(hint)
    if value.ndim != 2 or len(names) != 2 or hint.index_variadic is not None:
        return False
    swapped = value.shape[::-1]
    return (any(name in bound for name in names)
            and all(bound.get(name, size) == size for name, size in zip(names, swapped)))


def _axis_index(hint, axis: int, ndim: int) -> int:
    """Where axis ``axis`` of ``hint`` sits in an array of ``ndim`` axes: axes
    after a variadic (*shape) part are counted from the end."""
    variadic = hint.index_variadic
    return axis if variadic is None or axis < variadic else axis - len(hint.dims) + ndim


def disagreeing_dim(hint, value, bound: dict[str, int]) -> tuple[str, int] | None:
    """The first named axis whose size differs from the size already bound."""
    for axis, name in enumerate(axes(hint)):
        if axis == hint.index_variadic or name not in bound:
            continue
        size = value.shape[_axis_index(hint, axis, value.ndim)]
        if size != bound[name]:
            return name, size
    return None


def disagreeing_expression(hint, value, bound: dict[str, int]) -> tuple[str, int, int] | None:
    """The first computed axis (``2*n_pairs``) whose size differs from its value:
    ``(expression, size, value)``."""
    for axis, dim in enumerate(hint.dims):
        if type(dim) is not _SymbolicDim:
            continue
        try:
            wanted = eval(dim.elem, dict(bound))  # noqa: S307 (the hint's own text)
        except NameError:
            continue
        size = value.shape[_axis_index(hint, axis, value.ndim)]
        if size != wanted:
            return dim.elem, size, wanted
    return None


EMPTY_HINTS = {
    "batch": "a mini-batch needs at least one example",
    "seq": "a sequence needs at least one token",
}


def empty_axis(hint, value) -> tuple[int, str]:
    """The first axis of size 0 and its dim name (``"*shape"`` inside a variadic part)."""
    names = axes(hint)
    variadic = hint.index_variadic
    axis = value.shape.index(0)
    if variadic is None or axis < variadic:
        index = axis
    elif axis > variadic + value.ndim - len(names):  # after the variadic part: from the end
        index = axis - value.ndim + len(names)
    else:
        return axis, f"*{names[variadic]}"
    return axis, names[index] or f"axis {axis}"


def _looks_one_hot(hint, value) -> bool:
    """Class ids were declared, and ``value`` holds floats whose rows each have a
    single 1 among 0s (np.eye's rows).  Integer ids of a wrong shape can hold
    only 0s and 1s too, by chance: they are not called one-hot."""
    return (array_kind(hint) == "integer array" and value.dtype.kind == "f"
            and value.ndim == len(hint.dims) + 1
            and value.size > 0 and bool(np.all((value == 0) | (value == 1)))
            and bool(np.all(value.sum(axis=-1) == 1)))


def _looks_like_a_0_1_mask(hint, argument: str, value) -> bool:
    return (array_kind(hint) == "boolean array" and "mask" in argument
            and value.dtype.kind in "fiu" and bool(np.all((value == 0) | (value == 1))))


def _consistent(readings: list[tuple[list, tuple]]) -> bool:
    """Whether named axes bind one size each across ``(names, shape)`` pairs."""
    bound: dict[str, int] = {}
    for names, shape in readings:
        if len(names) != len(shape):
            return False
        for name, size in zip(names, shape):
            if name is not None and bound.setdefault(name, size) != size:
                return False
    return True


def _transposed_earlier_argument(call, hint, value):
    """The earlier 2-axis ids or mask argument that, read transposed, makes this one agree
    with everything checked before, when reading it as given cannot: the
    argument to blame (``Translator.forward(src_ids.T, tgt_ids)`` fails on
    ``tgt_ids``, whose batch src_ids.T bound).  ``(label, argument, dims,
    value)`` of it, or None when this argument is the one to blame."""
    if hint.index_variadic is not None or value.ndim != len(hint.dims):
        return None
    items = [(label, dims, item) for label, dims, item in call.checked_items
             if "*" not in dims and isinstance(item, np.ndarray)]
    current = (axes(hint), value.shape)
    for position, (label, dims, item) in enumerate(items):
        # ids and masks only: a float (batch classes) of 1 row and a label array of 2
        # look as transposed as (src_seq batch) ids do, and are not
        if not label.startswith("argument") or item.ndim != 2 or item.dtype.kind == "f":
            continue
        readings = [(dims.split(), other.shape) for _, dims, other in items]
        if _consistent(readings + [current]):
            return None  # as given, everything agrees: nothing to blame on transposing
        readings[position] = (dims.split(), item.shape[::-1])
        if _consistent(readings + [current]):
            return label, label.split(" ", 1)[1], dims, item
    return None


def wrong_value(call, label: str, argument: str, hint, value) -> ShapeError:
    """The short error for ``value`` failing ``hint`` (inside the call's jaxtyping memo)."""
    bound = dict(get_shape_memo()[0])
    try:
        die_if_unbearable(value, hint)
        original = None
    except Exception as violation:  # the full beartype report, kept for .original
        original = violation
    dims = getattr(hint, "dim_str", None)
    dim = None
    if hint is np.ndarray:  # `x: Array`, any shape (a container such as Sequential)
        expected = "numpy array"
        reason = f"{argument} is a {type(value).__name__}, not a numpy array"
        hint_line = f"convert it first: np.asarray({argument})"
    elif dims is None:  # a plain Python hint such as `bool` or `float`
        expected = getattr(hint, "__name__", str(hint))
        reason = f"{argument} must be {expected}"
        hint_line = f"pass {argument} as {expected}"
    elif not isinstance(value, np.ndarray):
        expected = dims
        reason = f"{argument} is a {type(value).__name__}, not a numpy array"
        hint_line = f"convert it first: np.asarray({argument}, dtype={_conversion_target(call, hint)})"
    elif _looks_one_hot(hint, value):
        expected = dims
        reason = (f"{argument} has {value.ndim} axes of 0s and 1s, one 1 a row: one-hot rows, "
                  f"where ({dims}) holds class ids")
        hint_line = f"pass the class ids: {argument}.argmax(axis=-1)"
    elif value.ndim != len(hint.dims) and hint.index_variadic is None:
        expected = dims
        count = "axis" if value.ndim == 1 else "axes"
        reason = f"{argument} has {value.ndim} {count} but ({dims}) needs {len(hint.dims)}"
        hint_line = f"reshape {argument} to ({dims})"
    elif value.dtype.name not in hint.dtypes:
        expected = dims
        declared = {"float array": "a floating-point array", "integer array": "an integer array",
                    "boolean array": "a boolean array"}[array_kind(hint)]
        reason = f"{argument} holds {value.dtype} but {declared} is declared"
        if _looks_like_a_0_1_mask(hint, argument, value):
            hint_line = (f"True hides: {argument}.astype(bool) if 1 = hidden, "
                         f"{argument} == 0 if 1 = keep")
        else:
            hint_line = f"convert it: {argument}.astype({_conversion_target(call, hint)})"
    else:
        expected = dims
        found = disagreeing_dim(hint, value, bound)
        expression = disagreeing_expression(hint, value, bound) if found is None else None
        earlier = _transposed_earlier_argument(call, hint, value) if found is not None else None
        if earlier is not None:
            return _transposed_argument(call, earlier, argument, found, bound)
        if found is not None:
            dim, size = found
            kind, binder = call.binder_of(dim)
            reason = f"{dim} is {size} here, but {dim} = {bound[dim]} was bound by {binder}"
            if kind in ("parameter", "anchor", "argument") and looks_transposed(hint, value, bound):
                hint_line = f"{argument} looks transposed: pass {argument}.T, shaped ({dims})"
            elif kind in ("parameter", "anchor"):
                hint_line = (f"give {argument} {dim} = {bound[dim]}, "
                             f"or build the layer with {dim} = {size}")
            elif kind == "forward":
                hint_line = (f"pass backward the gradient of this layer's last forward "
                             f"output, with {dim} = {bound[dim]}")
            else:
                hint_line = f"every {dim} in one call must be the same size"
        elif expression is not None:
            text, size, wanted = expression
            dim = text
            names = [name for name in bound if name in text]
            binders = "; ".join(f"{name} = {bound[name]} was bound by {call.binder_of(name)[1]}"
                                for name in names)
            reason = f"{text} is {size} here, but {text} = {wanted}: {binders}"
            hint_line = f"give {argument} the shape ({dims})"
        else:  # a *variadic part disagrees; jaxtyping's reason says which
            reason = hint.__instancecheck_str__(value)
            if hint.index_variadic is not None:  # .dim names it, as "shape" for *shape
                dim = axes(hint)[hint.index_variadic]
            if call.prebound:
                hint_line = ("pass backward the gradient of this layer's last forward "
                             "output, which has that shape")
            else:
                hint_line = f"give {argument} the shape ({dims})"
    if label == "return value":
        hint_line = f"this is a bug inside {call.where}: its result must have the declared shape"
    elif label.startswith("intermediate"):
        hint_line = f"this is a bug inside {call.where}: {argument} must have the shape it expects"
    if dims is not None:
        expected = f"{array_kind(hint)} ({expected})"
    return short_error(call, f"{label} has the wrong shape or type", argument, expected, value,
                       reason, hint_line, dim, bound, original,
                       anchors_note=label.startswith("argument"))


def _transposed_argument(call, earlier, argument: str, found, bound) -> ShapeError:
    """The error that blames an earlier argument which reads as transposed."""
    label, name, dims, value = earlier
    dim, size = found
    hint_line = f"{name} looks transposed: pass {name}.T, shaped ({dims})"
    reason = (f"{dim} is {size} in {argument}, but {name} bound {dim} = {bound[dim]}; "
              f"read as {name}.T, both agree")
    kind = {"b": "boolean array", "f": "float array"}.get(value.dtype.kind, "integer array")
    return short_error(call, f"{label} looks transposed", name, f"{kind} ({dims})", value,
                       reason, hint_line, dim, bound)


def wrong_float_dtype(call, label: str, argument: str, value, dims: str | None) -> ShapeError:
    """The error for a float array of another dtype than the one this call bound."""
    bound_dtype, binder = call.float_dtype_name, call.float_binder
    reason = (f"{argument} holds {value.dtype}, but this layer's float dtype = {bound_dtype} "
              f"was bound by {binder}")
    if label == "return value" or label.startswith("intermediate"):
        hint_line = (f"this is a bug inside {call.where}: an operation changed the float dtype "
                     f"(a constant or table of another dtype?)")
    elif label.startswith("parameter"):
        hint_line = f"build every parameter of the layer with one dtype (np.{bound_dtype})"
    else:
        hint_line = (f"{argument}.astype(np.{bound_dtype}), or build the layer with "
                     f"dtype=np.{value.dtype}")
    shape = f" ({dims})" if dims else ""
    return short_error(call, f"{label} has the wrong float dtype", argument,
                       f"float array{shape} of {bound_dtype}", value, reason, hint_line, None)


def unverified_arguments(call, error: ShapeError) -> ShapeError:
    """``error``, found in a backward of a forward run with checks off after its
    arguments passed, told as theirs: nothing could check ``dout`` against that
    forward, so ``dout`` bound the forward's dims itself, and the return value or
    the line of the body that disagrees with it holds what the forward saved.

    The lines of ``error`` stay (what disagreed, with which shapes); its first
    line names the argument, and its hint, which blamed the body, gives way to
    one for the argument.
    """
    arguments = [(label.split(" ", 1)[1], value) for label, _, value in call.checked_items
                 if label.startswith("argument")]
    names = " and ".join(name for name, _ in arguments)
    given = " and ".join(f"{name} {describe(value)}" for name, value in arguments)
    prefix = f"{''.join(error.chain)}{call.where}: "
    header, *details = str(error).split("\n")
    details = [line for line in details if not line.startswith("  hint: ")]
    one = len(arguments) == 1
    message = "\n".join([
        f"{prefix}{'argument' if one else 'arguments'} {given} disagree{'s' if one else ''} "
        f"with the forward it differentiates",
        f"  {header.removeprefix(prefix)}", *details,
        f"  hint: pass backward the gradient of this layer's last forward output; that "
        f"forward ran with checks off, so {names} could be checked against the layer's "
        f"parameters alone, not against what the forward saved"])
    return ShapeError(message, where=call.where, argument=arguments[0][0] if arguments else None,
                      expected=error.expected, actual=error.actual, dim=error.dim,
                      bindings=error.bindings, original=error, chain=error.chain)


def empty(call, argument: str, hint, value) -> ShapeError:
    """The error for an argument with an axis of size 0 (batch 0, seq 0)."""
    axis, dim = empty_axis(hint, value)
    return short_error(
        call, f"argument {argument} is empty", argument,
        f"{array_kind(hint)} ({hint.dim_str}), every dim at least 1", value,
        f"{dim} is 0 (axis {axis} of {argument}): there is nothing to compute on",
        EMPTY_HINTS.get(dim, f"every axis of {argument} needs a size of at least 1"), dim)


def single_number(call, argument: str, hint, value) -> ShapeError:
    """The error for a 0-d array where (*shape) allows any number of axes."""
    return short_error(
        call, f"argument {argument} is a single number", argument,
        f"{array_kind(hint)} ({hint.dim_str}) with at least one axis", value,
        "a 0-d array has no axis, and numpy would hand back a scalar, not an array",
        f"give it one axis: np.atleast_1d({argument})", axes(hint)[hint.index_variadic])


def refused_subclass(call, argument: str, hint, value) -> ShapeError:
    """The error for an array subclass whose arithmetic means something else."""
    kind = type(value)
    meaning = ("its * is a matrix product and it keeps two axes after every sum"
               if isinstance(value, np.matrix) else
               "its masked entries would silently drop out of sums and products")
    return short_error(
        call, f"argument {argument} is an np.{kind.__name__}", argument,
        f"{array_kind(hint)} ({hint.dim_str}), a plain numpy array", value,
        f"np.{kind.__name__} is refused: {meaning}, so the layer's equations "
        f"would compute other numbers", f"pass np.asarray({argument})", None)


def changed_gradient(call, name: str, parameter, grad) -> ShapeError:
    """The error for a backward that left ``parameter.grad`` another shape or dtype."""
    value = parameter.value
    sizes = ", ".join(f"{dim}={size}" for dim, size in zip(parameter.dims.split(), value.shape))
    return short_error(
        call, f"the gradient of parameter {name} changed shape or dtype", f"{name}.grad",
        f"{value.dtype} ({sizes}), as {name} itself", grad,
        f"{name}.grad must keep {name}'s shape ({parameter.dims}) and dtype; "
        f"the backward left it as {describe(grad)}",
        f"add a gradient shaped ({parameter.dims}) into it: self.{name}.grad += d{name}",
        None)


def short_error(call, headline: str, argument: str, expected: str, value, reason: str,
                hint_line: str, dim: str | None, bound: dict | None = None,
                original: Exception | None = None, anchors_note: bool = False) -> ShapeError:
    """The five lines every shape error has (six, when the layer that called this
    one could have checked the argument itself), and the attributes behind them."""
    chain = call.chain()
    message = (f"{''.join(chain)}{call.where}: {headline}\n"
               f"  expected: {argument}: {expected}\n"
               f"  got:      {describe(value)}\n"
               f"  {reason}\n"
               f"  hint: {hint_line}")
    unanchored = call.unanchored_caller() if anchors_note else None
    if unanchored is not None:
        message += (f"\n  {unanchored} has no weights or shape_anchors to check {argument} "
                    f"against first: see help(Module.shape_anchors)")
    return ShapeError(message, where=call.where, argument=argument, expected=expected,
                      actual=describe(value), dim=dim,
                      bindings=dict(call.memo[0]) if bound is None else bound,
                      original=original, chain=chain)
