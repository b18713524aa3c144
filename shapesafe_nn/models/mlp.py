"""Nielsen's network: layers of sigmoid neurons trained by backpropagation.

``Network([784, 30, 10])`` is the chapter-1 network of *Neural Networks and
Deep Learning*: 784 input pixels, 30 hidden neurons, 10 output neurons, one
per digit.  Built from checked layers::

    x (batch, 784) -> Dense -> z¹ (batch, 30) -> σ -> a¹ (batch, 30)
                   -> Dense -> z² (batch, 10) -> σ -> a² (batch, 10)
"""

import numpy as np

from ..layers import Dense, ReLU, Sequential, Sigmoid
from ..layers.dense import positive_int
from ..module import Module
from ..shapes import Array, Float, Integer, checked

ACTIVATIONS = {"sigmoid": Sigmoid, "relu": ReLU}
INITS = ("nielsen", "scaled")
OUTPUTS = ("sigmoid", "logits")


class Network(Module):
    """A fully connected network, Nielsen's ``Network(sizes)``.

    Args:
        sizes: neurons per layer, input first: ``[784, 30, 10]``.
        activation: ``"sigmoid"`` (the book) or ``"relu"``, after each hidden layer.
        output: ``"sigmoid"`` squashes the last layer too (the book's network,
            trained with the quadratic cost); ``"logits"`` leaves it linear for
            :class:`~shapesafe_nn.SoftmaxCrossEntropy`.
        init: ``"nielsen"``: weights and biases N(0, 1), as in chapter 1;
            ``"scaled"``: weights N(0, 1/d_in), biases N(0, 1), chapter 3's
            improved initialization, which keeps hidden neurons from saturating.
        seed: seeds the initial weights.
        input_grad: whether ``backward`` returns ∂C/∂x.  Training never needs
            it (x is data), so by default the first layer skips computing it.
        dtype: float64 (the default, as the book's numpy) or float32.
    """

    def __init__(self, sizes: list[int], *, activation: str = "sigmoid",
                 output: str = "sigmoid", init: str = "nielsen", seed: int = 0,
                 input_grad: bool = False, dtype=np.float64):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"Network: sizes needs an input and an output size, got {sizes!r}")
        sizes = [positive_int("Network", f"sizes[{i}]", n) for i, n in enumerate(sizes)]
        for name, value, allowed in (("activation", activation, ACTIVATIONS),
                                     ("output", output, OUTPUTS), ("init", init, INITS)):
            if value not in allowed:
                raise ValueError(f"Network: {name} must be one of {', '.join(allowed)}, "
                                 f"not {value!r}")
        self.config = {"sizes": sizes, "activation": activation, "output": output,
                       "init": init, "seed": seed, "dtype": np.dtype(dtype).name}
        rng = np.random.default_rng(seed)
        layers: list[Module] = []
        for index, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            weight_std = 1.0 if init == "nielsen" else 1.0 / np.sqrt(d_in)
            layers.append(Dense(d_in, d_out, rng=rng, weight_std=weight_std, bias_std=1.0,
                                input_grad=input_grad or index > 0, dtype=dtype))
            is_last = index == len(sizes) - 2
            if not is_last:
                layers.append(ACTIVATIONS[activation]())
            elif output == "sigmoid":
                layers.append(Sigmoid())
        self.layers = Sequential(*layers)
        # The network has no parameters of its own: bind d_in and classes from
        # its first and last weight matrices before x, so a wrong x is blamed here.
        dense = [index for index, layer in enumerate(layers) if isinstance(layer, Dense)]
        self.shape_anchors = ((f"layers.{dense[0]}.W", "_ d_in"),
                              (f"layers.{dense[-1]}.W", "classes _"))

    def extra_repr(self) -> str:
        return f"sizes={self.config['sizes']}"

    @checked
    def forward(self, x: Float[Array, "batch d_in"]) -> Float[Array, "batch classes"]:
        return self.layers.forward(x)

    @checked
    def backward(self, dout: Float[Array, "batch classes"]) -> Float[Array, "batch d_in"] | None:
        return self.layers.backward(dout)

    @checked
    def predict(self, x: Float[Array, "batch d_in"]) -> Integer[Array, "batch"]:
        """The digit each example is read as: the index of the largest output."""
        return np.argmax(self.forward(x), axis=1)

    @checked
    def evaluate(self, x: Float[Array, "batch d_in"], labels: Integer[Array, "batch"]) -> int:
        """How many examples the network classifies correctly (the book's ``evaluate``)."""
        return int(np.sum(self.predict(x) == labels))
