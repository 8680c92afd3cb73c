"""One place for the checks every setting goes through: positive counts, rates, finite floats.

Each check returns the value as a plain Python ``int``/``float`` and raises ``ValueError``
naming the setting (and its owner, when given) and what it received, so the message reads
``LSTM: hidden_size must be a positive integer, got 0``. Floats refuse NaN and infinities;
integers refuse ``bool`` and integral floats (``3.0``: say ``3``).

Example:
    >>> positive_int("hidden_size", 16, owner="LSTM")
    16
    >>> probability("dropout", 0.2)
    0.2
"""

from __future__ import annotations

import math
import numbers

__all__ = ["positive_int", "non_negative_int", "positive_float", "non_negative_float",
           "finite_float", "probability", "in_range", "flag"]


def _label(name: str, owner: str | None) -> str:
    return f"{owner}: {name}" if owner else name


def _int(name: str, value, owner: str | None, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{_label(name, owner)} must be {what}, got {value!r}")
    return int(value)


def positive_int(name: str, value, owner: str | None = None) -> int:
    """``value`` as an int ≥ 1, else ``ValueError("OWNER: NAME must be a positive integer...")``."""
    return _int(name, value, owner, "a positive integer", 1)


def non_negative_int(name: str, value, owner: str | None = None) -> int:
    """``value`` as an int ≥ 0."""
    return _int(name, value, owner, "a non-negative integer", 0)


def finite_float(name: str, value, owner: str | None = None) -> float:
    """``value`` as a finite float (no NaN, no ±inf, no bool, no string)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{_label(name, owner)} must be a finite number, got {value!r}")
    try:
        out = float(value)
    except (OverflowError, ValueError):  # an int too large for a float
        raise ValueError(f"{_label(name, owner)} must be a finite number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{_label(name, owner)} must be a finite number, got {value!r}")
    return out


def positive_float(name: str, value, owner: str | None = None) -> float:
    """``value`` as a finite float > 0."""
    out = finite_float(name, value, owner)
    if out <= 0:
        raise ValueError(f"{_label(name, owner)} must be a positive number, got {value!r}")
    return out


def non_negative_float(name: str, value, owner: str | None = None) -> float:
    """``value`` as a finite float ≥ 0."""
    out = finite_float(name, value, owner)
    if out < 0:
        raise ValueError(f"{_label(name, owner)} must be a non-negative number, got {value!r}")
    return out


def in_range(name: str, value, low: float, high: float, owner: str | None = None, *,
             low_open: bool = False, high_open: bool = True) -> float:
    """``value`` as a finite float in the interval [low, high) (ends as ``*_open`` say)."""
    lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        out = math.nan
    else:
        try:
            out = float(value)
        except (OverflowError, ValueError):
            out = math.nan
    ok = math.isfinite(out) and (out > low if low_open else out >= low) and (
        out < high if high_open else out <= high)
    if not ok:
        raise ValueError(f"{_label(name, owner)} must lie in {lo}{low:g}, {high:g}{hi}, "
                         f"got {value!r}")
    return out


def probability(name: str, value, owner: str | None = None, *, allow_one: bool = False) -> float:
    """A rate such as dropout: a float in [0, 1) (or [0, 1] with ``allow_one``)."""
    return in_range(name, value, 0.0, 1.0, owner, high_open=not allow_one)


def flag(name: str, value, owner: str | None = None) -> bool:
    """``value`` as a bool: True/False (NumPy's too) or the integers 1/0. A string is refused:
    ``bidirectional="no"`` was ``bool("no")``, True."""
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):  # NumPy 1 and 2
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{_label(name, owner)} must be True or False, got {value!r}")
