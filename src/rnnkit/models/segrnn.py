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
The recurrent layer is shared by encoder and decoder, as in the paper; the cell kind is free
(the paper uses a GRU). Known future covariates (calendar features) enter both sides through
extra linear maps of their segments: an addition beyond the paper.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

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
        u = u.unsqueeze(0).expand(B, C, M, d).reshape(B * C * M, 1, d)
        if self.covariate_size:
            fut = self.cov_out(self._segments(future_cov, M, False))  # (B, M, d)
            u = u + fut.unsqueeze(1).expand(B, C, M, d).reshape(B * C * M, 1, d)
        # every (b, c, m) starts from its channel's h_N: repeat the state M times
        state = (tuple(s.repeat_interleave(M, 1) for s in state) if isinstance(state, tuple)
                 else state.repeat_interleave(M, 1))  # (L, BCM, d)
        out, _ = self.rnn(u, state)  # (BCM, 1, d)
        y = self.predict(self.dropout(out[:, 0]))  # (BCM, w*P)
        y = y.view(B, C, M * self.w, self.out_features)[:, :, : self.horizon]
        return y.transpose(1, 2)  # (B, H, C, P)
