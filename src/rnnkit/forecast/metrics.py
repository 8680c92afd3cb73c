"""Point-forecast metrics, all over arrays of the same shape (..., H, T):

    MAE   = mean |y - yhat|                 MSE  = mean (y - yhat)^2       RMSE = sqrt(MSE)
    MAPE  = 100 mean |y - yhat| / |y|       (over y != 0 only; nan if every y is 0)
    sMAPE = 200 mean |y - yhat| / (|y| + |yhat|)        (0/0 counts as 0)
    MASE  = MAE / mean |y_t - y_{t-m}| over the training series, per channel then averaged
            (Hyndman & Koehler 2006; m = the seasonal period, 1 for the naive scale).

MAPE and sMAPE only mean something on a ratio scale with a true zero (not on standardised
values). Every function takes NumPy arrays or tensors and returns a float.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mae", "mse", "rmse", "mape", "smape", "mase", "mase_scale", "METRICS",
           "all_metrics"]


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _pair(y, yhat):
    y, yhat = _np(y), _np(yhat)
    if y.shape != yhat.shape:
        raise ValueError(f"metrics: expected forecasts of the actuals' shape {y.shape}, "
                         f"got {yhat.shape}")
    return y, yhat


def mae(y, yhat) -> float:
    y, yhat = _pair(y, yhat)
    return float(np.mean(np.abs(y - yhat)))


def mse(y, yhat) -> float:
    y, yhat = _pair(y, yhat)
    return float(np.mean((y - yhat) ** 2))


def rmse(y, yhat) -> float:
    return float(np.sqrt(mse(y, yhat)))


def mape(y, yhat) -> float:
    y, yhat = _pair(y, yhat)
    keep = y != 0
    if not keep.any():
        return float("nan")
    return float(100 * np.mean(np.abs(y - yhat)[keep] / np.abs(y[keep])))


def smape(y, yhat) -> float:
    y, yhat = _pair(y, yhat)
    den = np.abs(y) + np.abs(yhat)
    ratio = np.divide(np.abs(y - yhat), den, out=np.zeros_like(den), where=den > 0)
    return float(200 * np.mean(ratio))


def mase_scale(train: np.ndarray, period: int = 1) -> np.ndarray:
    """Per-channel in-sample MAE of the seasonal naive forecast on the training series (N, T)."""
    train = _np(train)
    if train.ndim == 1:
        train = train[:, None]
    m = max(1, int(period))
    if len(train) <= m:
        raise ValueError(f"MASE: the training series ({len(train)} rows) must be longer than the "
                         f"period {m}")
    return np.mean(np.abs(train[m:] - train[:-m]), axis=0)


def mase(y, yhat, scale) -> float:
    """MAE per channel (last axis) divided by ``scale`` (from ``mase_scale``), averaged."""
    y, yhat = _pair(y, yhat)
    per_channel = np.abs(y - yhat).reshape(-1, y.shape[-1]).mean(0)
    return float(np.mean(per_channel / np.maximum(_np(scale), 1e-12)))


METRICS = ("MAE", "MSE", "RMSE", "MAPE", "sMAPE", "MASE")


def all_metrics(y, yhat, scale=None) -> dict[str, float]:
    """Every metric in ``METRICS``; MASE needs the training ``scale`` (else nan)."""
    return {"MAE": mae(y, yhat), "MSE": mse(y, yhat), "RMSE": rmse(y, yhat),
            "MAPE": mape(y, yhat), "sMAPE": smape(y, yhat),
            "MASE": mase(y, yhat, scale) if scale is not None else float("nan")}
