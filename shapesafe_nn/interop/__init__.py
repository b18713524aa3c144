"""Carry a GPT to PyTorch and llama.cpp, and back: nanoGPT's, Hugging Face's and
llama.cpp's GPT-2 files.

One file per format (:mod:`.nanogpt`, :mod:`.hf`, :mod:`.gguf`); :mod:`.names` is the one
place that maps our parameter names and layouts to GPT-2's, and
:mod:`.limits` says what a format cannot hold.
"""

from .gguf import export_gguf, import_gguf
from .hf import export_hf, import_hf
from .limits import FormatError
from .nanogpt import export_nanogpt, import_nanogpt

__all__ = ["FormatError", "export_gguf", "export_hf", "export_nanogpt", "import_gguf",
           "import_hf", "import_nanogpt"]
