"""What the sequence models share: the recurrent encoder, input checks and length-aware pooling."""

from __future__ import annotations

import torch
from torch import Tensor

from ..layers import RNN
from ..runtime import check_memory
from ..validate import positive_int

__all__ = ["POOLINGS", "encoder", "check_x", "check_pooling", "pool", "linear_size"]


def linear_size(name: str, what: str, in_features, out_features) -> tuple[int, int]:
    """The sizes of a linear layer, checked: positive integers (``what`` names them as
    ``"output_size"``...), and refused in one line before allocating when the weights
    cannot fit (``output_size=10**9`` failed in torch's allocator)."""
    in_features = positive_int(what[0], in_features, name)
    out_features = positive_int(what[1], out_features, name)
    nbytes = (in_features + 1) * out_features * torch.empty(0).element_size()
    if nbytes > 1 << 26:
        check_memory(f"{name}: a linear layer of {in_features} x {out_features} "
                     f"({what[0]} x {what[1]})", nbytes)
    return in_features, out_features

POOLINGS = ("last", "mean", "max")


def encoder(name: str, cell: str, input_size: int, hidden_size: int, num_layers: int,
            bidirectional: bool, dropout: float, init: str, activation: str) -> RNN:
    """``rnnkit.RNN`` with the models' common arguments; ``cell`` must be a kind name."""
    if not isinstance(cell, str):
        raise ValueError(f"{name}: cell must be a kind name (lstm, gru, rnn, irnn) so that "
                         f"checkpoints can rebuild it, got {type(cell).__name__}")
    # the models' defaults (init "torch", activation "tanh") mean "not chosen": the layer
    # refuses settings its cell does not take (an LSTM given activation="relu")
    try:
        return RNN(cell, input_size, hidden_size, num_layers, bidirectional=bidirectional,
                   dropout=dropout, init=None if init == "torch" else init,
                   activation=None if activation == "tanh" else activation)
    except ValueError as e:  # name the model the user built, then the layer inside it
        raise ValueError(f"{name}: {e}") from None


def check_x(name: str, x, input_size: int) -> None:
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != input_size:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected x of shape (B, T, {input_size}), got {got}")


def pool(how: str, outputs: Tensor, final_state, lengths: Tensor | None, rnn: RNN) -> Tensor:
    """One vector per sequence from ``outputs`` (B, T, D*H), ignoring steps past ``lengths``.

    ``"last"``: the top layer's final state — the forward direction at each sequence's last
    real step, with the backward direction at step 0 — (B, D*H); ``"mean"`` / ``"max"``: over
    the real steps only.
    """
    if how == "last":
        h = final_state[0] if isinstance(final_state, tuple) else final_state  # (L*D, B, H)
        top = h[-rnn.num_directions:]  # (D, B, H)
        return top.permute(1, 0, 2).reshape(h.shape[1], -1)  # (B, D*H)
    B, T, _ = outputs.shape
    if lengths is None:
        return outputs.mean(1) if how == "mean" else outputs.amax(1)
    lengths = torch.as_tensor(lengths, device=outputs.device)
    mask = (torch.arange(T, device=outputs.device)[None, :] < lengths[:, None]).unsqueeze(-1)
    if how == "mean":  # outputs are zero past each length
        return (outputs * mask).sum(1) / lengths.unsqueeze(1).to(outputs.dtype)
    return outputs.masked_fill(~mask, float("-inf")).amax(1)


def check_pooling(name: str, pooling: str) -> None:
    if pooling not in POOLINGS:
        raise ValueError(f"{name}: unknown pooling {pooling!r}; expected one of "
                         f"{', '.join(POOLINGS)}")
