"""One file per concept; every forward and backward has checked shapes."""

from .activations import ReLU, Sigmoid, Softmax, Tanh
from .dense import Dense
from .sequential import Sequential

__all__ = ["Dense", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh"]
