"""Record what every recurrent cell of a model sees and produces, one step at a time.

``record(model)`` patches, for the duration of a ``with`` block, each cell of each
``rnnkit.RNN`` inside ``model`` so that every step's input, incoming state and new state are
kept *as nodes of the autograd graph*. Gradients taken with respect to those nodes are total
derivatives: ``∂L/∂h_t`` includes every path from ``h_t`` to the loss (through the output at
``t`` and through all later steps). The layers run their Python loop (``backend="loop"``)
while recording, since the fused kernel never materialises per-step states; both backends
compute the same function.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..layers import RNN

__all__ = ["CellTrace", "record", "recurrent_layers", "cell_kind"]


def cell_kind(cell: nn.Module) -> str:
    """A short name for a cell: rnn-tanh, rnn-relu, irnn, lstm, gru, or the class name."""
    if isinstance(cell, LSTMCell):
        return "lstm"
    if isinstance(cell, GRUCell):
        return "gru"
    if isinstance(cell, SimpleRNNCell):
        act = cell.activation_name or "custom"
        return "irnn" if act == "relu" and cell.init == "irnn" else f"rnn-{act}"
    return type(cell).__name__


@dataclass
class CellTrace:
    """One cell (one layer, one direction) of one ``RNN`` layer, step by step.

    Lists are in *processing* order (for a backward direction that is reversed time); use
    ``time_order`` to put per-step arrays back in input order.
    """

    name: str  # "rnn.layer0", "encoder.layer1.reverse", ...
    cell: nn.Module
    reverse: bool
    inputs: list[Tensor] = field(default_factory=list)  # built-in cells: W_ih x_t + b_ih (B, G*H)
    prev: list = field(default_factory=list)  # incoming state of each step
    states: list = field(default_factory=list)  # new state of each step (graph nodes)
    lengths: Tensor | None = None  # (B,) when the layer ran once on a right-padded batch
    calls: int = 0  # forward calls of the layer (streaming step() calls are not counted)

    @property
    def kind(self) -> str:
        return cell_kind(self.cell)

    @property
    def steps(self) -> int:
        return len(self.states)

    def hidden(self) -> list[Tensor]:
        """``h_t`` of every step: the state's first tensor (the whole state for RNN/GRU)."""
        return [s[0] if isinstance(s, (tuple, list)) else s for s in self.states]

    def memory(self) -> list[Tensor] | None:
        """The LSTM's ``c_t`` of every step, else None."""
        if self.states and isinstance(self.states[0], (tuple, list)) and len(self.states[0]) > 1:
            return [s[1] for s in self.states]
        return None

    def mask(self) -> np.ndarray:
        """(B, T) bool: True where a step is a real one (not right padding)."""
        B, T = self.hidden()[0].shape[0], self.steps
        if self.lengths is None:
            return np.ones((B, T), dtype=bool)
        return np.arange(T)[None, :] < self.lengths.cpu().numpy()[:, None]

    def time_order(self, a: np.ndarray) -> np.ndarray:
        """Per-step array (B, T, ...) in processing order -> input time order."""
        if not self.reverse:
            return a
        if self.lengths is None:
            return a[:, ::-1].copy()
        out = a.copy()
        for b, n in enumerate(self.lengths.tolist()):
            out[b, :n] = a[b, :n][::-1]
        return out


def recurrent_layers(model: nn.Module) -> list[tuple[str, RNN]]:
    """Every ``rnnkit.RNN`` inside ``model`` (the model itself included), with its name."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, RNN)]


def _no_layer_error(model: nn.Module) -> ValueError:
    torch_rnns = [n or type(m).__name__ for n, m in model.named_modules()
                  if isinstance(m, nn.RNNBase)]
    hint = (f"; it holds torch.nn recurrent modules ({', '.join(torch_rnns)}): copy their "
            "weights into rnnkit.RNN with load_torch_state_dict" if torch_rnns else "")
    return ValueError(f"diagnostics: {type(model).__name__} has no recurrent layer "
                      f"(rnnkit.RNN) to analyse{hint}")


@contextmanager
def record(model: nn.Module) -> Iterator[list[CellTrace]]:
    """Patch every cell of every ``rnnkit.RNN`` in ``model`` to keep its per-step tensors.

    Example:
        >>> layer = RNN("gru", 3, 5)
        >>> with record(layer) as traces:
        ...     out, _ = layer(torch.randn(2, 7, 3))
        >>> traces[0].name, traces[0].steps, tuple(traces[0].hidden()[0].shape)
        ('rnn.layer0', 7, (2, 5))
    """
    layers = recurrent_layers(model)
    if not layers:
        raise _no_layer_error(model)
    traces: list[CellTrace] = []
    undo = []
    try:
        for name, layer in layers:
            prefix = name or "rnn"
            mine: list[CellTrace] = []
            for k, cell in enumerate(layer.cells):
                depth, direction = divmod(k, layer.num_directions)
                trace = CellTrace(f"{prefix}.layer{depth}" + (".reverse" if direction else ""),
                                  cell, reverse=direction == 1)
                mine.append(trace)
                # the layer's loop calls recur(W_ih x_t + b_ih, state) on built-in cells and
                # cell(x_t, state) on others; an instance attribute shadows either method
                attr = "recur" if hasattr(cell, "project_input") and hasattr(cell, "recur") \
                    else "forward"
                undo.append(_patch(cell, attr, trace))
            traces += mine

            def pre_hook(module, args, kwargs, mine=mine):
                lengths = kwargs.get("lengths", args[2] if len(args) > 2 else None)
                for tr in mine:
                    tr.calls += 1
                    tr.lengths = None if lengths is None or tr.calls > 1 \
                        else torch.as_tensor(lengths).long().cpu()

            handle = layer.register_forward_pre_hook(pre_hook, with_kwargs=True)
            undo.append(handle.remove)
            old_backend = layer.backend
            layer.backend = "loop"
            undo.append(lambda layer=layer, old=old_backend: setattr(layer, "backend", old))
        yield traces
    finally:
        for fn in reversed(undo):
            fn()


def _patch(cell: nn.Module, attr: str, trace: CellTrace):
    had = attr in cell.__dict__
    previous = cell.__dict__.get(attr)
    original = getattr(cell, attr)

    def step(inp, state=None):
        y, new = original(inp, state)
        trace.inputs.append(inp)
        trace.prev.append(state)
        trace.states.append(new)
        return y, new

    cell.__dict__[attr] = step

    def restore():
        if had:
            cell.__dict__[attr] = previous
        else:
            del cell.__dict__[attr]

    return restore
