"""The symbol sheet's rows, read from the code: each symbol's dims as the package declares them.

``docs/symbols.md`` lists every symbol of the pages with its dims.  Nothing
in it is typed by hand but the symbol's name and the place in the code to
read it from, in four ways:

- :func:`argument`: a method's annotation, ``Float[Array, "batch d_in"]``,
  the one the checks enforce on every call (or a plain function's, with
  :func:`returned`);
- :func:`parameter`: the dims a layer gives its parameter,
  ``Parameter(value, "d_out d_in")``, checked in the same call;
- :func:`anchor`: a layer's ``shape_anchors``, the dims of a sub-layer's
  array in its role (``FeedForward``'s ``fc.W`` is ``"d_ff d_model"``);
- :func:`inner`: an intermediate the code checks with
  ``expect("scores", scores, "batch *heads q_seq kv_seq")``, read from the
  layer's source, and named by the public method a learner reads.

:func:`sheet` prints the rows, and :func:`stored` says in words how an
array of those dims lies in memory: its last axis is a row.
"""

import ast
import inspect
import textwrap
import typing

# what one index of an axis names: a row of the last axis belongs to one of these
ROW_OF = {"batch": "example", "seq": "position", "q_seq": "query", "kv_seq": "key",
          "tgt_seq": "target position", "src_seq": "source position", "*heads": "head",
          "n_heads": "head", "d_out": "output neuron", "vocab": "token", "max_len": "position",
          "d_ff": "hidden neuron", "d_model": "output feature", "d_head": "head feature"}


def _array_hint(hint):
    """The jaxtyping hint in an annotation: itself, or the array of ``X | None``."""
    if hasattr(hint, "dim_str"):
        return hint
    return next(member for member in typing.get_args(hint) if hasattr(member, "dim_str"))


def returned(function, which=0):
    """(where, dims) of what a plain function returns, or of one of the arrays it
    returns (``get_batch``'s ``y``, ``which=1``)."""
    hint = typing.get_type_hints(function, include_extras=True)["return"]
    if typing.get_origin(hint) is tuple:
        hint = typing.get_args(hint)[which]
    return f"{function.__name__} returns" + (f" [{which}]" if which else ""), \
        _array_hint(hint).dim_str


def argument(cls, method, name, which=0):
    """(where, dims) of an argument, or of the return value (``name="return"``);
    ``which`` picks one of several returned arrays (attention's dq, dk, dv)."""
    hints = typing.get_type_hints(getattr(cls, method), include_extras=True)
    hint = hints[name]
    if typing.get_origin(hint) is tuple:
        hint = typing.get_args(hint)[which]
    where = f"{cls.__name__}.{method} " + (f"returns [{which}]" if which else
                                           "returns" if name == "return" else name)
    return where, _array_hint(hint).dim_str


def parameter(layer, path):
    """(where, dims) of a parameter, as the layer declares it: Parameter(value, "d_out d_in")."""
    owner, _, name = path.rpartition(".")
    module = dict(layer.named_modules())[owner]
    return f"{type(layer).__name__}.{path}", getattr(module, name).dims


def anchor(cls, path):
    """(where, dims) of a shape anchor: a sub-layer's array in its role,
    ``("fc.W", "d_ff d_model")``."""
    return f"{cls.__name__}.{path}", dict(cls.shape_anchors)[path]


def inner(cls, name):
    """(where, dims) of an intermediate the code checks with ``expect(name, value, dims)``,
    named by the method a learner reads: where the check sits in a private helper
    (``MultiHead._out_of_heads``, which self- and cross-attention share), the
    public method of ``cls`` that calls it."""
    methods = methods_of(cls)
    for method, function in methods.items():
        for call in (node for node in ast.walk(function) if isinstance(node, ast.Call)):
            if getattr(call.func, "id", None) == "expect" and \
                    getattr(call.args[0], "value", None) == name:
                return f"{cls.__name__}.{public_caller(methods, method)}: {name}", \
                    call.args[2].value
    raise LookupError(f"{cls.__name__} checks no intermediate called {name!r}")


def methods_of(cls):
    """Every method ``cls`` defines or inherits from the package, by name, its own
    first, each as the syntax tree of its source."""
    methods = {}
    for owner in cls.__mro__:
        if owner.__module__.startswith("shapesafe_nn"):
            tree = ast.parse(textwrap.dedent(inspect.getsource(owner)))
            for node in tree.body[0].body:
                if isinstance(node, ast.FunctionDef):
                    methods.setdefault(node.name, node)
    return methods


def public_caller(methods, name):
    """``name`` if it is public, else the first method that calls ``self.name(...)``,
    followed up until a public one."""
    while name.startswith("_"):
        name = next(caller for caller, function in methods.items()
                    if any(isinstance(node, ast.Attribute) and node.attr == name
                           and getattr(node.value, "id", None) == "self"
                           for node in ast.walk(function)))
    return name


def stored(dims):
    """How an array of these dims is laid out: its last axis is a row."""
    axes = dims.split()
    if axes == ["*shape"]:
        return "any shape at all"
    if axes == ["batch"]:
        return "one number per example"
    if len(axes) == 1:
        return f"one vector of {axes[0]}, shared by every row"
    *index, last = axes
    owners = [ROW_OF.get(axis, axis) for axis in index]
    return f"a row of {last} per " + (", ".join(owners[:-1]) + " and " if owners[1:] else "") \
        + owners[-1]


def sheet(rows) -> set[str]:
    """Print one table, two lines a symbol: its dims and how it is stored, then
    where the code declares those dims (and, for the book's symbols, its form
    there).  Returns every dim name the table used (``*heads`` as ``heads``,
    ``3*d_model`` as ``d_model``)."""
    used = set()
    for symbol, (where, dims), *book in rows:
        used.update(name.strip("*") for name in dims.replace("*d", " d").split())
        print(f"{symbol:10} {dims:30} {stored(dims)}")
        print(f"{'':10} {where}" + (f";  book: {book[0]}" if book else ""))
    return used
