"""minGRU and minLSTM: gates that read only the input, so training runs as a parallel scan.

Feng, Tung, Ahmed, Bengio, Hajimirsadeghi, "Were RNNs all we needed?" (2024). Dropping the
recurrent weights from the gates turns the recurrence into a linear one,
``h_t = a_t ⊙ h_{t-1} + b_t``, whose every step ``rnnkit.scan.log_scan`` computes at once;
at inference the very same equations run one step at a time (``forward``).

States are positive (the activation ``g`` keeps them so): the scan works on their logs.
Parameters: ``weight_ih`` (G*H, I) and ``bias_ih`` only — there is no ``weight_hh``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .scan import g, log_g, log_scan

__all__ = ["MinGRUCell", "MinLSTMCell"]


class _MinCell(nn.Module):
    num_gates = 2

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        name = type(self).__name__
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: {arg} must be a positive integer, got {value!r}")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = nn.Parameter(torch.empty(self.num_gates * hidden_size, input_size))
        self.bias_ih = nn.Parameter(torch.empty(self.num_gates * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.input_size)  # a linear layer's init: no recurrent weights
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound)

    def init_state(self, batch_size: int, device=None, dtype=None) -> Tensor:
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def project_input(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)

    def forward(self, x_t: Tensor, h=None):
        """One step (streaming): ``(x_t (B, I), h) -> (h', h')``."""
        if h is None:
            h = self.init_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        return self.recur(self.project_input(x_t), h)

    def scan(self, x: Tensor, h0: Tensor, mask: Tensor | None = None) -> Tensor:
        """Every step at once: x (B, T, I), h0 (B, H) ≥ 0 -> states (B, T, H).

        Where ``mask`` (B, T) is False the state is held (a = 1, b = 0).
        """
        log_a, log_b = self._log_coefficients(self.project_input(x))
        if mask is not None:
            m = mask.unsqueeze(-1)
            log_a = log_a.masked_fill(~m, 0.0)
            log_b = log_b.masked_fill(~m, float("-inf"))
        if bool((h0 < 0).any()):
            raise ValueError(f"{type(self).__name__}: the scan needs a non-negative state; "
                             "states this cell produces always are")
        return log_scan(log_a, log_b, torch.log(h0))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class MinGRUCell(_MinCell):
    """minGRU: the GRU with input-only gates and no reset gate.

        z  = σ(W_z x + b_z)
        h̃  = g(W_h x + b_h)
        h' = (1 − z) ⊙ h + z ⊙ h̃          (a = 1 − z, b = z ⊙ h̃)

    Weights stack as z, h. Note z weighs the *new* candidate here, as in the paper.
    """

    num_gates = 2

    def recur(self, xp_t, h):
        k, pre_h = xp_t.chunk(2, dim=-1)
        z = torch.sigmoid(k)
        h = (1 - z) * h + z * g(pre_h)
        return h, h

    def _log_coefficients(self, xp):
        k, pre_h = xp.chunk(2, dim=-1)  # (B, T, H) each
        log_a = -F.softplus(k)  # log(1 − σ(k))
        log_b = -F.softplus(-k) + log_g(pre_h)  # log σ(k) + log g(·)
        return log_a, log_b


class MinLSTMCell(_MinCell):
    """minLSTM: input-only forget and input gates, normalised to sum to one.

        f  = σ(W_f x + b_f),   i = σ(W_i x + b_i)
        f' = f / (f + i),      i' = i / (f + i)
        h̃  = g(W_h x + b_h)
        h' = f' ⊙ h + i' ⊙ h̃              (a = f', b = i' ⊙ h̃)

    Weights stack as f, i, h.
    """

    num_gates = 3

    def recur(self, xp_t, h):
        k_f, k_i, pre_h = xp_t.chunk(3, dim=-1)
        f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
        f, i = f / (f + i), i / (f + i)
        h = f * h + i * g(pre_h)
        return h, h

    def _log_coefficients(self, xp):
        k_f, k_i, pre_h = xp.chunk(3, dim=-1)
        diff = F.softplus(-k_f) - F.softplus(-k_i)  # log i − log f
        log_f = -F.softplus(diff)  # log f/(f+i)
        log_i = -F.softplus(-diff)  # log i/(f+i)
        return log_f, log_i + log_g(pre_h)
