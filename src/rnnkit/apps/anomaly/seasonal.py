"""A model-free second signal for streams: the change from the same reading one period ago.

A forecaster of the next reading misses an anomaly that is the *absence* of a pattern (a
daily cycle that stays flat, a daily jump that does not come): the flat stretch is easy to
forecast step by step. The seasonal residual ``|x_t - x_{t-p}|`` sees it at once (the
smallest of ``|x_t - x_{t-kp}|`` over the last ``Config.seasonal_cycles`` cycles k, so that an
anomaly does not come back as a false one a period later). The period
``p`` is found on the learning period only: the lag of the largest autocorrelation after the
first negative one, between ``MIN_LAG`` readings and half the learning period; a value
column takes part when that autocorrelation reaches ``Config.seasonal_min_ac``. The residual,
divided by its mean over the learning period, is scored like the model's error (log of 1 +
it, or linear) and gets its own anomaly likelihoods; the larger likelihood counts.
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["find_period", "seasonal_meta", "SeasonalResidual", "MIN_LAG"]

MIN_LAG = 12  # shortest period considered (readings)


def find_period(x: np.ndarray, min_lag: int = MIN_LAG) -> tuple[int | None, float]:
    """``(period, autocorrelation)`` of a 1-D series (the learning period), or ``(None, ac)``.

    The autocorrelation at lag k is normalised by the n - k pairs it averages (so a clean
    cycle gives ~1 whatever its length); the period is the lag of its largest value from the
    first negative lag (at least ``min_lag``) up to half the series.

    Example:
        >>> t = np.arange(600)
        >>> p, ac = find_period(np.sin(2 * np.pi * t / 48))
        >>> p, round(ac, 2)
        (48, 1.0)
    """
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    n, var = len(x), float(x.var())
    hi = n // 2
    if var == 0 or n < 3 * min_lag or hi <= min_lag:
        return None, 0.0
    ac = np.array([1.0] + [float(np.dot(x[:-k], x[k:])) / ((n - k) * var)
                           for k in range(1, hi)])
    negative = np.flatnonzero(ac[1:] < 0)
    if len(negative) == 0:
        return None, 0.0
    start = max(min_lag, int(negative[0]) + 1)
    if start >= hi:
        return None, 0.0
    p = start + int(np.argmax(ac[start:hi]))
    return p, float(ac[p])


def _residuals(x: np.ndarray, p: int, cycles: int) -> np.ndarray:
    """``min_k |x_t - x_{t-kp}|`` over the k = 1..cycles that reach back into ``x``; 0 for
    t < p."""
    e = np.zeros(len(x))
    for t in range(p, len(x)):
        # the cycles that reach back into x (not range(cycles): 10**9 of them hung)
        e[t] = min(abs(x[t] - x[t - k * p]) for k in range(1, min(cycles, t // p) + 1))
    return e


def seasonal_meta(values: np.ndarray, cycles: int = 3) -> list[dict]:
    """Per value column of the learning rows (n, F): period, autocorrelation, ``cycles`` and
    the mean seasonal residual there (the scale), as stored in a stream checkpoint."""
    out = []
    for f in range(values.shape[1]):
        x = values[:, f].astype(np.float64)
        p, ac = find_period(x)
        scale = None if p is None else max(float(_residuals(x, p, cycles)[p:].mean()), 1e-9)
        out.append({"period": p, "ac": ac, "scale": scale, "cycles": cycles})
    return out


class SeasonalResidual:
    """``update(value (F,)) -> residual``: the mean over the periodic columns of
    ``min_k |x_t - x_{t-kp}| / scale``, k = 1..cycles (those already seen; 0 until a column
    has a period's worth of readings). The smallest of the last few cycles' differences keeps
    an anomaly from echoing one period later. O(1) per reading: the last cycles * max(p)
    readings are kept."""

    def __init__(self, meta: list[dict], min_ac: float):
        self.columns = [(f, m["period"], m["scale"], m.get("cycles", 1))
                        for f, m in enumerate(meta)
                        if m["period"] is not None and m["ac"] >= min_ac]
        keep = max((p * c for _, p, _, c in self.columns), default=1)
        self.past: deque[np.ndarray] = deque(maxlen=keep)

    def __bool__(self) -> bool:
        return bool(self.columns)

    def update(self, value: np.ndarray) -> float:
        total, seen = 0.0, len(self.past)
        for f, p, scale, cycles in self.columns:
            if seen >= p:
                v = float(value[f])
                total += min(abs(v - float(self.past[-k * p][f]))
                             for k in range(1, min(cycles, seen // p) + 1)) / scale
        self.past.append(np.array(value, dtype=np.float64))
        return total / len(self.columns)
