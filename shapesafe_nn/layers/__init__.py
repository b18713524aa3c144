"""One file per concept; every forward and backward has checked shapes."""

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
