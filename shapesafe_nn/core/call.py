"""One checked call: what it has checked so far, the dims and float dtype that bound.

A layer's ``forward(x)`` is checked in one memo: its parameters first (``W``
binds ``d_out`` and ``d_in``), then its arguments, then its return value.
The :class:`Call` holds that memo, the items checked in order (to say who
bound a dim), and the float dtype the first float array bound: a float64
``x`` into a float32 layer is refused like a wrong ``d_in``, instead of
silently running the layer at twice the memory.

The calls being checked form a stack per thread (per ``contextvars``
context): an error inside ``gate: Dense.forward`` called from
``SwiGLU.forward`` names that chain, and :func:`expect` checks an
intermediate in the innermost call.  Two threads never see each other's
calls.
"""

import contextlib
import contextvars
from collections.abc import Iterator

import numpy as np
from beartype.door import is_bearable
from jaxtyping import jaxtyped

from . import errors
from .dims import Array, floats, integers
from .jaxtyping_internals import get_shape_memo
from .quick_check import passes_quickly

# ndarray subclasses whose operators change the arithmetic a layer writes:
# np.matrix's `*` is a matrix product (and `.sum(axis=0)` keeps 2 axes); a masked
# array leaves masked entries out.  Any other subclass (np.memmap, a user's own)
# behaves as an ndarray and is checked as one.
REFUSED_ARRAYS = (np.matrix, np.ma.MaskedArray)

# The calls being checked in this thread (context), innermost last; None for a
# call whose check `first` mode skipped, so that intermediates inside skip too.
# A tuple, set and reset around each call: a context copied into another task
# keeps its own stack.
calls_in_progress: contextvars.ContextVar[tuple] = contextvars.ContextVar(
    "shapesafe_calls", default=())

# Functions shown every intermediate passed to :func:`expect`, as (name, value,
# dims), whether or not its call is checked: the trace (pictures/trace.py) sets
# one while it runs, to show the shapes inside each layer.  Per context too.
intermediate_watchers: contextvars.ContextVar[tuple] = contextvars.ContextVar(
    "shapesafe_intermediate_watchers", default=())


class Call:
    """What one checked call has checked so far, to say where a dim was bound."""

    __slots__ = ("where", "layer", "checked_items", "prebound", "memo", "float_dtype",
                 "float_binder", "outer")

    def __init__(self, where: str, prebound: tuple | None, layer):
        self.where = where
        self.layer = layer
        self.checked_items: list[tuple[str, str, object]] = []  # (label, dims, value)
        self.prebound = prebound
        # what this call has bound: {dim: size} and {variadic name: (False, shape)},
        # in jaxtyping's format, handed to jaxtyping whenever it checks a value
        self.memo: tuple[dict, dict] = ({}, {})
        self.float_dtype: np.dtype | None = None  # bound by the first float array checked
        self.float_binder: str | None = None  # "parameter W": who bound it
        if prebound:  # a backward starts from its forward's dims and float dtype
            self.memo[0].update(prebound[0])
            self.memo[1].update(prebound[1])
            if prebound[2] is not None:
                self.float_dtype, binder = prebound[2]
                # a parameter is the same in both calls; an argument was the forward's
                self.float_binder = binder if binder.startswith("parameter") else \
                    f"{binder} of the forward"
        self.outer = calls_in_progress.get()  # the checked calls this one runs inside

    @property
    def bound(self) -> tuple:
        """What a backward of this call starts from: the dims and the float dtype."""
        floats_bound = None if self.float_dtype is None else (self.float_dtype,
                                                              self.float_binder)
        return self.memo[0], self.memo[1], floats_bound

    @contextlib.contextmanager
    def in_jaxtyping(self) -> Iterator[None]:
        """A jaxtyping memo holding this call's bindings, for beartype and
        jaxtyping to check one value in (and explain a failure); what they
        bind is kept."""
        with jaxtyped("context"):
            single, variadic = get_shape_memo()[:2]
            single.update(self.memo[0])
            variadic.update(self.memo[1])
            try:
                yield
            finally:  # read again: a failed attempt inside replaces the dicts
                self.memo = tuple(dict(memo) for memo in get_shape_memo()[:2])

    # -- checking -------------------------------------------------------------
    def check(self, label: str, argument: str, hint, value) -> None:
        """Check ``value`` against ``hint`` in this call's memo, binding its dims
        and its float dtype; raise a :class:`ShapeError` if it does not fit."""
        dims = getattr(hint, "dim_str", None)
        if (type(value) is not np.ndarray and isinstance(value, REFUSED_ARRAYS)
                and dims is not None):
            raise errors.refused_subclass(self, argument, hint, value)
        if not passes_quickly(hint, value, *self.memo):
            with self.in_jaxtyping():
                if not is_bearable(value, hint):
                    raise errors.wrong_value(self, label, argument, hint, value)
        if type(value) is tuple:  # a tuple of arrays: each has the call's float dtype
            for item in value:
                if isinstance(item, np.ndarray) and item.dtype.kind == "f":
                    self.bind_float_dtype(label, argument, item, None)
        if dims is None:
            return
        self.checked_items.append((label, dims, value))
        if not isinstance(value, np.ndarray):
            return
        if value.dtype.kind == "f":
            self.bind_float_dtype(label, argument, value, dims)
        if label.startswith("argument"):
            # jaxtyping accepts a dim of size 0, but no layer means anything by
            # it: a mean over no examples is NaN (with only a warning) and a
            # softmax over no positions fails deep inside on its max.  Nor a
            # 0-d array for (*shape): the layer's arithmetic would return a
            # numpy scalar, which its return check would then blame on the layer.
            if not value.size:
                raise errors.empty(self, argument, hint, value)
            if not value.ndim:
                raise errors.single_number(self, argument, hint, value)

    def bind_float_dtype(self, label: str, argument: str, value: Array, dims: str | None) -> None:
        """The first float array binds the call's float dtype, as a dim is bound;
        any other float array must have it (integer ids and boolean masks keep
        their own dtypes)."""
        if self.float_dtype is None:
            self.float_dtype, self.float_binder = value.dtype, label
        elif value.dtype != self.float_dtype:
            raise errors.wrong_float_dtype(self, label, argument, value, dims)

    # -- what the messages need to know ---------------------------------------
    def binder_of(self, dim: str) -> tuple[str, str]:
        """Who bound ``dim`` first in this call: ``("parameter", "parameter W ...")``."""
        for label, dims, value in self.checked_items:
            if dim in dims.replace("*", "").split():
                return label.split()[0], f"{label} ({dims}) = {value.shape}"
        if self.prebound and dim in self.prebound[0]:
            return "forward", "the forward call this backward differentiates"
        return "earlier", "an earlier check in this call"

    @property
    def float_dtype_name(self) -> str:
        """The dtype a conversion hint suggests: the one bound, else the layer's own,
        else float32."""
        if self.float_dtype is not None:
            return self.float_dtype.name
        parameters = self.layer._parameters
        return next(iter(parameters.values())).value.dtype.name if parameters else "float32"

    def _callers(self) -> list["Call"]:
        """The checked calls around this one, outermost first, without skipped ones
        and without this layer's own (a subclass's ``super().forward``)."""
        return [call for call in self.outer if call is not None and call.layer is not self.layer]

    def chain(self) -> list[str]:
        """``["SwiGLU.forward -> gate: "]``: each caller and the name, inside it,
        of the layer it called."""
        callers = self._callers()
        inner = [*callers[1:], self]
        return [f"{caller.where} -> {_child_name(caller.layer, callee.layer)}"
                for caller, callee in zip(callers, inner)]

    def unanchored_caller(self) -> str | None:
        """The calling layer's ``where``, if it checked a shaped argument of its own
        but had no weights to check it against (no parameters, no shape_anchors):
        then this call, not the caller, was the first to see a wrong size."""
        callers = self._callers()
        if not callers:
            return None
        caller = callers[-1]
        layer = caller.layer
        shaped = any(label.startswith("argument") and any(c.isalpha() for c in dims)
                     for label, dims, _ in caller.checked_items)
        if shaped and not layer._parameters and not layer.shape_anchors:
            return caller.where
        return None


def _child_name(parent, child) -> str:
    """``"gate: "`` for the attribute of ``parent`` holding ``child`` (a dotted path
    if it is deeper); empty if ``child`` is not inside ``parent``."""
    for name, module in parent._modules.items():
        if module is child:
            return f"{name}: "
    for path, module in parent.named_modules():
        if module is child and path:
            return f"{path}: "
    return ""


def expect(name: str, value: Array, dims: str) -> Array:
    """Check an intermediate ``value`` against ``dims`` inside a checked call.

    Dims bind in the same memo as the call's arguments and parameters, so
    ``expect("scores", scores, "batch seq seq")`` in an attention head fails
    if ``seq`` differs from the input's ``seq``; a float intermediate must
    also keep the call's float dtype.  Returns ``value`` unchanged.  Costs
    nothing when the enclosing call is not being checked, and no trace runs.
    """
    stack = calls_in_progress.get()
    if stack and stack[-1] is not None:
        kind = getattr(getattr(value, "dtype", None), "kind", None)
        hint = floats(dims) if kind == "f" else integers(dims)
        stack[-1].check(f"intermediate {name}", name, hint, value)
    for watch in intermediate_watchers.get():
        watch(name, value, dims)
    return value
