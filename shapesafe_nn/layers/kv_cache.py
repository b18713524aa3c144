"""The key/value cache: what causal self-attention keeps while a model writes.

Sampling writes one token at a time.  Without a cache, every step runs the
whole context through the model again, although only one position is new.
With the causal mask, position t's keys and values depend only on tokens
0..t: once computed, they never change.  So each attention layer keeps them,
and a step computes q, k and v for the new position alone, then lets its one
query read every key so far::

    q, k, v of the new position      (batch, n_heads, 1, d_head)
    keys   = [keys so far | k]       (batch, n_heads, seq_so_far, d_head)
    values = [values so far | v]     (batch, n_heads, seq_so_far, d_head)
    out    = softmax(q keysᵀ / √d_head) values      (batch, n_heads, 1, d_head)

A step then costs one position's work, not seq_so_far positions'; the price
is memory, two such arrays per layer (Pope et al. 2022, *Efficiently Scaling
Transformer Inference*, weigh it for large models).  The same numbers come
out: the cached path is tested equal to the plain forward
(``tests/test_kv_cache.py``).

Three limits come with it:

- **Inference only.** A backward through a cached step would reach the new
  position alone, never the keys and values stored by earlier calls: the
  gradient would be silently incomplete.  So the cache refuses to grow
  outside ``no_grad()``.
- **At most max_len positions.** A learned position table has ``max_len``
  rows (a GPT's ``block_size``).  Past it, a model crops its context to the
  last ``max_len`` tokens, and then every token moves to a new position:
  every key changes, so the cache must be rebuilt, not extended.  The cache
  refuses to grow past ``max_len``.
- **One layer's.** Each layer projects its own keys and values; a second
  layer appending to the first's would attend over both layers' keys as if
  they were positions of one sequence.  So the layer that first fills a
  cache owns it, and any other is refused (a model's ``new_cache`` makes one
  per layer).
"""

import numpy as np

from ..core import is_recording
from ..core import Array, Float
from ..core.module import name_in_its_model
from ..core.validate import positive_int


class KVCache:
    """The keys and values one attention layer has computed so far, up to ``max_len``.

    ``keys`` and ``values`` are (batch, n_heads, seq_so_far, d_head): position
    ``t``'s key for head ``h`` of sequence ``b`` is ``keys[b, h, t]``.  They
    start empty; :meth:`append` adds new positions after the others.  A fresh
    cache is an empty one: to start over, make a new ``KVCache``.

    The storage is allocated once, (batch, n_heads, max_len, d_head), at the
    first ``append`` (which fixes batch, n_heads, d_head and the dtype), and
    ``keys`` is a view of its first seq_so_far positions: a step copies in
    only the new positions, never all of the old ones again.

    In the annotations, seq_so_far is ``kv_seq``, the keys' sequence of the
    attention core.  The cache is not a layer, so nothing checks them on its
    own calls; the attention layer that calls :meth:`append` checks what it
    gets back (its ``expect`` lines), and ``append`` refuses, on every call and
    in every check mode, keys that do not fit those it holds.

    Args:
        max_len: the most positions the cache may hold (a GPT's block_size).
    """

    def __init__(self, max_len: int):
        self.max_len = positive_int(self, "max_len", max_len)
        self.seq_so_far = 0
        self._keys: Array | None = None  # (batch, n_heads, max_len, d_head)
        self._values: Array | None = None
        self._layer = None  # the layer whose keys and values these are (see serve)

    def __repr__(self) -> str:
        shape = "empty" if self._keys is None else \
            f"keys and values {self.keys.shape} {self._keys.dtype}"
        return f"KVCache(max_len={self.max_len}, seq_so_far={self.seq_so_far}: {shape})"

    @property
    def keys(self) -> Float[Array, "batch n_heads kv_seq d_head"]:
        """(batch, n_heads, seq_so_far, d_head): every key so far; a view, read-only use."""
        if self._keys is None:
            raise ValueError("KVCache.keys: the cache is empty; append to it first")
        return self._keys[:, :, :self.seq_so_far]

    @property
    def values(self) -> Float[Array, "batch n_heads kv_seq d_head"]:
        """(batch, n_heads, seq_so_far, d_head): every value so far; a view, read-only use."""
        if self._values is None:
            raise ValueError("KVCache.values: the cache is empty; append to it first")
        return self._values[:, :, :self.seq_so_far]

    def refuse_while_recording(self) -> None:
        """A RuntimeError outside ``no_grad()``: :meth:`serve` and :meth:`append` call it."""
        if is_recording():
            raise RuntimeError(
                "KVCache: a cache is for inference only: a backward would reach the new "
                "positions alone, never the keys and values kept from earlier calls; run "
                "the forward inside shapesafe_nn.no_grad()")

    def serve(self, layer) -> None:
        """Refuse, before ``layer``'s call does any work, to run outside ``no_grad()``
        or to serve a layer other than the one whose keys and values it holds.

        An empty cache is taken by whichever layer calls first; from its first
        append on, it is that layer's alone.
        """
        self.refuse_while_recording()
        if self._keys is None:
            self._layer = layer
        elif layer is not self._layer:
            owner, other = name_in_its_model(self._layer), name_in_its_model(layer)
            if other == owner:  # two layers of one class that nothing holds
                other = f"another {type(layer).__name__}"
            raise ValueError(
                f"KVCache: this cache holds the keys and values of {owner}, but {other} "
                f"was given it: each layer attends over keys of its own, so one cache "
                f"serves one layer; give each layer a KVCache of its own (a model's "
                f"new_cache() makes one per layer)")

    def select(self, rows: Array) -> None:
        """Keep the cached sequences ``rows`` (an integer array, (new_batch,)), in
        that order: a beam search's surviving hypotheses, each the continuation
        of the prefix in row ``rows[i]``, which may be kept twice or dropped.

        Each row is the number of a sequence the cache holds, 0 to batch - 1
        (numpy would read -1 as the last one, and a boolean array as a mask)."""
        rows = np.asarray(rows)
        if rows.ndim != 1 or rows.dtype.kind not in "iu":
            raise ValueError(f"KVCache.select: rows must be a 1-D array of integers (row "
                             f"numbers), not {rows.dtype} {rows.shape}")
        if self._keys is None:
            return
        batch = len(self._keys)
        outside = (rows < 0) | (rows >= batch)
        if outside.any():
            index = int(np.argmax(outside))
            held = f"{batch} sequence{'s' if batch > 1 else ''}"
            raise ValueError(f"KVCache.select: rows[{index}] is {rows[index]}, but the cache "
                             f"holds {held}: each row must be in 0..{batch - 1}")
        self._keys, self._values = self._keys[rows], self._values[rows]

    def append(self, k: Float[Array, "batch n_heads seq d_head"],
               v: Float[Array, "batch n_heads seq d_head"],
               ) -> tuple[Float[Array, "batch n_heads kv_seq d_head"],
                          Float[Array, "batch n_heads kv_seq d_head"]]:
        """Store the keys and values of ``seq`` new positions after those so far.

        Returns ``(keys, values)``, all seq_so_far positions, the new ones
        last: what the new positions' queries attend over.  Every call is
        checked here, whatever the check mode: a layer in ``first`` mode skips
        the checks of a call it has seen, and the cache's length is not part
        of a call's shapes.
        """
        self.refuse_while_recording()
        if k.ndim != 4 or k.shape != v.shape or k.dtype != v.dtype:
            raise ValueError(f"KVCache.append: k and v must both be (batch, n_heads, seq, "
                             f"d_head) of one dtype, got k {k.dtype}{list(k.shape)}, "
                             f"v {v.dtype}{list(v.shape)}")
        batch, n_heads, seq, d_head = k.shape
        if self.seq_so_far + seq > self.max_len:
            raise ValueError(
                f"KVCache.append: the cache holds {self.seq_so_far} positions and {seq} more "
                f"would make {self.seq_so_far + seq}, past max_len = {self.max_len}; crop the "
                f"context to the last {self.max_len} tokens and start a new cache (every "
                f"position has moved, so every key has changed)")
        if self._keys is None:
            self._keys = np.empty((batch, n_heads, self.max_len, d_head), dtype=k.dtype)
            self._values = np.empty_like(self._keys)
        held = self._keys.shape
        if (batch, n_heads, d_head) != (held[0], held[1], held[3]) or k.dtype != self._keys.dtype:
            raise ValueError(
                f"KVCache.append: the cache holds (batch {held[0]}, n_heads {held[1]}, d_head "
                f"{held[3]}) {self._keys.dtype}, but k and v are (batch {batch}, n_heads "
                f"{n_heads}, d_head {d_head}) {k.dtype}; one cache serves one layer and one "
                f"batch of sequences")
        new = slice(self.seq_so_far, self.seq_so_far + seq)
        self._keys[:, :, new] = k
        self._values[:, :, new] = v
        self.seq_so_far += seq
        return self.keys, self.values
