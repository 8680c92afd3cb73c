"""A model-free level signal for streams: how far a reading lies from the mean of the readings
just before it.

A next-step forecaster follows a level shift at once (its errors come only at the shift's two
ends), so a sustained shift can pass unflagged. The level residual ``|x_t - mean(x_{t-L..t-1})|``
divided by the column's standard deviation over the learning period (the model's scaler)
stays high for as long as the shift lasts and the trailing mean has not caught up. It is
scored like the model's error (log of 1 + it, or linear) and gets its own anomaly likelihoods
(the same short and slow windows); the largest likelihood counts. Off by default
(``Config.level_window`` none): with 100 it found the injected level shifts on ETTh1's
development columns (2 of 2, 0 without) but NAB's standard score fell to 72.17 / 71.41 on
seeds 0 / 7 (72.60 / 72.44 without; BENCHMARKS.md, "Anomaly detection").
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["LevelResidual"]


class LevelResidual:
    """``update(value (F,)) -> residual``: the mean over the columns of
    ``|x_t - mean of the last window readings before it| / std`` (0 until two readings have
    been seen). O(1) per reading: the last ``window`` readings and their sum are kept.

    Example:
        >>> level = LevelResidual(std=[1.0], window=4)
        >>> [round(level.update([v]), 2) for v in [0, 0, 0, 0, 3, 3]]
        [0.0, 0.0, 0.0, 0.0, 3.0, 2.25]
    """

    def __init__(self, std, window: int):
        self.std = np.asarray(std, dtype=np.float64)
        self.window = window
        self.past: deque[np.ndarray] = deque()
        self.sum = np.zeros(len(self.std))

    def update(self, value) -> float:
        value = np.asarray(value, dtype=np.float64)[:len(self.std)]
        residual = 0.0
        if len(self.past) >= 2:
            residual = float(np.mean(np.abs(value - self.sum / len(self.past)) / self.std))
        self.past.append(value.copy())
        self.sum += value
        if len(self.past) > self.window:
            self.sum -= self.past.popleft()
        return residual
