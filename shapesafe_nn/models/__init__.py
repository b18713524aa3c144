"""Whole models built from the checked layers."""

from .gpt import GPT, GPTConfig
from .mlp import Network
from .translator import Translator, TranslatorConfig

__all__ = ["GPT", "GPTConfig", "Network", "Translator", "TranslatorConfig"]
