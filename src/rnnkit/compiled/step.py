"""The streaming step of a whole layer stack in one compiled call (inference only).

A ``StepPlan`` is made once per stream, after the layer has validated the first step: it holds
the kernel's cell kind, the weights in the kernel's order and what the input must look like,
so that the following steps cost one C++ call and a few comparisons.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .functions import kind_of

__all__ = ["step_kind", "StepPlan"]

_LSTM = 3
_LINEAR_OFFSET = 6  # step.cpp numbers minGRU/minLSTM after the six gated kinds


def step_kind(cells) -> int | None:
    """The kernel's kind when every layer is the same built-in cell, else None."""
    kinds = {kind_of(c) for c in cells}
    if len(kinds) != 1 or None in kinds:
        return None
    family, kind = kinds.pop()
    if family == "layernorm":
        return None  # no streaming kernel: the cells' own step
    return kind + _LINEAR_OFFSET if family == "linear" else kind


class StepPlan:
    """One validated stream's fixed facts: batch size, input width, dtype, weights."""

    def __init__(self, layer, kind: int, x_t: Tensor):
        recurrent = kind < _LINEAR_OFFSET
        self.has_bias = layer.cells[0].bias_ih is not None
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if recurrent else (
            "weight_ih", "bias_ih")
        names = names if self.has_bias else names[: len(names) // 2]
        # the parameter dicts directly: nn.Module.__getattr__ costs a microsecond a name
        self._where = [(c._parameters, n) for c in layer.cells for n in names]
        self.weights = [d[n] for d, n in self._where]
        self.kind, self.shape, self.dtype = kind, x_t.shape, x_t.dtype

    def fits(self, x_t) -> bool:
        """Whether ``x_t`` is what this stream validated (same shape and dtype, on the CPU)
        and the layer still holds these weights in that dtype (``load_state_dict(...,
        assign=True)``, a replaced Parameter or ``.float()`` mid-stream: validated again)."""
        return isinstance(x_t, Tensor) and x_t.shape == self.shape and \
            x_t.dtype == self.dtype and x_t.is_cpu and \
            self.weights[0].dtype == self.dtype and \
            all(d.get(n) is w for (d, n), w in zip(self._where, self.weights, strict=True))

    def __call__(self, layer, x_t: Tensor, state):
        """(y_t (B, H), new state in torch.nn's layout)."""
        if state is None:
            state = layer.init_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        h, c = state if self.kind == _LSTM else (state, None)
        y, h, c = torch.ops.rnnkit.stack_step(self.kind, x_t, h, c, self.weights, self.has_bias)
        return y, ((h, c) if self.kind == _LSTM else h)
