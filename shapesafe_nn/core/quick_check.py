"""The quick check: jaxtyping's rule for the hints layers use, without the machinery.

beartype and jaxtyping together take 6 µs or more per array, most of it
generic machinery, and 25 to 80 µs for an optional class or a dim such as
"3*d_model".  A layer's hints are nearly all plain names ("batch seq
d_model"), one named variadic part ("*heads"), a dim computed from names, or
a class of the package, and for those the rule is short: the dtype is one
the hint allows, the number of axes matches, each name is bound to one size
in the call's memo, each computed dim equals its value; an object is an
instance of its class.  This file applies that rule, in the memo's own
format.  A pass is a pass for beartype and jaxtyping too; anything else
(another kind of hint, a failure) goes to them, which stay the authority and
write the error's reason.
"""

import types
import typing

import numpy as np

from .jaxtyping_internals import _anonymous_dim, _NamedDim, _NamedVariadicDim, _SymbolicDim


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


QUICK_PLANS: dict = {}  # hint -> a plan, a tuple of _ArrayPlans (tuple[...]), or None


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


def quick_plan(hint):
    """What the quick check needs of ``hint``: an :class:`_ArrayPlan`, a
    :class:`_ClassPlan`, a tuple of array plans for a ``tuple[ArrayHint, ...]``
    of fixed length, or None if the hint must go to beartype and jaxtyping (a
    fixed size, a broadcastable dim, a Python number, any other typing form)."""
    origin, members = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        plans = tuple(quick_plan(member) for member in members)
        usable = members and Ellipsis not in members and all(
            type(plan) is _ArrayPlan for plan in plans)
        return plans if usable else None
    if origin in (typing.Union, types.UnionType) and len(members) == 2 and type(None) in members:
        plan = quick_plan(next(member for member in members if member is not type(None)))
        return plan._replace(none_passes=True) if type(plan) in (_ArrayPlan, _ClassPlan) else None
    if origin is list and len(members) == 1:
        plan = quick_plan(members[0])
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


def passes_quickly(hint, value, single: dict, variadic: dict) -> bool:
    """True if ``value`` satisfies ``hint`` by beartype's and jaxtyping's rule,
    binding its dims in jaxtyping's memo format (``single`` for named dims,
    ``variadic`` for *name parts) as jaxtyping would; False means "ask them"
    (they may still pass it), and leaves the memo as it was."""
    try:
        plan = QUICK_PLANS[hint]
    except KeyError:
        plan = QUICK_PLANS[hint] = quick_plan(hint)
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

