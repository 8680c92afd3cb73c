"""Many-to-one regression: a sequence in, one vector out (the seeds' next-number model).

    o_1..o_T, h_T = RNN(x_1..x_T)
    y = W_y pool(o, h_T) + b_y          pool: last state | mean | max over the real steps

With ``standardize=True`` the model also holds the training data's per-feature mean and
standard deviation (set once by ``adapt``, which ``rnnkit.fit`` calls before a fresh run) and
works on standardised values inside while taking and returning raw ones:
``y = std_y * (W_y pool(RNN((x - mean_x) / std_x)) + b_y) + mean_y``. The statistics are
buffers, so they travel in checkpoints. ``fit`` computes the loss in standardised units
(``loss_units``; its metrics stay raw), so a loss of 1 (MSE) is the mean's and the same
data at any scale trains alike.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..checkpoint import register_model
from ..validate import flag
from ._sequence import check_pooling, check_x, encoder, linear_size, pool

__all__ = ["SequenceRegressor"]


def _x_and_lengths(inputs):
    """The ``x`` and ``lengths`` of a batch's inputs: x, (x, lengths) or {"x":, "lengths":}."""
    if isinstance(inputs, dict):
        return inputs["x"], inputs.get("lengths")
    if isinstance(inputs, (tuple, list)):
        return inputs[0], inputs[1] if len(inputs) > 1 else None
    return inputs, None


@register_model
class SequenceRegressor(nn.Module):
    """A sequence (B, T, I) → a vector (B, O): RNN encoder, pooling, linear head.

    Args:
        input_size: I, features per step.
        hidden_size: H per direction.
        output_size: O, values predicted per sequence (default 1).
        cell: any kind ``rnnkit.RNN`` accepts: "lstm", "gru", "rnn", "irnn".
        num_layers, bidirectional, dropout, init ("torch" | "keras" | "irnn"): the encoder's.
            ``init="torch"`` is the default on evidence: on the seeds' next-number example it
            lands 19 of 20 seeds within 0.5 of the truth, ``"keras"`` 11 of 20
            (``benchmarks/seed_examples.py --sweep 20``).
        activation: the Elman cell's ("tanh" | "relu" | "sigmoid"); ignored by LSTM/GRU.
        pooling: "last" (final state) | "mean" | "max" (over each sequence's real steps).
        standardize: standardise inputs and targets inside (see the module docstring).

    Shapes:
        x: (B, T, I); lengths: (B,) for right-padded batches. Returns (B, O).

    Example:
        >>> model = SequenceRegressor(1, 10, cell="rnn", activation="relu")
        >>> model(torch.randn(4, 3, 1)).shape
        torch.Size([4, 1])
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1, *,
                 cell: str = "lstm", num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, init: str = "torch", activation: str = "tanh",
                 pooling: str = "last", standardize: bool = False):
        super().__init__()
        self.config = dict(input_size=input_size, hidden_size=hidden_size,
                           output_size=output_size, cell=cell, num_layers=num_layers,
                           bidirectional=bidirectional, dropout=dropout, init=init,
                           activation=activation, pooling=pooling, standardize=standardize)
        check_pooling("SequenceRegressor", pooling)
        self.pooling = pooling
        self.standardize = flag("standardize", standardize, "SequenceRegressor")
        self.input_size, self.output_size = input_size, output_size
        self.rnn = encoder("SequenceRegressor", cell, input_size, hidden_size, num_layers,
                           bidirectional, dropout, init, activation)
        _, output_size = linear_size("SequenceRegressor", ("hidden_size", "output_size"),
                                     self.rnn.output_size, output_size)
        self.head = nn.Linear(self.rnn.output_size, output_size)
        if self.standardize:
            for name, size in (("x_mean", input_size), ("y_mean", output_size)):
                self.register_buffer(name, torch.zeros(size))
            for name, size in (("x_std", input_size), ("y_std", output_size)):
                self.register_buffer(name, torch.ones(size))
            self.register_buffer("adapted", torch.tensor(False))

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        check_x("SequenceRegressor", x, self.input_size)
        if self.standardize:
            x = (x - self.x_mean) / self.x_std
            if lengths is not None:  # keep padding at zero
                T = x.shape[1]
                real = torch.arange(T, device=x.device)[None, :] < torch.as_tensor(
                    lengths, device=x.device)[:, None]
                x = x * real.unsqueeze(-1)
        outputs, final = self.rnn(x, lengths=lengths)  # (B, T, D*H)
        y = self.head(pool(self.pooling, outputs, final, lengths, self.rnn))  # (B, O)
        return y * self.y_std + self.y_mean if self.standardize else y

    def loss_units(self, pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """``(pred, target)`` standardised with the target's statistics, for ``fit``'s loss
        (raw units made the gradients scale with the data: nothing learned at 1e-6, where
        Adam's eps swallows them; float32 overflow at 1e30)."""
        if not self.standardize or target.numel() != pred.numel():
            return pred, target  # the loss names a shape mismatch
        target = target.reshape(pred.shape).to(pred.dtype)
        return (pred - self.y_mean) / self.y_std, (target - self.y_mean) / self.y_std

    @torch.no_grad()
    def adapt(self, inputs, target: Tensor) -> None:
        """Set the standardisation statistics from training data, once (no-op otherwise)."""
        if not self.standardize or bool(self.adapted):
            return
        x, lengths = _x_and_lengths(inputs)
        check_x("SequenceRegressor", x, self.input_size)
        x = x.to(torch.float64)  # statistics in float64: squares of 1e20 overflow float32
        if lengths is not None:
            real = torch.arange(x.shape[1], device=x.device)[None, :] < torch.as_tensor(
                lengths, device=x.device)[:, None]
            x = x[real]  # (steps, I)
        x = x.reshape(-1, self.input_size)
        y = target.to(torch.float64).reshape(-1, self.output_size)
        eps = torch.finfo(self.x_mean.dtype)  # what a constant column rounds to in the model
        for name, v in (("x", x), ("y", y)):
            std = v.std(0, unbiased=False) if len(v) > 1 else torch.ones_like(v[0])
            mean = v.mean(0)
            getattr(self, f"{name}_mean").copy_(mean)
            getattr(self, f"{name}_std").copy_(torch.where(_varies(std, mean, eps), std,
                                                            torch.ones_like(std)))
        self.adapted.fill_(True)


def _varies(std: Tensor, mean: Tensor, eps: torch.finfo) -> Tensor:
    """Whether a column's spread is more than the rounding of a constant one in the model's
    dtype: relative to its level (an absolute 1e-8 took every column of values ~1e-9 for
    constant, left unscaled)."""
    return (std > 16 * eps.eps * mean.abs()) & (std > eps.tiny)
