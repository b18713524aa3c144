"""Sequential: layers applied one after another, and differentiated in reverse."""

from ..core import Module
from ..core import Array


class Sequential(Module):
    """``Sequential(Dense(784, 30), Sigmoid(), Dense(30, 10))``.

    Forward feeds each layer's output to the next.  Backward is the chain
    rule: the gradient flows through the same layers in reverse order, each
    turning ∂C/∂(its output) into ∂C/∂(its input).  The container declares no
    shapes of its own and is not checked: each layer inside checks its own
    arguments, so the first layer already refuses a bad input.  Layers are
    named by position: ``layers.0``, ``layers.1``, ...
    """

    def __init__(self, *layers: Module):
        super().__init__()
        for index, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {index} is a {type(layer).__name__}, "
                                f"not a layer (Module)")
            setattr(self, str(index), layer)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x: Array) -> Array:
        for layer in self:
            x = layer.forward(x)
        return x

    def backward(self, dout: Array) -> Array | None:
        for layer in reversed(self._modules.values()):
            dout = layer.backward(dout)
        return dout
