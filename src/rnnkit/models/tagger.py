"""Many-to-many, aligned: one output per input step (tagging, per-step regression).

    o_1..o_T = RNN(x_1..x_T);   y_t = W o_t + b

With ``bidirectional=True`` each ``y_t`` sees the whole sequence. For padded batches, give
``lengths``: ``fit`` and ``evaluate`` then score the real steps only (``real_steps``), with
any loss; the padded targets may hold anything.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..checkpoint import register_model
from ._sequence import check_x, encoder, linear_size

__all__ = ["SequenceTagger"]


@register_model
class SequenceTagger(nn.Module):
    """A sequence (B, T, I) → a sequence (B, T, O) of per-step outputs (logits or values).

    Args:
        input_size: I; hidden_size: H per direction; output_size: O (tags, or values).
        cell, num_layers, bidirectional, dropout, init, activation: the encoder's
            (see ``SequenceRegressor``).

    Shapes:
        x: (B, T, I); lengths: (B,). Returns (B, T, O); steps past a length are padding.

    Example:
        >>> model = SequenceTagger(3, 8, output_size=5, bidirectional=True)
        >>> model(torch.randn(2, 6, 3)).shape
        torch.Size([2, 6, 5])
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, *,
                 cell: str = "lstm", num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, init: str = "torch", activation: str = "tanh"):
        super().__init__()
        self.config = dict(input_size=input_size, hidden_size=hidden_size,
                           output_size=output_size, cell=cell, num_layers=num_layers,
                           bidirectional=bidirectional, dropout=dropout, init=init,
                           activation=activation)
        self.input_size = input_size
        self.rnn = encoder("SequenceTagger", cell, input_size, hidden_size, num_layers,
                           bidirectional, dropout, init, activation)
        _, output_size = linear_size("SequenceTagger", ("hidden_size", "output_size"),
                                     self.rnn.output_size, output_size)
        self.head = nn.Linear(self.rnn.output_size, output_size)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        check_x("SequenceTagger", x, self.input_size)
        outputs, _ = self.rnn(x, lengths=lengths)  # (B, T, D*H)
        return self.head(outputs)  # (B, T, O)

    def real_steps(self, pred: Tensor, target: Tensor, inputs) -> tuple[Tensor, Tensor]:
        """``pred`` (B, T, O) and ``target`` (B, T, ...) at the steps before each length (the
        batch's ``(x, lengths)`` or ``{"x", "lengths"}`` inputs), flattened to (N, O) and
        (N, ...), for ``fit``'s loss and metrics; unchanged without lengths."""
        lengths = inputs.get("lengths") if isinstance(inputs, dict) else (
            inputs[1] if isinstance(inputs, (tuple, list)) and len(inputs) > 1 else None)
        if lengths is None or pred.dim() < 3 or tuple(target.shape[:2]) != tuple(pred.shape[:2]):
            return pred, target
        steps = torch.arange(pred.shape[1], device=pred.device)
        real = steps[None, :] < torch.as_tensor(lengths, device=pred.device)[:, None]
        return pred[real], target[real.to(target.device)]
