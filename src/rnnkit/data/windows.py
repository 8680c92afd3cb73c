"""Sliding windows over one series: the supervised (X, y) pairs of many-to-one forecasting.

For a series ``s`` (N values, or N rows of F features), window ``W``, horizon ``K``::

    X[i] = s[i : i + W]              (W, F)     the look-back
    y[i] = s[i + W : i + W + K]      (K,)  or (K, F) / the target column only

for ``i = 0, stride, 2*stride, ...`` while ``i + W + K <= N``. The seeds' example
``[i, i+1, i+2] -> i+3`` is ``make_windows(np.arange(1, 103), window=3)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_windows", "last_window"]


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
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name}: {arg} must be a positive integer, got {v!r}")


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
