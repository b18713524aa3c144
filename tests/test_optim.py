"""Optimizers, the learning-rate schedule and gradient clipping, against hand formulas and PyTorch."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe_nn import Dense, Parameter
from shapesafe_nn.optim import (SGD, AdamW, Momentum, clip_grad_norm, cosine_with_warmup,
                                inverse_sqrt_warmup)
from shapesafe_nn.testing import assert_all_finite, assert_finite_allclose

SHAPES = {"W": (3, 4), "b": (3,), "embedding": (5, 4), "gamma": (4,)}
STEPS = 10


def make_parameters(seed: int = 0, dtype=np.float64) -> list[tuple[str, Parameter]]:
    rng = np.random.default_rng(seed)
    dims = {1: "d_out", 2: "d_out d_in"}
    return [(name, Parameter(rng.standard_normal(shape).astype(dtype), dims[len(shape)]))
            for name, shape in SHAPES.items()]


def gradient(value: np.ndarray, step: int) -> np.ndarray:
    """A gradient that depends on the parameter (so trajectories matter) and on the step."""
    noise = np.random.default_rng(1000 + step).standard_normal(value.shape)
    return 0.5 * value + noise


def set_gradients(named: list[tuple[str, Parameter]], step: int) -> None:
    for _, p in named:
        p.grad[...] = gradient(p.value, step)


def torch_copies(torch, named):
    return [torch.tensor(p.value.copy(), requires_grad=True) for _, p in named]


def set_torch_gradients(torch, tensors, step: int) -> None:
    for t in tensors:
        t.grad = torch.from_numpy(gradient(t.detach().numpy(), step))


# -- SGD ---------------------------------------------------------------------
def test_sgd_is_w_minus_lr_times_gradient():
    named = make_parameters()
    before = {name: p.value.copy() for name, p in named}
    set_gradients(named, 0)
    SGD(named, lr=0.1).step()
    for name, p in named:
        expected = before[name] - 0.1 * gradient(before[name], 0)
        assert_finite_allclose(p.value, expected, rtol=0, atol=1e-15)  # one float64 rounding


def test_sgd_takes_bare_parameters_and_has_no_state():
    layer = Dense(3, 2)
    optimizer = SGD(layer.parameters(), lr=0.5)
    assert optimizer.names == ["0", "1"]
    assert optimizer.state_dict() == {}
    optimizer.load_state_dict({})
    with pytest.raises(ValueError, match=r"unexpected: \['velocity.0'\]"):
        optimizer.load_state_dict({"velocity.0": np.zeros((2, 3))})


# -- Momentum ----------------------------------------------------------------
def test_momentum_by_hand_for_two_steps():
    (name, p), = make_parameters()[:1]
    w0 = p.value.copy()
    optimizer = Momentum([(name, p)], lr=0.1, momentum=0.9)
    p.grad[...] = 1.0
    optimizer.step()
    optimizer.step()
    # v1 = -0.1, w1 = w0 - 0.1;  v2 = 0.9 * -0.1 - 0.1 = -0.19, w2 = w0 - 0.29
    assert_finite_allclose(p.value, w0 - 0.29, rtol=0, atol=1e-15)


def test_momentum_by_hand_over_several_steps_with_changing_gradients():
    """v ← μ v - η g;  w ← w + v, written out for each entry with Python floats."""
    lr, mu = 0.1, 0.8
    named = make_parameters()
    optimizer = Momentum(named, lr=lr, momentum=mu)
    expected = {name: p.value.tolist() for name, p in named}
    velocity = {name: [0.0] * p.value.size for name, p in named}
    for step in range(4):
        set_gradients(named, step)
        for name, p in named:
            w, g = np.ravel(expected[name]).tolist(), p.grad.ravel().tolist()
            velocity[name] = [mu * v - lr * gi for v, gi in zip(velocity[name], g)]
            expected[name] = [wi + v for wi, v in zip(w, velocity[name])]
        optimizer.step()
    for name, p in named:
        # float64, 4 steps of values of order 1: a few roundings each
        assert_finite_allclose(p.value.ravel(), expected[name], rtol=0, atol=1e-14, err_msg=name)


@pytest.mark.reference
def test_momentum_matches_torch_sgd_with_momentum():
    """Ours: v ← μv − ηg, w ← w + v.  PyTorch: b ← μb + g, w ← w − ηb (dampening 0).

    With η constant, v = −η b at every step (both start from 0), so the two
    take identical steps; the test checks the parameters and v = −η b.
    Tolerance: float64, 1e-12 absolute after 10 steps of values of order 1.
    """
    torch = pytest.importorskip("torch")
    lr, mu = 0.05, 0.9
    named = make_parameters()
    tensors = torch_copies(torch, named)
    ours = Momentum(named, lr=lr, momentum=mu)
    theirs = torch.optim.SGD(tensors, lr=lr, momentum=mu, dampening=0.0)
    for step in range(STEPS):
        set_gradients(named, step)
        set_torch_gradients(torch, tensors, step)
        ours.step()
        theirs.step()
    for (name, p), t, v in zip(named, tensors, ours.velocities):
        assert_finite_allclose(p.value, t.detach().numpy(), rtol=0, atol=1e-12, err_msg=name)
        buffer = theirs.state[t]["momentum_buffer"].numpy()
        assert_finite_allclose(v, -lr * buffer, rtol=0, atol=1e-12, err_msg=name)


# -- AdamW -------------------------------------------------------------------
@pytest.mark.reference
def test_adamw_matches_torch_adamw_with_a_schedule():
    """10 steps, the lr changing every step, 1-D parameters in a no-decay group.

    Tolerance: float64, 1e-12 absolute on parameters and both moments (the
    two differ only in the rounding of the same operations).
    """
    torch = pytest.importorskip("torch")
    named = make_parameters()
    tensors = torch_copies(torch, named)
    kwargs = dict(betas=(0.8, 0.95), eps=1e-6)
    ours = AdamW(named, lr=1.0, weight_decay=0.1, **kwargs)
    decay = [t for (_, p), t in zip(named, tensors) if p.value.ndim >= 2]
    no_decay = [t for (_, p), t in zip(named, tensors) if p.value.ndim < 2]
    theirs = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                {"params": no_decay, "weight_decay": 0.0}], lr=1.0, **kwargs)
    for step in range(STEPS):
        lr = cosine_with_warmup(step, max_lr=0.1, min_lr=0.01, warmup=3, total=8)
        ours.lr = lr
        for group in theirs.param_groups:
            group["lr"] = lr
        set_gradients(named, step)
        set_torch_gradients(torch, tensors, step)
        ours.step()
        theirs.step()
    assert ours.step_count == STEPS
    for (name, p), t, m, v in zip(named, tensors, ours.m, ours.v):
        state = theirs.state[t]
        assert_finite_allclose(p.value, t.detach().numpy(), rtol=0, atol=1e-12, err_msg=name)
        assert_finite_allclose(m, state["exp_avg"].numpy(), rtol=0, atol=1e-12, err_msg=name)
        assert_finite_allclose(v, state["exp_avg_sq"].numpy(), rtol=0, atol=1e-12,
                               err_msg=name)
        assert int(state["step"]) == STEPS


def test_adamw_by_hand_over_several_steps_with_decay_and_gradients():
    """Loshchilov & Hutter's Algorithm 2, written out for each entry with Python
    floats: the decay shrinks w *before* the Adam step, from the same w the
    gradient was taken at.  Decaying after the update instead would differ by
    η λ · (the Adam step) per step, about 1e-3 here."""
    lr, wd, (beta1, beta2), eps = 0.1, 0.1, (0.8, 0.95), 1e-6
    named = make_parameters()
    optimizer = AdamW(named, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)
    expected = {name: p.value.ravel().tolist() for name, p in named}
    m = {name: [0.0] * p.value.size for name, p in named}
    v = {name: [0.0] * p.value.size for name, p in named}
    for t in range(1, 6):
        set_gradients(named, t)
        for name, p in named:
            decay = wd if p.value.ndim >= 2 else 0.0  # matrices and tables only
            for i, g in enumerate(p.grad.ravel().tolist()):
                w = expected[name][i] * (1 - lr * decay)
                m[name][i] = beta1 * m[name][i] + (1 - beta1) * g
                v[name][i] = beta2 * v[name][i] + (1 - beta2) * g * g
                m_hat = m[name][i] / (1 - beta1 ** t)
                v_hat = v[name][i] / (1 - beta2 ** t)
                expected[name][i] = w - lr * m_hat / (math.sqrt(v_hat) + eps)
        optimizer.step()
    for (name, p), m_ours, v_ours in zip(named, optimizer.m, optimizer.v):
        # float64, 5 steps of values of order 1, the same formula grouped differently
        assert_finite_allclose(p.value.ravel(), expected[name], rtol=0, atol=1e-13, err_msg=name)
        assert_finite_allclose(m_ours.ravel(), m[name], rtol=0, atol=1e-14, err_msg=name)
        assert_finite_allclose(v_ours.ravel(), v[name], rtol=0, atol=1e-14, err_msg=name)
    assert optimizer.step_count == 5


def test_adamw_decays_matrices_and_embeddings_but_not_vectors():
    named = make_parameters()
    optimizer = AdamW(named, lr=0.1, weight_decay=0.5)
    assert optimizer.decayed == ["W", "embedding"]
    before = {name: p.value.copy() for name, p in named}
    optimizer.step()  # zero gradients: Adam's part moves nothing, only the decay acts
    for name, p in named:
        factor = 1 - 0.1 * 0.5 if name in ("W", "embedding") else 1.0
        assert_finite_allclose(p.value, factor * before[name], rtol=1e-15, err_msg=name)


def test_adamw_first_step_moves_each_entry_by_lr():
    """At t = 1, m̂ = g and v̂ = g², so the step is η g / (|g| + ε) ≈ η sign(g)."""
    (name, p), = make_parameters()[:1]
    w0 = p.value.copy()
    p.grad[...] = np.where(np.arange(p.value.size).reshape(p.value.shape) % 2, 3.0, -0.5)
    AdamW([(name, p)], lr=0.01, weight_decay=0.0).step()
    assert_finite_allclose(p.value, w0 - 0.01 * np.sign(p.grad), rtol=0, atol=1e-9)  # ε/|g|


def test_adamw_keeps_float32_parameters_float32():
    named = make_parameters(dtype=np.float32)
    optimizer = AdamW(named, lr=0.1)
    set_gradients(named, 0)
    optimizer.step()
    assert all(p.value.dtype == np.float32 for _, p in named)
    assert all(m.dtype == np.float32 and v.dtype == np.float32
               for m, v in zip(optimizer.m, optimizer.v))


# -- state_dict ----------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda named: AdamW(named, lr=0.01),
                                  lambda named: Momentum(named, lr=0.01)],
                         ids=["AdamW", "Momentum"])
def test_state_dict_round_trip_resumes_training_exactly(make):
    named = make_parameters()
    optimizer = make(named)
    for step in range(3):
        set_gradients(named, step)
        optimizer.step()
    saved_state = optimizer.state_dict()
    saved_values = {name: p.value.copy() for name, p in named}
    for step in range(3, 6):
        set_gradients(named, step)
        optimizer.step()

    resumed = [(name, Parameter(saved_values[name].copy(), p.dims)) for name, p in named]
    fresh = make(resumed)
    fresh.load_state_dict(saved_state)
    for step in range(3, 6):
        set_gradients(resumed, step)
        fresh.step()
    for (name, p), (_, q) in zip(named, resumed):
        assert_all_finite(p.value, name)  # assert_array_equal counts NaN as equal to NaN
        np.testing.assert_array_equal(q.value, p.value, err_msg=name)  # same operations: exact


def test_state_dict_is_a_copy_with_named_keys():
    optimizer = AdamW(make_parameters(), lr=0.01)
    state = optimizer.state_dict()
    assert sorted(state) == sorted([f"m.{n}" for n in SHAPES] + [f"v.{n}" for n in SHAPES]
                                   + ["step"])
    state["m.W"][...] = 7.0
    assert not optimizer.m[0].any()


def test_load_state_dict_names_the_parameter_and_both_shapes():
    optimizer = AdamW(make_parameters(), lr=0.01)
    state = optimizer.state_dict()
    state["v.embedding"] = np.zeros((4, 5))
    with pytest.raises(ValueError) as info:
        optimizer.load_state_dict(state)
    message = str(info.value)
    assert "'v.embedding'" in message and "parameter 'embedding'" in message
    assert "(4, 5)" in message and "(5, 4)" in message


def test_load_state_dict_changes_nothing_when_it_fails():
    optimizer = Momentum(make_parameters(), lr=0.01)
    state = {key: np.ones_like(value) for key, value in optimizer.state_dict().items()}
    state["velocity.gamma"] = np.ones(5)
    with pytest.raises(ValueError, match="velocity.gamma"):
        optimizer.load_state_dict(state)
    assert not any(v.any() for v in optimizer.velocities)


def test_load_state_dict_refuses_missing_keys_and_a_bad_step():
    optimizer = AdamW(make_parameters(), lr=0.01)
    state = optimizer.state_dict()
    del state["m.b"]
    with pytest.raises(ValueError, match=r"missing: \['m.b'\]"):
        optimizer.load_state_dict(state)
    state = optimizer.state_dict()
    state["step"] = np.array(-1)
    with pytest.raises(ValueError, match="'step' must be one integer >= 0"):
        optimizer.load_state_dict(state)
    del state["step"]
    with pytest.raises(ValueError, match="no 'step'"):
        optimizer.load_state_dict(state)


# -- arguments -----------------------------------------------------------------
@pytest.mark.parametrize("kwargs, text", [
    (dict(lr=0.0), "lr must be a positive number"),
    (dict(lr=-1.0), "lr must be a positive number"),
    (dict(lr=math.nan), "lr must be a positive number"),
    (dict(lr=0.1, betas=(1.0, 0.999)), r"betas\[0\] must be a probability in \[0, 1\)"),
    (dict(lr=0.1, betas=(0.9, -0.1)), r"betas\[1\] must be a probability in \[0, 1\)"),
    (dict(lr=0.1, betas=(0.9,)), "betas must be two numbers"),
    (dict(lr=0.1, eps=0.0), "eps must be a positive number"),
    (dict(lr=0.1, weight_decay=-0.1), "weight_decay must be a number >= 0"),
])
def test_adamw_refuses_bad_hyperparameters(kwargs, text):
    with pytest.raises(ValueError, match="AdamW: " + text):
        AdamW(make_parameters(), **kwargs)


def test_lr_set_later_is_checked_too():
    optimizer = SGD(make_parameters(), lr=0.1)
    optimizer.lr = 0.05
    assert optimizer.lr == 0.05
    with pytest.raises(ValueError, match="SGD: lr must be a positive number, not -0.1"):
        optimizer.lr = -0.1


def test_momentum_refuses_a_momentum_of_one():
    with pytest.raises(ValueError,
                       match=r"Momentum: momentum must be a probability in \[0, 1\)"):
        Momentum(make_parameters(), lr=0.1, momentum=1.0)


def test_a_parameter_listed_twice_is_refused():
    (name, p), = make_parameters()[:1]
    with pytest.raises(ValueError, match="the same Parameter appears as 'W' and as 'lm_head.W'"):
        AdamW([(name, p), ("lm_head.W", p)], lr=0.1)


def test_something_that_is_not_a_parameter_is_refused():
    with pytest.raises(TypeError, match="item 0 is ndarray"):
        SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="no parameters"):
        SGD([], lr=0.1)


# -- cosine_with_warmup ----------------------------------------------------------
def test_schedule_at_its_key_steps():
    def lr(step):
        return cosine_with_warmup(step, max_lr=1.0, min_lr=0.1, warmup=10, total=110)
    assert lr(0) == pytest.approx(1 / 11, rel=1e-15)       # (0 + 1) / (10 + 1)
    assert lr(9) == pytest.approx(10 / 11, rel=1e-15)      # last warm-up step
    assert lr(10) == pytest.approx(1.0, rel=1e-15)         # cos(0) = 1: max_lr
    assert lr(60) == pytest.approx(0.55, rel=1e-15)        # half way: cos(π/2) = 0, the mean
    assert lr(35) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 4)), rel=1e-15)
    assert lr(110) == pytest.approx(0.1, rel=1e-15)        # cos(π) = -1: min_lr
    assert lr(111) == lr(10_000) == 0.1                    # beyond total


@pytest.mark.parametrize("step, expected", [
    (0, 0.8 * 1 / 4), (1, 0.8 * 2 / 4), (2, 0.8 * 3 / 4),      # warm-up: max_lr (step + 1) / 4
    (3, 0.8),                                                  # r = 0: cos 0 = 1
    (4, 0.2 + 0.3 * (1 + math.cos(math.pi / 4))),              # r = 1/4
    (5, 0.5),                                                  # r = 1/2: the mean of 0.8 and 0.2
    (6, 0.2 + 0.3 * (1 + math.cos(3 * math.pi / 4))),          # r = 3/4
    (7, 0.2),                                                  # r = 1: min_lr
    (8, 0.2), (50, 0.2),                                       # beyond total: min_lr
])
def test_schedule_formula_by_hand_at_every_step(step, expected):
    """max_lr 0.8, min_lr 0.2, warmup 3, total 7: r = (step - 3) / 4 after warm-up."""
    lr = cosine_with_warmup(step, max_lr=0.8, min_lr=0.2, warmup=3, total=7)
    assert lr == pytest.approx(expected, rel=1e-15)  # float64 rounding of the same formula


def test_schedule_without_warmup_starts_at_max_lr():
    assert cosine_with_warmup(0, max_lr=0.5, min_lr=0.05, warmup=0, total=10) == 0.5


@settings(max_examples=60, deadline=None)
@given(warmup=st.integers(0, 50), length=st.integers(1, 200), step=st.integers(0, 400),
       max_lr=st.floats(1e-5, 1.0), ratio=st.floats(1e-3, 1.0))
def test_schedule_stays_between_min_and_max_and_falls_after_warmup(warmup, length, step,
                                                                   max_lr, ratio):
    total, min_lr = warmup + length, max_lr * ratio
    now = cosine_with_warmup(step, max_lr=max_lr, min_lr=min_lr, warmup=warmup, total=total)
    after = cosine_with_warmup(step + 1, max_lr=max_lr, min_lr=min_lr, warmup=warmup, total=total)
    assert 0 < now <= max_lr * (1 + 1e-12)
    if step >= warmup:
        assert min_lr * (1 - 1e-12) <= now and after <= now * (1 + 1e-12)
    else:
        assert after > now


@pytest.mark.parametrize("kwargs, text", [
    (dict(step=-1), "step must be an integer >= 0, not -1"),
    (dict(step=1.5), "step must be an integer >= 0, not 1.5"),
    (dict(warmup=-2), "warmup must be an integer >= 0"),
    (dict(total=10), "total = 10 must be larger than warmup = 10"),
    (dict(min_lr=0.0), "min_lr must be a positive number"),
    (dict(max_lr=0.01), "min_lr = 0.1 is larger than max_lr = 0.01"),
])
def test_schedule_refuses_bad_arguments(kwargs, text):
    arguments = dict(step=0, max_lr=1.0, min_lr=0.1, warmup=10, total=100) | kwargs
    with pytest.raises(ValueError, match="cosine_with_warmup: " + text):
        cosine_with_warmup(arguments.pop("step"), **arguments)


# -- clip_grad_norm ----------------------------------------------------------------
@pytest.mark.reference
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(max_norm):
    """Clipped (0.5) and untouched (1e6).  Tolerance: float64, 1e-12 relative."""
    torch = pytest.importorskip("torch")
    named = make_parameters()
    set_gradients(named, 0)
    tensors = torch_copies(torch, named)
    set_torch_gradients(torch, tensors, 0)
    ours = clip_grad_norm(named, max_norm)
    theirs = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    assert ours == pytest.approx(float(theirs), rel=1e-12)
    for (name, p), t in zip(named, tensors):
        assert_finite_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=0, err_msg=name)


def test_clip_grad_norm_returns_the_norm_before_and_leaves_max_norm_after():
    named = make_parameters()
    for _, p in named:
        p.grad[...] = 1.0
    count = sum(p.grad.size for _, p in named)
    assert clip_grad_norm(named, 2.0) == pytest.approx(math.sqrt(count), rel=1e-15)
    after = math.sqrt(sum(float(np.sum(p.grad ** 2)) for _, p in named))
    assert after == pytest.approx(2.0, rel=1e-6)  # 2 / (norm + 1e-6) · norm


def test_clip_grad_norm_of_float32_gradients_does_not_overflow():
    """2e19 squared is 4e38, beyond float32's largest (3.4e38): summed in float32 the
    norm is inf and every gradient is scaled to 0.  Tolerance: float32, 1e-6 relative."""
    parameter = Parameter(np.zeros(4, dtype=np.float32), "d_out")
    parameter.grad[...] = [2e19, 1, -3, 5]
    assert clip_grad_norm([("p", parameter)], 1.0) == pytest.approx(2e19, rel=1e-6)
    np.testing.assert_allclose(parameter.grad, [1.0, 5e-20, -1.5e-19, 2.5e-19], rtol=1e-6)


def test_clip_grad_norm_names_a_non_finite_gradient():
    named = make_parameters()
    named[2][1].grad[0, 0] = np.nan
    with pytest.raises(ValueError, match="gradient of 'embedding' holds inf or NaN"):
        clip_grad_norm(named, 1.0)
    with pytest.raises(ValueError, match="max_norm must be a positive number"):
        clip_grad_norm(named, 0.0)


# -- inverse_sqrt_warmup ---------------------------------------------------------

def test_inverse_sqrt_warmup_is_the_papers_formula():
    # Vaswani et al. §5.3: lrate = d_model^-0.5 · min(step^-0.5, step · warmup^-1.5),
    # their step counting from 1; ours counts from 0
    d_model, warmup = 512, 4000
    for step in (0, 1, 999, 3998, 3999, 4000, 99_999):
        s = step + 1
        expected = d_model ** -0.5 * min(s ** -0.5, s * warmup ** -1.5)
        assert inverse_sqrt_warmup(step, d_model=d_model, warmup=warmup) == \
            pytest.approx(expected, rel=1e-12)


def test_inverse_sqrt_warmup_rises_to_its_peak_at_warmup_then_falls():
    rates = [inverse_sqrt_warmup(step, d_model=128, warmup=100, scale=2.0) for step in range(400)]
    peak = int(np.argmax(rates))
    assert peak == 99  # step 99 is the paper's step 100 = warmup
    assert rates[peak] == pytest.approx(2.0 / np.sqrt(128 * 100), rel=1e-12)
    assert all(a < b for a, b in zip(rates[:peak], rates[1:peak + 1]))
    assert all(a > b for a, b in zip(rates[peak:], rates[peak + 1:]))


@pytest.mark.parametrize("name, value", [("d_model", 0), ("warmup", 0), ("step", -1),
                                         ("scale", 0.0)])
def test_inverse_sqrt_warmup_refuses_a_bad_setting_by_name(name, value):
    kwargs = dict(step=1, d_model=128, warmup=100, scale=1.0) | {name: value}
    step = kwargs.pop("step")
    with pytest.raises(ValueError, match=f"inverse_sqrt_warmup.*{name}"):
        inverse_sqrt_warmup(step, **kwargs)
