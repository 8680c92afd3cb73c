"""Forecasting windows: (look-back inputs, future covariates, horizon targets) per origin.

An *origin* ``t`` is the row of the first forecast step: the inputs are rows ``[t - L, t)``
and the targets rows ``[t, t + H)``. A split ``[start, end)`` owns the origins whose targets
lie inside it, ``max(start, L) <= t <= end - H``; validation and test windows take their
look-back from the rows before their start (the standard ETT protocol), so a test target is
never a training or validation row.

Windows are views into one tensor (nothing is copied until a batch is stacked).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["split_origins", "ForecastWindows"]


def split_origins(split_range: tuple[int, int], lookback: int, horizon: int) -> np.ndarray:
    """The origins ``t`` of every full window whose targets lie in ``[start, end)``."""
    start, end = split_range
    return np.arange(max(start, lookback), end - horizon + 1)


class ForecastWindows(Dataset):
    """Windows over a standardised series, yielding ``(inputs, targets)`` for ``rnnkit.fit``.

    Args:
        values: (N, C) standardised series channels.
        origins: the window origins (see ``split_origins``).
        lookback, horizon: L and H.
        target_index: the channels forecast (the targets' last dimension).
        covariates: (N, K) known covariates or None.

    Items: ``x`` (L, C + K) with the covariates last, and ``y`` (H, T); with covariates the
    inputs are ``(x, future_covariates (H, K))`` so the model is called ``model(x, fc)``.
    """

    def __init__(self, values: np.ndarray, origins, lookback: int, horizon: int,
                 target_index: list[int], covariates: np.ndarray | None = None):
        self.series = torch.as_tensor(np.asarray(values, dtype=np.float32))
        self.cov = None if covariates is None else torch.as_tensor(
            np.asarray(covariates, dtype=np.float32))
        self.inputs = self.series if self.cov is None else torch.cat([self.series, self.cov], 1)
        self.origins = np.asarray(origins, dtype=np.int64)
        self.lookback, self.horizon, self.target_index = lookback, horizon, list(target_index)
        if len(self.origins) and (self.origins.min() < lookback or
                                  self.origins.max() + horizon > len(self.series)):
            raise ValueError(f"ForecastWindows: origins must lie in [{lookback}, "
                             f"{len(self.series) - horizon}], got {self.origins.min()}.."
                             f"{self.origins.max()}")

    def __len__(self) -> int:
        return len(self.origins)

    def __getitem__(self, i):
        t = int(self.origins[i])
        L, H = self.lookback, self.horizon
        x = self.inputs[t - L:t]  # (L, C + K)
        y = self.series[t:t + H, self.target_index]  # (H, T)
        if self.cov is None:
            return x, y
        return (x, self.cov[t:t + H]), y

    def arrays(self):
        """All windows stacked: ``x`` (B, L, C+K), ``future`` (B, H, K) or None, ``y`` (B, H, T)."""
        idx = torch.as_tensor(self.origins)
        L, H = self.lookback, self.horizon
        x = self.inputs[idx[:, None] + torch.arange(-L, 0)]
        y = self.series[idx[:, None] + torch.arange(H)][..., self.target_index]
        fc = None if self.cov is None else self.cov[idx[:, None] + torch.arange(H)]
        return x, fc, y
