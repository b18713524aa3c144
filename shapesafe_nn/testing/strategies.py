"""Hypothesis strategies drawn from a layer's own shape annotations.

Needs the ``test`` extra (``pip install "shapesafe_nn[test]"``): this module
imports hypothesis.  jaxtyping itself offers no strategies (its issue #189
asks for them); the annotations every layer here already carries are
enough to draw arguments that fit::

    @given(inputs_for(Dense(4, 3)))
    def test_dense(args):
        (x,) = args                            # x: (batch, 4), batch drawn
        assert Dense(4, 3).forward(x).shape == (len(x), 3)

How each axis of an argument is drawn:

- a dim the layer fixes is read from the layer and used as it is: the dims
  of its own parameters (``W: "d_out d_in"``) and of its ``shape_anchors``,
  then any dim its sub-layers all agree on (a GPT's ``max_len``, from its
  position table), then the ``dims`` you pass for what the layer cannot
  tell (a :class:`~shapesafe_nn.models.mlp.Network` has no parameters of
  its own and its Dense layers disagree on ``d_in``: pass
  ``dims={"d_in": 784, "classes": 10}``);
- any other named dim (``batch``, ``seq``) is drawn once per example, in
  ``[1, max_side]``, and shared by every argument that names it; ``seq``
  stays at most ``max_len`` where the layer fixes ``max_len``;
- ``*shape`` draws 0 to 3 axes, at least one where an argument is
  ``*shape`` alone (numpy arithmetic on a 0-d array returns a scalar, not
  an array); a dim after it, as ``classes`` in ``*shape classes``, is the
  last axis, sized as above;
- ``3*d_model`` is evaluated from the dims bound, ``4`` is 4, and ``_`` or
  ``...`` draw sizes of their own.

Values: floats are finite, in [-3, 3], with the dtype of the layer's
parameters (float64 for a layer without any, or ``dtype`` if you give it);
integers lie in [0, vocab) when vocab is bound, else in [0, classes) when
classes is (a cost's labels), else in [0, 2).  An argument with a default
value is not drawn: the call keeps the default.
"""

import ast
import inspect
import typing
from collections import Counter

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..core import Module
from ..core import anchor_value, floats

# dim -> the dim it may not exceed: a sequence has no more positions than its table has rows
AT_MOST = {"seq": "max_len"}
MAX_VARIADIC_AXES = 3
VALUE_LIMIT = 3.0  # floats are drawn from [-VALUE_LIMIT, VALUE_LIMIT]
# with away_from_zero: |x| >= MIN_MAGNITUDE, so no ReLU input sits on its kink and
# no product of drawn numbers vanishes (a gradient check then compares real numbers)
MIN_MAGNITUDE = 0.1


# ---------------------------------------------------------------------------
# Reading annotations
# ---------------------------------------------------------------------------
def _array_hint(hint):
    """The jaxtyping array hint in ``hint``: itself, or the array in ``X | None``."""
    if hasattr(hint, "dim_str"):
        return hint
    return next((member for member in typing.get_args(hint) if hasattr(member, "dim_str")), None)


def _axes(hint) -> list[tuple[str, object]]:
    """Each axis of an array hint as (kind, what): ``("named", "batch")``,
    ``("variadic", "shape")``, ``("fixed", 4)``, ``("symbolic", "3*d_model")``,
    or ``("anonymous", None)`` for ``_``; ``...`` is ``("variadic", None)``."""
    axes = []
    for index, dim in enumerate(hint.dims):
        if index == hint.index_variadic:
            axes.append(("variadic", getattr(dim, "name", None)))
        elif hasattr(dim, "size"):
            axes.append(("fixed", dim.size))
        elif hasattr(dim, "elem"):
            axes.append(("symbolic", dim.elem))
        elif hasattr(dim, "name"):
            axes.append(("named", dim.name))
        else:
            axes.append(("anonymous", None))
    return axes


def _names_in(expression: str) -> list[str]:
    """The dim names a symbolic dim reads: ``"3*d_model"`` -> ``["d_model"]``."""
    tree = ast.parse(expression, mode="eval")
    return [node.id for node in ast.walk(tree) if isinstance(node, ast.Name)]


def _names_read(hint) -> set[str]:
    """Every dim name an array hint reads, symbolic ones' included."""
    names = set()
    for kind, what in _axes(hint):
        if kind in ("named", "variadic") and what is not None:
            names.add(what)
        elif kind == "symbolic":
            names.update(_names_in(what))
    return names


def _places(hint) -> set[tuple[str, bool]]:
    """The (name, is_variadic) dims an array hint names directly."""
    return {(what, kind == "variadic") for kind, what in _axes(hint)
            if kind in ("named", "variadic") and what is not None}


def _hints(layer: Module, method: str) -> tuple[list[tuple[str, object]], object]:
    """(name, array hint) of each argument ``method`` needs, in order, and its return hint."""
    where = f"{type(layer).__name__}.{method}"
    function = getattr(type(layer), method)
    hints = typing.get_type_hints(function, include_extras=True)
    arguments = []
    for name, parameter in list(inspect.signature(function).parameters.items())[1:]:
        if parameter.default is not inspect.Parameter.empty or parameter.kind in (
                inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue  # the call keeps its default
        hint = _array_hint(hints.get(name))
        if hint is None:
            raise TypeError(f"{where}: argument {name} has no array annotation such as "
                            f'Float[Array, "batch d_in"], so there is no shape to draw')
        arguments.append((name, hint))
    return arguments, _array_hint(hints.get("return"))


# ---------------------------------------------------------------------------
# The dims a layer fixes
# ---------------------------------------------------------------------------
def _sizes(dims: str, shape: tuple) -> dict[str, int]:
    """The named dims of an array declared ``dims`` that has ``shape``:
    ``("d_out d_in", (30, 784))`` -> ``{"d_out": 30, "d_in": 784}``."""
    hint = floats(dims)
    axes = _axes(hint)
    variadic = hint.index_variadic
    sizes = {}
    for index, (kind, name) in enumerate(axes):
        if kind == "named":
            # axes after a *variadic one are counted from the end
            position = index if variadic is None or index < variadic else index - len(axes)
            sizes[name] = shape[position]
    return sizes


def _own_dims(module: Module) -> dict[str, int]:
    """The dims ``module``'s checked call binds before its arguments: those of
    its parameters and of its shape anchors."""
    own = {}
    for parameter in module._parameters.values():
        own.update(_sizes(parameter.dims, parameter.value.shape))
    for path, dims in module.shape_anchors:
        own.update(_sizes(dims, anchor_value(module, path).shape))
    return own


def fixed_dims(layer: Module, dims: dict[str, int] | None = None) -> dict[str, int]:
    """Every dim ``layer`` fixes, by the rules of this module's docstring:
    its own, then those its sub-layers all agree on, then ``dims``.

    ``dims`` may add sizes but not contradict the layer's own: a Dense(4, 3)
    given ``dims={"d_in": 5}`` is a ValueError.
    """
    own = _own_dims(layer)
    agreed, disputed = {}, set()
    for path, module in layer.named_modules():
        if path:  # the layer itself is `own`
            for name, size in _own_dims(module).items():
                if agreed.setdefault(name, size) != size:
                    disputed.add(name)
    fixed = {name: size for name, size in agreed.items() if name not in disputed}
    for name, size in (dims or {}).items():
        if name in own and own[name] != size:
            raise ValueError(f"{type(layer).__name__} fixes {name} = {own[name]}; "
                             f"dims gives {name} = {size}")
        fixed[name] = size
    fixed.update(own)
    return fixed


def _float_dtype(layer: Module) -> np.dtype:
    """The dtype of the layer's first parameter, or of its first shape anchor; float64 if none."""
    for parameter in layer.parameters():
        return parameter.value.dtype
    for _, module in layer.named_modules():
        for path, _ in module.shape_anchors:
            return anchor_value(module, path).dtype
    return np.dtype(np.float64)


# ---------------------------------------------------------------------------
# One call, drawn
# ---------------------------------------------------------------------------
class _Call:
    """What a strategy needs to draw the arguments of ``layer.<method>``.

    For ``backward`` it also draws the forward call the backward
    differentiates: ``forward_arguments`` first, then ``arguments``.
    """

    def __init__(self, layer: Module, method: str, max_side: int, dtype, dims,
                 min_side: int = 1, away_from_zero: bool = False):
        for name, side in (("max_side", max_side), ("min_side", min_side)):
            if isinstance(side, bool) or not isinstance(side, int) or side < 1:
                raise ValueError(f"{name} must be a positive integer, not {side!r}")
        if min_side > max_side:
            raise ValueError(f"min_side {min_side} is larger than max_side {max_side}")
        self.where = f"{type(layer).__name__}.{method}"
        self.max_side = max_side
        self.min_side = min_side
        self.away_from_zero = away_from_zero
        self.own = _own_dims(layer)
        self.fixed = fixed_dims(layer, dims)
        self.float_dtype = np.dtype(dtype) if dtype is not None else _float_dtype(layer)
        self.is_backward = method == "backward"
        self.arguments, _ = _hints(layer, method)
        self.forward_arguments, self.forward_return = [], None
        if self.is_backward:
            self.forward_arguments, self.forward_return = _hints(layer, "forward")
            self._refuse_dims_only_forward_knows()

    def _refuse_dims_only_forward_knows(self) -> None:
        """A dim of ``dout`` that neither the layer nor forward's arguments fix is
        one only forward's computation knows (a Network's ``classes``): drawing
        it would give a ``dout`` of the wrong shape."""
        known = set(self.fixed) | {name for _, hint in self.forward_arguments
                                   for name in _names_read(hint)}
        unknown = sorted({name for _, hint in self.arguments
                          for name in _names_read(hint) if name not in known})
        if unknown:
            sizes = ", ".join(f"{name!r}: ..." for name in unknown)
            raise ValueError(f"{self.where}: only forward's computation knows "
                             f"{' and '.join(unknown)}, not the layer's parameters or forward's "
                             f"arguments; give the size as dims={{{sizes}}}")

    def all_hints(self) -> list:
        return [hint for _, hint in self.forward_arguments + self.arguments]

    def draw_sizes(self, draw, at_least_one_axis: frozenset = frozenset()) -> tuple[dict, dict]:
        """Draw every dim the layer leaves open, once: (named sizes, *variadic shapes)."""
        single, variadic = dict(self.fixed), {}
        alone = {what for hint in self.all_hints() for kind, what in _axes(hint)
                 if kind == "variadic" and len(hint.dims) == 1}
        for hint in self.all_hints():
            for kind, what in _axes(hint):
                if kind == "variadic" and what is not None and what not in variadic:
                    least = 1 if what in alone or what in at_least_one_axis else 0
                    variadic[what] = draw(hnp.array_shapes(
                        min_dims=least, max_dims=MAX_VARIADIC_AXES, min_side=self.min_side,
                        max_side=self.max_side))
                names = [what] if kind == "named" else _names_in(what) if kind == "symbolic" else []
                for name in names:
                    if name not in single:
                        largest = min(self.max_side, single.get(AT_MOST.get(name), self.max_side))
                        single[name] = draw(st.integers(min(self.min_side, largest), largest))
        return single, variadic

    def draw_array(self, draw, hint, single: dict, variadic: dict, values: dict) -> np.ndarray:
        """One array for ``hint``, its shape from ``single`` and ``variadic``;
        ``values`` holds the true sizes, which set the range of integers."""
        shape = []
        for kind, what in _axes(hint):
            if kind == "variadic":
                shape += variadic[what] if what is not None else draw(hnp.array_shapes(
                    min_dims=0, max_dims=MAX_VARIADIC_AXES, min_side=self.min_side,
                    max_side=self.max_side))
            elif kind == "fixed":
                shape.append(what)
            elif kind == "symbolic" and what in single:  # a computed dim put off on purpose
                shape.append(single[what])
            elif kind == "symbolic":  # "3*d_model", evaluated as jaxtyping does
                shape.append(int(eval(what, {"__builtins__": {}}, dict(single))))
            elif kind == "named":
                shape.append(single[what])
            else:
                shape.append(draw(st.integers(self.min_side, self.max_side)))
        if "float32" in hint.dtypes:
            dtype = self.float_dtype
            width = 8 * dtype.itemsize
            if self.away_from_zero:  # |x| in [MIN_MAGNITUDE, VALUE_LIMIT], either sign
                elements = st.tuples(st.sampled_from([-1.0, 1.0]), st.floats(
                    MIN_MAGNITUDE, VALUE_LIMIT, width=width)).map(lambda pair: pair[0] * pair[1])
            else:
                elements = st.floats(-VALUE_LIMIT, VALUE_LIMIT, width=width)
        elif "int64" in hint.dtypes:
            dtype = np.dtype(np.int64)
            elements = st.integers(0, values.get("vocab", values.get("classes", 2)) - 1)
        else:  # a Bool array
            dtype, elements = np.dtype(bool), st.booleans()
        return draw(hnp.arrays(dtype, tuple(shape), elements=elements))

    def constrained(self) -> list[tuple[str, bool | None, int]]:
        """(dim, is_variadic, argument position) for every dim the checked call
        compares with a size bound before it: one the layer's own parameters or
        anchors fix, one that two arguments name, and in a backward, any dim
        its forward bound (forward's arguments and return value).  A computed
        dim (``2*n_pairs``) whose names are all bound before comes as
        (its text, None, position)."""
        count = Counter(place for _, hint in self.arguments for place in _places(hint))
        bound_before = {(name, False) for name in self.own}
        bound_before |= {place for place, n in count.items() if n >= 2}
        if self.is_backward:
            for hint in [hint for _, hint in self.forward_arguments] + [self.forward_return]:
                if hint is not None:
                    bound_before |= _places(hint)
        named = [(name, is_variadic, position)
                 for position, (_, hint) in enumerate(self.arguments)
                 for name, is_variadic in sorted(_places(hint))
                 if (name, is_variadic) in bound_before]
        computed = [(what, None, position)
                    for position, (_, hint) in enumerate(self.arguments)
                    for kind, what in _axes(hint)
                    if kind == "symbolic" and all((name, False) in bound_before
                                                  for name in _names_in(what))]
        return named + computed


class Mismatch(str):
    """The dim :func:`mismatched_inputs_for` put off, and the argument it changed.

    It is the dim's label, a ``str``: ``"d_in"``, or ``"*shape"`` when one
    axis of a ``*shape`` is off, so ``dim == "d_in"`` and ``dim in str(error)``
    work as on any string.  It also says where the change is:

    - ``.argument``: the name of the one argument whose shape was changed
      (``"x"``, or ``"dout"`` in a backward);
    - ``.position``: that argument's index in the arguments drawn;
    - ``.dim``: the name a :class:`~shapesafe_nn.shapes.ShapeError` puts in
      its own ``.dim``, without the star: ``"shape"`` for ``"*shape"``.

    Where two arguments share the dim (``batch`` of a cost's ``a`` and
    ``labels``), the error may blame the other one: the check binds the dim
    from the first argument that names it, then finds the second disagrees.
    """

    argument: str
    position: int

    def __new__(cls, label: str, argument: str, position: int):
        mismatch = super().__new__(cls, label)
        mismatch.argument = argument
        mismatch.position = position
        return mismatch

    def __getnewargs__(self):  # copy and pickle rebuild it with its argument
        return str(self), self.argument, self.position

    @property
    def dim(self) -> str:
        return self.removeprefix("*")

    def __repr__(self) -> str:
        return (f"Mismatch({str(self)!r}, argument={self.argument!r}, "
                f"position={self.position})")


@st.composite
def _other_size(draw, size: int, max_side: int) -> int:
    """A size in [1, size + max_side] other than ``size``: an offset that is never 0."""
    offset = draw(st.integers(1 - size, max_side - 1))
    return size + (offset if offset < 0 else offset + 1)


@st.composite
def _calls(draw, call: _Call):
    single, variadic = call.draw_sizes(draw)
    forward = tuple(call.draw_array(draw, hint, single, variadic, single)
                    for _, hint in call.forward_arguments)
    arguments = tuple(call.draw_array(draw, hint, single, variadic, single)
                      for _, hint in call.arguments)
    return (forward, arguments) if call.is_backward else arguments


@st.composite
def _mismatched_calls(draw, call: _Call, candidates: list):
    name, is_variadic, wrong_position = draw(st.sampled_from(candidates))
    single, variadic = call.draw_sizes(draw, frozenset({name} if is_variadic else ()))
    wrong_single, wrong_variadic = dict(single), dict(variadic)
    if is_variadic:  # one axis of the *shape changes
        shape = list(variadic[name])
        axis = draw(st.integers(0, len(shape) - 1))
        shape[axis] = draw(_other_size(shape[axis], call.max_side))
        wrong_variadic[name] = tuple(shape)
    elif is_variadic is None:  # a computed dim ("2*n_pairs"): its size, not its names
        size = int(eval(name, {"__builtins__": {}}, dict(single)))
        wrong_single[name] = draw(_other_size(size, call.max_side))
    else:
        wrong_single[name] = draw(_other_size(single[name], call.max_side))
    forward = tuple(call.draw_array(draw, hint, single, variadic, single)
                    for _, hint in call.forward_arguments)
    arguments = tuple(
        call.draw_array(draw, hint, wrong_single, wrong_variadic, single) if position ==
        wrong_position else call.draw_array(draw, hint, single, variadic, single)
        for position, (_, hint) in enumerate(call.arguments))
    label = Mismatch(f"*{name}" if is_variadic else name, call.arguments[wrong_position][0],
                     wrong_position)
    return ((forward, arguments) if call.is_backward else arguments), label


# ---------------------------------------------------------------------------
# The strategies
# ---------------------------------------------------------------------------
def inputs_for(layer: Module, method: str = "forward", *, max_side: int = 8, dtype=None,
               dims: dict[str, int] | None = None, min_side: int = 1,
               away_from_zero: bool = False) -> st.SearchStrategy:
    """Argument tuples that fit ``layer.<method>``'s annotations (rules in the module docstring).

    For ``"forward"`` (or any other checked method) each example is the tuple
    of arguments: ``layer.forward(*args)``.  For ``"backward"`` each example
    is a pair ``(forward_args, backward_args)``: the forward call the
    backward differentiates, and a ``dout`` that fits it::

        forward_args, backward_args = example
        layer.forward(*forward_args)
        dx = layer.backward(*backward_args)

    A cost's ``backward()`` takes no argument: its ``backward_args`` is ``()``.

    Args:
        layer: the layer whose method is called; only read, never called.
        method: the method's name.
        max_side: the largest size a drawn dim takes.
        dtype: the dtype of float arrays; default: the layer's parameters'.
        dims: sizes of dims the layer cannot tell from its parameters.
        min_side: the smallest size a drawn dim takes.  A gradient check of
            attention wants 2: with one position the softmax weight is 1
            whatever the score, and no gradient reaches the scores.
        away_from_zero: draw floats with |x| >= MIN_MAGNITUDE (0.1).
    """
    return _calls(_Call(layer, method, max_side, dtype, dims, min_side, away_from_zero))


def mismatched_inputs_for(layer: Module, method: str = "forward", *, max_side: int = 8,
                          dtype=None, dims: dict[str, int] | None = None) -> st.SearchStrategy:
    """``(args, dim)`` pairs where ``args`` fits ``layer.<method>`` but for one
    named dim of one argument, off by a nonzero amount (and still >= 1).

    ``args`` has the form :func:`inputs_for` gives; for ``"backward"`` the
    forward arguments are right and one dim of a backward argument (``dout``)
    is wrong.  The dim is one the checked call compares with a size bound
    before it: a dim of the layer's own parameters or shape anchors, a dim two
    arguments share, or in a backward, a dim its forward bound.  So the call
    must raise a ShapeError whose ``.dim`` is ``dim.dim``.

    A computed dim (``"2*n_pairs"``) whose names the layer binds is put off as a
    whole: its size differs from its value, its names stay right, and the
    label is its text.

    ``dim`` is a :class:`Mismatch`: a ``str``, the dim's name (``"d_model"``),
    that also names the argument it changed, ``dim.argument`` (``"x"``), at
    ``dim.position`` in ``args``.  A ``*shape`` dim comes with its star,
    ``"*shape"``, and one of its axes is off: the error's message names it
    as ``'*shape'``, and its ``.dim`` is the name without the star
    (``"shape"``, which ``dim.dim`` gives too)::

        @given(mismatched_inputs_for(Dense(4, 3)))
        def test_dense_refuses(example):
            (x,), dim = example        # dim == "d_in", dim.argument == "x"
            with pytest.raises(ShapeError) as error:
                Dense(4, 3).forward(x)
            assert error.value.dim == dim.dim

    Raises ValueError where nothing can mismatch: a method that takes no
    array argument (a cost's ``backward()``), or one whose every dim is free
    (``Sigmoid.forward`` accepts any shape at all).
    """
    call = _Call(layer, method, max_side, dtype, dims)
    candidates = call.constrained()
    if not call.arguments:
        raise ValueError(f"{call.where} takes no array argument, so none can mismatch")
    if not candidates:
        raise ValueError(f"{call.where}: no dim of its arguments is constrained by the layer or "
                         f"by another argument, so every shape fits and none can mismatch")
    return _mismatched_calls(call, candidates)
