"""How much memory a command will need, estimated before it allocates any of it.

Without an estimate, ``--sizes 784,100000000,10`` fails with a MemoryError
traceback, and ``plot mask --seq 100000`` is killed by the kernel after
taking every byte of the machine.  Each estimate counts the large arrays of
the command, by the flag that sizes them, so that a refusal can name the
flag to change.  The counts are rough (the largest arrays, not every
temporary) but of the right size: the point is to refuse 600 GB, not to
tell 100 MB from 120 MB.
"""

import os

FLOAT64 = 8  # bytes per number; float32 is 4
GIGABYTE = 1e9


class OutOfMemory(ValueError):
    """What a command asks for would not fit in this machine's memory."""


def available_bytes() -> int | None:
    """The memory the system can give this process now (Linux's MemAvailable),
    else the machine's physical memory; None where neither can be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file counts kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def readable(count: float) -> str:
    return f"{count / GIGABYTE:,.1f} GB" if count >= GIGABYTE / 10 else \
        f"{count / 1e6:,.0f} MB"


def check_fits(what: str, needs: dict[str, float]) -> None:
    """Refuse ``what`` if the bytes in ``needs`` (flag -> bytes that flag sizes)
    add up to more than is available, naming the flag with the largest share."""
    available = available_bytes()
    total = sum(needs.values())
    if available is not None and total > available:
        flag = max(needs, key=needs.get)
        raise OutOfMemory(f"{what} would need about {readable(total)} of memory, and "
                          f"{readable(available)} is available; most of it comes from "
                          f"{flag}: make it smaller")


def network_needs(sizes: list[int], batch_size: int, examples: int, itemsize: int) -> dict:
    """Nielsen's network: weights and their gradients; each layer's outputs and
    their gradients for one mini-batch; the training inputs as floats."""
    weights = sum((d_in + 1) * d_out for d_in, d_out in zip(sizes[:-1], sizes[1:]))
    batch = min(batch_size, examples)
    return {"--sizes": 2 * weights * itemsize,
            "--batch-size": 4 * batch * sum(sizes) * itemsize,
            "--data": examples * sizes[0] * (itemsize + 1)}


def gpt_needs(*, vocab: int, block_size: int, n_layer: int, d_model: int, d_ff: int,
              n_head: int, batch_size: int, itemsize: int) -> dict:
    """A GPT training step: the parameters with their gradients and AdamW's two
    moments (4 copies); per layer, about a dozen (batch, seq, d_model) and two
    (batch, seq, d_ff) activations kept for the backward, and the attention's
    scores and weights (batch, n_heads, seq, seq); the logits and their gradient."""
    parameters = (vocab + block_size) * d_model + n_layer * (4 * d_model ** 2
                                                             + 2 * d_model * d_ff)
    tokens = batch_size * block_size
    return {"--d-model": 4 * parameters * itemsize,
            "--batch-size": (n_layer * tokens * (12 * d_model + 2 * d_ff)
                             + 3 * tokens * vocab) * itemsize,
            "--block-size": 3 * n_layer * batch_size * n_head * block_size ** 2 * itemsize}


def decoding_needs(*, sentences: int, beam: int, max_len: int, n_layer: int, d_model: int,
                   d_ff: int, vocab: int, itemsize: int) -> dict:
    """Translating ``sentences`` at once with ``beam`` hypotheses each (1: greedy).

    Per hypothesis: each decoder block's two key/value caches, its own and the
    source's, each allocated for max_len positions (a beam step copies every
    row it keeps, the whole allocation, so all of it is written), and one more
    pair while that copy is made; the source's encoding, repeated for each
    hypothesis (at most max_len positions); the prefixes, copied at each
    step; the next token's scores, float64, with their sort (about eight
    arrays of vocab); one step's activations.  Measured for the tiny
    translator (n_layer 1, d_model 32, max_len 27, vocab 32): 23.6 kB a
    hypothesis of peak memory; this counts 28.7 kB.
    """
    per_hypothesis = ((4 * n_layer + 2) * max_len * d_model * itemsize
                      + max_len * d_model * itemsize
                      + 2 * max_len * 8
                      + 8 * vocab * 8
                      + (12 * d_model + 2 * d_ff) * itemsize)
    return {"--beam": sentences * beam * per_hypothesis}


def translator_needs(*, vocab: int, max_len: int, n_layer: int, d_model: int, d_ff: int,
                     n_head: int, batch_size: int, itemsize: int) -> dict:
    """A translator's training step, counted as a GPT's (:func:`gpt_needs`) of
    3 · n_layer blocks over max_len tokens (an encoder block is one; a decoder
    block, with its cross-attention, about two), with both vocabularies."""
    needs = gpt_needs(vocab=vocab, block_size=max_len, n_layer=3 * n_layer, d_model=d_model,
                      d_ff=d_ff, n_head=n_head, batch_size=batch_size, itemsize=itemsize)
    return {"--d-model": needs["--d-model"], "--batch-size": needs["--batch-size"],
            "--max-len": needs["--block-size"]}
