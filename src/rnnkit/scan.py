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


def log_scan(log_a: Tensor, log_b: Tensor, log_h0: Tensor) -> Tensor:
    """All states of ``h_t = a_t h_{t-1} + b_t`` from their logs.

    Shapes: log_a, log_b (B, T, H); log_h0 (B, H) (``-inf`` for a zero state).
    Returns h (B, T, H), h_t for t = 1..T.
    """
    a_star = F.pad(torch.cumsum(log_a, dim=1), (0, 0, 1, 0))  # (B, T+1, H), a*_0 = 0
    log_values = torch.cat([log_h0.unsqueeze(1), log_b], dim=1)  # (B, T+1, H)
    log_h = a_star + torch.logcumsumexp(log_values - a_star, dim=1)
    return torch.exp(log_h[:, 1:])


def log_g(x: Tensor) -> Tensor:
    """log of minGRU's positive activation g(x) = x + 0.5 (x ≥ 0), σ(x) (x < 0)."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def g(x: Tensor) -> Tensor:
    """minGRU's activation: continuous, positive, so states stay positive and have logs."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))
