"""Parallel scan for linear recurrences ``h_t = a_t ⊙ h_{t-1} + b_t`` (a_t, b_t > 0).

Heinsen, "Efficient parallelization of a ubiquitous sequential computation" (2023), as used
by minGRU/minLSTM (Feng et al., "Were RNNs all we needed?", 2024): in log space,

    log h_t = a*_t + logcumsumexp_{k ≤ t}(log b_k − a*_k),   a*_t = Σ_{k ≤ t} log a_k

with the initial state folded in as a first term b_0 = h_0. Every step is computed at once
(O(log T) depth on parallel hardware, a handful of vectorised ops on a CPU) instead of a
Python loop of T steps; the same recurrence still runs one step at a time for streaming.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["log_scan"]


def log_scan(log_a: Tensor, log_b: Tensor, log_h0: Tensor) -> Tensor:
    """All states of ``h_t = a_t h_{t-1} + b_t`` from their logs.

    Shapes: log_a, log_b (B, T, H); log_h0 (B, H) (``-inf`` for a zero state).
    Returns h (B, T, H), h_t for t = 1..T.
    """
    a_star = F.pad(torch.cumsum(log_a, dim=1), (0, 0, 1, 0))  # (B, T+1, H), a*_0 = 0
    log_values = torch.cat([log_h0.unsqueeze(1), log_b], dim=1)  # (B, T+1, H)
    log_h = a_star + torch.logcumsumexp(log_values - a_star, dim=1)
    return torch.exp(log_h[:, 1:])


def __getattr__(name: str):
    """``g`` and ``log_g`` moved to ``rnnkit.min_cells`` (they belong to those cells)."""
    if name in ("g", "log_g"):
        from . import min_cells

        return getattr(min_cells, name)
    raise AttributeError(f"module 'rnnkit.scan' has no attribute {name!r}")
