"""Layers: one concept a file, each with its forward and backward side by side, shapes checked.

- ``dense.py``, ``activations.py`` (sigmoid, ReLU, tanh, softmax, GELU):
  Nielsen's network;
- ``embedding.py``, ``positional_encoding.py``: tokens and positions to vectors;
- ``attention.py``: the attention core over a query and a key sequence, with
  its tables of scores and masks; ``attention_head.py``: one head;
  ``multi_head.py``: the projection into heads and the output half that
  ``multi_head_attention.py`` (self-attention) and ``cross_attention.py``
  share; ``kv_cache.py``: the keys and values kept while sampling;
- ``layer_norm.py``, ``rms_norm.py``, and ``norms.py``, the one table where
  norms are named; ``dropout.py``; ``feed_forward.py``;
- ``transformer_block.py``: the one residual block (norm before or after,
  any mask); ``decoder_block.py``: that block plus cross-attention;
- ``sequential.py``: layers one after another.
"""

from .activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from .attention import Attention
from .attention_head import AttentionHead
from .cross_attention import CrossAttention
from .decoder_block import DecoderBlock
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .feed_forward import FeedForward
from .kv_cache import KVCache
from .layer_norm import LayerNorm
from .multi_head_attention import MultiHeadAttention
from .positional_encoding import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from .rms_norm import RMSNorm
from .sequential import Sequential
from .transformer_block import TransformerBlock

__all__ = [
    "GELU", "Attention", "AttentionHead", "CrossAttention", "DecoderBlock", "Dense", "Dropout",
    "Embedding", "FeedForward", "KVCache", "LayerNorm", "LearnedPositionalEmbedding",
    "MultiHeadAttention", "RMSNorm", "ReLU", "Sequential", "Sigmoid",
    "SinusoidalPositionalEncoding", "Softmax", "Tanh", "TransformerBlock",
]
