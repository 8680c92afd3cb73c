"""A training set's size and digest, stored in a run's extras: what ``--resume`` must find
again (``training.resume_check`` compares them). The same vocabulary is not enough: a
smaller or other text can share it (a textgen run resumed on a tenth of its text carried on
without a word)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

__all__ = ["fingerprint"]


def fingerprint(parts: Iterable, count: int, name: str = "items") -> dict:
    """``{name: count, "digest": ...}`` over ``parts``: arrays, tensors or sequences of
    numbers (token ids, series values, labels), each hashed with its dtype and length."""
    digest = hashlib.sha256()
    for part in parts:
        a = np.ascontiguousarray(np.asarray(part))
        digest.update(f"{a.dtype.str}{a.shape}|".encode())  # ([1, 2], [3]) != ([1], [2, 3])
        digest.update(a.tobytes())
    return {name: int(count), "digest": digest.hexdigest()[:16]}
