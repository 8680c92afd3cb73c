"""The streaming step of a whole layer stack in one compiled call (inference only)."""

from __future__ import annotations

import torch
from torch import Tensor

from .functions import kind_of

__all__ = ["step_kind", "stack_step"]

_LSTM = 3
_LINEAR_OFFSET = 6  # step.cpp numbers minGRU/minLSTM after the six gated kinds


def step_kind(cells) -> int | None:
    """The kernel's kind when every layer is the same built-in cell, else None."""
    kinds = {kind_of(c) for c in cells}
    if len(kinds) != 1 or None in kinds:
        return None
    family, kind = kinds.pop()
    return kind + _LINEAR_OFFSET if family == "linear" else kind


def _weights(cells, recurrent: bool, has_bias: bool) -> list[Tensor]:
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if recurrent else ("weight_ih",
                                                                                "bias_ih")
    names = names if has_bias else names[: len(names) // 2]
    # the parameter dicts directly: nn.Module.__getattr__ costs a microsecond a name
    return [c._parameters[n] for c in cells for n in names]


def stack_step(layer, kind: int, x_t: Tensor, state):
    """``layer.step`` on the kernel: (y_t (B, H), new state in torch.nn's layout)."""
    if state is None:
        state = layer.init_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
    h, c = state if kind == _LSTM else (state, None)
    has_bias = layer.cells[0].bias_ih is not None
    weights = _weights(layer.cells, kind < _LINEAR_OFFSET, has_bias)
    y, h, c = torch.ops.rnnkit.stack_step(kind, x_t, h, c, weights, has_bias)
    return y, ((h, c) if kind == _LSTM else h)
