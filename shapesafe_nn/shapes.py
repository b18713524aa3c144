"""The shape core: one table of dimension names, and the check every layer runs.

*Know the dimension of every symbol and variable.*  This file makes that rule
executable.  Every layer's ``forward`` and ``backward`` carries jaxtyping
annotations such as ``Float[Array, "batch d_in"]``; the :func:`checked`
decorator enforces them with beartype on every call, together with the
declared shapes of the layer's parameters (``W: "d_out d_in"``), inside one
jaxtyping memo.  A dim bound by ``W`` therefore constrains ``x``: give
``Dense(784, 30)`` an ``x`` of shape ``(32, 785)`` and the error blames ``x``
and names ``d_in``, 784 and 785.  Most hints are plain dim names, and for
those the decorator applies jaxtyping's rule itself, a dict lookup per axis
(see "The quick check" below); beartype and jaxtyping decide every other
hint and explain every failure.

Check modes (see :func:`set_checks`):

- ``always`` (the default, for learning): check every call;
- ``first``: check each new combination of argument and parameter
  shapes, dtypes and array classes once, then skip.  An argument check is a
  pure function of those, so no wrong argument is missed; a return value
  whose shape depends on the data (not only on the shapes) is checked only
  the first time;
- ``off``: no checks.

The mode belongs to the thread (a ``contextvars`` variable): ``with
checks("off")`` in one thread leaves the others checked.  The environment
variable ``SHAPESAFE_CHECKS`` sets the starting mode of every thread.  Note
that ``python -O`` does not switch these checks off: they are ordinary code,
not ``assert`` statements.
"""

import contextlib
import contextvars
import functools
import inspect
import os
import types
import typing
from collections.abc import Callable, Iterator

import numpy as np
from beartype.door import die_if_unbearable, is_bearable
from jaxtyping import Bool, Float, Integer, TypeCheckError, jaxtyped  # noqa: F401 (re-exported)
from jaxtyping._array_types import (  # what the quick check reads of a hint
    _anonymous_dim, _NamedDim, _NamedVariadicDim, _SymbolicDim)
from jaxtyping._storage import get_shape_memo  # the memo's bindings: pinned jaxtyping <0.4

from .records import Record, _recording

Array = np.ndarray
"""The array type in every annotation: ``Float[Array, "batch d_in"]``."""

# ---------------------------------------------------------------------------
# The one symbol table.  Every annotation in the package uses these names and
# nothing else; `checked` refuses an annotation with a name missing here.
# ---------------------------------------------------------------------------
DIMENSIONS: dict[str, str] = {
    "batch": "examples in one mini-batch (a row per example)",
    "seq": "positions in one sequence of tokens",
    "q_seq": "positions that ask, the queries' sequence (the target's in cross-attention)",
    "kv_seq": "positions that answer, the keys' and values' sequence (the source's in "
              "cross-attention)",
    "src_seq": "positions of the source sentence, which a translator's encoder reads",
    "tgt_seq": "positions of the target sentence, which a translator's decoder writes",
    "max_len": "longest sequence a position table covers (the GPT's block size)",
    "d_in": "features entering a Dense layer",
    "d_out": "features leaving a Dense layer",
    "d_model": "width of the transformer's residual stream",
    "n_heads": "attention heads in one multi-head attention layer",
    "heads": "the head axes of attention's core: (n_heads,) in multi-head attention, "
             "none in a single head",
    "d_head": "width of one attention head; d_model = n_heads * d_head",
    "d_ff": "width of the feed-forward hidden layer (4 * d_model in GPT)",
    "vocab": "distinct tokens the model reads and predicts",
    "classes": "categories a softmax chooses between (10 MNIST digits)",
    "shape": "any shape at all: the operation acts on each number alone",
}


def register_dim(name: str, meaning: str) -> None:
    """Add a dimension name of your own (for a layer you write) to the table."""
    if not name.isidentifier():
        raise ValueError(f"dimension name {name!r} is not a Python identifier")
    DIMENSIONS[name] = meaning


@functools.cache
def floats(dims: str) -> type:
    """``Float[Array, dims]``, built once per ``dims`` (building one costs ~8 µs)."""
    return Float[Array, dims]


@functools.cache
def integers(dims: str) -> type:
    """``Integer[Array, dims]`` (signed or unsigned), built once per ``dims``."""
    return Integer[Array, dims]


@functools.cache
def booleans(dims: str) -> type:
    """``Bool[Array, dims]``: a mask, True or False at each place."""
    return Bool[Array, dims]


# ---------------------------------------------------------------------------
# Check modes
# ---------------------------------------------------------------------------
CHECK_MODES = ("always", "first", "off")


def _validated_mode(mode: str, source: str) -> str:
    if mode not in CHECK_MODES:
        raise ValueError(f"{source} must be one of {', '.join(CHECK_MODES)}, not {mode!r}")
    return mode


def checks_from_environment() -> str:
    """The mode ``SHAPESAFE_CHECKS`` asks for (``"always"`` when it is unset).

    Raises ValueError, with a one-line message, for a value that is not a
    mode.  Importing the package never raises for it: a command line can
    report it as one line, and a program's first checked call does.
    """
    return _validated_mode(os.environ.get("SHAPESAFE_CHECKS", "always"), "SHAPESAFE_CHECKS")


# The mode belongs to the thread (more exactly, to the context): `with
# checks("off")` in one thread leaves every other thread checked.  A new
# thread starts from SHAPESAFE_CHECKS, read once at import.  An invalid value
# is kept as it is, and the first checked call reports it.
_mode = contextvars.ContextVar("shapesafe_checks",
                               default=os.environ.get("SHAPESAFE_CHECKS", "always"))


def set_checks(mode: str) -> None:
    """Switch shape checks to ``"always"``, ``"first"`` or ``"off"`` from now on, in this thread."""
    _mode.set(_validated_mode(mode, "the check mode"))


def get_checks() -> str:
    """The check mode in force in this thread."""
    return _validated_mode(_mode.get(), "SHAPESAFE_CHECKS")


@contextlib.contextmanager
def checks(mode: str) -> Iterator[None]:
    """Run a block under another check mode: ``with checks("off"): ...`` (this thread only)."""
    token = _mode.set(_validated_mode(mode, "the check mode"))
    try:
        yield
    finally:
        _mode.reset(token)


# ---------------------------------------------------------------------------
# The error a learner reads
# ---------------------------------------------------------------------------
class ShapeError(TypeCheckError):
    """A value's shape or dtype does not match its annotation, or an argument is empty.

    A subclass of jaxtyping's ``TypeCheckError`` and so of ``TypeError``.
    The message is at most six lines; the attributes keep everything else:

    - ``where``: ``"Dense.forward"``; ``argument``: ``"x"``;
    - ``expected``: the annotation's symbolic shape; ``actual``: ``(dtype, shape)``;
    - ``dim``: the dimension that disagrees (``"shape"`` for a ``*shape`` part;
      ``None`` for rank, dtype or type);
    - ``bindings``: every dim bound so far in this call, ``{"d_in": 784, ...}``;
    - ``original``: the beartype violation the check raised, with its full text.
    """

    def __init__(self, message, *, where, argument, expected, actual, dim, bindings, original):
        super().__init__(message)
        self.where = where
        self.argument = argument
        self.expected = expected
        self.actual = actual
        self.dim = dim
        self.bindings = bindings
        self.original = original


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} {value.shape}"
    return f"{type(value).__name__} {value!r}"[:80]


def _axes(hint) -> list[str | None]:
    """The dim name at each axis of an array hint; ``None`` for unnamed ones."""
    return [getattr(dim, "name", None) for dim in hint.dims]


def _array_kind(hint) -> str:
    """How an error names what an array hint declares."""
    if "float32" in hint.dtypes:
        return "float array"
    return "boolean array" if "bool" in hint.dtypes else "integer array"


def _looks_transposed(hint, value, bound: dict[str, int]) -> bool:
    """A 2-axis argument whose axes, swapped, fit every dim bound so far: x.T was meant."""
    names = _axes(hint)
    if value.ndim != 2 or len(names) != 2 or hint.index_variadic is not None:
        return False
    swapped = value.shape[::-1]
    return (any(name in bound for name in names)
            and all(bound.get(name, size) == size for name, size in zip(names, swapped)))


def _disagreeing_dim(hint, value, bound: dict[str, int]) -> tuple[str, int] | None:
    """The first named axis whose size differs from the size already bound."""
    names = _axes(hint)
    variadic = hint.index_variadic
    for axis, name in enumerate(names):
        if axis == variadic or name not in bound:
            continue
        # axes after a variadic (*shape) one are counted from the end
        index = axis if variadic is None or axis < variadic else axis - len(names)
        if value.shape[index] != bound[name]:
            return name, value.shape[index]
    return None


_EMPTY_HINTS = {
    "batch": "a mini-batch needs at least one example",
    "seq": "a sequence needs at least one token",
}


def _empty_axis(hint, value) -> tuple[int, str]:
    """The first axis of size 0 and its dim name (``"*shape"`` inside a variadic part)."""
    names = _axes(hint)
    variadic = hint.index_variadic
    axis = value.shape.index(0)
    if variadic is None or axis < variadic:
        index = axis
    elif axis > variadic + value.ndim - len(names):  # after the variadic part: from the end
        index = axis - value.ndim + len(names)
    else:
        return axis, f"*{names[variadic]}"
    return axis, names[index] or f"axis {axis}"


# ndarray subclasses whose operators change the arithmetic a layer writes:
# np.matrix's `*` is a matrix product (and `.sum(axis=0)` keeps 2 axes); a masked
# array leaves masked entries out.  Any other subclass (np.memmap, a user's own)
# behaves as an ndarray and is checked as one.
_REFUSED_ARRAYS = (np.matrix, np.ma.MaskedArray)


class _Call:
    """What one checked call has checked so far, to say where a dim was bound."""

    __slots__ = ("where", "checked_items", "prebound", "layer", "memo")

    def __init__(self, where: str, prebound: tuple[dict, dict] | None, layer):
        self.where = where
        self.layer = layer
        self.checked_items: list[tuple[str, str, object]] = []  # (label, dims, value)
        self.prebound = prebound
        # what this call has bound: {dim: size} and {variadic name: (False, shape)},
        # in jaxtyping's format, handed to jaxtyping whenever it checks a value
        self.memo: tuple[dict, dict] = ({}, {})

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

    def binder_of(self, dim: str) -> tuple[str, str]:
        """Who bound ``dim`` first in this call: ``("parameter", "parameter W ...")``."""
        for label, dims, value in self.checked_items:
            if dim in dims.replace("*", "").split():
                return label.split()[0], f"{label} ({dims}) = {value.shape}"
        if self.prebound and dim in self.prebound[0]:
            return "forward", "the forward call this backward differentiates"
        return "earlier", "an earlier check in this call"

    @property
    def float_dtype(self) -> str:
        """The dtype a conversion hint suggests: the layer's own, else float32."""
        parameters = self.layer._parameters
        return next(iter(parameters.values())).value.dtype.name if parameters else "float32"

    def fail(self, label: str, argument: str, hint, value) -> ShapeError:
        """Build the short error for ``value`` failing ``hint`` (inside :meth:`in_jaxtyping`)."""
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
            target = {"float array": f"np.{self.float_dtype}", "integer array": "np.int64",
                      "boolean array": "bool"}[_array_kind(hint)]
            hint_line = f"convert it first: np.asarray({argument}, dtype={target})"
        elif value.ndim != len(hint.dims) and hint.index_variadic is None:
            expected = dims
            axes = "axis" if value.ndim == 1 else "axes"
            reason = f"{argument} has {value.ndim} {axes} but ({dims}) needs {len(hint.dims)}"
            hint_line = f"reshape {argument} to ({dims})"
        elif value.dtype.name not in hint.dtypes:
            expected = dims
            kind = _array_kind(hint)
            declared = {"float array": "a floating-point array", "integer array": "an integer array",
                        "boolean array": "a boolean array"}[kind]
            reason = f"{argument} holds {value.dtype} but {declared} is declared"
            target = {"float array": f"np.{self.float_dtype}", "integer array": "np.int64",
                      "boolean array": "bool"}[kind]
            hint_line = f"convert it: {argument}.astype({target})"
        else:
            expected = dims
            found = _disagreeing_dim(hint, value, bound)
            if found is None:  # a *variadic part disagrees; jaxtyping's reason says which
                reason = hint.__instancecheck_str__(value)
                if hint.index_variadic is not None:  # .dim names it, as "shape" for *shape
                    dim = _axes(hint)[hint.index_variadic]
                if self.prebound:
                    hint_line = ("pass backward the gradient of this layer's last forward "
                                 "output, which has that shape")
                else:
                    hint_line = f"give {argument} the shape ({dims})"
            else:
                dim, size = found
                kind, binder = self.binder_of(dim)
                reason = f"{dim} is {size} here, but {dim} = {bound[dim]} was bound by {binder}"
                if kind == "parameter" and _looks_transposed(hint, value, bound):
                    hint_line = (f"{argument} looks transposed: pass {argument}.T, "
                                 f"shaped ({dims})")
                elif kind == "parameter":
                    hint_line = (f"give {argument} {dim} = {bound[dim]}, "
                                 f"or build the layer with {dim} = {size}")
                elif kind == "forward":
                    hint_line = (f"pass backward the gradient of this layer's last forward "
                                 f"output, with {dim} = {bound[dim]}")
                else:
                    hint_line = f"every {dim} in one call must be the same size"
        if label == "return value":
            hint_line = (f"this is a bug inside {self.where}: its result must have "
                         f"the declared shape")
        if dims is not None:
            expected = f"{_array_kind(hint)} ({expected})"
        return self._error(f"{label} has the wrong shape or type", argument, expected, value,
                           reason, hint_line, dim, bound, original)

    def empty(self, argument: str, hint, value) -> ShapeError:
        """The error for an argument with an axis of size 0 (batch 0, seq 0)."""
        axis, dim = _empty_axis(hint, value)
        return self._error(
            f"argument {argument} is empty", argument,
            f"{_array_kind(hint)} ({hint.dim_str}), every dim at least 1", value,
            f"{dim} is 0 (axis {axis} of {argument}): there is nothing to compute on",
            _EMPTY_HINTS.get(dim, f"every axis of {argument} needs a size of at least 1"), dim)

    def single_number(self, argument: str, hint, value) -> ShapeError:
        """The error for a 0-d array where (*shape) allows any number of axes."""
        return self._error(
            f"argument {argument} is a single number", argument,
            f"{_array_kind(hint)} ({hint.dim_str}) with at least one axis", value,
            "a 0-d array has no axis, and numpy would hand back a scalar, not an array",
            f"give it one axis: np.atleast_1d({argument})", _axes(hint)[hint.index_variadic])

    def _error(self, headline: str, argument: str, expected: str, value, reason: str,
               hint_line: str, dim: str | None, bound: dict | None = None,
               original: Exception | None = None) -> ShapeError:
        """The five lines every shape error has, and the attributes behind them."""
        message = (f"{self.where}: {headline}\n"
                   f"  expected: {argument}: {expected}\n"
                   f"  got:      {_describe(value)}\n"
                   f"  {reason}\n"
                   f"  hint: {hint_line}")
        return ShapeError(message, where=self.where, argument=argument, expected=expected,
                          actual=_describe(value), dim=dim,
                          bindings=dict(self.memo[0]) if bound is None else bound,
                          original=original)

    def refused_subclass(self, argument: str, hint, value) -> ShapeError:
        """The error for an array subclass whose arithmetic means something else."""
        kind = type(value)
        meaning = ("its * is a matrix product and it keeps two axes after every sum"
                   if isinstance(value, np.matrix) else
                   "its masked entries would silently drop out of sums and products")
        return self._error(
            f"argument {argument} is an np.{kind.__name__}", argument,
            f"{_array_kind(hint)} ({hint.dim_str}), a plain numpy array", value,
            f"np.{kind.__name__} is refused: {meaning}, so the layer's equations "
            f"would compute other numbers", f"pass np.asarray({argument})", None)

    def check(self, label: str, argument: str, hint, value) -> None:
        dims = getattr(hint, "dim_str", None)
        if (type(value) is not np.ndarray and isinstance(value, _REFUSED_ARRAYS)
                and dims is not None):
            raise self.refused_subclass(argument, hint, value)
        if not _passes_quickly(hint, value, *self.memo):
            with self.in_jaxtyping():
                if not is_bearable(value, hint):
                    raise self.fail(label, argument, hint, value)
        if dims is not None:
            self.checked_items.append((label, dims, value))
            if label.startswith("argument"):
                # jaxtyping accepts a dim of size 0, but no layer means anything by
                # it: a mean over no examples is NaN (with only a warning) and a
                # softmax over no positions fails deep inside on its max.  Nor a
                # 0-d array for (*shape): the layer's arithmetic would return a
                # numpy scalar, which its return check would then blame on the layer.
                if not value.size:
                    raise self.empty(argument, hint, value)
                if not value.ndim:
                    raise self.single_number(argument, hint, value)


# ---------------------------------------------------------------------------
# The quick check.  beartype and jaxtyping together take 6 µs or more per
# array, most of it generic machinery, and 25 to 80 µs for an optional class
# or a dim such as "3*d_model".  A layer's hints are nearly all plain names
# ("batch seq d_model"), one named variadic part ("*heads"), a dim computed
# from names, or a class of the package, and for those the rule is short:
# the dtype is one the hint allows, the number of axes matches, each name is
# bound to one size in the call's memo, each computed dim equals its value;
# an object is an instance of its class.  This applies that rule, in the
# memo's own format.  A pass is a pass for beartype and jaxtyping too;
# anything else (another kind of hint, a failure) goes to them, which stay
# the authority and write the error's reason.
# ---------------------------------------------------------------------------
class _ArrayPlan(typing.NamedTuple):
    """What the quick check needs of one array hint."""

    axes: tuple  # every axis but the variadic part, in order: a name, the compiled
    #              expression of a computed dim such as "3*d_model", or ... for "_"
    before: int  # how many of them come before the variadic part (all, if none)
    variadic: str | None  # the name of the variadic part ("heads" of *heads), if any
    dtypes: frozenset  # the scalar types allowed (np.float32, ...), by jaxtyping's names
    none_passes: bool  # `ArrayHint | None`: a backward that may return nothing
    distinct: bool  # no variadic part, and every axis a name, each once: the common
    #                 case, checked in one pass over the axes


class _ClassPlan(typing.NamedTuple):
    """What the quick check needs of ``C | None`` or ``list[C] | None``."""

    kind: type  # C: a plain class (whose metaclass is `type`)
    in_list: bool  # list[C]: a list whose every item is a C
    none_passes: bool


_QUICK_PLANS: dict = {}  # hint -> a plan, a tuple of _ArrayPlans (tuple[...]), or None


def _plain(dim, kind) -> bool:
    return type(dim) is kind and not dim.broadcastable and not getattr(dim, "treepath", False)


def _axis_plan(dim):
    """A named dim's name, a computed dim's compiled expression, ... for "_";
    None for any other dim."""
    if dim is _anonymous_dim:
        return ...
    if _plain(dim, _NamedDim):
        return dim.name
    if _plain(dim, _SymbolicDim) and "{" not in dim.elem:  # "{name}" reads jaxtyping's f-strings
        return compile(dim.elem, dim.elem, "eval")
    return None


def _quick_plan(hint):
    """What the quick check needs of ``hint``: an :class:`_ArrayPlan`, a
    :class:`_ClassPlan`, a tuple of array plans for a ``tuple[ArrayHint, ...]``
    of fixed length, or None if the hint must go to beartype and jaxtyping (a
    fixed size, a broadcastable dim, a Python number, any other typing form)."""
    origin, members = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        plans = tuple(_quick_plan(member) for member in members)
        usable = members and Ellipsis not in members and all(
            type(plan) is _ArrayPlan for plan in plans)
        return plans if usable else None
    if origin in (typing.Union, types.UnionType) and len(members) == 2 and type(None) in members:
        plan = _quick_plan(next(member for member in members if member is not type(None)))
        return plan._replace(none_passes=True) if type(plan) in (_ArrayPlan, _ClassPlan) else None
    if origin is list and len(members) == 1:
        plan = _quick_plan(members[0])
        return plan._replace(in_list=True) if type(plan) is _ClassPlan else None
    if type(hint) is type and hint not in (float, complex, bool, int):  # not the number tower
        return _ClassPlan(hint, False, False)
    dtypes = getattr(hint, "dtypes", None)
    if (getattr(hint, "array_type", None) is not np.ndarray
            or not isinstance(dtypes, (list, tuple))
            or not all(type(dtype) is str for dtype in dtypes)):
        return None
    dims, at = hint.dims, hint.index_variadic
    if at is not None and not _plain(dims[at], _NamedVariadicDim):
        return None
    axes = tuple(_axis_plan(dim) for axis, dim in enumerate(dims) if axis != at)
    if None in axes:
        return None
    # the scalar types whose names jaxtyping compares (np.longlong, 8 bytes like
    # np.int64 but named "longlong", stays out, as jaxtyping leaves it out)
    allowed = frozenset(np.dtype(name).type for name in dtypes
                        if name in np.sctypeDict and np.dtype(name).type.__name__ == name)
    distinct = at is None and all(type(axis) is str for axis in axes) \
        and len(set(axes)) == len(axes)
    return _ArrayPlan(axes, len(axes) if at is None else at,
                      None if at is None else dims[at].name, allowed, False, distinct)


def _passes_quickly(hint, value, single: dict, variadic: dict) -> bool:
    """True if ``value`` satisfies ``hint`` by beartype's and jaxtyping's rule,
    binding its dims in jaxtyping's memo format (``single`` for named dims,
    ``variadic`` for *name parts) as jaxtyping would; False means "ask them"
    (they may still pass it), and leaves the memo as it was."""
    try:
        plan = _QUICK_PLANS[hint]
    except KeyError:
        plan = _QUICK_PLANS[hint] = _quick_plan(hint)
    except TypeError:  # an unhashable hint: beartype knows what to do with it
        return False
    if plan is None:
        return False
    kind = type(plan)
    if kind is _ArrayPlan:
        return _array_passes(plan, value, single, variadic)
    if kind is _ClassPlan:
        if value is None and plan.none_passes:
            return True
        if not plan.in_list:  # None itself passes `-> None`, whose class is NoneType
            return isinstance(value, plan.kind)
        # every item, where beartype samples one: stricter, so a pass is still a pass
        return type(value) is list and all(isinstance(item, plan.kind) for item in value)
    # tuple[A, B, ...]: each member in turn, in one memo, as beartype checks them
    if type(value) is not tuple or len(value) != len(plan):
        return False
    kept = dict(single), dict(variadic)
    if all(_array_passes(member, item, single, variadic) for member, item in zip(plan, value)):
        return True
    single.clear(), single.update(kept[0])  # undo the members that did pass
    variadic.clear(), variadic.update(kept[1])
    return False


def _array_passes(plan: _ArrayPlan, value, single: dict, variadic: dict) -> bool:
    """One array against one plan, in the memo ``single`` (named dims) and
    ``variadic`` (*name parts)."""
    if not isinstance(value, np.ndarray):
        return value is None and plan.none_passes
    axes, before, variadic_name, dtypes, _, distinct = plan
    if value.dtype.type not in dtypes:
        return False
    shape = value.shape
    if distinct:  # the common case: a size for each name, the same as any bound before
        known_sizes = tuple(map(single.get, axes))
        if known_sizes == shape:  # every name bound already, to these sizes
            return True
        if len(shape) != len(axes):
            return False
        for known, size in zip(known_sizes, shape):
            if known is not None and known != size:
                return False
        single.update(zip(axes, shape))
        return True
    if len(shape) != len(axes) if variadic_name is None else len(shape) < len(axes):
        return False
    after = len(axes) - before
    added = []  # names bound by this check, unbound again if it fails
    for axis, size in zip(axes, shape[:before] + shape[len(shape) - after:]):
        if axis is ...:
            continue
        if type(axis) is not str:  # a computed dim: its value from the names bound so far
            try:
                if eval(axis, dict(single)) == size:  # noqa: S307 (the hint's own text)
                    continue
            except NameError:  # a name not bound yet: jaxtyping says what is wrong
                pass
            break
        known = single.get(axis)
        if known is None:
            single[axis] = size
            added.append(axis)
        elif known != size:
            break
    else:
        if variadic_name is None:
            return True
        middle = shape[before:len(shape) - after]
        known = variadic.get(variadic_name)
        if known is None:
            variadic[variadic_name] = (False, middle)
            return True
        if known == (False, middle):
            return True
    for name in added:
        del single[name]
    return False


# The innermost call being checked; `None` inside a call whose check was skipped.
_call_stack: list[_Call | None] = []


def expect(name: str, value: Array, dims: str) -> Array:
    """Check an intermediate ``value`` against ``dims`` inside a checked call.

    Dims bind in the same memo as the call's arguments and parameters, so
    ``expect("scores", scores, "batch seq seq")`` in an attention head fails
    if ``seq`` differs from the input's ``seq``.  Returns ``value`` unchanged.
    Costs nothing when the enclosing call is not being checked.
    """
    if _call_stack and _call_stack[-1] is not None:
        kind = getattr(getattr(value, "dtype", None), "kind", None)
        hint = floats(dims) if kind == "f" else integers(dims)
        _call_stack[-1].check(f"intermediate {name}", name, hint, value)
    return value


# ---------------------------------------------------------------------------
# The decorator
# ---------------------------------------------------------------------------
def _array_hints_in(hint) -> list:
    """The jaxtyping array hints inside ``hint`` (itself, or members of a union)."""
    if hasattr(hint, "dim_str"):
        return [hint]
    return [h for arg in typing.get_args(hint) for h in _array_hints_in(arg)]


def _validate_dim_names(where: str, hints: dict) -> None:
    for name, hint in hints.items():
        for array_hint in _array_hints_in(hint):
            for dim in _axes(array_hint):
                if dim is not None and dim not in DIMENSIONS:
                    raise NameError(
                        f"{where}: annotation of {name!r} uses the dim {dim!r}, which is not "
                        f"in shapesafe_nn.shapes.DIMENSIONS; add it with register_dim()")


def _optional_array(hint):
    """The array hint of ``ArrayHint | None``, else None."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return None
    members = typing.get_args(hint)
    arrays = [member for member in members if hasattr(member, "dim_str")]
    if len(members) == 2 and len(arrays) == 1 and type(None) in members:
        return arrays[0]
    return None


def anchor_value(layer, path: str) -> Array:
    """The array at ``path`` (``"ln1.gamma"``) inside ``layer``; a Parameter's value."""
    value = layer
    for name in path.split("."):
        value = getattr(value, name)
    return getattr(value, "value", value)


_ndarray = np.ndarray  # looked up once: the key below runs on every call


def _signature(value):
    """What a check of ``value`` depends on: an array's shape and dtype (and its
    class, for a subclass of ndarray), any other value's type."""
    kind = type(value)
    if kind is _ndarray:
        return value.shape, value.dtype
    if isinstance(value, _ndarray):  # np.matrix, np.memmap, a class of the user's
        return kind, value.shape, value.dtype
    return kind


def _first_mode_key(layer, args: tuple, kwargs: dict, record) -> tuple:
    """Everything a check depends on: the signature of each argument, the shape
    and dtype of each of the layer's parameters, and for a backward the forward
    call it differentiates.  Built with a plain loop: this runs on every call
    in `first` mode, so its cost is the mode's cost."""
    key = [_signature(a) for a in args]
    for parameter in layer._parameters.values():
        value = parameter.value
        key.append((value.shape, value.dtype))
    # shape_anchors are left out: they are sub-layers' parameters, and each
    # sub-layer's own key already changes (and so re-checks) when they do
    if kwargs:
        for name, value in kwargs.items():
            key.append((name, _signature(value)))
    if record is not None:  # a backward: its forward call's own entry, an int, quick to hash
        key.append(record.key or (repr(record.dims) if record.dims else None))
    return tuple(key)


def checked(method: Callable) -> Callable:
    """Check a layer method's shapes on every call (in mode ``always``).

    In one jaxtyping memo, in this order: the layer's own parameters against
    their declared dims, the arrays it names in ``shape_anchors`` (for a
    layer whose parameters live in its sub-layers), the arguments, then
    (after the body) the return value.  Parameters go first so that a
    disagreement blames the argument: ``W`` is the layer's truth, ``x`` is
    what the caller got wrong.

    It also keeps the layer's records (see ``records.py``).  A ``forward``
    opens a record, which ``save_for_backward`` fills, and pushes it with the
    dims its check bound, unless it runs inside ``no_grad()``.  A
    ``backward`` consumes the most recent record and starts its check from
    that record's dims, so ``dout`` must agree with the batch and sizes of
    the very forward call it differentiates.  A backward is checked as its
    forward was: switching the mode between the two changes nothing for that
    pair (a forward run with checks off leaves no dims, and its backward is
    then checked against the layer's parameters alone).
    """
    hints = typing.get_type_hints(method, include_extras=True)
    argument_names = list(inspect.signature(method).parameters)[1:]  # without self
    return_hint = hints.pop("return", None)
    # `mask: Bool[Array, "q_seq kv_seq"] | None`: None passes; an array is checked
    # against the array hint itself, so its error names the dims, not the union
    optional = {name for name, hint in hints.items() if _optional_array(hint) is not None}
    hints.update({name: _optional_array(hints[name]) for name in optional})
    _validate_dim_names(method.__qualname__, hints)
    if return_hint is not None:
        _validate_dim_names(method.__qualname__, {"return": return_hint})
    is_forward = method.__name__ == "forward"
    is_backward = method.__name__ == "backward"
    where_suffix = f".{method.__name__}"
    seen: dict[tuple, tuple[dict, dict]] = {}  # `first` mode: signature -> bound dims

    def run_checked(self, mode, record, args, kwargs, pop=True):
        """The body under the checks of ``mode`` ("always" or "first"); a backward
        starts from ``record``'s dims and pops it (unless ``pop`` is False: a
        backward nested in its own layer's backward, whose record the outer
        call pops).  Returns (result, the dims bound)."""
        differentiated = record if is_backward else None  # the forward this backward undoes
        if mode == "first":
            key = _first_mode_key(self, args, kwargs, differentiated)
            bound = seen.get(key)
            if bound is not None:
                if differentiated is not None and pop:
                    self._records.pop()
                _call_stack.append(None)  # intermediates inside skip their checks too
                try:
                    return method(self, *args, **kwargs), bound
                finally:
                    _call_stack.pop()
        elif mode != "always":  # SHAPESAFE_CHECKS named no mode: say so at the first call
            checks_from_environment()
        prebound = differentiated.dims if differentiated is not None else None
        call = _Call(type(self).__name__ + where_suffix, prebound, self)
        if prebound:
            call.memo[0].update(prebound[0])
            call.memo[1].update(prebound[1])
        for name, parameter in self._parameters.items():
            call.check(f"parameter {name}", name, parameter.hint, parameter.value)
        for path, dims in self.shape_anchors:
            call.check(f"parameter {path}", path, floats(dims), anchor_value(self, path))
        for name, value in zip(argument_names, args):
            if name in hints and not (value is None and name in optional):
                call.check(f"argument {name}", name, hints[name], value)
        for name, value in kwargs.items():
            if name in hints and not (value is None and name in optional):
                call.check(f"argument {name}", name, hints[name], value)
        if differentiated is not None and pop:  # its arguments passed: consume it
            self._records.pop()
        _call_stack.append(call)
        try:
            result = method(self, *args, **kwargs)
        finally:
            _call_stack.pop()
        if return_hint is not None:
            call.check("return value", "return", return_hint, result)
        bound = call.memo  # named dims and *variadic parts: this call's own dicts, kept
        if mode == "first":
            seen[key] = bound
        return result, bound

    def forward(self, *args, **kwargs):
        attributes = self.__dict__
        mode = _mode.get()
        outer = attributes["_open_record"]
        if outer is not None:
            # inside this layer's own forward (a subclass calling super().forward):
            # one call, one record, the outer one, which keeps the dims bound here
            if mode == "off":
                return method(self, *args, **kwargs)
            result, outer.dims = run_checked(self, mode, None, args, kwargs)
            return result
        record = Record(mode) if _recording.get() else None
        attributes["_open_record"] = record  # save_for_backward writes into it
        try:
            if mode == "off":
                result = method(self, *args, **kwargs)
            else:
                result, bound = run_checked(self, mode, record, args, kwargs)
                if record is not None and record.dims is not None:  # a nested call's dims too
                    record.dims = ({**record.dims[0], **bound[0]}, {**record.dims[1], **bound[1]})
                elif record is not None:
                    record.dims = bound
                    # the backward's `first` key names this entry by the id of its
                    # dims, which `seen` keeps alive, so the id is never reused
                    record.key = id(bound) if mode == "first" else None
        finally:
            attributes["_open_record"] = None
        if record is not None:  # only a forward that finished leaves a record
            self._push_record(record)
        # the arrays of this layer's last backward go only now, after this forward
        # made its own: see backward below
        attributes["_spent"] = None
        return result

    def backward(self, *args, **kwargs):
        attributes = self.__dict__
        outer = attributes["_consuming"]
        if outer is not None:  # inside this layer's own backward: the outer call's record
            mode = _mode.get()
            if mode == "off":
                return method(self, *args, **kwargs)
            return run_checked(self, mode, outer, args, kwargs, pop=False)[0]
        record = self._waiting_record(method.__name__)
        mode = _mode.get()
        if mode == "off" or (record.mode == "always" and mode == "first"):
            mode = record.mode  # a pair is checked at least as its forward was
        attributes["_consuming"] = record
        attributes["_saved"] = record.arrays
        try:
            if mode == "off":
                self._records.pop()
                return method(self, *args, **kwargs)
            return run_checked(self, mode, record, args, kwargs)[0]
        finally:
            attributes["_saved"] = attributes["_consuming"] = None
            # Keep the arrays alive until this layer's next forward has made its
            # own.  Freed here, at the end of every step, they let glibc's malloc
            # hand the memory back to the system, only to fault it in again on
            # the next step: 25% slower per transformer block (measured).
            attributes["_spent"] = record.arrays

    def other(self, *args, **kwargs):
        mode = _mode.get()
        if mode == "off":
            return method(self, *args, **kwargs)
        return run_checked(self, mode, None, args, kwargs)[0]

    wrapper = functools.wraps(method)(forward if is_forward else
                                      backward if is_backward else other)
    wrapper.keeps_records = True  # Module.__init_subclass__ leaves it as it is
    return wrapper


def check_ids(where: str, name: str, ids: Array, size: int) -> None:
    """Refuse ids outside ``[0, size)``, negative ones included.

    numpy would read ``table[-1]`` as the last row and raise only for ids
    ``>= size``; a wrong id must never become a silently wrong answer.
    """
    if ids.size and (ids.min() < 0 or ids.max() >= size):
        bad = np.argwhere((ids < 0) | (ids >= size))[0]
        raise ValueError(f"{where}: {name} holds {ids[tuple(bad)]} at index {tuple(bad.tolist())}, "
                         f"outside [0, {size})")
