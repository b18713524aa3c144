"""Optimizers: turn gradients into parameter updates.

Every optimizer takes the model's parameters, either as ``model.parameters()``
or, better, as ``model.named_parameters()``: then its saved state and its
error messages use the parameters' names (``"layers.0.W"``) instead of their
positions.  ``state_dict()`` returns that state as named numpy arrays, ready
for a checkpoint, and ``load_state_dict`` puts it back, refusing any array
whose shape does not fit its parameter.

Also here: the learning-rate schedules, warm-up then cosine decay as a GPT
trains (:func:`cosine_with_warmup`) and the Transformer paper's warm-up then
1/√step (:func:`inverse_sqrt_warmup`), and gradient clipping
(:func:`clip_grad_norm`).
"""

import math
from collections.abc import Iterable

import numpy as np

from .core import Parameter, modules_holding, unconsumed_forwards
from .core.validate import (non_negative_int, non_negative_number, positive_int, positive_number,
                       probability)


def _named(where: str, parameters: Iterable) -> list[tuple[str, Parameter]]:
    """``(name, Parameter)`` pairs from named pairs, or from bare Parameters named by position.

    The same Parameter listed twice would be updated twice per step, so it is
    refused (two layers sharing one weight must list it once).
    """
    named: list[tuple[str, Parameter]] = []
    first_name: dict[int, str] = {}
    for position, item in enumerate(parameters):
        if isinstance(item, Parameter):
            name, parameter = str(position), item
        elif (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
              and isinstance(item[1], Parameter)):
            name, parameter = item
        else:
            raise TypeError(f"{where}: expected Parameters or (name, Parameter) pairs, as "
                            f"model.parameters() or model.named_parameters() give, "
                            f"but item {position} is {type(item).__name__}")
        if id(parameter) in first_name:
            raise ValueError(f"{where}: the same Parameter appears as "
                             f"{first_name[id(parameter)]!r} and as {name!r}; "
                             f"list a shared parameter once")
        if name in first_name.values():
            raise ValueError(f"{where}: two parameters are named {name!r}")
        first_name[id(parameter)] = name
        named.append((name, parameter))
    if not named:
        raise ValueError(f"{where}: there are no parameters to optimize")
    return named


class Optimizer:
    """What every optimizer shares: the parameters, their names, the learning rate and state.

    Subclasses implement ``step`` and, if they keep state between steps,
    ``_state``: the live arrays of that state by checkpoint key.
    """

    def __init__(self, parameters: Iterable, lr: float):
        named = _named(type(self).__name__, parameters)
        self.names = [name for name, _ in named]
        self.parameters = [parameter for _, parameter in named]
        # every layer of the models these parameters belong to, as they are now:
        # the layers whose records a step and a zero_grad look at
        self.modules = modules_holding(self.parameters)
        self.lr = lr

    @property
    def lr(self) -> float:
        """The learning rate η; a schedule may set it before every step."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = positive_number(self, "lr", value)

    def zero_grad(self) -> None:
        """Clear every gradient before the next backward adds into it, and start
        a new pass of the models these parameters belong to: forwards that no
        backward consumed are never used later.  Another model's records are
        left alone.

        Raises RuntimeError, after clearing, if a layer ran a backward while
        forwards of it still waited (see :meth:`refuse_unconsumed_forwards`).
        """
        problem = unconsumed_forwards(f"{type(self).__name__}.zero_grad", self.modules)
        for _, module in self.modules:
            module._start_new_pass()
        for parameter in self.parameters:
            parameter.grad[...] = 0
        if problem is not None:
            raise RuntimeError(problem + "\n  (the gradients and records are cleared now)")

    def refuse_unconsumed_forwards(self) -> None:
        """Raise RuntimeError, before any update, if a layer of these models ran a
        backward while forwards of it still waited: the gradients are then those
        of the last forward (an evaluation batch run outside ``no_grad()``?),
        not of the step's.  Every ``step`` calls this first."""
        problem = unconsumed_forwards(f"{type(self).__name__}.step", self.modules)
        if problem is not None:
            raise RuntimeError(problem + "\n  (no parameter was updated)")

    def step(self) -> None:
        raise NotImplementedError

    def _state(self) -> dict[str, tuple[str, np.ndarray]]:
        """Checkpoint key -> (parameter name, the live state array); none by default."""
        return {}

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of the optimizer's state as named arrays, for a checkpoint."""
        return {key: array.copy() for key, (_, array) in self._state().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Put back a state saved by ``state_dict``; nothing changes if any array does not fit."""
        where = f"{type(self).__name__}.load_state_dict"
        live = self._state()
        missing = sorted(set(live) - set(state))
        unexpected = sorted(set(state) - set(live))
        if missing or unexpected:
            raise ValueError(f"{where}: the saved state does not match these parameters; "
                             f"missing: {missing or 'none'}, unexpected: {unexpected or 'none'}")
        arrays = {key: np.asarray(value) for key, value in state.items()}
        for key, (name, array) in live.items():
            if arrays[key].shape != array.shape:
                raise ValueError(f"{where}: {key!r} for parameter {name!r} has shape "
                                 f"{arrays[key].shape}, but the parameter has shape {array.shape}")
        for key, (_, array) in live.items():
            array[...] = arrays[key]


class SGD(Optimizer):
    r"""w → w - η ∇C  (Nielsen ch. 1, eq. 20-21).

    The costs already average over the mini-batch, so ``∇C`` here is the
    book's ``(1/m) Σ_x ∇C_x`` and this is exactly its
    ``w → w - (η/m) Σ_x ∇C_x`` from ``update_mini_batch``.  SGD keeps no
    state between steps: its ``state_dict()`` is empty.
    """

    def step(self) -> None:
        self.refuse_unconsumed_forwards()
        for p in self.parameters:
            p.value -= self.lr * p.grad


class Momentum(Optimizer):
    r"""v → μ v - η ∇C;  w → w + v  (Nielsen ch. 3, "momentum-based gradient descent").

    ``μ`` (``momentum``) is the "friction": 0 gives plain SGD, values near 1
    let the velocity ``v`` carry the update through flat or noisy stretches.

    PyTorch's ``SGD(momentum=μ)`` writes the same method with ``η`` outside
    the velocity: ``b → μ b + ∇C;  w → w - η b``.  With a constant ``η`` the
    two are the same steps (``v = -η b``); when a schedule changes ``η``, here
    the velocity keeps the old rates while PyTorch's rescales the whole ``b``.

    ``state_dict()`` holds one velocity per parameter, ``"velocity.<name>"``.
    """

    def __init__(self, parameters: Iterable, lr: float, momentum: float = 0.9):
        super().__init__(parameters, lr)
        self.momentum = probability(self, "momentum", momentum)
        self.velocities = [np.zeros_like(p.value) for p in self.parameters]

    def _state(self) -> dict[str, tuple[str, np.ndarray]]:
        return {f"velocity.{name}": (name, v) for name, v in zip(self.names, self.velocities)}

    def step(self) -> None:
        self.refuse_unconsumed_forwards()
        for p, v in zip(self.parameters, self.velocities):
            v *= self.momentum
            v -= self.lr * p.grad
            p.value += v


class AdamW(Optimizer):
    r"""Adam with decoupled weight decay.

    At step ``t`` (counting from 1), for each parameter ``w`` with gradient ``g``::

        w ← w - η λ w                      decay (only parameters with 2 or more axes)
        m ← β₁ m + (1 - β₁) g              running mean of g
        v ← β₂ v + (1 - β₂) g²             running mean of g², elementwise
        m̂ = m / (1 - β₁ᵗ);  v̂ = v / (1 - β₂ᵗ)   bias correction: m and v start at 0
        w ← w - η m̂ / (√v̂ + ε)

    Adam: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR
    2015, Algorithm 1 (their α is our η).  Decoupled weight decay: Loshchilov
    & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
    Algorithm 2: the decay shrinks ``w`` directly instead of being added to
    ``g``, where Adam's division by √v̂ would weaken it for parameters with
    large gradients.  The paper writes the decay as ``η_t λ w`` with a
    separate schedule multiplier ``η_t``; like PyTorch's ``AdamW`` (whose
    order of operations this follows exactly) and nanoGPT, we use ``η λ w``.

    Which parameters decay: weight matrices and embedding tables (2 or more
    axes) do; biases and LayerNorm's gain and shift (1 axis) do not, as in
    nanoGPT's ``configure_optimizers``.  Shrinking a bias or a gain towards
    zero does not make the model simpler, only worse.  ``decayed`` lists the
    names of the parameters that decay.

    ``lr`` may be set before any step (a schedule does).  ``step_count`` is
    ``t``, the steps taken so far.  ``state_dict()`` holds ``"m.<name>"``,
    ``"v.<name>"`` for each parameter and ``"step"``.
    """

    def __init__(self, named_parameters: Iterable, lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01):
        super().__init__(named_parameters, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"AdamW: betas must be two numbers (β₁, β₂), not {betas!r}")
        self.betas = (probability(self, "betas[0]", betas[0]),
                      probability(self, "betas[1]", betas[1]))
        self.eps = positive_number(self, "eps", eps)
        self.weight_decay = non_negative_number(self, "weight_decay", weight_decay)
        self.decays = [p.value.ndim >= 2 for p in self.parameters]
        self.decayed = [name for name, decays in zip(self.names, self.decays) if decays]
        self.m = [np.zeros_like(p.value) for p in self.parameters]
        self.v = [np.zeros_like(p.value) for p in self.parameters]
        self.step_count = 0

    def _state(self) -> dict[str, tuple[str, np.ndarray]]:
        state = {f"m.{name}": (name, m) for name, m in zip(self.names, self.m)}
        state.update({f"v.{name}": (name, v) for name, v in zip(self.names, self.v)})
        return state

    def state_dict(self) -> dict[str, np.ndarray]:
        state = super().state_dict()
        state["step"] = np.array(self.step_count, dtype=np.int64)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        state = dict(state)
        if "step" not in state:
            raise ValueError("AdamW.load_state_dict: the saved state has no 'step'")
        step = np.asarray(state.pop("step"))
        if step.shape != () or not np.issubdtype(step.dtype, np.integer) or step < 0:
            raise ValueError(f"AdamW.load_state_dict: 'step' must be one integer >= 0, "
                             f"not {step!r}")
        super().load_state_dict(state)
        self.step_count = int(step)

    def step(self) -> None:
        self.refuse_unconsumed_forwards()
        beta1, beta2 = self.betas
        self.step_count += 1
        bias_correction1 = 1.0 - beta1 ** self.step_count
        bias_correction2 = 1.0 - beta2 ** self.step_count
        for p, m, v, decays in zip(self.parameters, self.m, self.v, self.decays):
            if decays:
                p.value *= 1.0 - self.lr * self.weight_decay
            # m = β₁ m + (1-β₁) g  and  v = β₂ v + (1-β₂) g², in place (no temporaries
            # of the parameter's size beyond one: these run for every parameter)
            m *= beta1
            m += (1.0 - beta1) * p.grad
            v *= beta2
            v += (1.0 - beta2) * np.square(p.grad)
            # PyTorch's grouping of the formula: η/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε)
            denominator = np.sqrt(v)
            denominator /= math.sqrt(bias_correction2)
            denominator += self.eps
            np.divide(m, denominator, out=denominator)
            denominator *= self.lr / bias_correction1
            p.value -= denominator


def cosine_with_warmup(step: int, *, max_lr: float, min_lr: float, warmup: int,
                       total: int) -> float:
    r"""The learning rate at ``step`` (counting from 0): linear warm-up, then cosine decay.

    ::

        step < warmup:           η = max_lr · (step + 1) / (warmup + 1)
        warmup <= step <= total: η = min_lr + ½ (1 + cos(π r)) (max_lr - min_lr),
                                 r = (step - warmup) / (total - warmup)
        step > total:            η = min_lr

    This is nanoGPT's ``get_lr`` (``total`` is its ``lr_decay_iters``).  The
    cosine curve comes from Loshchilov & Hutter, "SGDR: Stochastic Gradient
    Descent with Warm Restarts", ICLR 2017 (without the restarts).  The
    warm-up keeps the first steps small while Adam's running averages of the
    gradient are still estimates from only a few batches.

    ``min_lr`` must be positive (the optimizers refuse a rate of 0);
    nanoGPT uses ``max_lr / 10``.
    """
    where = "cosine_with_warmup"
    for name, value in (("step", step), ("warmup", warmup), ("total", total)):
        non_negative_int(where, name, value)
    max_lr = positive_number(where, "max_lr", max_lr)
    min_lr = positive_number(where, "min_lr", min_lr)
    if min_lr > max_lr:
        raise ValueError(f"{where}: min_lr = {min_lr} is larger than max_lr = {max_lr}")
    if total <= warmup:
        raise ValueError(f"{where}: total = {total} must be larger than warmup = {warmup}: "
                         f"the cosine decay runs from step warmup to step total")
    if step < warmup:
        return max_lr * (step + 1) / (warmup + 1)
    if step > total:
        return min_lr
    ratio = (step - warmup) / (total - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (max_lr - min_lr)


def inverse_sqrt_warmup(step: int, *, d_model: int, warmup: int, scale: float = 1.0) -> float:
    r"""The learning rate at ``step`` (counting from 0) of Vaswani et al. 2017, §5.3.

    ::

        s = step + 1                      (the paper counts from 1)
        η = scale · d_model^-0.5 · min(s^-0.5, s · warmup^-1.5)

    It rises linearly for ``warmup`` steps, peaks at s = warmup with
    ``scale / √(d_model · warmup)``, then decays as 1/√s.  The paper used
    ``warmup = 4000`` and Adam with β = (0.9, 0.98).  Wider models get smaller
    steps (the d_model^-0.5): each weight of a wider layer has more inputs
    that its change adds up over.  ``scale`` multiplies it all (the paper's
    is 1; implementations that train for few steps often use 2).
    """
    where = "inverse_sqrt_warmup"
    non_negative_int(where, "step", step)
    positive_int(where, "d_model", d_model)
    positive_int(where, "warmup", warmup)
    scale = positive_number(where, "scale", scale)
    s = step + 1
    return scale * d_model ** -0.5 * min(s ** -0.5, s * warmup ** -1.5)


def clip_grad_norm(parameters: Iterable, max_norm: float) -> float:
    r"""Scale every gradient by one factor so that their joint length is at most ``max_norm``.

    The length is the L2 norm of all gradients as one long vector,
    ``‖g‖ = √(Σ_parameters Σ_entries g²)``.  If it exceeds ``max_norm``,
    every gradient is multiplied by ``max_norm / (‖g‖ + 10⁻⁶)`` (the 10⁻⁶ as
    in PyTorch's ``clip_grad_norm_``): the step keeps its direction and only
    gets shorter.  Pascanu, Mikolov & Bengio, "On the difficulty of training
    recurrent neural networks", ICML 2013, Algorithm 1.

    Takes ``model.parameters()`` or ``model.named_parameters()``; returns
    ``‖g‖`` *before* clipping, which is worth logging: a growing norm warns
    of a rising loss before it happens.  A gradient holding inf or NaN is an
    error naming its parameter: no clipping can repair it.

    The sum of squares is accumulated in float64 whatever the gradients'
    dtype: in float32 one entry of 2e19 squares to inf (float32 ends near
    3.4e38), and the clipping would then scale every gradient to 0.
    """
    max_norm = positive_number("clip_grad_norm", "max_norm", max_norm)
    named = _named("clip_grad_norm", parameters)
    squares = 0.0
    for name, p in named:
        if not np.all(np.isfinite(p.grad)):
            raise ValueError(f"clip_grad_norm: the gradient of {name!r} holds inf or NaN")
        squares += float(np.square(p.grad, dtype=np.float64).sum())
    norm = math.sqrt(squares)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for _, p in named:
            p.grad *= scale
    return norm
