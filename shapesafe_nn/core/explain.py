"""A numpy error inside a layer's own code, explained in the dims of its annotations.

A learner's backward with ``dout @ self.W.value.T`` where ``dout @
self.W.value`` was meant stops on numpy's ``matmul: Input operand 1 has a
mismatch in its core dimension 0...``: no layer, no method, no names.  The
checked call knows every dim its arguments and parameters bound, so it can
say the same thing in the learner's words::

    MyDense.backward: line 23 failed: dout @ self.W.value.T
      dout            (batch=3, d_out=5)
      self.W.value.T  (d_in=4, d_out=5)      <- W is (d_out d_in)
      matmul needs the last axis of the left (d_out=5) to equal the
      second-last of the right (d_in=4)

Only errors numpy raises on a line of the method itself are explained; a
``raise ValueError(...)`` the layer writes on purpose passes through as it
is.  The numpy error stays reachable as ``__cause__`` and ``.original``.
"""

import ast
import builtins
import inspect
import os
import textwrap

import numpy as np

from .errors import ShapeError

_NUMPY_FOLDER = os.path.dirname(np.__file__)
_MOST_ARRAYS = 3  # lines of arrays shown, so that a message stays at most six lines


def explained(error: Exception, method, layer, where: str, chain: list[str],
              hints: dict, bound: dict[str, int]) -> ShapeError | None:
    """The ShapeError that explains ``error``, raised by numpy on a line of
    ``method``'s body; None if it came from anywhere else."""
    frame, line_number = _failing_line_of(error, method)
    if frame is None:
        return None
    statement = _statement_at(method, line_number)
    if statement is None or isinstance(statement, ast.Raise):
        return None
    shown = statement.value if isinstance(statement, (ast.Return, ast.Expr)) else statement
    text = " ".join(ast.unparse(shown).split())
    arrays = _arrays_in(shown, frame, layer, hints, bound)
    reason = _reason(error, shown, frame, arrays)
    lines = [f"{''.join(chain)}{where}: line {line_number} failed: {text}"]
    width = max((len(label) for label, _, _ in arrays[:_MOST_ARRAYS]), default=0)
    for label, value, (names, note) in arrays[:_MOST_ARRAYS]:
        sizes = ", ".join(size if name is None else f"{name}={size}"
                          for name, size in zip(names, map(str, value.shape)))
        lines.append(f"  {label:<{width}}  ({sizes}){note}".rstrip())
    lines += [f"  {line}" for line in reason]
    return ShapeError("\n".join(lines), where=where, bindings=dict(bound), original=error,
                      chain=chain)


def _failing_line_of(error: Exception, method):
    """The frame of ``method``'s body the error passed through, and its line,
    if the error was raised there or inside numpy; (None, None) otherwise."""
    body, innermost = None, None
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code is method.__code__:
            body = traceback
        innermost = traceback
        traceback = traceback.tb_next
    if body is None:
        return None, None
    if innermost is not body and not innermost.tb_frame.f_code.co_filename.startswith(
            _NUMPY_FOLDER):
        return None, None  # raised by other Python code: it wrote its own message
    return body.tb_frame, body.tb_lineno


def _statement_at(method, line_number: int) -> ast.stmt | None:
    """The innermost statement of ``method``'s source on ``line_number``."""
    try:
        lines, first = inspect.getsourcelines(method)
    except (OSError, TypeError):
        return None
    tree = ast.parse(textwrap.dedent("".join(lines)))
    wanted = line_number - first + 1
    found = None
    for node in ast.walk(tree):
        if (isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.If,
                                                                  ast.For, ast.While, ast.With,
                                                                  ast.Try))
                and node.lineno <= wanted <= node.end_lineno):
            if found is None or node.end_lineno - node.lineno <= found.end_lineno - found.lineno:
                found = node
    return found


def _evaluate(node: ast.expr, frame):
    """The value of a name, attribute chain or constant subscript (``self.saved["x"]``)
    in ``frame``, computing nothing else; ``...`` where it cannot."""
    if isinstance(node, ast.Name):
        for scope in (frame.f_locals, frame.f_globals, vars(builtins)):
            if node.id in scope:
                return scope[node.id]
        return ...
    if isinstance(node, ast.Attribute):
        base = _evaluate(node.value, frame)
        try:
            return ... if base is ... else getattr(base, node.attr)
        except Exception:  # a property that fails here: leave it out
            return ...
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        base = _evaluate(node.value, frame)
        if isinstance(base, dict):
            return base.get(node.slice.value, ...)
    return ...


def _arrays_in(node: ast.AST, frame, layer, hints, bound) -> list:
    """``(text, array, (dim names, note))`` for each array named on the line, the
    largest expression that is still a name or attribute chain (``self.W.value.T``,
    not ``self.W``)."""
    found, seen = [], set()

    def visit(child):
        if isinstance(child, (ast.Name, ast.Attribute, ast.Subscript)):
            value = _evaluate(child, frame)
            if isinstance(value, np.ndarray):
                text = ast.unparse(child)
                if text not in seen:
                    seen.add(text)
                    found.append((text, value, _dim_names(child, value, layer, hints, bound)))
                return
        for grandchild in ast.iter_child_nodes(child):
            visit(grandchild)

    visit(node)
    return found


def _dim_names(node, value, layer, hints, bound) -> tuple[list, str]:
    """The dim name of each axis of ``value``: from its annotation (an argument),
    its declared dims (a parameter's ``.value`` or ``.grad``), reversed by ``.T``;
    else the one bound dim of that size, if only one has it."""
    transposes = 0
    while isinstance(node, ast.Attribute) and node.attr == "T":
        transposes += 1
        node = node.value
    names, note = None, ""
    if isinstance(node, ast.Name) and node.id in hints:
        declared = [getattr(dim, "name", None) for dim in getattr(hints[node.id], "dims", ())]
        if hints[node.id].index_variadic is None and len(declared) == value.ndim:
            names = declared
    elif (isinstance(node, ast.Attribute) and node.attr in ("value", "grad")
          and isinstance(node.value, ast.Attribute)
          and isinstance(node.value.value, ast.Name) and node.value.value.id == "self"
          and node.value.attr in layer._parameters):
        parameter = layer._parameters[node.value.attr]
        names = parameter.dims.split()
        note = f"      <- {node.value.attr} is ({parameter.dims})" if transposes % 2 else ""
    if names is not None and len(names) == value.ndim:
        return (names[::-1] if transposes % 2 else names), note
    by_size = {}
    for name, size in bound.items():
        by_size.setdefault(size, []).append(name)
    return [by_size[size][0] if len(by_size.get(size, ())) == 1 else None
            for size in value.shape], note


def _reason(error: Exception, node: ast.AST, frame, arrays) -> list[str]:
    """One or two lines saying what the failing operation needed."""
    names = {text: dims for text, _, (dims, _) in arrays}
    for child in ast.walk(node):
        if isinstance(child, ast.BinOp) and isinstance(child.op, ast.MatMult):
            left, right = _evaluate(child.left, frame), _evaluate(child.right, frame)
            if not (isinstance(left, np.ndarray) and isinstance(right, np.ndarray)):
                continue
            right_axis = -2 if right.ndim > 1 else -1
            if left.shape[-1] == right.shape[right_axis]:
                continue
            left_dim = _named_size(left, -1, names.get(ast.unparse(child.left)))
            right_dim = _named_size(right, right_axis, names.get(ast.unparse(child.right)))
            side = "second-last" if right.ndim > 1 else "only axis"
            return [f"matmul needs the last axis of the left ({left_dim}) to equal the",
                    f"{side} of the right ({right_dim})"]
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "could not be broadcast" in message:
        return ["elementwise, numpy lines the axes up from the right: each pair must be",
                f"equal, or one of them 1 ({message.split('shapes', 1)[-1].strip()})"]
    return [f"numpy: {message}"[:96]]


def _named_size(value, axis: int, dims: list | None) -> str:
    size = value.shape[axis]
    return f"{dims[axis]}={size}" if dims and dims[axis] else str(size)
