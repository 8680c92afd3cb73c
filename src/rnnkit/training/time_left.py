"""``time_left``: a training run's remaining time, as the progress lines of a log file say it.

A terminal gets tqdm's bar, whose ``<mm:ss`` is the same estimate; a log file or a notebook
gets lines, so they carry it in words (an ensemble's K models: ``rnnkit classify train``).

Example:
    >>> time_left(40), time_left(170), time_left(4000)
    ('40 s', '3 min', '1 h 07 min')
"""

from __future__ import annotations

__all__ = ["time_left"]


def time_left(seconds: float) -> str:
    """Seconds as "40 s" under a minute, "3 min" under an hour, else "1 h 07 min" (rounded:
    it is an estimate)."""
    if seconds < 59.5:
        return f"{max(round(seconds), 1)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
