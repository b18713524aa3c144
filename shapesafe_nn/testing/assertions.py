"""Comparing arrays in tests without letting NaN through.

``np.testing.assert_allclose`` counts NaN as equal to NaN and inf as equal to
inf, so an output that is NaN everywhere passes against a reference that is
NaN everywhere too, which is what a broken mask gives on both sides when the
reference reuses our mask.  :func:`assert_finite_allclose` first requires
every entry of both arrays to be finite, and says where one is not.
"""

import numpy as np


def assert_all_finite(array, name: str = "array") -> None:
    """Raise ``AssertionError`` naming the first NaN or ±inf in ``array`` and its index."""
    array = np.asarray(array)
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        index = tuple(int(i) for i in bad[0])
        raise AssertionError(f"{name} holds {array[index]} at {list(index)} "
                             f"({len(bad)} of {array.size} entries are not finite)")


def assert_finite_allclose(actual, desired, *, rtol: float, atol: float = 0.0,
                           err_msg: str = "") -> None:
    """``np.testing.assert_allclose(actual, desired, rtol, atol)``, after checking that
    every entry of both is finite.

    ``rtol`` has no default: name the tolerance, and why, at each call.
    """
    prefix = f"{err_msg}: " if err_msg else ""
    assert_all_finite(actual, f"{prefix}actual")
    assert_all_finite(desired, f"{prefix}desired")
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol, err_msg=err_msg)
