"""minGRU and minLSTM: gates that read only the input, so training runs as a parallel scan.

Feng, Tung, Ahmed, Bengio, Hajimirsadeghi, "Were RNNs all we needed?" (2024). Dropping the
recurrent weights from the gates turns the recurrence into a linear one,
``h_t = a_t ⊙ h_{t-1} + b_t``, whose every step ``rnnkit.scan.log_scan`` computes at once;
at inference the very same equations run one step at a time (``forward``).

States are positive (the activation ``g`` keeps them so): the scan works on their logs.
Both cells are ``RecurrentCell``s without recurrent weights (``recurrent_weights = False``):
parameters ``weight_ih`` (G*H, I) and ``bias_ih`` only, no ``weight_hh``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .cells import RecurrentCell
from .scan import log_scan

__all__ = ["MinGRUCell", "MinLSTMCell", "g", "log_g"]


def g(x: Tensor) -> Tensor:
    """The paper's activation: ``x + 0.5`` for x ≥ 0, ``σ(x)`` below; continuous and positive,
    so states stay positive and have logs."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """``log g(x)`` computed stably: ``log(x + 0.5)`` for x ≥ 0, ``−softplus(−x)`` below."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


class _MinCell(RecurrentCell):
    """What minGRU and minLSTM share beyond ``RecurrentCell``: their init and the scan."""

    recurrent_weights = False
    inits = ("torch", "keras")  # "irnn" sets recurrent weights, which these cells lack

    def reset_parameters(self) -> None:
        """``init="torch"``: U(-1/sqrt(I), 1/sqrt(I)), a linear layer's init (no recurrent
        weights to scale by H); ``init="keras"``: Glorot-uniform weights, zero biases."""
        if self.init != "torch":
            return super().reset_parameters()
        bound = 1.0 / math.sqrt(self.input_size)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound)

    def forward(self, x_t: Tensor, h=None):
        """One step (streaming): ``(x_t (B, I), h (B, H)) -> (h', h')``."""
        return super().forward(x_t, h)

    def scan(self, x: Tensor, h0: Tensor, mask: Tensor | None = None) -> Tensor:
        """Every step at once: x (B, T, I), h0 (B, H) ≥ 0 -> states (B, T, H).

        Where ``mask`` (B, T) is False the state is held (a = 1, b = 0).
        """
        log_a, log_b = self._log_coefficients(self.project_input(x))
        if mask is not None:
            m = mask.unsqueeze(-1)
            log_a = log_a.masked_fill(~m, 0.0)
            log_b = log_b.masked_fill(~m, float("-inf"))
        self.check_state(h0, "the scan")
        return log_scan(log_a, log_b, torch.log(h0))

    def check_state(self, h0: Tensor, path: str) -> None:
        """Refuse a negative initial state: ``path`` (the scan, the compiled recurrence)
        relies on states being positive, as every state this cell produces is."""
        if bool((h0 < 0).any()):
            raise ValueError(f"{type(self).__name__}: {path} needs a non-negative state; "
                             "states this cell produces always are")


class MinGRUCell(_MinCell):
    """minGRU: the GRU with input-only gates and no reset gate.

        z  = σ(W_z x + b_z)
        h̃  = g(W_h x + b_h)
        h' = (1 − z) ⊙ h + z ⊙ h̃          (a = 1 − z, b = z ⊙ h̃)

    Weights stack as z, h. Note z weighs the *new* candidate here, as in the paper.

    Args:
        input_size: I, features per step.
        hidden_size: H.
        bias: learn ``b_z`` and ``b_h``.
        init: "torch" (a linear layer's) | "keras" (Glorot, zero biases).

    Shapes:
        x_t: (B, I); h: (B, H) ≥ 0; returns (y_t, h') both (B, H).
        ``weight_ih`` (2H, I), ``bias_ih`` (2H,).

    Example:
        >>> cell = MinGRUCell(3, 5)
        >>> y, h = cell(torch.randn(2, 3), None)
        >>> h.shape
        torch.Size([2, 5])
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

    Args:
        input_size: I, features per step.
        hidden_size: H.
        bias: learn ``b_f``, ``b_i`` and ``b_h``.
        init: "torch" (a linear layer's) | "keras" (Glorot, zero biases).

    Shapes:
        x_t: (B, I); h: (B, H) ≥ 0; returns (y_t, h') both (B, H).
        ``weight_ih`` (3H, I), ``bias_ih`` (3H,).

    Example:
        >>> cell = MinLSTMCell(3, 5)
        >>> y, h = cell(torch.randn(2, 3), None)
        >>> y.shape
        torch.Size([2, 5])
    """

    num_gates = 3

    def recur(self, xp_t, h):
        k_f, k_i, pre_h = xp_t.chunk(3, dim=-1)
        # f/(f+i) = σ(log f − log i): the same value, finite where both gates underflow to 0
        # (f / (f + i) is 0/0 there)
        diff = F.softplus(-k_f) - F.softplus(-k_i)  # log i − log f
        f, i = torch.sigmoid(-diff), torch.sigmoid(diff)
        h = f * h + i * g(pre_h)
        return h, h

    def _log_coefficients(self, xp):
        k_f, k_i, pre_h = xp.chunk(3, dim=-1)
        diff = F.softplus(-k_f) - F.softplus(-k_i)  # log i − log f
        log_f = -F.softplus(diff)  # log f/(f+i)
        log_i = -F.softplus(-diff)  # log i/(f+i)
        return log_f, log_i + log_g(pre_h)
