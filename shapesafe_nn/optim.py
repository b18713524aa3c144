"""Optimizers: turn gradients into parameter updates."""

import numpy as np

from .module import Parameter


def _positive(where: str, name: str, value: float) -> float:
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{where}: {name} must be a positive number, not {value!r}")
    return float(value)


class SGD:
    r"""w → w - η ∇C  (Nielsen ch. 1, eq. 20-21).

    The costs already average over the mini-batch, so ``∇C`` here is the
    book's ``(1/m) Σ_x ∇C_x`` and this is exactly its
    ``w → w - (η/m) Σ_x ∇C_x`` from ``update_mini_batch``.
    """

    def __init__(self, parameters: list[Parameter], lr: float):
        self.parameters = list(parameters)
        self.lr = _positive("SGD", "lr", lr)

    def step(self) -> None:
        for p in self.parameters:
            p.value -= self.lr * p.grad


class Momentum:
    r"""v → μ v - η ∇C;  w → w + v  (Nielsen ch. 3, "momentum-based gradient descent").

    ``μ`` (``momentum``) is the "friction": 0 gives plain SGD, values near 1
    let the velocity ``v`` carry the update through flat or noisy stretches.
    """

    def __init__(self, parameters: list[Parameter], lr: float, momentum: float = 0.9):
        self.parameters = list(parameters)
        self.lr = _positive("Momentum", "lr", lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"Momentum: momentum must be in [0, 1), not {momentum!r}")
        self.momentum = float(momentum)
        self.velocities = [np.zeros_like(p.value) for p in self.parameters]

    def step(self) -> None:
        for p, v in zip(self.parameters, self.velocities):
            v *= self.momentum
            v -= self.lr * p.grad
            p.value += v
