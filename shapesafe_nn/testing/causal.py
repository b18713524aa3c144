"""Is a sequence layer causal?  Change a later position and watch the earlier ones.

A causal layer (a GPT's attention, a block, the whole GPT) computes its
output at position ``t`` of sequence ``b`` from that sequence's positions
``0..t`` alone::

    out[b, t] = f(x[b, 0], ..., x[b, t])

Two mistakes break that promise without any shape going wrong, so no
annotation can see them:

- the attention reads the future: a mask left out, or a softmax taken over
  the queries' axis instead of the keys' (both weights are (seq, seq));
- the sequences of a batch see each other: ``x`` passed as (seq, batch,
  d_model), PyTorch's default layout, to a layer that reads (batch, seq,
  d_model).  Both axes are free dims, so the shapes fit either way, and the
  attention mixes the examples of the batch instead of the positions.

:func:`assert_causal` tests the promise itself.  For each position ``p`` it
changes ``x[0, p]``, the position ``p`` of the first sequence, runs the
layer again, and requires that nothing moved where nothing may: the first
sequence's outputs before ``p``, and every other sequence's outputs.
"""

from collections.abc import Callable

import numpy as np

from ..core import Module, no_grad

# How far an output that should not move may still move, relative to the
# largest output: the same numbers in, the same kernels, so it is 0 in
# practice; the margin is a few units of rounding, for kernels that split a
# product differently when a neighbouring row changes.  A leak is large: a
# GPT-2-initialised attention without its mask moved earlier outputs by 90% of
# the largest output when one later position changed (float32, measured).
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


def _changed_at(x: np.ndarray, position: int, seq_axis: int, batch_axis: int,
                rng: np.random.Generator) -> np.ndarray:
    """``x`` with the first sequence's entry at ``position`` changed: floats by
    N(0, 1) noise, token ids to the next id (the largest wraps to 0)."""
    changed = x.copy()
    where = [slice(None)] * x.ndim
    where[batch_axis], where[seq_axis] = 0, position
    where = tuple(where)
    if np.issubdtype(x.dtype, np.floating):
        changed[where] += rng.standard_normal(changed[where].shape).astype(x.dtype)
    else:
        changed[where] = (changed[where] + 1) % (x.max() + 1)
    return changed


def assert_causal(layer: Module | Callable, x: np.ndarray, *, seq_axis: int = 1,
                  batch_axis: int = 0, seed: int = 0) -> float:
    """Raise AssertionError unless each output position depends only on its own
    sequence's positions up to it.

    For each position ``p`` of the first sequence, ``x[0, p]`` is changed and
    the layer runs again.  The first sequence's outputs at positions before
    ``p`` and every other sequence's outputs must stay as they were, within
    :data:`TOLERANCE` times the largest |output|.  The layer runs in eval
    mode (no dropout) and under ``no_grad()``, and its mode is restored.

    Args:
        layer: a Module (its ``forward`` is called) or any function of ``x``
            whose output has the same batch and sequence axes.
        x: (batch, seq, ...) floats, or (batch, seq) token ids with at least
            two different values; a batch of 2 or more also tests that the
            sequences stay apart.
        seq_axis: the axis of ``x`` and of the output that holds the positions.
        batch_axis: the axis that holds the sequences.  Pass ``seq_axis=0,
            batch_axis=1`` for data laid out (seq, batch, ...).
        seed: seeds the changes made to float inputs.

    Returns:
        The largest change seen where nothing may change (0.0 for a causal
        layer that computes each row alike).
    """
    x = np.asarray(x)
    if seq_axis % x.ndim == batch_axis % x.ndim:
        raise ValueError(f"assert_causal: seq_axis and batch_axis are both axis {seq_axis}")
    if not np.issubdtype(x.dtype, np.floating) and x.max() == x.min():
        raise ValueError("assert_causal: every token id in x is the same; give ids with at "
                         "least two different values, so that one can be changed")
    forward = layer.forward if isinstance(layer, Module) else layer
    was_training = layer.training if isinstance(layer, Module) else None
    if was_training is not None:
        layer.eval()  # dropout would change every output at random
    rng = np.random.default_rng(seed)
    try:
        with no_grad():
            before = np.asarray(forward(x))
            # sequences and positions first, whatever the layout
            before = np.moveaxis(before, (batch_axis, seq_axis), (0, 1))
            dtype = before.dtype if before.dtype in TOLERANCE else np.dtype(np.float64)
            allowed = TOLERANCE[dtype] * max(float(np.abs(before).max()), np.finfo(dtype).tiny)
            largest = 0.0
            for position in range(x.shape[seq_axis]):
                after = np.asarray(forward(_changed_at(x, position, seq_axis, batch_axis, rng)))
                moved = np.abs(np.moveaxis(after, (batch_axis, seq_axis), (0, 1)) - before)
                earlier = moved[0, :position].max(initial=0.0)
                others = moved[1:].max(initial=0.0)
                largest = max(largest, float(earlier), float(others))
                if earlier > allowed:
                    t = int(np.argmax(moved[0, :position].reshape(position, -1).max(axis=1)))
                    raise AssertionError(
                        f"{_name(layer)} is not causal: changing position {position} of "
                        f"sequence 0 moved its output at position {t}, which comes before "
                        f"it, by {float(earlier):.3g} (allowed {allowed:.3g}): a position "
                        f"reads a later one; is the mask causal, and is the softmax over "
                        f"the keys, the last axis?")
                if others > allowed:
                    b = 1 + int(np.argmax(moved[1:].reshape(len(moved) - 1, -1).max(axis=1)))
                    raise AssertionError(
                        f"{_name(layer)} mixes the sequences of a batch: changing position "
                        f"{position} of sequence 0 moved the output of sequence {b} by "
                        f"{float(others):.3g} (allowed {allowed:.3g}); is x laid out as the "
                        f"layer reads it (batch_axis={batch_axis}, seq_axis={seq_axis} here)?")
    finally:
        if was_training is not None:
            layer.train(was_training)
    return largest


def _name(layer) -> str:
    return type(layer).__name__ if isinstance(layer, Module) else getattr(
        layer, "__name__", repr(layer))
