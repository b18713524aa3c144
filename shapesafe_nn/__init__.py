"""shapesafe_nn: neural networks from scratch, with every shape checked.

Know the dimension of every symbol and variable: each layer's forward and
backward declare their shapes (``Float[Array, "batch d_in"]``) and a wrong
one raises a short :class:`ShapeError` that names the layer, the argument
and the dimension.
"""

from .layers import Dense, ReLU, Sequential, Sigmoid, Softmax, Tanh
from .losses import QuadraticCost, SoftmaxCrossEntropy
from .core import Module, Parameter
from .optim import SGD, Momentum
from .pictures import trace
from .core import no_grad
from .core import DIMENSIONS, ShapeError, checked, checks, expect, get_checks, set_checks

__version__ = "0.1.0"

__all__ = [
    "DIMENSIONS", "SGD", "Dense", "Module", "Momentum", "Parameter", "QuadraticCost",
    "ReLU", "Sequential", "ShapeError", "Sigmoid", "Softmax", "SoftmaxCrossEntropy", "Tanh",
    "checked", "checks", "expect", "get_checks", "no_grad", "set_checks", "trace",
]
