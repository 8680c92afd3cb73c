"""Where and how reproducibly code runs: device choice, seeding, evaluation mode, memory, and a
worker process's lifetime."""

from __future__ import annotations

import numbers
import os
import random
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

__all__ = ["resolve_device", "check_seed", "seed_everything", "evaluating", "memory_available",
           "check_memory", "format_bytes", "end_with_parent"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {device!r}; expected auto, cpu, cuda or cuda:N") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here")
    return dev


def check_seed(seed, owner: str = "") -> None:
    """A seed ``fit`` and the samplers take: None, or a whole number in [0, 2**63) (torch's
    generators take no more; 2**70 was "Overflow when unpacking long long")."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or not 0 <= seed < 2**63):
        raise ValueError(f"{owner + ': ' if owner else ''}seed must be an integer in "
                         f"[0, 2**63) or None, got {seed!r}")


def seed_everything(seed: int | None) -> None:
    """Seed Python, NumPy and torch (all devices). ``None`` leaves the generators alone."""
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, int) or not -2**63 <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [-2**63, 2**64), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no gradients inside the block; the model's train/eval mode is restored.

    Example:
        >>> with evaluating(model):
        ...     y = model(x)          # dropout off, no graph kept
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def memory_available(device: str | torch.device = "cpu") -> int:
    """Bytes that can still be allocated: ``MemAvailable`` (Linux) or free physical pages
    (``os.sysconf``) for the CPU, free device memory for CUDA."""
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info(dev)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def check_memory(what: str, nbytes: float, device: str | torch.device = "cpu") -> None:
    """Refuse, before allocating, ``nbytes`` that cannot fit: ``ValueError`` with one line,
    ``"WHAT would need about 1.6 TiB, more than the 20.3 GiB of memory available here"``."""
    available = memory_available(device)
    if nbytes > available:
        raise ValueError(f"{what} would need about {format_bytes(nbytes)}, more than the "
                         f"{format_bytes(available)} of memory available here")


def end_with_parent(parent: int) -> bool:
    """Have the kernel send this process SIGTERM when its parent ends, however it ends (Linux's
    ``PR_SET_PDEATHSIG``). A worker busy with a long job otherwise goes on after its parent was
    killed, unwatched, holding cores and locks. ``parent``: the process id this one expects as
    its parent; if it is already gone, this process is sent SIGTERM at once. Returns False where
    the kernel offers no such signal (not Linux), and then does nothing."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # it ended before the line above
        os.kill(os.getpid(), signal.SIGTERM)
    return True
