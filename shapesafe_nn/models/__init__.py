"""Models: whole networks built from the checked layers.

- ``mlp.py``: Nielsen's network; ``per_example.py``: the book's loop over
  one example at a time, to compare with;
- ``gpt.py``: the lecture's GPT, as nanoGPT writes it; ``ladder.py``: the
  lecture's rungs on the way to it (bigram, average, one head, ...), each a
  small model of its own;
- ``translator.py``: the encoder-decoder transformer; ``decoding.py``:
  greedy and beam search;
- ``settings.py``: how a config field declares its default, choices and
  help, from which the command line makes its flags.
"""

from .gpt import GPT, GPTConfig
from .mlp import Network
from .translator import Translator, TranslatorConfig

__all__ = ["GPT", "GPTConfig", "Network", "Translator", "TranslatorConfig"]
