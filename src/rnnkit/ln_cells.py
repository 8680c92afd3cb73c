"""LayerNorm-LSTM and LayerNorm-GRU: layer normalisation inside the recurrence.

Ba, Kiros, Hinton, "Layer normalization" (2016), §3.1: normalise the input and the recurrent
pre-activations separately, each over all of its G*H units of one example, with its own
learnable gain (and the LSTM's cell state before its tanh), so that the summed inputs of
every step keep a fixed scale whatever the length of the sequence. Eq. (20)-(22), LSTM::

    (f, i, o, g) = LN(W_h h; α1, β1) + LN(W_x x; α2, β2) + b
    c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)
    h' = σ(o) ⊙ tanh(LN(c'; α3, β3))

where LN(a; α, β) = α ⊙ (a − μ(a)) / sqrt(σ²(a) + eps) + β, μ and σ² the mean and (biased)
variance over the vector's units. β1 + β2 + b only ever appear summed, so here they are one
parameter, ``bias_ih``; the cell state is carried un-normalised (LN only feeds the tanh).

Both cells take the input side out of the loop like the other built-in cells:
``project_input(x) = LN(W_ih x; gain_ih) + bias_ih`` depends on ``x`` alone, so a layer
computes it for every step at once; ``recur`` holds the rest.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cells import LSTMCell, RecurrentCell
from .validate import flag, positive_float

__all__ = ["LayerNormLSTMCell", "LayerNormGRUCell"]


class _LayerNormCell(RecurrentCell):
    """What both share: weights without biases inside the norms, the norms' gains, one bias,
    eps, recurrent dropout and the init (gains 1, biases 0, as ``nn.LayerNorm``)."""

    inits = ("torch", "keras")  # "irnn" wants an identity recurrence, which LN undoes
    # values per unit, row and step kept for the backward (both norms' inputs and outputs,
    # gates, states; measured on the loop at about 20 for the LSTM): ``estimate_size`` reads it
    kept_per_step = 20

    def __init__(self, input_size, hidden_size, bias=True, init="torch", eps=1e-5,
                 recurrent_dropout=0.0):
        name = type(self).__name__
        self.eps = positive_float("eps", eps, owner=name)
        self._set_recurrent_dropout(recurrent_dropout)
        super().__init__(input_size, hidden_size, bias=False, init=init)  # weights only
        self.bias = flag("bias", bias, name)
        rows = self.num_gates * hidden_size
        self.gain_ih = nn.Parameter(torch.ones(rows))  # α2
        self.gain_hh = nn.Parameter(torch.ones(rows))  # α1
        self.bias_ih = nn.Parameter(torch.zeros(rows)) if bias else None  # β1 + β2 + b
        self._norm_parameters()

    def _norm_parameters(self) -> None:
        """Norm gains 1, biases 0, then the cell's gate-specific bias."""
        with torch.no_grad():
            for name, p in self.named_parameters(recurse=False):
                if name.startswith("gain"):
                    p.fill_(1.0)
                elif name.startswith("bias"):
                    p.zero_()
            self._gate_bias_init()

    def reset_parameters(self) -> None:
        """``init="torch"``: weights U(-1/sqrt(H), 1/sqrt(H)); ``init="keras"``: Glorot-uniform
        input weights, orthogonal recurrent weights. Gains 1 and biases 0 either way (the
        LSTM's forget-gate bias is 1 with ``init="keras"``)."""
        with torch.no_grad():
            if self.init == "torch":
                bound = 1.0 / math.sqrt(self.hidden_size)
                self.weight_ih.uniform_(-bound, bound)
                self.weight_hh.uniform_(-bound, bound)
            else:
                nn.init.xavier_uniform_(self.weight_ih)
                nn.init.orthogonal_(self.weight_hh)
        if hasattr(self, "gain_ih"):  # not yet during __init__
            self._norm_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        """``LN(W_ih x; gain_ih) + bias_ih`` for any leading shape: (..., I) -> (..., G*H)."""
        a = F.linear(x, self.weight_ih)  # (..., G*H)
        return F.layer_norm(a, a.shape[-1:], self.gain_ih, self.bias_ih, self.eps)

    def recurrent_norm(self, h: Tensor) -> Tensor:
        """``LN(W_hh h; gain_hh)``, with recurrent dropout on ``h``: (B, H) -> (B, G*H)."""
        a = F.linear(self.recurrent_input(h), self.weight_hh)  # (B, G*H)
        return F.layer_norm(a, a.shape[-1:], self.gain_hh, None, self.eps)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", eps={self.eps:g}"


class LayerNormLSTMCell(_LayerNormCell):
    """LSTM with layer normalisation (Ba et al. 2016, eq. 20-22); state ``(h, c)``.

        a = LN(W_ih x; α_ih) + b + LN(W_hh h; α_hh)        (B, 4H), gates i, f, g, o
        i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g)
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ tanh(LN(c'; α_c, β_c)),   y = h'

    Each LN is over all units of its vector (4H for the gates, H for the cell): the paper's
    form, not one norm per gate. Gate order i, f, g, o as ``torch.nn.LSTM``.

    Args:
        input_size: I, features per step.
        hidden_size: H.
        bias: learn ``bias_ih`` (b, with the norms' shifts β1, β2) and ``bias_c`` (β3);
            the gains are always learned.
        init: "torch" | "keras" (see ``reset_parameters``; keras adds a forget-gate bias of 1).
        eps: added to the variance in every norm (``nn.LayerNorm``'s default 1e-5).
        recurrent_dropout: p of variational dropout on ``h`` where ``W_hh`` reads it (one mask
            per sequence, training only). 0 (default): none.

    Shapes:
        x_t: (B, I); state ``(h, c)``, each (B, H); returns (y_t (B, H), (h', c')).
        ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), ``gain_ih``/``gain_hh``/``bias_ih``
        (4H,), ``gain_c``/``bias_c`` (H,).

    Example:
        >>> cell = LayerNormLSTMCell(3, 5)
        >>> y, (h, c) = cell(torch.randn(2, 3), None)
        >>> y.shape
        torch.Size([2, 5])
    """

    num_gates = 4

    def __init__(self, input_size, hidden_size, bias=True, init="torch", eps=1e-5,
                 recurrent_dropout=0.0):
        super().__init__(input_size, hidden_size, bias, init, eps, recurrent_dropout)
        self.gain_c = nn.Parameter(torch.ones(hidden_size))  # α3
        self.bias_c = nn.Parameter(torch.zeros(hidden_size)) if bias else None  # β3

    # the LSTM's own: forget-gate bias 1 under init="keras", a zero (h, c) state
    _gate_bias_init = LSTMCell._gate_bias_init
    init_state = LSTMCell.init_state

    def recur(self, xp_t, state):
        h, c = state
        gates = xp_t + self.recurrent_norm(h)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(F.layer_norm(c, c.shape[-1:], self.gain_c, self.bias_c, self.eps))
        return h, (h, c)


class LayerNormGRUCell(_LayerNormCell):
    """GRU with layer normalisation on its input and recurrent pre-activations; state ``h``.

        x̂ = LN(W_ih x; α_ih) + b,   ĥ = LN(W_hh h; α_hh)       (B, 3H) each, blocks r, z, n
        r = σ(x̂_r + ĥ_r),   z = σ(x̂_z + ĥ_z)
        n = tanh(x̂_n + r ⊙ ĥ_n)
        h' = (1 − z) ⊙ n + z ⊙ h,   y = h'

    Ba et al. write out the LSTM only; this is the same rule (each side normalised over all
    its units, one shared bias on the input side) applied to ``torch.nn.GRU``'s equations,
    whose reset gate acts after the recurrent matmul, so one norm covers all of ``W_hh h``.
    Other layer-norm GRUs normalise the gates' and the candidate's parts separately; that is
    a different model. ``z`` is the share kept from the old state, as in ``GRUCell``;
    weights stack as r, z, n.

    Args:
        input_size: I, features per step.
        hidden_size: H.
        bias: learn ``bias_ih`` (b); the gains are always learned.
        init: "torch" | "keras" (see ``reset_parameters``).
        eps: added to the variance in every norm (``nn.LayerNorm``'s default 1e-5).
        recurrent_dropout: p of variational dropout on ``h`` where ``W_hh`` reads it (not in
            ``z ⊙ h``; one mask per sequence, training only). 0 (default): none.

    Shapes:
        x_t: (B, I); h: (B, H); returns (y_t, h') both (B, H).
        ``weight_ih`` (3H, I), ``weight_hh`` (3H, H), ``gain_ih``/``gain_hh``/``bias_ih`` (3H,).

    Example:
        >>> cell = LayerNormGRUCell(3, 5)
        >>> y, h = cell(torch.randn(2, 3), None)
        >>> h.shape
        torch.Size([2, 5])
    """

    num_gates = 3

    def recur(self, xp_t, h):
        x_r, x_z, x_n = xp_t.chunk(3, dim=1)  # (B, H) each
        h_r, h_z, h_n = self.recurrent_norm(h).chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
        return h, h
