"""``rnnkit.RNN`` layers as ONNX's own recurrent operators (LSTM, GRU, RNN).

While a model is traced for ONNX (``onnx_recurrence(model)``), every ``rnnkit.RNN`` inside it
runs as an ``autograd.Function`` whose ONNX form is one operator per layer:

    X (B, T, I) -> Transpose (T, B, I) -> [LSTM|GRU|RNN](W, R, B, sequence_lens, h0[, c0])
      -> Y (T, D, B, H) -> Transpose + Reshape (T, B, D*H) -> next layer ... -> (B, T, D*H)

so the time axis stays dynamic (no unrolled loop) and right-padded batches use the operator's
``sequence_lens`` (outputs past a length are zero, the final state is each sequence's last real
step, the backward direction reverses within each length: rnnkit's own conventions).

Weights are converted to ONNX's layouts: gates i,f,g,o -> i,o,f,c (LSTM), r,z,n -> z,r,h (GRU),
biases ``[b_ih; b_hh]`` per direction. GRU ``reset_after=True`` is ``linear_before_reset=1``,
Cho et al.'s ``reset_after=False`` is ``linear_before_reset=0``; the Elman activation (tanh,
relu, sigmoid) is the RNN operator's ``activations``. Outside export, PyTorch computes the
outputs exactly as the layer does.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..layers import RNN

__all__ = ["ExportError", "onnx_recurrence", "check_exportable", "onnx_weights"]


class ExportError(ValueError):
    """A model, checkpoint or output the exporter cannot handle (one line, exit 2 in the CLI)."""


_CELL_OF = {"lstm": LSTMCell, "gru": GRUCell, "rnn": SimpleRNNCell}
_OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
_GATE_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn": (0,)}  # torch's chunks -> ONNX
_ACTIVE: dict[int, RNN] = {}  # key -> layer while a model is being exported
_KEYS = itertools.count()


def check_exportable(layer: RNN) -> None:
    """Raise ``ExportError`` if ``layer`` has no ONNX recurrent operator."""
    cls = _CELL_OF.get(layer.kind)
    if cls is None or any(type(c) is not cls for c in layer.cells):
        kind = layer.kind or type(layer.cells[0]).__name__
        raise ExportError(f"export: {layer.name} with {kind} cells has no ONNX recurrent "
                          "operator (exportable: lstm, gru, rnn/irnn with built-in cells)")
    if layer.kind == "rnn":
        names = {c.activation_name for c in layer.cells}
        if not names <= {"tanh", "relu", "sigmoid"}:
            raise ExportError(f"export: SimpleRNN activation {sorted(map(str, names))} has no "
                              "ONNX form (tanh, relu, sigmoid)")


def _reorder(t: Tensor, kind: str) -> Tensor:
    chunks = t.chunk(len(_GATE_ORDER[kind]), 0)
    return torch.cat([chunks[i] for i in _GATE_ORDER[kind]], 0)


def onnx_weights(layer: RNN, index: int) -> tuple[Tensor, Tensor, Tensor]:
    """ONNX's ``W`` (D, G*H, I), ``R`` (D, G*H, H), ``B`` (D, 2*G*H) for layer ``index``."""
    D, kind = layer.num_directions, layer.kind
    W, R, B = [], [], []
    for cell in layer.cells[index * D:(index + 1) * D]:
        w_ih, w_hh = cell.weight_ih.detach().float(), cell.weight_hh.detach().float()
        zeros = torch.zeros(w_ih.shape[0])
        b_ih = cell.bias_ih.detach().float() if cell.bias else zeros
        b_hh = cell.bias_hh.detach().float() if cell.bias else zeros
        W.append(_reorder(w_ih, kind))
        R.append(_reorder(w_hh, kind))
        B.append(torch.cat([_reorder(b_ih, kind), _reorder(b_hh, kind)]))
    return torch.stack(W), torch.stack(R), torch.stack(B)


def _unused(g):
    n = g.op("prim::Constant")
    n.setType(torch._C.OptionalType.ofTensor())
    return n


def _const(g, values):
    return g.op("Constant", value_t=torch.tensor(values, dtype=torch.long))


class _Recurrence(torch.autograd.Function):
    """PyTorch: the layer itself. ONNX: one recurrent operator per layer (``symbolic``)."""

    @staticmethod
    def forward(ctx, key, x, lengths, h0, c0, *weights):
        layer = _ACTIVE[key]
        state = None if h0 is None else ((h0, c0) if layer.kind == "lstm" else h0)
        tracing = torch._C._get_tracing_state()  # the layer's own parameters are not inputs
        torch._C._set_tracing_state(None)  # of this node: compute them untraced
        try:
            out, final = RNN.forward(layer, x, state, lengths)
        finally:
            torch._C._set_tracing_state(tracing)
        if layer.kind == "lstm":
            return out, final[0], final[1]
        return out, final

    @staticmethod
    def symbolic(g, key, x, lengths, h0, c0, *weights):
        layer = _ACTIVE[key]
        D, kind = layer.num_directions, layer.kind
        attrs = {"hidden_size_i": layer.hidden_size,
                 "direction_s": "bidirectional" if D == 2 else "forward"}
        if kind == "gru":
            attrs["linear_before_reset_i"] = int(layer.cells[0].reset_after)
        if kind == "rnn":
            attrs["activations_s"] = [c.activation_name.capitalize() for c in layer.cells[:D]]
        seq = _unused(g) if lengths is None else g.op("Cast", lengths, to_i=6)  # int32
        inp = g.op("Transpose", x, perm_i=[1, 0, 2])  # (T, B, I)
        finals: list[list] = [[], []]
        for i in range(layer.num_layers):
            if i > 0 and kind == "rnn":  # activations can differ per layer
                attrs["activations_s"] = [c.activation_name.capitalize()
                                          for c in layer.cells[i * D:(i + 1) * D]]
            W, R, B = weights[3 * i:3 * i + 3]
            rows = (_const(g, [i * D]), _const(g, [(i + 1) * D]), _const(g, [0]))
            state = [_unused(g) if s is None else g.op("Slice", s, *rows) for s in (h0, c0)]
            n_out = 3 if kind == "lstm" else 2
            inputs = [inp, W, R, B, seq, state[0]] + ([state[1]] if kind == "lstm" else [])
            outs = g.op(_OP[kind], *inputs, outputs=n_out, **attrs)
            y = g.op("Transpose", outs[0], perm_i=[0, 2, 1, 3])  # (T, B, D, H)
            inp = g.op("Reshape", y, _const(g, [0, 0, -1]))  # (T, B, D*H)
            for k in range(n_out - 1):
                finals[k].append(outs[1 + k])
        out = g.op("Transpose", inp, perm_i=[1, 0, 2])  # (B, T, D*H)
        states = [f[0] if len(f) == 1 else g.op("Concat", *f, axis_i=0)
                  for f in finals if f]  # (L*D, B, H)
        return (out, *states)


def _export_forward(layer: RNN, key: int):
    def forward(x: Tensor, state=None, lengths=None, return_all_states: bool = False):
        if return_all_states:
            raise ExportError(f"export: {layer.name}: return_all_states has no ONNX form")
        layer._check_input(x)
        if lengths is not None:
            lengths = torch.as_tensor(lengths)
        h0 = c0 = None
        if state is not None:
            h0, c0 = state if layer.kind == "lstm" else (state, None)
            h0 = h0.to(x.dtype)
            c0 = None if c0 is None else c0.to(x.dtype)
        weights = [w for i in range(layer.num_layers) for w in onnx_weights(layer, i)]
        outs = _Recurrence.apply(key, x, lengths, h0, c0, *weights)
        if layer.kind == "lstm":
            return outs[0], (outs[1], outs[2])
        return outs[0], outs[1]

    return forward


@contextmanager
def onnx_recurrence(model: nn.Module):
    """Within the block, every ``rnnkit.RNN`` in ``model`` traces to ONNX recurrent operators."""
    layers = [m for m in model.modules() if isinstance(m, RNN)]
    for layer in layers:
        check_exportable(layer)
    keys = []
    try:
        for layer in layers:
            key = next(_KEYS)
            _ACTIVE[key] = layer
            keys.append(key)
            layer.forward = _export_forward(layer, key)
        yield
    finally:
        for layer in layers:
            layer.__dict__.pop("forward", None)
        for key in keys:
            _ACTIVE.pop(key, None)
