"""Weight averaging for ``rnnkit.fit``: a callback keeping an exponential moving average of
a model's parameters and swapping it in for validation (Polyak averaging; an EMA of the
weights). Used by the classify and forecast applications (``ema`` in their Configs).
"""

from __future__ import annotations

import torch

__all__ = ["WeightAverage"]


class WeightAverage:
    """A ``fit`` callback keeping an exponential moving average of ``model``'s parameters.

    After step n, ``a <- d a + (1 - d) w`` with ``d = min(decay, n / (n + 1))``: the plain
    mean of the weights so far (Polyak & Juditsky 1992) until ``1 / (1 - decay)`` steps, then
    an exponential moving average over about that many steps (decay 0.99: the last ~100
    steps). The average is swapped into the model after an epoch's last
    step, so ``fit`` validates it, keeps it as the best epoch's weights and returns it; the
    live weights go back in at ``epoch_end`` unless training ends there. Still one model: the
    average replaces the weights, it does not add a member. ``resume`` restarts the average
    from the resumed weights (it is not stored in the run's state).
    """

    def __init__(self, model: torch.nn.Module, decay: float, steps_per_epoch: int,
                 epochs: int):
        self.model, self.decay, self.steps, self.epochs = model, float(decay), steps_per_epoch, \
            epochs
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.params]
        self.live, self.n = None, 0

    @torch.no_grad()
    def __call__(self, event: str, info: dict) -> None:
        if event == "batch_end":
            if self.n == 0 and self.shadow and self.shadow[0].device != self.params[0].device:
                self.shadow = [a.to(p.device) for a, p in zip(self.shadow, self.params,
                                                                strict=True)]  # fit moved it
            self.n += 1
            d = min(self.decay, self.n / (self.n + 1))
            for a, p in zip(self.shadow, self.params, strict=True):
                a.lerp_(p.detach(), 1.0 - d)
            if info["step"] == self.steps:  # the epoch's last step: validate the average
                self.live = [p.detach().clone() for p in self.params]
                for a, p in zip(self.shadow, self.params, strict=True):
                    p.copy_(a)
        elif event == "epoch_end" and self.live is not None:
            if info["history"].stop_reason is None and info["epoch"] < self.epochs:
                for w, p in zip(self.live, self.params, strict=True):
                    p.copy_(w)  # training goes on from the live weights
            self.live = None
