"""Whole models built from the checked layers."""

from .gpt import GPT, GPTConfig
from .mlp import Network

__all__ = ["GPT", "GPTConfig", "Network"]
