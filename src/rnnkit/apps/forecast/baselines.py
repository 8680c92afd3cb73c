"""Baselines a forecaster must beat, computed on the same windows as the model.

Each maps look-back windows ``x`` (B, L, T) of the target channels to forecasts (B, H, T):

- **last value** (naive): ``yhat_{t+k} = y_t``.
- **seasonal naive** with period m: ``yhat_{t+k} = y_{t+k-m*ceil(k/m)}``, the value one
  season back (m <= L); m given or detected from the training series' autocorrelation.
- **mean**: the look-back window's mean.
- **linear** (DLinear-style, Zeng et al. 2023): one linear map from the look-back to the
  horizon plus a bias, shared by all channels, fitted by (ridge) least squares on the training
  windows. DLinear's trend/seasonal decomposition, ``W_s (x - A x) + W_t A x``, spans exactly
  the linear maps of ``x``, so this is DLinear's function class with its least-squares fit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["detect_period", "last_value", "seasonal_naive", "window_mean", "LinearBaseline",
           "BASELINES", "baseline_forecasts"]

BASELINES = ("last value", "seasonal naive", "mean", "linear")


def detect_period(series: np.ndarray, max_period: int, min_strength: float = 0.2) -> int | None:
    """The dominant seasonal period in ``series`` (N,) or (N, T), at most ``max_period``.

    Removes a linear trend, computes the autocorrelation (averaged over channels) and takes
    the smallest lag >= 2 whose autocorrelation is a local peak within 10 % of the highest
    peak; None when no peak reaches ``min_strength``.
    """
    y = np.asarray(series, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    n = len(y)
    max_period = min(int(max_period), n // 2)
    if max_period < 2:
        return None
    t = np.arange(n)
    A = np.stack([t, np.ones(n)], 1)
    y = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(y, size, axis=0)
    acf = np.fft.irfft(spec * np.conj(spec), size, axis=0)[: max_period + 2]
    acf = (acf / np.maximum(acf[:1], 1e-12)).mean(1)  # (max_period + 2,)
    peaks = [k for k in range(2, max_period + 1) if acf[k] >= acf[k - 1] and acf[k] >= acf[k + 1]]
    peaks = [k for k in peaks if acf[k] >= min_strength]
    if not peaks:
        return None
    best = max(acf[k] for k in peaks)
    return next(k for k in peaks if acf[k] >= 0.9 * best)


def last_value(x: np.ndarray, horizon: int) -> np.ndarray:
    return np.repeat(x[:, -1:], horizon, axis=1)


def seasonal_naive(x: np.ndarray, horizon: int, period: int) -> np.ndarray:
    L = x.shape[1]
    if not 1 <= period <= L:
        raise ValueError(f"seasonal naive: the period must lie in [1, {L}] (the look-back), got "
                         f"{period}")
    k = np.arange(horizon)
    return x[:, L - period + (k % period)]


def window_mean(x: np.ndarray, horizon: int) -> np.ndarray:
    return np.repeat(x.mean(1, keepdims=True), horizon, axis=1)


class LinearBaseline:
    """``yhat = W x + b`` per channel, W (H, L) shared by channels, fitted by ridge regression."""

    def __init__(self, ridge: float = 1e-3):
        self.ridge = ridge
        self.weight: np.ndarray | None = None  # (L + 1, H), bias last

    @staticmethod
    def _design(x: np.ndarray) -> np.ndarray:
        B, L, T = x.shape
        flat = x.transpose(0, 2, 1).reshape(B * T, L)  # one row per (window, channel)
        return np.concatenate([flat, np.ones((B * T, 1))], 1)

    def fit(self, x: np.ndarray, y: np.ndarray) -> LinearBaseline:
        """x (B, L, T) training look-backs, y (B, H, T) their targets."""
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        A = self._design(x)
        Y = y.transpose(0, 2, 1).reshape(-1, y.shape[1])  # (B*T, H)
        return self._solve(A, Y)

    def _solve(self, A: np.ndarray, Y: np.ndarray):
        """Ridge least squares ``A W = Y``; the last column of A is the (unpenalised) bias."""
        G = A.T @ A
        G[np.diag_indices(len(G) - 1)] += self.ridge * max(len(A), 1)
        self.weight = np.linalg.solve(G, A.T @ Y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        B, L, T = x.shape
        out = self._design(np.asarray(x, np.float64)) @ self.weight  # (B*T, H)
        return out.reshape(B, T, -1).transpose(0, 2, 1)

    def to_dict(self) -> dict:
        return {"ridge": self.ridge, "weight": self.weight.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> LinearBaseline:
        b = cls(d["ridge"])
        b.weight = np.asarray(d["weight"], np.float64)
        return b


def baseline_forecasts(x: np.ndarray, horizon: int, period: int | None,
                       linear: LinearBaseline | None) -> dict[str, np.ndarray]:
    """Every baseline's forecasts (B, H, T) for look-backs ``x`` (B, L, T), by name."""
    out = {"last value": last_value(x, horizon)}
    if period is not None and 2 <= period <= x.shape[1]:
        out[f"seasonal naive (m={period})"] = seasonal_naive(x, horizon, period)
    out["mean"] = window_mean(x, horizon)
    if linear is not None:
        out["linear (DLinear-style)"] = linear.predict(x)
    return out
