"""Parameters and modules: the containers every layer is built from.

A :class:`Parameter` is a value and its gradient, plus the *symbolic* shape
the value must always have (``"d_out d_in"`` for a weight matrix).  A
:class:`Module` finds its parameters and sub-modules by attribute
assignment, so ``named_parameters()`` yields names such as
``"blocks.0.attn.W_qkv"``, and ``print(model)`` shows every size.
"""

from collections.abc import Iterator

import numpy as np

from .shapes import floats


class Parameter:
    """A trainable array, its gradient, and the dims it must keep.

    ``grad`` has the value's shape and dtype and *accumulates*: each
    ``backward`` adds to it, and ``Module.zero_grad`` clears it.
    """

    __slots__ = ("value", "grad", "dims", "hint")

    def __init__(self, value: np.ndarray, dims: str):
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.floating):
            raise TypeError(f"a Parameter must hold floats, not {value.dtype}")
        self.value = value
        self.grad = np.zeros_like(value)
        self.dims = dims
        self.hint = floats(dims)

    def __repr__(self) -> str:
        return f"Parameter({self.dims}) = {self.value.shape} {self.value.dtype}"


class Module:
    """Base class of every layer and model.

    Subclasses assign parameters and sub-modules as attributes; this class
    records them in order.  A layer implements ``forward`` (compute and save
    what backward needs) and ``backward`` (add parameter gradients into
    ``.grad`` and return the gradient with respect to the input).
    """

    training: bool = True
    # (path, dims) of arrays inside sub-layers that fix this layer's dims, checked
    # before the arguments: ("ln1.gamma", "d_model") lets a TransformerBlock
    # blame a wrong x itself.  A layer with parameters of its own needs none.
    shape_anchors: tuple[tuple[str, str], ...] = ()

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_saved", None)
        object.__setattr__(self, "_forward_dims", None)  # dims bound by the last forward
        object.__setattr__(self, "_forward_key", None)  # its signature, in `first` mode

    def __setattr__(self, name: str, value) -> None:
        if name.startswith("_") and not isinstance(value, (Parameter, Module)):
            # private bookkeeping such as _saved, set on every call: keep it cheap
            object.__setattr__(self, name, value)
            return
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                               f"before assigning {name!r}")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- what backward needs -------------------------------------------------
    def save_for_backward(self, **arrays) -> None:
        """Keep exactly what ``backward`` needs from this ``forward`` call."""
        vars(self)["_saved"] = arrays  # a plain write, past __setattr__: every call makes one

    @property
    def saved(self) -> dict:
        """What the last ``forward`` saved; an error if there was no forward."""
        if self._saved is None:
            name = type(self).__name__
            raise RuntimeError(f"{name}.backward was called before {name}.forward: "
                               f"there is no forward pass to differentiate")
        return self._saved

    # -- parameters and sub-modules -----------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """This module and every module inside it, with dotted names."""
        yield prefix, self
        for name, module in self._modules.items():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every parameter inside this module: ``("layers.0.W", Parameter)``.

        A Parameter shared by two modules is yielded once, under its first
        name, so an optimizer never updates it twice.
        """
        seen = set()
        for path, module in self.named_modules():
            for name, parameter in module._parameters.items():
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    yield (f"{path}.{name}" if path else name), parameter

    def parameters(self) -> list[Parameter]:
        return [parameter for _, parameter in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(parameter.value.size for parameter in self.parameters())

    def zero_grad(self) -> None:
        for parameter in self.parameters():
            parameter.grad[...] = 0

    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active) for this module and all inside it."""
        for _, module in self.named_modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: dropout off."""
        return self.train(False)

    # -- printing ------------------------------------------------------------
    def extra_repr(self) -> str:
        """The constructor arguments to show in ``repr``; layers override this."""
        return ""

    def __repr__(self) -> str:
        own = "".join(f"\n  {name}: ({p.dims}) = {p.value.shape}"
                      for name, p in self._parameters.items())
        children = "".join(f"\n  ({name}): " + repr(module).replace("\n", "\n  ")
                           for name, module in self._modules.items())
        count = self.num_parameters()
        size = f"  # {count:,} parameters" if count else ""
        return f"{type(self).__name__}({self.extra_repr()}){size}{own}{children}"
