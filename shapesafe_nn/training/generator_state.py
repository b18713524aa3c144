"""Random generators saved as arrays, so a resumed run draws what it would have drawn.

The next mini-batch depends on the random generator that draws it, and a
Dropout's next mask on its own generator: a run resumed without them would
see other batches and other masks than the run that never stopped.

- :func:`generator_to_array` / :func:`generator_from_array`: a numpy random
  generator's exact state as six 64-bit words;
- :func:`dropout_arrays` / :func:`load_dropout_arrays`: the generator of
  every Dropout in a model.
"""

import numpy as np

from ..layers.dropout import Dropout
from ..core import Module

WORD = 2 ** 64


def generator_to_array(rng: np.random.Generator) -> np.ndarray:
    """PCG64's 128-bit state and increment, split into 64-bit words, plus its
    cached 32-bit half-draw: six uint64s that restore the generator exactly."""
    state = rng.bit_generator.state
    if state["bit_generator"] != "PCG64":
        raise ValueError(f"only PCG64 generators (numpy's default) can be saved, not "
                         f"{state['bit_generator']}")
    words = [state["state"]["state"] // WORD, state["state"]["state"] % WORD,
             state["state"]["inc"] // WORD, state["state"]["inc"] % WORD,
             state["has_uint32"], state["uinteger"]]
    return np.array(words, dtype=np.uint64)


def generator_from_array(words: np.ndarray, name: str = "generator") -> np.random.Generator:
    """The generator :func:`generator_to_array` saved."""
    words = np.asarray(words)
    if words.shape != (6,) or words.dtype != np.uint64:
        raise ValueError(f"{name}: a saved random generator is 6 uint64 words, not "
                         f"{words.dtype} of shape {words.shape}")
    high_state, low_state, high_inc, low_inc, has_uint32, uinteger = (int(w) for w in words)
    rng = np.random.default_rng()
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": high_state * WORD + low_state, "inc": high_inc * WORD + low_inc},
        "has_uint32": has_uint32, "uinteger": uinteger}
    return rng


def dropout_arrays(model: Module) -> dict[str, np.ndarray]:
    """Each Dropout's generator, named ``rng/dropout/<its path in the model>``."""
    return {f"rng/dropout/{name}": generator_to_array(module.rng)
            for name, module in model.named_modules() if isinstance(module, Dropout)}


def load_dropout_arrays(model: Module, arrays: dict[str, np.ndarray], source: str) -> None:
    """Put back the generators :func:`dropout_arrays` saved; all or none."""
    dropouts = {f"rng/dropout/{name}": module for name, module in model.named_modules()
                if isinstance(module, Dropout)}
    saved = {name for name in arrays if name.startswith("rng/dropout/")}
    if saved != set(dropouts):
        raise ValueError(f"{source}: the saved Dropout generators "
                         f"({sorted(saved) or 'none'}) do not match the model's "
                         f"({sorted(dropouts) or 'none'})")
    generators = {name: generator_from_array(arrays[name], f"{source}: {name}")
                  for name in dropouts}
    for name, module in dropouts.items():
        module.rng = generators[name]
