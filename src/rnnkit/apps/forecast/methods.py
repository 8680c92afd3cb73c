"""The forecasting methods ``--mode auto`` weighs per series, and the windows the global models
learn from.

Windows (global recurrent and linear models): every series is put on a common footing per
window. With the transform ``log`` (chosen on validation; only for positive series) the values
are logged; then each look-back window is shifted by its *level* (the mean of its last season,
or its last value without seasonality) and divided by its *scale* (the mean absolute step in
the window), so a series of thousands and a series of tens, a trending and a flat one, give
the model the same kind of input (per-window level and scale normalisation: multiplicative
trend and seasonality become additive under the log). Series shorter than the look-back are
padded at the front with their first value and a mask channel says which steps are real.

Methods, each mapping histories to ``H`` forecasts in original units:
- ``snaive``: seasonal naive, ``yhat_{n+k} = y_{n+k-m*ceil(k/m)}`` (naive when n < m);
- ``linear``: one closed-form ridge regression from the normalised look-back to the normalised
  horizon, shared by all series (DLinear's function class, fitted by least squares);
- ``ets``, ``theta``: statsforecast's ``AutoETS`` and ``AutoTheta`` (per series, model chosen
  by their own information criteria), season length ``m``;
- ``rnn``: the global recurrent ``Forecaster`` (``global_model.py``).
"""

from __future__ import annotations

import warnings

import numpy as np

from .baselines import LinearBaseline

__all__ = ["CLASSICAL", "Windowing", "seasonal_naive", "statsforecast_methods", "LinearMap"]

CLASSICAL = ("ets", "theta")
SF_NAMES = {"ets": "AutoETS", "theta": "AutoTheta"}


def seasonal_naive(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    y = np.asarray(history, np.float64)
    m = period if len(y) >= period else 1
    return y[len(y) - m + (np.arange(horizon) % m)]


def statsforecast_methods(histories: list[np.ndarray], horizon: int, period: int,
                          methods=CLASSICAL, jobs: int = 1) -> dict[str, np.ndarray]:
    """``{method: (S, H)}`` forecasts of statsforecast's AutoETS / AutoTheta for each history.

    One ``StatsForecast`` call for all series (integer time steps, ``jobs`` processes); a series a
    model cannot fit falls back to the naive forecast (statsforecast's ``fallback_model``).
    """
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta, Naive

    methods = [m for m in methods if m in SF_NAMES]
    if not methods or not histories:
        return {}
    make = {"ets": lambda: AutoETS(season_length=period),
            "theta": lambda: AutoTheta(season_length=period)}
    ids = np.concatenate([np.full(len(h), i) for i, h in enumerate(histories)])
    ds = np.concatenate([np.arange(len(h)) for h in histories])
    df = pd.DataFrame({"unique_id": ids, "ds": ds, "y": np.concatenate(histories)})
    sf = StatsForecast(models=[make[m]() for m in methods], freq=1, n_jobs=jobs,
                       fallback_model=Naive())
    with warnings.catch_warnings():  # its fits divide by zero on tiny or flat series
        warnings.simplefilter("ignore", RuntimeWarning)
        fc = sf.forecast(df=df, h=horizon)
    fc = fc.sort_values(["unique_id", "ds"], kind="stable")
    return {m: fc[SF_NAMES[m]].to_numpy(np.float64).reshape(len(histories), horizon)
            for m in methods}


class Windowing:
    """Look-back windows of many series, normalised per window (see the module docstring).

    Args:
        lookback: L; horizon: H; period: m (the level is the mean of the last season).
        log: work on log values (every series must be positive).
    """

    def __init__(self, lookback: int, horizon: int, period: int, log: bool):
        self.L, self.H, self.m, self.log = lookback, horizon, max(1, period), log

    def to_dict(self) -> dict:
        return {"lookback": self.L, "horizon": self.H, "period": self.m, "log": self.log}

    @classmethod
    def from_dict(cls, d: dict) -> Windowing:
        return cls(d["lookback"], d["horizon"], d["period"], d["log"])

    def transform(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, np.float64)
        return np.log(y) if self.log else y

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.exp(np.clip(z, -700, 700)) if self.log else z

    def window(self, z: np.ndarray, origin: int):
        """The padded look-back before ``origin`` of transformed values ``z``:
        (x (L,), mask (L,), level, scale)."""
        L = self.L
        start = max(0, origin - L)
        part = z[start:origin]
        pad = L - len(part)
        x = np.concatenate([np.full(pad, part[0]), part]) if pad else part
        mask = np.concatenate([np.zeros(pad), np.ones(len(part))])
        k = min(self.m, len(part))
        level = float(np.mean(part[-k:]))
        steps = np.abs(np.diff(part))
        scale = float(np.mean(steps)) if len(steps) else 0.0
        scale = max(scale, 1e-3 * max(abs(level), 1e-3) if not self.log else 1e-3)
        return (x - level) / scale, mask, level, scale

    def batch(self, histories: list[np.ndarray], origins_per_series: list[np.ndarray],
              with_targets: bool = True):
        """Stacked windows: x (N, L), mask (N, L), level (N,), scale (N,), target (N, H) or
        None, and the series index of each window (N,)."""
        xs, ms, lv, sc, ys, owner = [], [], [], [], [], []
        for i, (y, origins) in enumerate(zip(histories, origins_per_series, strict=True)):
            z = self.transform(y)
            for t in origins:
                x, mask, level, scale = self.window(z, int(t))
                xs.append(x)
                ms.append(mask)
                lv.append(level)
                sc.append(scale)
                owner.append(i)
                if with_targets:
                    ys.append((z[t:t + self.H] - level) / scale)
        n = len(xs)
        if not n:
            empty = np.zeros((0, self.L))
            return empty, empty, np.zeros(0), np.zeros(0), (np.zeros((0, self.H)) if
                                                            with_targets else None), np.zeros(
                0, np.int64)
        return (np.stack(xs), np.stack(ms), np.asarray(lv), np.asarray(sc),
                np.stack(ys) if with_targets else None, np.asarray(owner, np.int64))

    def back(self, out: np.ndarray, level: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Normalised forecasts (N, H) -> original units."""
        return self.inverse(out * scale[:, None] + level[:, None])

    def train_origins(self, length: int, end: int, min_history: int,
                      most: int | None = None) -> np.ndarray:
        """Origins of the windows whose targets lie in ``[0, end)`` of a series of ``length``
        (the ``most`` recent ones when given)."""
        last = min(end, length) - self.H
        if last < 1:
            return np.zeros(0, np.int64)
        origins = np.arange(min(max(min_history, 1), last + 1), last + 1)
        return origins[-most:] if most else origins


class LinearMap(LinearBaseline):
    """``yhat = W [x; mask; 1]``: closed-form ridge regression on normalised windows (N, L)."""

    def __init__(self, ridge: float = 1e-2):
        super().__init__(ridge)

    @staticmethod
    def _design(x, mask=None):
        return np.concatenate([x, mask, np.ones((len(x), 1))], 1)

    def fit(self, x, mask, y) -> LinearMap:
        return self._solve(self._design(x, mask), y)

    def predict(self, x, mask) -> np.ndarray:
        return self._design(x, mask) @ self.weight
