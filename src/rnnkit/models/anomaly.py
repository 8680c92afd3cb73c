"""Recurrent anomaly detectors: a next-step forecaster over a stream and a sequence autoencoder.

Malhotra et al. (2015), "Long Short Term Memory Networks for Anomaly Detection in Time
Series" (a stacked LSTM predicts the next readings; the prediction error is the anomaly
score), and Malhotra et al. (2016), "LSTM-based Encoder-Decoder for Multi-sensor Anomaly
Detection" (an encoder-decoder trained on normal sequences only; the reconstruction error is
the score). Both are plain ``rnnkit.RNN`` layers plus ``nn.Linear`` heads, batch-first, and
work on standardised values inside (the training data's per-feature mean and std are buffers,
so they travel in checkpoints):

    z_t = (x_t - mean) / std
    StreamForecaster:    o_t, s_t = RNN(z_t, s_{t-1});   ẑ_{t+1} = z_t + W o_t + b
                         (the model forecasts the change, so a level never seen in training
                         still gets a sensible forecast)
    SequenceAutoencoder: _, s_T = RNN_enc(z_1..z_T);  c = h_T (last layer)
                         o_1..o_T = RNN_dec(c, c, ..., c; s_T);  ẑ_t = W o_{T+1-t} + b
                         (the decoder emits the sequence backwards, as in EncDec-AD)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..checkpoint import register_model
from ..layers import RNN
from ._sequence import check_x

__all__ = ["StreamForecaster", "SequenceAutoencoder"]


class _Standardised(nn.Module):
    """Per-feature ``mean``/``std`` buffers and the configuration every detector keeps."""

    def _init_scaler(self, input_size: int) -> None:
        self.input_size = input_size
        self.register_buffer("mean", torch.zeros(input_size))
        self.register_buffer("std", torch.ones(input_size))

    @torch.no_grad()
    def set_scaler(self, mean, std) -> None:
        """Store the training data's per-feature mean and std (std 0 becomes 1)."""
        std = torch.as_tensor(std, dtype=self.std.dtype)
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
        self.std.copy_(torch.where(std > 1e-12, std, torch.ones_like(std)))

    def standardise(self, x: Tensor) -> Tensor:
        """The standardised values (..., F) of ``x`` (..., F + covariates)."""
        return (x[..., :self.input_size] - self.mean) / self.std


@register_model
class StreamForecaster(_Standardised):
    """Predicts the next reading of a stream from the recurrent state: (B, T, F) → (B, T, F).

    Args:
        input_size: F, values per reading (forecast).
        hidden_size: H.
        cell: "lstm" | "gru" | "rnn" (unidirectional: it streams).
        num_layers, dropout: the RNN's.
        covariates: C known inputs per reading that are not forecast (e.g. time of day),
            appended to each reading after its F values.

    Shapes:
        x: (B, T, F + C) raw readings; returns (pred (B, T, F), state) where ``pred[:, t]``
        is the standardised forecast of reading t + 1. ``step(x_t (B, F + C), state)`` is one
        step of the same computation (O(1) per reading).

    Example:
        >>> model = StreamForecaster(2, 16)
        >>> pred, state = model(torch.randn(3, 50, 2))
        >>> pred.shape
        torch.Size([3, 50, 2])
    """

    def __init__(self, input_size: int, hidden_size: int = 32, *, cell: str = "lstm",
                 num_layers: int = 1, dropout: float = 0.0, covariates: int = 0):
        super().__init__()
        self.config = dict(input_size=input_size, hidden_size=hidden_size, cell=cell,
                           num_layers=num_layers, dropout=dropout, covariates=covariates)
        self.covariates = covariates
        self.rnn = RNN(cell, input_size + covariates, hidden_size, num_layers, dropout=dropout)
        self.head = nn.Linear(hidden_size, input_size)
        self._init_scaler(input_size)

    def _inputs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self.standardise(x)
        return z, (torch.cat([z, x[..., self.input_size:]], -1) if self.covariates else z)

    def forward(self, x: Tensor, state=None):
        check_x("StreamForecaster", x, self.input_size + self.covariates)
        z, inputs = self._inputs(x)
        outputs, state = self.rnn(inputs, state)  # (B, T, H)
        return z + self.head(outputs), state  # (B, T, F)

    def step(self, x_t: Tensor, state=None):
        """One reading (B, F + C) → (forecast of the next one (B, F), new state)."""
        z, inputs = self._inputs(x_t)
        y, state = self.rnn.step(inputs, state)
        return z + self.head(y), state


@register_model
class SequenceAutoencoder(_Standardised):
    """Reconstructs a sequence from its final recurrent state: (B, T, F) → (B, T, F).

    Args:
        input_size: F, values per step.
        hidden_size: H, the size of the code the sequence is squeezed through.
        cell, num_layers, dropout: both RNNs'.

    Shapes:
        x: (B, T, F) raw values; returns the standardised reconstruction (B, T, F) (compare it
        with ``standardise(x)``). ``step(x_t, state)`` is the encoder's step (the decoder runs
        once the sequence is complete, ``decode(state, T)``).

    Example:
        >>> model = SequenceAutoencoder(1, 16)
        >>> model(torch.randn(4, 24, 1)).shape
        torch.Size([4, 24, 1])
    """

    def __init__(self, input_size: int, hidden_size: int = 32, *, cell: str = "lstm",
                 num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.config = dict(input_size=input_size, hidden_size=hidden_size, cell=cell,
                           num_layers=num_layers, dropout=dropout)
        self.encoder = RNN(cell, input_size, hidden_size, num_layers, dropout=dropout)
        self.decoder = RNN(cell, hidden_size, hidden_size, num_layers, dropout=dropout)
        self.head = nn.Linear(hidden_size, input_size)
        self._init_scaler(input_size)

    def forward(self, x: Tensor) -> Tensor:
        check_x("SequenceAutoencoder", x, self.input_size)
        _, state = self.encoder(self.standardise(x))
        return self.decode(state, x.shape[1])

    def step(self, x_t: Tensor, state=None):
        """Encode one step (B, F); returns (the encoder's output (B, H), new state)."""
        return self.encoder.step(self.standardise(x_t), state)

    def decode(self, state, T: int) -> Tensor:
        """The (B, T, F) reconstruction from the encoder's final ``state``."""
        h = state[0] if isinstance(state, tuple) else state  # (L, B, H)
        code = h[-1].unsqueeze(1).expand(-1, T, -1)  # (B, T, H)
        out, _ = self.decoder(code, state)
        return self.head(out).flip(1)  # emitted backwards: step T first
