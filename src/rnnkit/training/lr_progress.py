"""The learning rate as a function of a run's progress (steps, or seconds of a time budget).

Used by applications that train "for N minutes" (``rnnkit.apps.textgen``,
``rnnkit.apps.translate``): the lr warms up, then decays to ``final_ratio`` of its peak by
the end of the run, whether the end is a step count or the clock running out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["lr_factor", "LRByProgress", "Clock", "SCHEDULES", "done_so_far"]

SCHEDULES = ("cosine", "linear", "constant")


def lr_factor(progress: float, schedule: str = "cosine", warmup: float = 0.0,
              final_ratio: float = 0.0) -> float:
    """The lr multiplier at ``progress`` in [0, 1] of a run: warm-up, then decay to the end."""
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return (progress + 1e-3) / (warmup + 1e-3)
    if schedule == "constant":
        return 1.0
    p = (progress - warmup) / (1.0 - warmup) if warmup < 1 else 1.0
    decay = 0.5 * (1.0 + math.cos(math.pi * p)) if schedule == "cosine" else 1.0 - p
    return final_ratio + (1.0 - final_ratio) * decay


class LRByProgress:
    """A ``fit`` callback that sets the lr after every step from the run's progress.

    ``config`` has ``lr``, ``schedule``, ``warmup`` and ``final_lr_ratio``. Progress is
    ``step / total_steps``, or — with a time budget — elapsed seconds (by ``clock``, which may
    leave out evaluation time) over the budget. ``steps`` continues a resumed run.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config, *,
                 total_steps: int | None = None, budget_s: float | None = None,
                 clock: Callable[[], float] | None = None, steps: int = 0):
        self.opt, self.config = optimizer, config
        self.total_steps, self.budget_s = total_steps, budget_s
        self.clock = clock or Clock()
        self.steps = steps
        self.set(self.progress() if steps else 0.0)

    def progress(self) -> float:
        if self.budget_s:
            return self.clock() / self.budget_s
        return self.steps / max(1, self.total_steps or 1)

    def set(self, progress: float) -> None:
        c = self.config
        lr = c.lr * lr_factor(progress, c.schedule, c.warmup, c.final_lr_ratio)
        for group in self.opt.param_groups:
            group["lr"] = lr

    def __call__(self, event: str, info: dict):
        if event == "batch_end":
            self.steps += 1
            self.set(self.progress())


class Clock:
    """Seconds since creation; ``pause()``/``resume()`` leave spans out (e.g. evaluation)."""

    def __init__(self):
        self.start, self.paused_at, self.left_out = time.perf_counter(), None, 0.0

    def __call__(self) -> float:
        now = self.paused_at if self.paused_at is not None else time.perf_counter()
        return now - self.start - self.left_out

    def pause(self) -> None:
        self.paused_at = time.perf_counter()

    def resume(self) -> None:
        if self.paused_at is not None:
            self.left_out += time.perf_counter() - self.paused_at
            self.paused_at = None


def done_so_far(run_dir: str | Path | None) -> tuple[int, float]:
    """Steps and seconds of the run ``fit`` stored in ``run_dir`` (0, 0.0 when none): where a
    resumed run's lr schedule continues from. Read from the resume state, the epoch ``fit``
    continues from (``state.resumed_history``)."""
    from .state import resumed_history

    history = resumed_history(run_dir)
    rows = [] if history is None else history.get("rows", [])
    return sum(r.get("steps", 0) for r in rows), sum(r.get("seconds", 0.0) for r in rows)
