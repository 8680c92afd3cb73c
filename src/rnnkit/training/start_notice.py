"""Lines to print when training really starts, after every check of the data and settings.

The CLI says "this run replaces the model in DIR" through here: printed up front, it came
before the one line of a bad-input error too, announcing a run that never began.
"""

from __future__ import annotations

import sys

__all__ = ["notice_at_start", "say_pending", "drop_pending"]

_PENDING: list[str] = []


def notice_at_start(line: str) -> None:
    """Print ``line`` (stderr) when ``fit`` begins its first epoch."""
    _PENDING.append(line)


def say_pending() -> None:
    while _PENDING:
        print(_PENDING.pop(0), file=sys.stderr, flush=True)


def drop_pending() -> None:
    """Forget what was not said (the run failed before training)."""
    _PENDING.clear()
