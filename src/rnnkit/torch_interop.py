"""``torch.nn.RNN/LSTM/GRU`` on our side: the fused ATen kernels, state dicts, conversion.

rnnkit's built-in cells keep torch.nn's parameter names, shapes and gate orders (i,f,g,o;
r,z,n), so wherever a layer's configuration is one torch.nn can express — tanh/ReLU Elman,
LSTM, GRU with ``reset_after=True``, one bias setting for all cells — three things follow:

- ``fused_mode(cells)`` names the kernel (``torch._VF.lstm`` & co.) that ``run_fused`` calls
  on *our* parameters: the same code ``torch.nn.LSTM.forward`` runs, cuDNN on a GPU;
- ``torch_state_dict`` / ``load_torch_state_dict`` move weights under torch.nn's names
  (``weight_ih_l0``, ``bias_hh_l1_reverse`` ...);
- ``to_torch(layer)`` builds the equal ``torch.nn`` module and ``from_torch(module)`` the equal
  ``rnnkit.RNN``; configurations torch.nn cannot express are refused with the reason.

Example:
    >>> layer = rnnkit.LSTM(8, 16, num_layers=2)
    >>> ref = layer.to_torch()                     # torch.nn.LSTM(8, 16, 2, batch_first=True)
    >>> back = rnnkit.RNN.from_torch(ref)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .cells import GRUCell, LSTMCell, SimpleRNNCell
from .state_tree import tree_map

__all__ = ["fused_mode", "why_not_torch", "run_fused", "torch_state_dict",
           "load_torch_state_dict", "to_torch", "from_torch"]

_KERNELS = {"lstm": "lstm", "gru": "gru", "rnn_tanh": "rnn_tanh", "rnn_relu": "rnn_relu"}
_PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def why_not_torch(cells) -> str | None:
    """None when torch.nn computes exactly these cells; else the reason it cannot."""
    types = {type(c) for c in cells}
    if len(types) != 1:
        return "its cells are of different types"
    (cls,) = types
    if cls not in (LSTMCell, GRUCell, SimpleRNNCell):
        return (f"{cls.__name__} has no torch.nn equivalent (torch.nn has tanh/ReLU Elman, "
                "LSTM and GRU only)")  # subclasses may change the equations: never fused
    if len({c.bias for c in cells}) != 1:
        return "its cells differ in bias"
    if cls is GRUCell and not all(c.reset_after for c in cells):
        return ("a GRU with reset_after=False (Cho et al.'s form) has no torch.nn equivalent: "
                "torch.nn.GRU applies the reset gate after the recurrent matmul")
    if cls is SimpleRNNCell:
        acts = {c.activation_name for c in cells}
        if len(acts) != 1 or not acts <= {"tanh", "relu"}:
            shown = ", ".join(sorted(a or "a callable" for a in acts))
            return (f"a SimpleRNN with activation {shown} has no torch.nn equivalent "
                    "(torch.nn.RNN offers tanh and relu)")
    return None


def fused_mode(cells) -> str | None:
    """The torch.nn kernel computing exactly these cells ("lstm", "gru", "rnn_tanh",
    "rnn_relu"), or None."""
    if why_not_torch(cells) is not None:
        return None
    first = cells[0]
    if isinstance(first, LSTMCell):
        return "lstm"
    if isinstance(first, GRUCell):
        return "gru"
    return "rnn_" + first.activation_name


def _flat_weights(cells) -> list[Tensor]:
    weights = []
    for c in cells:  # torch.nn's order: per layer, per direction: w_ih, w_hh, b_ih, b_hh
        weights += [c.weight_ih, c.weight_hh]
        if c.bias:
            weights += [c.bias_ih, c.bias_hh]
    return weights


def run_fused(layer, x: Tensor, state, lengths: Tensor | None):
    """``layer``'s forward through torch's fused kernel: (outputs (B, T, D*H), final state)."""
    mode = layer._fused_mode
    if state is None:
        state = layer.init_state(x.shape[0], device=x.device, dtype=x.dtype)
    kernel = getattr(torch._VF, _KERNELS[mode])
    hx = list(state) if mode == "lstm" else state
    args = (_flat_weights(layer.cells), layer.cells[0].bias, layer.num_layers, layer.dropout,
            layer.training, layer.bidirectional)
    if lengths is None:
        result = kernel(x, hx, *args, True)  # batch_first=True
        out, final = result[0], result[1:]
    else:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        hx = tree_map(lambda s: s.index_select(1, order), hx)
        result = kernel(packed.data, packed.batch_sizes, hx, *args)
        out, final = result[0], result[1:]
        out, _ = pad_packed_sequence(
            packed._replace(data=out), batch_first=True, total_length=x.shape[1])
        final = tree_map(lambda s: s.index_select(1, unorder), final)
    final = tuple(final) if mode == "lstm" else final[0]
    return out, final


def _suffixes(layer):
    for k, cell in enumerate(layer.cells):
        layer_index, d = divmod(k, layer.num_directions)
        yield cell, f"l{layer_index}" + ("_reverse" if d else "")


def torch_state_dict(layer) -> dict[str, Tensor]:
    """``layer``'s weights under ``torch.nn.RNN/LSTM/GRU``'s names (detached copies)."""
    out = {}
    for cell, suffix in _suffixes(layer):
        for name in _PARAM_NAMES:
            p = getattr(cell, name, None)
            if p is not None:
                out[f"{name}_{suffix}"] = p.detach().clone()
    return out


def load_torch_state_dict(layer, state_dict: dict[str, Tensor]) -> None:
    """Copy a ``torch.nn.RNN/LSTM/GRU`` state dict (``weight_ih_l0`` ...) into ``layer``;
    as ``load_state_dict`` does, keys it has no place for are an error (a 2-layer torch LSTM
    into a 1-layer layer), checked before anything is copied."""
    wanted = {f"{name}_{suffix}" for cell, suffix in _suffixes(layer) for name in _PARAM_NAMES
              if getattr(cell, name, None) is not None}
    extra = sorted(k for k in state_dict if k not in wanted)
    if extra:
        shown = ", ".join(map(repr, extra[:6])) + (", ..." if len(extra) > 6 else "")
        raise ValueError(f"{layer.name}: torch state dict has keys this layer has no place "
                         f"for: {shown} (layers {layer.num_layers}, bidirectional "
                         f"{layer.bidirectional}, bias {layer.cells[0].bias})")
    for cell, suffix in _suffixes(layer):
        with torch.no_grad():
            for name in _PARAM_NAMES:
                p = getattr(cell, name, None)
                if p is None:
                    continue
                key = f"{name}_{suffix}"
                if key not in state_dict:
                    raise ValueError(f"{layer.name}: torch state dict lacks {key!r}")
                value = state_dict[key]
                if tuple(value.shape) != tuple(p.shape):
                    raise ValueError(f"{layer.name}: torch state dict's {key!r} has shape "
                                     f"{tuple(value.shape)}, expected {tuple(p.shape)}")
                p.copy_(value)


def to_torch(layer) -> nn.RNNBase:
    """The ``torch.nn.RNN/LSTM/GRU`` (``batch_first=True``) computing exactly ``layer``.

    Same weights (copied), dropout (0 for one layer, where it has no effect and torch.nn
    warns), direction, device, dtype and train/eval mode. Raises
    ``ValueError`` saying why when torch.nn cannot express the configuration.
    """
    reason = why_not_torch(layer.cells)
    if reason is None and layer.training and layer._recurrent_dropout():
        reason = ("recurrent_dropout, which torch.nn has no option for, acts in training; "
                  "call .eval() first (evaluating, the two are equal)")
    if reason is not None:
        raise ValueError(f"{layer.name}.to_torch: {reason}")
    mode = layer._fused_mode
    cls = {"lstm": nn.LSTM, "gru": nn.GRU}.get(mode, nn.RNN)
    kw = {"nonlinearity": mode[4:]} if cls is nn.RNN else {}
    p = layer.cells[0].weight_ih
    module = cls(layer.input_size, layer.hidden_size, layer.num_layers,
                 bias=layer.cells[0].bias, batch_first=True,
                 dropout=layer.dropout if layer.num_layers > 1 else 0.0,  # one layer: no effect
                 bidirectional=layer.bidirectional, device=p.device, dtype=p.dtype, **kw)
    module.load_state_dict(torch_state_dict(layer))
    return module.train(layer.training)


def from_torch(module: nn.Module, backend: str = "auto"):
    """The ``rnnkit.RNN`` computing exactly ``module`` (a ``torch.nn.RNN/LSTM/GRU``).

    The result is batch-first like every rnnkit layer: a module built with
    ``batch_first=False`` takes (T, B, I) where the result takes (B, T, I). LSTMs with
    ``proj_size`` are refused (rnnkit's LSTM has no projection).
    """
    from .layers import RNN

    if isinstance(module, nn.LSTM):
        if module.proj_size:
            raise ValueError(f"RNN.from_torch: an LSTM with proj_size={module.proj_size} has "
                             "no rnnkit equivalent (no projection of h)")
        kind, kw = "lstm", {}
    elif isinstance(module, nn.GRU):
        kind, kw = "gru", {}
    elif isinstance(module, nn.RNN):
        kind, kw = "rnn", {"activation": module.nonlinearity}
    else:
        raise ValueError(f"RNN.from_torch: expected a torch.nn.RNN, LSTM or GRU, got "
                         f"{type(module).__name__}")
    p = next(module.parameters())
    layer = RNN(kind, module.input_size, module.hidden_size, module.num_layers,
                bidirectional=module.bidirectional,  # one layer: torch warned already
                dropout=float(module.dropout) if module.num_layers > 1 else 0.0,
                bias=module.bias, backend=backend, **kw).to(device=p.device, dtype=p.dtype)
    load_torch_state_dict(layer, module.state_dict())
    return layer.train(module.training)
