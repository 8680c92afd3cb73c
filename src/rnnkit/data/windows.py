"""Windows over a series: the one windowing module.

``make_windows`` / ``last_window``: sliding windows over one series, the supervised (X, y)
pairs of many-to-one regression. ``split_origins`` / ``ForecastWindows``: forecasting windows
(look-back inputs, future covariates, horizon targets) per origin, for ``rnnkit.apps.forecast``.

Sliding windows
---------------

For a series ``s`` (N values, or N rows of F features), window ``W``, horizon ``K``::

    X[i] = s[i : i + W]              (W, F)     the look-back
    y[i] = s[i + W : i + W + K]      (K,)  or (K, F) / the target column only

for ``i = 0, stride, 2*stride, ...`` while ``i + W + K <= N``. The seeds' example
``[i, i+1, i+2] -> i+3`` is ``make_windows(np.arange(1, 103), window=3)``.

Forecasting windows
-------------------
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

from ..validate import positive_int

__all__ = ["make_windows", "last_window", "split_origins", "ForecastWindows"]


def _series(series, name: str) -> np.ndarray:
    try:
        s = np.asarray(series)
    except ValueError as e:
        raise ValueError(f"{name}: the series must be a numeric array ({e})") from None
    if s.dtype.kind not in "biuf":
        raise ValueError(f"{name}: the series must be numeric, got dtype {s.dtype}")
    if s.ndim not in (1, 2):
        raise ValueError(f"{name}: expected a series of shape (N,) or (N, F), got {s.shape}")
    if s.dtype.kind == "f" and not np.isfinite(s).all():
        raise ValueError(f"{name}: the series contains {int((~np.isfinite(s)).sum())} NaN or "
                         "Inf value(s)")
    return s.astype(np.float32)


def _positive(name: str, arg: str, v) -> None:
    positive_int(arg, v, owner=name)


def make_windows(series, window: int, horizon: int = 1, *, stride: int = 1,
                 target: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``series`` into look-back windows and the values that follow them.

    Args:
        series: (N,) or (N, F) numbers.
        window: W, steps per input window.
        horizon: K, steps to predict after each window.
        stride: steps between window starts.
        target: for an (N, F) series, predict only this column (y of shape (n, K)).

    Returns:
        ``X`` float32 (n, W, F) (F = 1 for a 1-D series) and ``y`` float32 (n, K) for a 1-D
        series or with ``target``, else (n, K, F).

    Example:
        >>> X, y = make_windows(np.arange(1, 103), window=3)
        >>> X.shape, y.shape, X[0, :, 0].tolist(), y[0].tolist()
        ((99, 3, 1), (99, 1), [1.0, 2.0, 3.0], [4.0])
    """
    name = "make_windows"
    s = _series(series, name)
    for arg, v in (("window", window), ("horizon", horizon), ("stride", stride)):
        _positive(name, arg, v)
    if len(s) < window + horizon:
        raise ValueError(f"{name}: window {window} + horizon {horizon} needs a series of at "
                         f"least {window + horizon} values, got {len(s)}")
    s2 = s[:, None] if s.ndim == 1 else s  # (N, F)
    if target is not None and not -s2.shape[1] <= target < s2.shape[1]:
        raise ValueError(f"{name}: target column {target} out of range for {s2.shape[1]} "
                         "features")
    starts = np.arange(0, len(s) - window - horizon + 1, stride)
    X = np.stack([s2[i:i + window] for i in starts])  # (n, W, F)
    y = np.stack([s2[i + window:i + window + horizon] for i in starts])  # (n, K, F)
    if s.ndim == 1:
        y = y[..., 0]
    elif target is not None:
        y = y[..., target]
    return X, y


def last_window(series, window: int) -> np.ndarray:
    """The final ``window`` steps as one input, (1, W, F): what predicts the next value."""
    s = _series(series, "last_window")
    _positive("last_window", "window", window)
    if len(s) < window:
        raise ValueError(f"last_window: window {window} is longer than the series "
                         f"({len(s)} values)")
    s2 = s[:, None] if s.ndim == 1 else s
    return s2[None, len(s) - window:]


# ------------------------------------------------------------------------ forecasting windows
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
