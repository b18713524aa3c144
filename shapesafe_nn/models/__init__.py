"""Whole models built from the checked layers."""

from .mlp import Network

__all__ = ["Network"]
