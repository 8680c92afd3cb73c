"""One-to-one: a feed-forward baseline to compare the recurrent models with.

    a_0 = flatten(x);   a_l = act(W_l a_{l-1} + b_l), l = 1..L;   y = W_o a_L + b_o

A window of T steps of I features is flattened to T*I inputs, so the model sees the same
numbers as a sequence model but has no notion of order or time.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..checkpoint import register_model
from ..runtime import check_memory
from ..validate import positive_int, probability

__all__ = ["FeedForward"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


@register_model
class FeedForward(nn.Module):
    """A multilayer perceptron over flattened inputs: (B, ...) → (B, O).

    Args:
        input_size: the number of features once flattened (T*I for a window).
        hidden_size: width of each hidden layer.
        output_size: O (default 1).
        num_layers: hidden layers (>= 1).
        activation: "relu" | "tanh" | "sigmoid" | "gelu".
        dropout: after each hidden layer (training only).

    Example:
        >>> model = FeedForward(3, 16)
        >>> model(torch.randn(5, 3, 1)).shape
        torch.Size([5, 1])
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1, *,
                 num_layers: int = 2, activation: str = "relu", dropout: float = 0.0):
        super().__init__()
        self.config = dict(input_size=input_size, hidden_size=hidden_size,
                           output_size=output_size, num_layers=num_layers,
                           activation=activation, dropout=dropout)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"FeedForward: unknown activation {activation!r}; expected one of "
                             f"{', '.join(_ACTIVATIONS)}")
        input_size = positive_int("input_size", input_size, "FeedForward")
        hidden_size = positive_int("hidden_size", hidden_size, "FeedForward")
        output_size = positive_int("output_size", output_size, "FeedForward")
        num_layers = positive_int("num_layers", num_layers, "FeedForward")
        dropout = probability("dropout", dropout, "FeedForward")
        # refused before allocating (hidden_size=10**9 spent a minute in the allocator first);
        # each layer is Python modules too, ~16 KiB, as rnnkit.layers.estimate_size counts
        count = (input_size + 1) * hidden_size + (num_layers - 1) * (hidden_size + 1) * \
            hidden_size + (hidden_size + 1) * output_size
        check_memory(f"FeedForward(input_size={input_size}, hidden_size={hidden_size}, "
                     f"num_layers={num_layers}) with {count:.3g} parameters",
                     count * torch.empty(0).element_size() + num_layers * 16384)
        self.input_size = input_size
        layers: list[nn.Module] = []
        width = input_size
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_size), _ACTIVATIONS[activation]()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden_size
        layers.append(nn.Linear(width, output_size))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        flat = torch.flatten(x, 1) if isinstance(x, Tensor) and x.dim() >= 2 else x
        if not isinstance(flat, Tensor) or flat.dim() != 2 or flat.shape[1] != self.input_size:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"FeedForward: expected input of shape (B, {self.input_size}) once "
                             f"flattened, got {got}")
        # inputs in the weights' precision, as rnnkit.RNN casts (float64 NumPy data, a
        # .double() model: torch's "mat1 and mat2 must have the same dtype" otherwise)
        dtype = self.net[0].weight.dtype
        if flat.dtype != dtype and not torch.is_autocast_enabled(flat.device.type):
            flat = flat.to(dtype)
        return self.net(flat)
