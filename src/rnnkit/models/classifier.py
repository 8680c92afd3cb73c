"""Many-to-one classification: a sequence in, class logits out.

    o_1..o_T, h_T = RNN(x_1..x_T)
    logits = W pool(o, h_T) + b          pool: last state | mean | max over the real steps

Train with ``loss="cross_entropy"`` (``num_classes`` >= 2) or ``loss="bce"`` with
``num_classes=1`` (one logit). For token ids with an embedding, see ``models.text_classifier``.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..checkpoint import register_model
from ._sequence import check_pooling, check_x, encoder, linear_size, pool

__all__ = ["SequenceClassifier"]


@register_model
class SequenceClassifier(nn.Module):
    """A sequence (B, T, I) → class logits (B, C).

    Args:
        input_size: I; hidden_size: H per direction; num_classes: C (1 for a single logit).
        cell, num_layers, bidirectional, dropout, init, activation: the encoder's
            (see ``SequenceRegressor``).
        pooling: "last" | "mean" | "max", respecting ``lengths``: padding never changes the
            logits of a sequence.

    Shapes:
        x: (B, T, I); lengths: (B,) for right-padded batches. Returns (B, C).

    Example:
        >>> model = SequenceClassifier(2, 16, num_classes=3, cell="gru", pooling="max")
        >>> model(torch.randn(4, 9, 2), lengths=torch.tensor([9, 5, 2, 1])).shape
        torch.Size([4, 3])
    """

    def __init__(self, input_size: int, hidden_size: int, num_classes: int, *,
                 cell: str = "lstm", num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, init: str = "torch", activation: str = "tanh",
                 pooling: str = "last"):
        super().__init__()
        self.config = dict(input_size=input_size, hidden_size=hidden_size,
                           num_classes=num_classes, cell=cell, num_layers=num_layers,
                           bidirectional=bidirectional, dropout=dropout, init=init,
                           activation=activation, pooling=pooling)
        check_pooling("SequenceClassifier", pooling)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"SequenceClassifier: num_classes must be a positive integer, "
                             f"got {num_classes!r}")
        self.pooling, self.input_size = pooling, input_size
        self.rnn = encoder("SequenceClassifier", cell, input_size, hidden_size, num_layers,
                           bidirectional, dropout, init, activation)
        linear_size("SequenceClassifier", ("hidden_size", "num_classes"), self.rnn.output_size,
                    num_classes)
        self.head = nn.Linear(self.rnn.output_size, num_classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        check_x("SequenceClassifier", x, self.input_size)
        outputs, final = self.rnn(x, lengths=lengths)  # (B, T, D*H)
        return self.head(pool(self.pooling, outputs, final, lengths, self.rnn))  # (B, C)
