"""SegRNN: segment-wise iterations and parallel multi-step forecasting.

Lin et al., "SegRNN: Segment Recurrent Neural Network for Long-Term Time Series Forecasting"
(2023). Two ideas cut the recurrent steps from L + H to L/w + 1:

- **Segment-wise input** (encoding): each channel's look-back ``x`` (L,) is cut into
  ``N = L / w`` segments of ``w`` steps; each segment is embedded by one shared linear map and
  a ReLU, and the recurrent layer runs over the N segment embeddings::

      e_n = ReLU(W_in x[(n-1)w : nw] + b_in)        n = 1..N,   e_n in R^d
      h_N = RNN(e_1..e_N)                            the encoder's final state

- **Parallel multi-step decoding** (PMR): the ``M = H / w`` future segments are decoded at once.
  Decoder input m is a position embedding for segment m concatenated with an embedding of the
  channel, ``u_{m,c} = [p_m ; c_c]`` (d/2 each); every (m, c) pair takes ONE recurrent step from
  the same state ``h_N`` and a linear map turns its output into the segment's ``w`` values::

      y_{m,c} = W_out Dropout(RNN_step(u_{m,c}, h_N)) + b_out        (w,)

Channels are handled independently (the same weights for all, only ``c_c`` tells them apart).

Decoding cost: the M x C decoder inputs are the same for every batch element and the state is
the same for every segment, so for a one-layer built-in cell both matmuls of the step are done
once per distinct input (``W_ih u``: C*M rows; ``W_hh h_N``: B*C rows) and only the gate
arithmetic runs on all B*C*M pairs (broadcasting). The result is the same step; long horizons
(M = 30 at H = 720) cost little more than short ones.
The recurrent layer is shared by encoder and decoder, as in the paper; the cell kind is free
(the paper uses a GRU). Known future covariates (calendar features) enter both sides through
extra linear maps of their segments: an addition beyond the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..layers import RNN

__all__ = ["SegRNN"]


class SegRNN(nn.Module):
    """The SegRNN network on already-normalised inputs.

    Args:
        channels: C, the channels to forecast (each from its own past).
        lookback: L; padded at the front (repeating the first value) to a multiple of ``w``.
        horizon: H; ``ceil(H / w)`` segments are decoded and the extra steps cut.
        segment_length: w.
        hidden_size: d, the embedding and recurrent size (even).
        cell: recurrent cell kind for ``rnnkit.RNN``.
        num_layers: stacked recurrent layers.
        dropout: on the decoder outputs before the output map.
        out_features: P, values per step (1 point, 2 Gaussian, Q quantiles).
        covariate_size: K known covariates per step (0 for none).

    Shapes:
        x: (B, L, C); past_cov: (B, L, K); future_cov: (B, H, K) → (B, H, C, P).
    """

    def __init__(self, channels: int, lookback: int, horizon: int, segment_length: int = 24,
                 hidden_size: int = 256, cell: str = "gru", num_layers: int = 1,
                 dropout: float = 0.0, out_features: int = 1, covariate_size: int = 0):
        super().__init__()
        if hidden_size % 2:
            raise ValueError(f"SegRNN: hidden_size must be even (position and channel "
                             f"embeddings take half each), got {hidden_size}")
        w = segment_length
        self.channels, self.lookback, self.horizon, self.w = channels, lookback, horizon, w
        self.n_in = -(-lookback // w)  # N, ceil
        self.n_out = -(-horizon // w)  # M, ceil
        self.out_features, self.covariate_size = out_features, covariate_size
        self.embed = nn.Sequential(nn.Linear(w, hidden_size), nn.ReLU())
        self.rnn = RNN(cell, hidden_size, hidden_size, num_layers)
        self.pos_emb = nn.Parameter(torch.randn(self.n_out, hidden_size // 2))
        self.channel_emb = nn.Parameter(torch.randn(channels, hidden_size // 2))
        if covariate_size:
            self.cov_in = nn.Linear(w * covariate_size, hidden_size)
            self.cov_out = nn.Linear(w * covariate_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.predict = nn.Linear(hidden_size, w * out_features)
        self.shared_decoding = True  # False: the plain path (B*C*M length-1 sequences)

    def _segments(self, x: Tensor, n: int, front: bool) -> Tensor:
        """(B, T, F) -> (B, n, w*F), padding to n*w steps at the front (repeat) or back."""
        B, T, F = x.shape
        pad = n * self.w - T
        if pad:
            edge = x[:, :1] if front else x[:, -1:]
            x = torch.cat([edge.expand(B, pad, F), x] if front else [x, edge.expand(B, pad, F)], 1)
        return x.reshape(B, n, self.w * F)

    def forward(self, x: Tensor, past_cov: Tensor | None = None,
                future_cov: Tensor | None = None) -> Tensor:
        B, _, C = x.shape
        d = self.embed[0].out_features
        seg = self._segments(x.transpose(1, 2).reshape(B * C, -1, 1), self.n_in, True)  # (BC, N, w)
        e = self.embed(seg)  # (BC, N, d)
        if self.covariate_size:
            cov = self._segments(past_cov, self.n_in, True)  # (B, N, wK)
            e = e + self.cov_in(cov).repeat_interleave(C, 0)
        _, state = self.rnn(e)  # (L, BC, d) or (h, c)
        M = self.n_out
        u = torch.cat([self.pos_emb.unsqueeze(0).expand(C, M, d // 2),
                       self.channel_emb.unsqueeze(1).expand(C, M, d // 2)], -1)  # (C, M, d)
        fut = None
        if self.covariate_size:
            fut = self.cov_out(self._segments(future_cov, M, False))  # (B, M, d)
        cell = self.rnn.cells[0]
        if self.shared_decoding and self.rnn.num_layers == 1 and type(cell) in (
                GRUCell, LSTMCell, SimpleRNNCell):
            out = _broadcast_step(cell, u, fut, state, B, C)  # (B, C, M, d)
        else:  # any other cell: every (b, c, m) as its own length-1 sequence
            uu = u.unsqueeze(0).expand(B, C, M, d)
            if fut is not None:
                uu = uu + fut.unsqueeze(1)
            # every (b, c, m) starts from its channel's h_N: repeat the state M times
            rep = (tuple(s.repeat_interleave(M, 1) for s in state) if isinstance(state, tuple)
                   else state.repeat_interleave(M, 1))  # (L, BCM, d)
            out, _ = self.rnn(uu.reshape(B * C * M, 1, d), rep)  # (BCM, 1, d)
        y = self.predict(self.dropout(out.reshape(B * C * M, d)))  # (BCM, w*P)
        y = y.view(B, C, M * self.w, self.out_features)[:, :, : self.horizon]
        return y.transpose(1, 2)  # (B, H, C, P)


def _broadcast_step(cell, u: Tensor, fut: Tensor | None, state, B: int, C: int) -> Tensor:
    """One step of a built-in cell for all (b, c, m) pairs, sharing the two matmuls.

    u: (C, M, d) decoder inputs; fut: (B, M, d) covariate embeddings or None; state: the
    encoder's final state (1, B*C, d), or (h, c). Returns the outputs (B, C, M, d).
    """
    G = cell.num_gates
    xp = cell.project_input(u).unsqueeze(0)  # (1, C, M, G*d)
    if fut is not None:  # W_ih (u + f) = W_ih u + W_ih f: add the bias-free part of f
        xp = xp + F.linear(fut, cell.weight_ih).unsqueeze(1)  # (B, C, M, G*d)
    h, c = state if isinstance(state, tuple) else (state, None)
    h = h[0].view(B, C, 1, -1)  # (B, C, 1, d): one state per (b, c), shared by its M segments
    hp = F.linear(h, cell.weight_hh, cell.bias_hh)  # (B, C, 1, G*d)
    if isinstance(cell, SimpleRNNCell):
        return cell.activation(xp + hp).expand(B, C, -1, -1)
    if isinstance(cell, LSTMCell):
        i, f, g, o = (xp + hp).chunk(G, dim=-1)
        c = torch.sigmoid(f) * c[0].view(B, C, 1, -1) + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c)
    x_r, x_z, x_n = xp.chunk(3, dim=-1)
    if cell.reset_after:
        h_r, h_z, h_n = hp.chunk(3, dim=-1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
    else:
        d = h.shape[-1]
        h_r, h_z = hp[..., : 2 * d].chunk(2, dim=-1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        b_n = None if cell.bias_hh is None else cell.bias_hh[2 * d:]
        n = torch.tanh(x_n + F.linear(r * h, cell.weight_hh[2 * d:], b_n))
    return (1 - z) * n + z * h
