"""A pool of spawned worker processes that end with the benchmark that started them.

A ``ProcessPoolExecutor`` worker busy with a long job does not notice that its parent was
killed (``pkill -f ucr.py``, a closed terminal): it runs its job to the end, sharing the cores
with whatever runs next and skewing its wall times. Each worker here watches its parent and
exits as soon as it is gone, whatever signal ended it.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

POLL_SECONDS = 2.0


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:  # an orphan is re-parented (to init or a subreaper)
        time.sleep(POLL_SECONDS)
    os._exit(1)  # no clean-up to wait for: the results have no one left to read them


def _watch_parent(parent: int) -> None:
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def worker_pool(jobs: int) -> ProcessPoolExecutor:
    """``jobs`` spawned processes (never forked: torch's threads do not survive a fork)."""
    return ProcessPoolExecutor(jobs, mp_context=get_context("spawn"),
                               initializer=_watch_parent, initargs=(os.getpid(),))
