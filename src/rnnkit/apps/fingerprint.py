"""A training set's size and digest, stored in a run's extras: what ``--resume`` must find
again (``training.resume_check`` compares them). The same vocabulary is not enough: a
smaller or other text can share it (a textgen run resumed on a tenth of its text carried on
without a word)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

__all__ = ["fingerprint"]


def fingerprint(parts: Iterable, count: int) -> dict:
    """``{"items": count, "digest": ...}`` over ``parts``: arrays or sequences of ints."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(np.asarray(part, dtype=np.int64).tobytes())
        digest.update(b"|")  # ([1, 2], [3]) and ([1], [2, 3]) differ
    return {"items": int(count), "digest": digest.hexdigest()[:16]}
