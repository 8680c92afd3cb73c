"""A pool of spawned worker processes that end with the benchmark that started them.

A ``ProcessPoolExecutor`` worker busy with a long job does not notice that its parent was
killed (``pkill -f ucr.py``, a closed terminal): it runs its job to the end, sharing the cores
with whatever runs next and skewing its wall times. Each worker here asks the kernel to end it
with its parent (``rnnkit.runtime.end_with_parent``, as ``rnnkit launch``'s workers do).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from rnnkit.runtime import end_with_parent


def worker_pool(jobs: int) -> ProcessPoolExecutor:
    """``jobs`` spawned processes (never forked: torch's threads do not survive a fork)."""
    return ProcessPoolExecutor(jobs, mp_context=get_context("spawn"),
                               initializer=end_with_parent, initargs=(os.getpid(),))
