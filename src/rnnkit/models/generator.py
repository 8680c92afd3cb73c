"""One-to-many: a vector (an image embedding, a class code) in, a sequence out.

The vector initialises the recurrent state of every layer; the model then emits one output
per step, each fed back as the next step's input (Karpathy's "one to many"; the image
captioner of Vinyals et al. 2015 and Karpathy & Fei-Fei 2015 initialise the state likewise):

    h_0 = tanh(W_h c + b_h)   (and c_0 = W_c c + b_c for the LSTM), per layer
                              (sigmoid for minGRU/minLSTM, whose states are positive)
    x_1 = s (a learned start vector);   o_t, state = RNN.step(x_t, state)
    y_t = W_y o_t + b_y;                x_{t+1} = y_t (free running) or target_t (teacher forcing)

Training with teacher forcing passes the target sequence: ``model(c, targets)`` runs all steps
in one call of the layer; ``model(c)`` / ``model(c, steps=n)`` runs free, feeding its outputs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..checkpoint import register_model
from ..validate import positive_int
from ._sequence import encoder, linear_size

__all__ = ["SequenceGenerator"]


@register_model
class SequenceGenerator(nn.Module):
    """A vector (B, C) → a sequence (B, T, O).

    Args:
        context_size: C, size of the conditioning vector.
        hidden_size: H.
        output_size: O, values emitted per step (fed back as the next input).
        steps: T emitted when running free (default length).
        cell, num_layers, dropout, init, activation: the recurrent layer's (unidirectional:
            emitting step by step cannot look ahead).

    Shapes:
        context: (B, C); targets: (B, T, O) for teacher forcing. Returns (B, T, O).

    Example:
        >>> model = SequenceGenerator(4, 16, output_size=2, steps=5)
        >>> model(torch.randn(3, 4)).shape
        torch.Size([3, 5, 2])
    """

    def __init__(self, context_size: int, hidden_size: int, output_size: int, steps: int, *,
                 cell: str = "lstm", num_layers: int = 1, dropout: float = 0.0,
                 init: str = "torch", activation: str = "tanh", bidirectional: bool = False):
        super().__init__()
        self.config = dict(context_size=context_size, hidden_size=hidden_size,
                           output_size=output_size, steps=steps, cell=cell,
                           num_layers=num_layers, dropout=dropout, init=init,
                           activation=activation)
        if bidirectional:
            raise ValueError("SequenceGenerator: bidirectional=True is not possible: each step "
                             "is emitted before the next one exists")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"SequenceGenerator: steps must be a positive integer, got {steps!r}")
        context_size = positive_int("context_size", context_size, "SequenceGenerator")
        output_size = positive_int("output_size", output_size, "SequenceGenerator")
        self.context_size, self.output_size, self.steps = context_size, output_size, steps
        self.rnn = encoder("SequenceGenerator", cell, output_size, hidden_size, num_layers,
                           False, dropout, init, activation)
        L, H = num_layers, hidden_size
        # (h, c) for every cell whose state is a pair: lstm and ln_lstm (ln_lstm got h only
        # and failed at its first call)
        self._paired = isinstance(self.rnn.init_state(1, device="meta"), tuple)
        # minGRU/minLSTM need h >= 0 (their recurrence runs in log space): sigmoid, not tanh
        # (tanh's negative states were refused at the first call)
        self._positive = any(hasattr(c, "check_state") for c in self.rnn.cells)
        linear_size("SequenceGenerator", ("context_size", "the initial state's size"),
                    context_size, (2 if self._paired else 1) * L * H)
        self.bridge = nn.Linear(context_size, (2 if self._paired else 1) * L * H)
        self.start = nn.Parameter(torch.zeros(output_size))
        self.head = nn.Linear(H, output_size)

    def init_state(self, context: Tensor):
        """The recurrent state (L, B, H) — (h, c) for the LSTM — from ``context`` (B, C)."""
        context = self._check_context(context)
        B, L, H = context.shape[0], self.rnn.num_layers, self.rnn.hidden_size
        z = self.bridge(context).view(B, -1, L, H).permute(1, 2, 0, 3)  # (1|2, L, B, H)
        h = (torch.sigmoid(z[0]) if self._positive else torch.tanh(z[0])).contiguous()
        return (h, z[1].contiguous()) if self._paired else h

    def _check_context(self, context) -> Tensor:
        """(B >= 1, C) floats, cast to the weights' precision (as ``rnnkit.RNN`` casts)."""
        if not isinstance(context, Tensor) or context.dim() != 2 or \
                context.shape[1] != self.context_size or context.shape[0] < 1:
            got = tuple(context.shape) if isinstance(context, Tensor) else type(context).__name__
            empty = " (an empty batch)" if isinstance(context, Tensor) and \
                context.dim() == 2 and context.shape[0] == 0 else ""
            raise ValueError(f"SequenceGenerator: expected context of shape "
                             f"(B, {self.context_size}), got {got}{empty}")
        if not context.is_floating_point():
            raise ValueError(f"SequenceGenerator: expected a floating-point context, got "
                             f"{context.dtype}")
        dtype = self.bridge.weight.dtype
        return context if context.dtype == dtype or torch.is_autocast_enabled(
            context.device.type) else context.to(dtype)

    def forward(self, context: Tensor, targets: Tensor | None = None,
                steps: int | None = None) -> Tensor:
        state = self.init_state(context)
        B = context.shape[0]
        start = self.start.expand(B, 1, self.output_size)  # (B, 1, O)
        if targets is not None:  # teacher forcing: inputs are the targets shifted right
            if not isinstance(targets, Tensor) or targets.dim() != 3 or targets.shape[0] != B \
                    or targets.shape[1] < 1 or targets.shape[2] != self.output_size:
                got = tuple(targets.shape) if isinstance(targets, Tensor) else \
                    type(targets).__name__
                empty = " (no steps)" if isinstance(targets, Tensor) and targets.dim() == 3 \
                    and targets.shape[1] == 0 else ""
                raise ValueError(f"SequenceGenerator: expected targets of shape (B, T, "
                                 f"{self.output_size}), got {got}{empty}")
            inputs = torch.cat([start, targets[:, :-1].to(start.dtype)], dim=1)  # (B, T, O)
            outputs, _ = self.rnn(inputs, state)
            return self.head(outputs)
        # steps=0 ran the default length without a word
        steps = self.steps if steps is None else positive_int("steps", steps, "SequenceGenerator")
        x, ys = start[:, 0], []
        for _ in range(steps):
            o, state = self.rnn.step(x, state)
            x = self.head(o)  # (B, O), fed back
            ys.append(x)
        return torch.stack(ys, 1)  # (B, T, O)
