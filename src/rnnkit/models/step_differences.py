"""StepDifferences: each feature's step-to-step change beside its value, for numeric series.

    Δx_t  = x_t − x_{t−1}                 (Δx_1 = 0; zero past each series' length)
    out_t = [x_t ; (Δx_t − μ) / σ]         (B, T, 2F)

μ and σ (one per feature) are the changes' mean and standard deviation over the training
series' steps, taken once before training (``fit``) and kept as buffers, so a saved or
exported model carries them. The first difference is what derivative DTW (Górecki & Łuczak
2013) and MultiRocket (Tan et al. 2022) read beside the raw values. A convolution could learn a
difference filter itself, but on smooth series the changes are orders of magnitude smaller
than the values; standardised, they reach the first layer on the same scale.

Example:
    >>> diff = StepDifferences(1)
    >>> diff(torch.tensor([[[1.0], [3.0], [6.0]]]))[0].tolist()
    [[1.0, 0.0], [3.0, 2.0], [6.0, 3.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["StepDifferences"]


class StepDifferences(nn.Module):
    """(B, T, F) -> (B, T, 2F): the values, then their standardised step-to-step changes."""

    def __init__(self, input_size: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(input_size))
        self.register_buffer("std", torch.ones(input_size))

    @torch.no_grad()
    def fit(self, sequences: Sequence[np.ndarray]) -> StepDifferences:
        """Take μ and σ from training series ((T_i, F) arrays, as the model reads them)."""
        changes = np.concatenate([np.diff(np.asarray(s, np.float64), axis=0, prepend=s[:1])
                                  for s in sequences])  # (Σ T_i, F)
        std = changes.std(0)
        self.mean.copy_(torch.as_tensor(changes.mean(0)))
        self.std.copy_(torch.as_tensor(np.where(std > 1e-12, std, 1.0)))
        return self

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        change = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
        change = (change - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        if lengths is not None:  # padding stays zero: a series alone = the same one padded
            T = x.shape[1]
            real = torch.arange(T, device=x.device)[None, :] < torch.as_tensor(
                lengths, device=x.device)[:, None]
            change = change * real.unsqueeze(-1).to(x.dtype)
        return torch.cat([x, change], dim=2)  # (B, T, 2F)
