"""Nielsen's network: layers of sigmoid neurons trained by backpropagation.

``Network([784, 30, 10])`` is the chapter-1 network of *Neural Networks and
Deep Learning*: 784 input pixels, 30 hidden neurons, 10 output neurons, one
per digit.  Built from checked layers, numbered as in the book: the input
is layer 1, so the hidden layer is 2 and the output layer is 3 = L::

    a¹ = x (batch, 784) -> Dense -> z² (batch, 30) -> σ -> a² (batch, 30)
                        -> Dense -> z³ (batch, 10) -> σ -> a³ (batch, 10)

a¹ is the pixels themselves, grey levels divided by 255
(:func:`~shapesafe_nn.data.mnist.to_inputs`): no σ is applied to the input.
"""

from dataclasses import asdict, dataclass

import numpy as np

from ..layers import Dense, ReLU, Sequential, Sigmoid
from ..core import Module
from ..core import no_grad
from ..core import Array, Float, Integer, checked
from ..core.validate import (FLOAT_DTYPES, InvalidArgument, float_dtype, non_negative_int,
                             option, positive_int)
from .settings import setting

ACTIVATIONS = {"sigmoid": Sigmoid, "relu": ReLU}
INITS = ("nielsen", "scaled")
OUTPUTS = ("sigmoid", "logits")


@dataclass(frozen=True)
class NetworkConfig:
    """Everything that fixes a :class:`Network`.  Defaults: the book's chapter-1 network."""

    sizes: tuple[int, ...] = setting((784, 30, 10), "neurons per layer, input first")
    activation: str = setting("sigmoid", "after each hidden layer: sigmoid (the book) or relu",
                              tuple(ACTIVATIONS))
    output: str = setting("sigmoid", "sigmoid squashes the last layer too (the book, with the "
                                     "quadratic cost); logits leaves it linear, for "
                                     "SoftmaxCrossEntropy", OUTPUTS)
    init: str = setting("nielsen", "nielsen: weights and biases N(0, 1) (ch. 1); scaled: "
                                   "weights N(0, 1/d_in), biases N(0, 1) (ch. 3), which keeps "
                                   "hidden neurons from saturating", INITS)
    seed: int = setting(0, "seeds the initial weights")
    dtype: str = setting("float64", "float64 as the book's numpy, or float32", FLOAT_DTYPES)

    def __post_init__(self):
        if isinstance(self.sizes, (str, bytes)) or not hasattr(self.sizes, "__len__") \
                or len(self.sizes) < 2:
            raise InvalidArgument(f"NetworkConfig: sizes needs an input and an output size, "
                                  f"got {self.sizes!r}", "sizes")
        # frozen: set through object.__setattr__; a list (from JSON) becomes a tuple
        object.__setattr__(self, "sizes", tuple(positive_int(self, f"sizes[{index}]", size)
                                                for index, size in enumerate(self.sizes)))
        option(self, "activation", self.activation, ACTIVATIONS)
        option(self, "output", self.output, OUTPUTS)
        option(self, "init", self.init, INITS)
        object.__setattr__(self, "seed", non_negative_int(self, "seed", self.seed))
        object.__setattr__(self, "dtype", float_dtype(self, "dtype", self.dtype).name)

    def to_json(self) -> dict:
        return asdict(self) | {"sizes": list(self.sizes)}


class Network(Module):
    """A fully connected network, Nielsen's ``Network(sizes)``.

    ``Network([784, 30, 10])`` as in the book, or ``Network.from_config(config)``
    with a :class:`NetworkConfig`; the keyword arguments are its fields
    (see there), and one more.

    Args:
        input_grad: whether ``backward`` returns ∂C/∂x.  Training never needs
            it (x is data), so by default the first layer skips computing it.
    """

    def __init__(self, sizes=NetworkConfig.sizes, *, activation: str = "sigmoid",
                 output: str = "sigmoid", init: str = "nielsen", seed: int = 0,
                 input_grad: bool = False, dtype=np.float64):
        super().__init__()
        self.config = config = NetworkConfig(sizes, activation=activation, output=output,
                                             init=init, seed=seed, dtype=dtype)
        rng = np.random.default_rng(config.seed)
        layers: list[Module] = []
        for index, (d_in, d_out) in enumerate(zip(config.sizes[:-1], config.sizes[1:])):
            weight_std = 1.0 if config.init == "nielsen" else 1.0 / np.sqrt(d_in)
            layers.append(Dense(d_in, d_out, rng=rng, weight_std=weight_std, bias_std=1.0,
                                input_grad=input_grad or index > 0, dtype=config.dtype))
            is_last = index == len(config.sizes) - 2
            if not is_last:
                layers.append(ACTIVATIONS[config.activation]())
            elif config.output == "sigmoid":
                layers.append(Sigmoid())
        self.layers = Sequential(*layers)
        # The network has no parameters of its own: bind d_in and classes from
        # its first and last weight matrices before x, so a wrong x is blamed here.
        dense = [index for index, layer in enumerate(layers) if isinstance(layer, Dense)]
        self.shape_anchors = ((f"layers.{dense[0]}.W", "_ d_in"),
                              (f"layers.{dense[-1]}.W", "classes _"))

    @classmethod
    def from_config(cls, config: NetworkConfig, *, input_grad: bool = False) -> "Network":
        return cls(config.sizes, activation=config.activation, output=config.output,
                   init=config.init, seed=config.seed, input_grad=input_grad,
                   dtype=config.dtype)

    def extra_repr(self) -> str:
        return f"sizes={list(self.config.sizes)}"

    @checked
    def forward(self, x: Float[Array, "batch d_in"]) -> Float[Array, "batch classes"]:
        return self.layers.forward(x)

    @checked
    def backward(self, dout: Float[Array, "batch classes"]) -> Float[Array, "batch d_in"] | None:
        return self.layers.backward(dout)

    @checked
    def predict(self, x: Float[Array, "batch d_in"]) -> Integer[Array, "batch"]:
        """The digit each example is read as: the index of the largest output.
        Runs in inference mode: nothing here is differentiated."""
        with no_grad():
            return np.argmax(self.forward(x), axis=1)

    @checked
    def evaluate(self, x: Float[Array, "batch d_in"], labels: Integer[Array, "batch"]) -> int:
        """How many examples the network classifies correctly (the book's ``evaluate``)."""
        return int(np.sum(self.predict(x) == labels))
