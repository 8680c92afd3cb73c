"""``fit(resume=True)``: the stored run must be the run being continued (issue 14).

A run resumed with other data or model settings (``--window 7`` on a window-5 run, another
text file, another cell) would otherwise continue silently on different data. The extras a
run passes to ``fit`` (an application's config, its data description, its tokenizers) are
stored with its checkpoint; on resume they are compared with the new ones, and the first
difference is refused with one line naming the setting. Settings that only say how long or
where to train (epochs, minutes, device, ...) may change.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..checkpoint import CheckpointError, load_extras

__all__ = ["check_same_run", "MAY_CHANGE"]

# keys (at any depth of the extras) a resumed run may change: run length, place, results
MAY_CHANGE = frozenset({"epochs", "minutes", "time_budget", "sample_length", "patience",
                        "device", "threads", "jobs", "quiet", "checkpoint", "seed",
                        "epoch", "train_seconds", "test", "seconds"})


def check_same_run(run_dir, extras: dict | None, skip=()) -> None:
    """Raise ``CheckpointError`` (one line) when ``extras`` differ from those stored in
    ``run_dir`` in a setting that changes the data or the model. Keys present on one side
    only, and the keys of ``MAY_CHANGE`` and ``skip``, are not compared. Nothing stored (or
    stored extras unreadable: the resume state's own checks speak then) passes."""
    if not extras:
        return
    try:
        stored = load_extras(Path(run_dir))
    except (OSError, ValueError):
        return
    try:
        new = json.loads(json.dumps(extras, default=str))
    except (TypeError, ValueError):
        return
    found = _first_difference(stored, new, (), MAY_CHANGE | set(skip))
    if found is not None:
        path, old, now = found
        tok = next((p for p in path if str(p).endswith("tokenizer")), None)
        if tok is not None:  # a vocabulary: built from other text or text settings
            raise CheckpointError(
                f"fit: cannot resume from {run_dir}: the {tok} differs from that run's "
                f"({'.'.join(map(str, path))}: other text or text settings); resume on the "
                "same text, or train into a new folder")
        if path and path[0] == "data":  # an application's fingerprint of its training set
            raise CheckpointError(
                f"fit: cannot resume from {run_dir}: the training data differs from that "
                f"run's ({'.'.join(map(str, path))} was {_short(old)}, now {_short(now)}); "
                "resume on the same data, or train into a new folder")
        name = path[-1] if path else "extras"
        where = ".".join(str(p) for p in path)
        where = f" ({where})" if where != name else ""
        raise CheckpointError(
            f"fit: cannot resume from {run_dir}: the setting {name}{where} was {_short(old)} in "
            f"that run and is {_short(now)} now; resume with the same settings, or train into "
            "a new folder")


def _first_difference(old, new, path, skip):
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key in new and key not in skip:
                found = _first_difference(old[key], new[key], (*path, key), skip)
                if found is not None:
                    return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for a, b in zip(old, new, strict=True):
            if _first_difference(a, b, path, skip) is not None:  # a list is one setting
                return path, old, new
        return None
    if _same(old, new):
        return None
    return path, old, new


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return type(a) is type(b) and a == b or (
        isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b)


def _short(value, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
