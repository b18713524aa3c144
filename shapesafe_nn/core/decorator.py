"""``@checked``: the decorator every layer's forward and backward runs under.

In one memo, in this order, a checked call checks the layer's own
parameters against their declared dims, the arrays it names in
``shape_anchors`` (for a layer whose parameters live in its sub-layers), the
arguments, then (after the body) the return value.  Parameters go first so
that a disagreement blames the argument: ``W`` is the layer's truth, ``x``
is what the caller got wrong.  The first float array binds the float dtype
the same way.  After a backward, every gradient it wrote must still have its
parameter's shape and dtype.  A numpy error on a line of the body is
explained in the dims bound so far (``explain.py``).

The decorator also keeps the layer's records (see ``records.py``).  A
``forward`` opens a record, which ``save_for_backward`` fills, and pushes it
with the dims its check bound, unless it runs inside ``no_grad()``.  A
``backward`` consumes the most recent record and starts its check from that
record's dims, so ``dout`` must agree with the batch and sizes of the very
forward call it differentiates.  A backward is checked at least as its
forward was: switching checks off between the two changes nothing for that
pair.

A forward run with checks off leaves no dims (finding them is the work that
mode skips), and a checked backward of it can check ``dout`` against the
layer's parameters alone: ``dout`` binds the forward's dims itself, right or
wrong.  What the forward saved still holds the true sizes, so a wrong
``dout`` shows up later, in the return value or on a line of the body that
meets a saved array.  There, it is ``dout``'s mistake, not the body's: the
error names the argument, and the layer that found it is left as it was (its
record waiting, its gradients unchanged), as by a ``dout`` refused up front.
(Sub-layers whose backwards had already run inside it keep what they did:
only a checked forward lets a wrong ``dout`` be refused before any work.)
"""

import ast
import functools
import inspect
import types
import typing
from collections.abc import Callable

import numpy as np

from . import errors
from .call import Call, calls_in_progress
from .dims import DIMENSIONS, Array, floats
from .explain import explained
from .jaxtyping_internals import _SymbolicDim
from .modes import checks_from_environment, mode_in_force
from .records import Record, recording


# ---------------------------------------------------------------------------
# Reading a method's annotations, once, when the decorator is applied
# ---------------------------------------------------------------------------
def _array_hints_in(hint) -> list:
    """The jaxtyping array hints inside ``hint`` (itself, or members of a union)."""
    if hasattr(hint, "dim_str"):
        return [hint]
    return [h for arg in typing.get_args(hint) for h in _array_hints_in(arg)]


def _dim_names(array_hint) -> list[str]:
    """Every dim name an array hint reads: ``"batch 2*n_pairs"`` -> batch, n_pairs."""
    names = []
    for dim in array_hint.dims:
        if type(dim) is _SymbolicDim:  # a computed dim reads the names in its expression
            names += [node.id for node in ast.walk(ast.parse(dim.elem, mode="eval"))
                      if isinstance(node, ast.Name)]
        elif getattr(dim, "name", None) is not None:
            names.append(dim.name)
    return names


def _validate_dim_names(where: str, hints: dict) -> None:
    for name, hint in hints.items():
        for array_hint in _array_hints_in(hint):
            for dim in _dim_names(array_hint):
                if dim not in DIMENSIONS:
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


class _Signature(typing.NamedTuple):
    """What a checked method declares: each argument's hint, its return's."""

    argument_names: list[str]  # without self
    hints: dict  # argument name -> hint; `X | None` stored as X (None passes separately)
    optional: set  # the arguments that may be None
    return_hint: object


def _read_signature(method: Callable) -> _Signature:
    hints = typing.get_type_hints(method, include_extras=True)
    return_hint = hints.pop("return", None)
    # `mask: Bool[Array, "q_seq kv_seq"] | None`: None passes; an array is checked
    # against the array hint itself, so its error names the dims, not the union
    optional = {name for name, hint in hints.items() if _optional_array(hint) is not None}
    hints.update({name: _optional_array(hints[name]) for name in optional})
    _validate_dim_names(method.__qualname__, hints)
    if return_hint is not None:
        _validate_dim_names(method.__qualname__, {"return": return_hint})
    return _Signature(list(inspect.signature(method).parameters)[1:], hints, optional,
                      return_hint)


# ---------------------------------------------------------------------------
# The steps of one checked call
# ---------------------------------------------------------------------------
def _held_at(layer, path: str):
    """What ``layer`` holds at ``path`` (``"ln1.gamma"``): a Parameter, or a plain array."""
    held = layer
    for name in path.split("."):
        held = getattr(held, name)
    return held


def anchor_value(layer, path: str) -> Array:
    """The array at ``path`` (``"ln1.gamma"``) inside ``layer``; a Parameter's value."""
    held = _held_at(layer, path)
    return getattr(held, "value", held)


def _check_inputs(call: Call, layer, signature: _Signature, args: tuple, kwargs: dict) -> None:
    """Parameters, then shape anchors, then arguments, in the call's one memo."""
    for name, parameter in layer._parameters.items():
        call.check(f"parameter {name}", name, parameter.hint, parameter.value)
    for path, dims in layer.shape_anchors:
        held = _held_at(layer, path)
        # a sub-layer's weight is a parameter; a plain array (a rotary table) an anchor
        label = "anchor" if isinstance(held, np.ndarray) else "parameter"
        call.check(f"{label} {path}", path, floats(dims), getattr(held, "value", held))
    hints, optional = signature.hints, signature.optional
    for name, value in (*zip(signature.argument_names, args), *kwargs.items()):
        if name in hints and not (value is None and name in optional):
            call.check(f"argument {name}", name, hints[name], value)


def _bound_by_declarations(layer, signature: _Signature, args: tuple) -> dict[str, int]:
    """Dims read off the parameters and arguments without checking them: what
    an unchecked call (checks off, or skipped) can still name in an explanation."""
    bound: dict[str, int] = {}
    for parameter in layer._parameters.values():
        bound.update(zip(parameter.dims.split(), parameter.value.shape))
    for name, value in zip(signature.argument_names, args):
        hint = signature.hints.get(name)
        if (isinstance(value, np.ndarray) and hasattr(hint, "dim_str")
                and hint.index_variadic is None and value.ndim == len(hint.dims)):
            for dim, size in zip(errors.axes(hint), value.shape):
                if dim is not None:
                    bound.setdefault(dim, size)  # the parameters' sizes stay the truth
    return bound


def _run_body(method, layer, signature: _Signature, args: tuple, kwargs: dict,
              call: Call | None):
    """The layer's own code; a numpy ValueError or IndexError on one of its lines
    becomes a ShapeError in the dims bound so far."""
    try:
        return method(layer, *args, **kwargs)
    except (ValueError, IndexError) as error:
        if call is not None:
            where, chain, bound = call.where, call.chain(), call.memo[0]
        else:
            where = f"{type(layer).__name__}.{method.__name__}"
            chain, bound = [], _bound_by_declarations(layer, signature, args)
        explanation = explained(error, method, layer, where, chain, signature.hints, bound)
        if explanation is None:
            raise
        raise explanation from error


def _check_gradients(call: Call, layer, before: list) -> None:
    """After a backward: each parameter's ``grad`` keeps its value's shape and
    dtype.  A grad the body replaced by one that does not is put back, and refused."""
    for name, parameter, grad in before:
        now = parameter.grad
        if now is grad:
            continue
        if (not isinstance(now, np.ndarray) or now.shape != parameter.value.shape
                or now.dtype != parameter.value.dtype):
            parameter.grad = grad
            raise errors.changed_gradient(call, name, parameter, now)


def _undo_unverified(call: Call, error: BaseException, kept: list) -> BaseException:
    """A checked backward of a forward run with checks off failed: its gradients
    ``kept`` (each array and a copy of it) are put back, and the error to raise
    is returned, one this call found told as its arguments' (see the module)."""
    for parameter, grad, before in kept:
        grad[...] = before
        parameter.grad = grad
    # this call's (not a sub-layer's), and not a gradient the body left another
    # shape, which is the body's whatever dout was
    if (isinstance(error, errors.ShapeError) and error.where == call.where
            and error.chain == call.chain() and not (error.argument or "").endswith(".grad")):
        return errors.unverified_arguments(call, error)
    return error


def _first_mode_key(layer, args: tuple, kwargs: dict, record) -> tuple:
    """Everything a check depends on: the signature of each argument, the shape
    and dtype of each of the layer's parameters, and for a backward the forward
    call it differentiates.  Built with a plain loop: this runs on every call
    in `first` mode, so its cost is the mode's cost."""
    key = [_value_signature(a) for a in args]
    for parameter in layer._parameters.values():
        value = parameter.value
        key.append((value.shape, value.dtype))
    # shape_anchors are left out: they are sub-layers' parameters, and each
    # sub-layer's own key already changes (and so re-checks) when they do
    if kwargs:
        for name, value in kwargs.items():
            key.append((name, _value_signature(value)))
    if record is not None:  # a backward: its forward call's own entry, an int, quick to hash
        key.append(record.key or (repr(record.dims) if record.dims else None))
    return tuple(key)


_ndarray = np.ndarray  # looked up once: the key above runs on every call


def _value_signature(value):
    """What a check of ``value`` depends on: an array's shape and dtype (and its
    class, for a subclass of ndarray), any other value's type."""
    kind = type(value)
    if kind is _ndarray:
        return value.shape, value.dtype
    if isinstance(value, _ndarray):  # np.matrix, np.memmap, a class of the user's
        return kind, value.shape, value.dtype
    return kind


# ---------------------------------------------------------------------------
# The decorator
# ---------------------------------------------------------------------------
def checked(method: Callable) -> Callable:
    """Check a layer method's shapes and float dtype on every call (in mode ``always``).

    See this module's docstring for the order of the checks and the records.
    """
    signature = _read_signature(method)
    is_forward = method.__name__ == "forward"
    is_backward = method.__name__ == "backward"
    where_suffix = f".{method.__name__}"
    seen: dict[tuple, tuple] = {}  # `first` mode: signature -> bound dims

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
                    self._consume(differentiated)
                token = calls_in_progress.set(calls_in_progress.get() + (None,))
                try:  # intermediates inside skip their checks too
                    return _run_body(method, self, signature, args, kwargs, None), bound
                finally:
                    calls_in_progress.reset(token)
        elif mode != "always":  # SHAPESAFE_CHECKS named no mode: say so at the first call
            checks_from_environment()
        prebound = differentiated.dims if differentiated is not None else None
        call = Call(type(self).__name__ + where_suffix, prebound, self)
        _check_inputs(call, self, signature, args, kwargs)
        # a backward of a forward run with checks off: its arguments bound the
        # forward's dims unchecked, so the record goes only once the result agrees
        unverified = differentiated is not None and prebound is None
        if differentiated is not None and pop and not unverified:  # its arguments passed
            self._consume(differentiated)
        gradients = ([(name, parameter, parameter.grad)
                      for name, parameter in self._parameters.items()] if is_backward else ())
        kept = [(p, grad, grad.copy()) for _, p, grad in gradients] if unverified else None
        try:
            token = calls_in_progress.set(call.outer + (call,))
            try:
                result = _run_body(method, self, signature, args, kwargs, call)
            finally:
                calls_in_progress.reset(token)
            if gradients:
                _check_gradients(call, self, gradients)
            if signature.return_hint is not None:
                call.check("return value", "return", signature.return_hint, result)
        except BaseException as error:
            if kept is None:
                raise
            told = _undo_unverified(call, error, kept)
            if told is error:
                raise
            raise told from error
        if unverified and pop:
            self._consume(differentiated)
        bound = call.bound  # named dims, *variadic parts, float dtype: this call's own
        if mode == "first":
            seen[key] = bound
        return result, bound

    def unchecked(self, args, kwargs):
        return _run_body(method, self, signature, args, kwargs, None)

    def forward(self, *args, **kwargs):
        attributes = self.__dict__
        mode = mode_in_force.get()
        outer = attributes["_open_record"]
        if outer is not None:
            # inside this layer's own forward (a subclass calling super().forward):
            # one call, one record, the outer one, which keeps the dims bound here
            if mode == "off":
                return unchecked(self, args, kwargs)
            result, outer.dims = run_checked(self, mode, None, args, kwargs)
            return result
        record = Record(mode, self._pass) if recording.get() else None
        attributes["_open_record"] = record  # save_for_backward writes into it
        try:
            if mode == "off":
                result = unchecked(self, args, kwargs)
            else:
                result, bound = run_checked(self, mode, record, args, kwargs)
                if record is not None and record.dims is not None:  # a nested call's dims too
                    record.dims = ({**record.dims[0], **bound[0]}, {**record.dims[1], **bound[1]},
                                   record.dims[2] or bound[2])
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
            mode = mode_in_force.get()
            if mode == "off":
                return unchecked(self, args, kwargs)
            return run_checked(self, mode, outer, args, kwargs, pop=False)[0]
        record = self._waiting_record(method.__name__)
        mode = mode_in_force.get()
        if mode == "off" or (record.mode == "always" and mode == "first"):
            mode = record.mode  # a pair is checked at least as its forward was
        attributes["_consuming"] = record
        attributes["_saved"] = record.arrays
        try:
            if mode == "off":
                self._consume(record)
                return unchecked(self, args, kwargs)
            return run_checked(self, mode, record, args, kwargs)[0]
        finally:
            attributes["_saved"] = attributes["_consuming"] = None
            # Keep the arrays alive until this layer's next forward has made its
            # own.  Freed here, at the end of every step, they let glibc's malloc
            # hand the memory back to the system, only to fault it in again on
            # the next step: 25% slower per transformer block (measured).
            attributes["_spent"] = record.arrays

    def other(self, *args, **kwargs):
        mode = mode_in_force.get()
        if mode == "off":
            return unchecked(self, args, kwargs)
        return run_checked(self, mode, None, args, kwargs)[0]

    wrapper = functools.wraps(method)(forward if is_forward else
                                      backward if is_backward else other)
    wrapper.keeps_records = True  # Module.__init_subclass__ leaves it as it is
    return wrapper
