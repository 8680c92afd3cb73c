"""The anomaly likelihood: how unusual the recent scores are against their own history.

After Ahmad et al. (2017), "Unsupervised real-time anomaly detection for streaming data"
(Numenta's HTM detector): a raw score means different things on different series, so it is
turned into a probability. With ``m_t`` the mean of the last ``short_window`` raw scores and
``mu``, ``sigma`` the mean and standard deviation of the earlier ``m`` over the last
``long_window`` readings,

    L_t = Phi((m_t - mu) / max(sigma, min_std))      (1 minus the Gaussian tail probability)

so ``L_t`` near 1 means "recent scores far above their usual level", on any series, and one
threshold (0.9999) serves all of them. Until ``warmup`` readings have been seen ``L_t`` is 0.5.
With ``Config.slow_window`` the detector keeps a second one over a longer average (say 50
readings) and reports the larger: a short burst of large errors moves the first, errors that
stay a little high for a while move the second. ``log_likelihood`` spreads the values near 1
over [0, 1] (0.99999 → 0.5), as NAB's HTM results do. Everything is O(1) per reading and
looks only backwards.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["AnomalyLikelihood", "Flagger", "log_likelihood"]


class AnomalyLikelihood:
    """Streaming anomaly likelihood; ``update(raw_score) -> L`` (see the module docstring).

    Example:
        >>> lik = AnomalyLikelihood(short_window=3, long_window=100, warmup=10)
        >>> [round(lik.update(s), 3) for s in [0.1] * 12 + [5.0]][-1]
        1.0
    """

    def __init__(self, short_window: int = 10, long_window: int = 8640, warmup: int = 0,
                 min_std: float = 0.05):
        self.short_window, self.long_window = short_window, long_window
        self.warmup, self.min_std = warmup, min_std
        self.recent: deque[float] = deque()
        self.history: deque[float] = deque()
        self.recent_sum = self.sum = self.sum_sq = 0.0
        self.seen = 0

    def update(self, score: float) -> float:
        score = float(score)
        self.recent.append(score)
        self.recent_sum += score
        if len(self.recent) > self.short_window:
            self.recent_sum -= self.recent.popleft()
        m = self.recent_sum / len(self.recent)
        n = len(self.history)
        likelihood = 0.5
        if self.seen >= self.warmup and n >= 2:
            mu = self.sum / n
            sd = max(math.sqrt(max(self.sum_sq / n - mu * mu, 0.0)), self.min_std)
            likelihood = 0.5 * math.erfc(-(m - mu) / (sd * math.sqrt(2.0)))
        self.history.append(m)
        self.sum += m
        self.sum_sq += m * m
        if n + 1 > self.long_window:
            old = self.history.popleft()
            self.sum -= old
            self.sum_sq -= old * old
        self.seen += 1
        return likelihood


def log_likelihood(likelihood: float) -> float:
    """``L`` on a log scale in [0, 1]: 0.99 → 0.2, 0.9999 → 0.4, 0.99999 → 0.5."""
    return math.log(1.0000000001 - likelihood) / math.log(1e-10)


class Flagger:
    """Flags a reading whose likelihood reaches ``threshold``, then none for ``holdoff``."""

    def __init__(self, threshold: float, holdoff: int = 0):
        self.threshold, self.holdoff = threshold, holdoff
        self.quiet = 0

    def update(self, likelihood: float) -> bool:
        if self.quiet > 0:
            self.quiet -= 1
            return False
        if likelihood >= self.threshold:
            self.quiet = self.holdoff
            return True
        return False
