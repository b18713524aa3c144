"""The quick check in core/quick_check.py against jaxtyping, the authority it stands in for.

``_passes_quickly`` decides most checks of a call without beartype or
jaxtyping.  It must never pass what jaxtyping refuses (a wrong shape would
go through in mode ``always``), must bind every dim as jaxtyping binds it
(a later argument is compared against those bindings), and, for the hints
it takes on, must pass everything jaxtyping passes (else the speed is lost,
though nothing wrong gets through: a refusal is handed to jaxtyping).
"""

import functools

import numpy as np
import pytest
from beartype.door import is_bearable
from hypothesis import given, settings
from hypothesis import strategies as st
from jaxtyping import AnnotationError, Bool, Float, Integer, jaxtyped
from jaxtyping._storage import get_shape_memo

from shapesafe_nn import ShapeError, checks, no_grad
from shapesafe_nn.core import call as call_module
from shapesafe_nn.core import quick_check
from shapesafe_nn.layers import Attention, Dense, KVCache, LayerNorm, MultiHeadAttention
from shapesafe_nn.models import GPT, GPTConfig

KINDS = {"float": Float, "integer": Integer, "bool": Bool}
# np.longlong: 8 bytes like np.int64, but named "longlong", which jaxtyping refuses
DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.bool_,
          np.longlong, np.dtype(">f4")]
NAMES = ["a", "b", "c"]


@functools.cache
def hint(kind: str, dims: str):
    return KINDS[kind][np.ndarray, dims]


@st.composite
def hint_strings(draw) -> str:
    """Plain names, repeats allowed, "_" (any size) and computed dims, with at
    most one named variadic part anywhere; now and then a fixed size, which
    only jaxtyping handles."""
    axes = draw(st.lists(st.sampled_from(NAMES + ["_", "a+1", "2*b", "3"]), max_size=4))
    if draw(st.booleans()):
        axes.insert(draw(st.integers(0, len(axes))), "*v")
    return " ".join(axes)


@st.composite
def cases(draw):
    kind = draw(st.sampled_from(sorted(KINDS)))
    dims = draw(hint_strings())
    shape = tuple(draw(st.lists(st.integers(1, 3), max_size=5)))
    dtype = draw(st.sampled_from(DTYPES))
    bound = draw(st.dictionaries(st.sampled_from(NAMES), st.integers(1, 3)))
    variadic = draw(st.none() | st.tuples(st.integers(1, 3)).map(tuple)
                    | st.just(()) | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    return kind, dims, np.zeros(shape, dtype=dtype), bound, variadic


def run(check, value, hint_, bound, variadic):
    """``check(value, hint)`` in a fresh jaxtyping memo holding ``bound`` (and
    ``variadic`` as *v); returns its answer and the memo after it."""
    with jaxtyped("context"):
        single, variadic_memo = get_shape_memo()[:2]
        single.update(bound)
        if variadic is not None:
            variadic_memo["v"] = (False, variadic)
        try:
            answer = (check(hint_, value, single, variadic_memo)
                      if check is quick_check.passes_quickly else check(value, hint_))
        except AnnotationError:  # jaxtyping's own refusal of "a+1" with `a` unbound
            answer = False
        single, variadic_memo = get_shape_memo()[:2]
        return answer, dict(single), dict(variadic_memo)


@pytest.mark.parametrize("hint_, value, expected", [
    (KVCache | None, KVCache(4), True),
    (KVCache | None, None, True),
    (KVCache | None, "a cache", False),
    (type(None), None, True),  # what `-> None` becomes
    (list[KVCache] | None, [KVCache(4), KVCache(4)], True),
    (list[KVCache] | None, [], True),
    (list[KVCache] | None, None, True),
    (list[KVCache] | None, (KVCache(4),), False),
])
def test_a_class_hint_is_an_isinstance_check(hint_, value, expected):
    assert quick_check.quick_plan(hint_) is not None
    assert quick_check.passes_quickly(hint_, value, {}, {}) == is_bearable(value, hint_) == expected


def test_a_list_of_a_class_passes_only_if_every_item_does():
    """beartype samples one item of a list; the quick check looks at all of
    them, so it may refuse what beartype passes, never the other way round."""
    mixed = [KVCache(4), "not a cache"]
    assert not quick_check.passes_quickly(list[KVCache], mixed, {}, {})


def test_a_tuple_passes_member_by_member_in_one_memo():
    pair = tuple[hint("float", "a b"), hint("float", "b c")]
    ok = (np.zeros((2, 3)), np.zeros((3, 4)))
    wrong = (np.zeros((2, 3)), np.zeros((5, 4)))  # b is 3, then 5
    for value, expected in ((ok, True), (wrong, False), (ok[:1], False), (list(ok), False)):
        quick, single, _ = run(quick_check.passes_quickly, value, pair, {}, None)
        full, full_single, _ = run(is_bearable, value, pair, {}, None)
        assert quick == full == expected
        assert single == (full_single if quick else {})  # a refusal undoes the first member


@settings(max_examples=600, deadline=None)
@given(cases())
def test_the_quick_check_agrees_with_jaxtyping(case):
    kind, dims, value, bound, variadic = case
    hint_ = hint(kind, dims)
    quick, quick_single, quick_variadic = run(quick_check.passes_quickly, value, hint_, bound,
                                              variadic)
    full, full_single, full_variadic = run(is_bearable, value, hint_, bound, variadic)
    if quick:  # never passes what jaxtyping refuses, and binds the same dims
        assert full
        assert (quick_single, quick_variadic) == (full_single, full_variadic)
    else:  # a refusal leaves the memo as it found it, for jaxtyping to redo the check
        expected_variadic = {} if variadic is None else {"v": (False, variadic)}
        assert (quick_single, quick_variadic) == (bound, expected_variadic)
    if quick_check.quick_plan(hint_) is not None:  # a hint it takes on: it decides alone
        assert quick == full


def test_the_quick_check_hands_other_hints_to_jaxtyping():
    assert quick_check.quick_plan(hint("float", "a 3")) is None  # a fixed size
    assert quick_check.quick_plan(hint("float", "#a b")) is None  # a broadcastable dim
    assert quick_check.quick_plan(hint("float", "a {b}")) is None  # jaxtyping's f-string dims
    for number in (bool, int, float, complex):  # beartype's rules for numbers are its own
        assert quick_check.quick_plan(number) is None
    assert quick_check.quick_plan(dict[str, KVCache]) is None
    floats = frozenset({np.float16, np.float32, np.float64})
    assert quick_check.quick_plan(hint("float", "a *v b")) == (("a", "b"), 1, "v", floats, False,
                                                           False)
    optional = hint("float", "a b") | None  # a backward that may return nothing
    assert quick_check.quick_plan(optional) == (("a", "b"), 2, None, floats, True, True)
    assert not quick_check.quick_plan(hint("float", "a a")).distinct  # "seq seq": one loop
    assert quick_check.quick_plan(tuple[hint("float", "a"), hint("float", "a 3")]) is None
    assert quick_check.quick_plan(tuple[hint("float", "a"), ...]) is None
    assert quick_check.passes_quickly(optional, None, {}, {})
    assert not quick_check.passes_quickly(hint("float", "a b"), None, {}, {})


def test_a_call_with_plain_dims_never_reaches_beartype(monkeypatch):
    """What makes mode `always` cheap: the layers of a GPT, their hints plain
    names, *heads, 3*d_model and KVCache | None, are checked without beartype."""
    def refuse(value, hint_):
        raise AssertionError(f"beartype was asked about {hint_}")

    monkeypatch.setattr(call_module, "is_bearable", refuse)
    rng = np.random.default_rng(0)
    with checks("always"):
        dense = Dense(4, 3, rng=rng)
        dense.backward(np.ones_like(dense.forward(rng.standard_normal((2, 4)))))
        core = Attention()  # (batch, *heads, seq, d_head): a variadic part in the middle
        q, k, v = (rng.standard_normal((2, 3, 5, 4)) for _ in range(3))
        core.backward(np.ones_like(core.forward(q, k, v)))
        norm = LayerNorm(4, dtype=np.float64)
        norm.backward(np.ones_like(norm.forward(q[0])))
        heads = MultiHeadAttention(8, 2, rng=rng, dtype=np.float64)  # "batch seq 3*d_model"
        heads.backward(np.ones_like(heads.forward(rng.standard_normal((2, 5, 8)))))
        model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, d_model=8))
        with no_grad():  # the KVCache | None arguments
            cache = model.new_cache()
            model.forward(np.zeros((1, 3), dtype=np.int64), cache=cache)


def test_a_wrong_shape_still_gets_the_full_error():
    """A refusal goes to beartype and jaxtyping, whose reason the error quotes."""
    with checks("always"), pytest.raises(ShapeError) as error:
        Dense(4, 3).forward(np.zeros((2, 5)))
    assert "d_in is 5 here, but d_in = 4 was bound by parameter W" in str(error.value)
    assert error.value.original is not None
