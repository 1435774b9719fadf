"""Adam in the form Keras uses (rule B12)."""

from collections.abc import Callable, Iterable
from typing import overload

import torch as th

KERAS_EPSILON = 1e-7
"""Keras' Adam epsilon (B12), added to ``sqrt(v)`` before the bias correction."""


class KerasAdam(th.optim.Optimizer):
    """
    Adam exactly as Keras applies it (B12)::

        m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
        p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)

    ``eps`` is added to ``sqrt(v)`` *before* bias correction, which is why torch's
    ``Adam`` (which adds it after) gives a slightly different update. The state keys
    (``step``, ``exp_avg``, ``exp_avg_sq``) follow torch's Adam so tools that read
    optimizer state keep working; ``step`` is a float tensor.

    :param params: parameters to optimize
    :param lr: learning rate (Keras default 1e-3)
    :param betas: (beta_1, beta_2), Keras defaults (0.9, 0.999)
    :param eps: Keras default 1e-7
    """

    def __init__(
        self,
        params: Iterable[th.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = KERAS_EPSILON,
    ) -> None:
        if lr < 0.0 or eps < 0.0 or not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"KerasAdam needs lr >= 0, eps >= 0 and betas in [0, 1): got {lr=}, {eps=}, {betas=}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @th.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with th.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = th.zeros((), dtype=th.float64)
                    state["exp_avg"] = th.zeros_like(p)
                    state["exp_avg_sq"] = th.zeros_like(p)
                state["step"] += 1
                t = float(state["step"])
                state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                step_size = group["lr"] * (1 - beta2**t) ** 0.5 / (1 - beta1**t)
                p.addcdiv_(state["exp_avg"], state["exp_avg_sq"].sqrt().add_(group["eps"]), value=-step_size)
        return loss
