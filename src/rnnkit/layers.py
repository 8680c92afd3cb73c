"""Sequence layers: run any recurrent cell over (B, T, I) inputs.

One generic layer, ``RNN``, handles stacking, bidirectionality, dropout between layers,
right-padded variable lengths, initial/final state, per-step states and streaming. It chooses
how to execute:

- ``"fused"``: where the configuration is mathematically identical to ``torch.nn.RNN/LSTM/GRU``
  (tanh/ReLU Elman, LSTM, GRU with ``reset_after=True``) it calls the same ATen kernel that
  ``torch.nn.LSTM.forward`` calls (``torch._VF.lstm`` & co.) on *our* parameters;
- ``"loop"``: otherwise, a Python loop over the cell, with the input projections of all steps
  done in one matmul before the loop;
- ``"scan"``: for cells whose recurrence is linear in the state (minGRU, minLSTM: they have a
  ``scan`` method), every step at once by a parallel scan (``rnnkit.scan``).

``backend="auto"`` picks fused, else scan on a GPU, else loop; all give the same numbers.

State layout follows ``torch.nn``: a tensor ``(L*D, B, H)`` (``(h, c)`` for the LSTM) with
rows ordered layer 0 forward, layer 0 backward, layer 1 forward, ...
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .cells import GRUCell, LSTMCell, SimpleRNNCell
from .min_cells import MinGRUCell, MinLSTMCell

__all__ = ["RNN", "SimpleRNN", "LSTM", "GRU", "KINDS"]

# cell kind -> display name used in error messages
KINDS = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU", "mingru": "MinGRU",
         "minlstm": "MinLSTM"}
_KIND_ALIASES = {"simple": "rnn", "elman": "rnn", "simplernn": "rnn", "rnn_tanh": "rnn",
                 "rnn_relu": "rnn", "irnn": "rnn"}
BACKENDS = ("auto", "fused", "loop", "scan")


def _tree_map(fn, *trees):
    """Apply ``fn`` leaf-wise over a state: a tensor or a (nested) tuple of tensors."""
    first = trees[0]
    if isinstance(first, (tuple, list)):
        return tuple(_tree_map(fn, *parts) for parts in zip(*trees, strict=True))
    return fn(*trees)


def _leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for part in tree for leaf in _leaves(part)]
    return [tree]


def _reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of (B, T, ...) within its own length; padding stays in place."""
    if lengths is None:
        return x.flip(1)
    T = x.shape[1]
    t = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
    L = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    idx = torch.where(t < L, L - 1 - t, t)  # (B, T)
    idx = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


class RNN(nn.Module):
    """A recurrent layer: any cell run over batch-first sequences.

    Args:
        cell: a kind (``"rnn"``, ``"lstm"``, ``"gru"``), a cell instance (one layer, one
            direction; copied and re-initialised for the backward direction) or a factory
            ``cell(input_size, hidden_size) -> cell`` called once per layer and direction.
            A cell follows the contract ``y_t, state = cell(x_t, state)`` and
            ``cell.init_state(batch_size, device=, dtype=)``.
        input_size: I (taken from a cell instance when omitted).
        hidden_size: H (taken from a cell instance when omitted).
        num_layers: L, stacked layers; layer l+1 reads layer l's outputs.
        bidirectional: D = 2, a backward direction per layer, outputs concatenated.
        dropout: dropout on the outputs of every layer but the last (training only).
        bias, activation ("tanh" | "relu" | "sigmoid" | callable, Elman only),
        reset_after (GRU only), init ("torch" | "keras" | "irnn"): passed to built-in cells.
        backend: "auto" | "fused" | "loop".

    Shapes:
        x: (B, T, I); lengths: (B,) ints in [1, T]; state: (L*D, B, H) or (h, c).
        returns outputs (B, T, D*H) — zero past each sequence's length — and the final state
        (the state at each sequence's last real step). With ``return_all_states=True`` a
        third value holds every step's state, (L*D, B, T, H) per state tensor.

    Example:
        >>> layer = RNN("lstm", 8, 16, num_layers=2, bidirectional=True)
        >>> out, (h, c) = layer(torch.randn(4, 10, 8), lengths=torch.tensor([10, 7, 3, 1]))
        >>> out.shape, h.shape
        (torch.Size([4, 10, 32]), torch.Size([4, 4, 16]))
    """

    def __init__(
        self,
        cell: str | nn.Module | Callable = "lstm",
        input_size: int | None = None,
        hidden_size: int | None = None,
        num_layers: int = 1,
        *,
        bidirectional: bool = False,
        dropout: float = 0.0,
        bias: bool = True,
        activation: str | Callable = "tanh",
        reset_after: bool = True,
        init: str = "torch",
        backend: str = "auto",
    ):
        super().__init__()
        self.kind = self._kind_of(cell)
        cell_name = (type(cell).__name__ if isinstance(cell, nn.Module)
                     else getattr(cell, "__name__", "cell"))
        self.name = KINDS.get(self.kind) or f"RNN({cell_name})"
        if isinstance(cell, nn.Module):
            if input_size is None:
                input_size = getattr(cell, "input_size", None)
            if hidden_size is None:
                hidden_size = getattr(cell, "hidden_size", None)
        if isinstance(cell, str) and cell.lower() == "irnn":
            activation, init = "relu", "irnn"
        if isinstance(cell, str) and cell.lower() == "rnn_relu":
            activation = "relu"
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size),
                           ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{self.name}: {arg} must be a positive integer, got {value!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{self.name}: dropout must lie in [0, 1), got {dropout!r}")
        if backend not in BACKENDS:
            raise ValueError(f"{self.name}: unknown backend {backend!r}; expected one of "
                             f"{', '.join(BACKENDS)}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.dropout = bool(bidirectional), float(dropout)
        self.backend = backend
        self.num_directions = 2 if bidirectional else 1

        def make(layer_input: int, direction: int) -> nn.Module:
            if self.kind == "rnn":
                return SimpleRNNCell(layer_input, hidden_size, activation, bias, init)
            if self.kind == "lstm":
                return LSTMCell(layer_input, hidden_size, bias, init)
            if self.kind == "gru":
                return GRUCell(layer_input, hidden_size, bias, reset_after, init)
            if self.kind == "mingru":
                return MinGRUCell(layer_input, hidden_size, bias)
            if self.kind == "minlstm":
                return MinLSTMCell(layer_input, hidden_size, bias)
            if isinstance(cell, nn.Module):
                if layer_input != input_size:
                    raise ValueError(
                        f"{self.name}: a cell instance builds one layer only; pass a factory "
                        f"cell(input_size, hidden_size) for num_layers={num_layers}")
                if direction == 0:
                    return cell
                twin = copy.deepcopy(cell)
                if hasattr(twin, "reset_parameters"):
                    twin.reset_parameters()
                return twin
            return cell(layer_input, hidden_size)

        cells = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            cells += [make(layer_input, d) for d in range(self.num_directions)]
        self.cells = nn.ModuleList(cells)
        self._fused_mode = self._fused_mode_of()
        self._scannable = all(hasattr(c, "scan") for c in self.cells)
        if backend == "fused" and self._fused_mode is None:
            raise ValueError(f"{self.name}: backend='fused' needs a configuration torch.nn runs "
                             "(tanh/ReLU SimpleRNN, LSTM, GRU with reset_after=True)")
        if backend == "scan" and not self._scannable:
            raise ValueError(f"{self.name}: backend='scan' needs cells with a linear recurrence "
                             "and a scan method (mingru, minlstm)")

    # ----------------------------------------------------------------- construction helpers
    @staticmethod
    def _kind_of(cell) -> str | None:
        if isinstance(cell, str):
            kind = _KIND_ALIASES.get(cell.lower(), cell.lower())
            if kind not in KINDS:
                raise ValueError(f"RNN: unknown cell kind {cell!r}; expected one of "
                                 f"{', '.join(KINDS)}, irnn, a cell instance or a cell factory")
            return kind
        if isinstance(cell, nn.Module) or callable(cell):
            return None
        raise ValueError(f"RNN: cell must be a kind, a cell or a factory, got {cell!r}")

    def _fused_mode_of(self) -> str | None:
        """The torch.nn kernel computing exactly these cells, or None."""
        types = {type(c) for c in self.cells}
        if len(types) != 1 or not types <= {LSTMCell, GRUCell, SimpleRNNCell}:
            return None  # user cells, and subclasses that may change the equations: loop
        if len({c.bias for c in self.cells}) != 1:
            return None
        (cls,) = types
        first = self.cells[0]
        if cls is LSTMCell:
            return "lstm"
        if cls is GRUCell and all(c.reset_after for c in self.cells):
            return "gru"
        if cls is SimpleRNNCell and first.activation_name in ("tanh", "relu") and len(
                {c.activation_name for c in self.cells}) == 1:
            return "rnn_" + first.activation_name
        return None

    @property
    def output_size(self) -> int:
        """Features per output step: D * H."""
        return self.num_directions * self.hidden_size

    def extra_repr(self) -> str:
        return (f"num_layers={self.num_layers}, bidirectional={self.bidirectional}, "
                f"dropout={self.dropout}, backend={self.backend!r}")

    # ------------------------------------------------------------------------------ state
    def init_state(self, batch_size: int, device=None, dtype=None):
        """Zero state in torch.nn's layout: (L*D, B, H), or (h, c) for the LSTM."""
        per_cell = [c.init_state(batch_size, device=device, dtype=dtype) for c in self.cells]
        return _tree_map(lambda *s: torch.stack(s), *per_cell)

    def _cell_state(self, state, k: int):
        return _tree_map(lambda s: s[k], state)

    # ------------------------------------------------------------------------- validation
    def _check_input(self, x) -> None:
        if not isinstance(x, Tensor):
            raise ValueError(f"{self.name}: expected a tensor input, got {type(x).__name__}")
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"{self.name}: expected input of shape (B, T, {self.input_size}), "
                             f"got {tuple(x.shape)}")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"{self.name}: expected at least one sequence of at least one step, "
                             f"got input of shape {tuple(x.shape)}")

    def _check_lengths(self, lengths, B: int, T: int) -> Tensor | None:
        if lengths is None:
            return None
        lengths = torch.as_tensor(lengths)
        if lengths.dim() != 1 or lengths.shape[0] != B:
            raise ValueError(f"{self.name}: expected lengths of shape ({B},), "
                             f"got {tuple(lengths.shape)}")
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise ValueError(f"{self.name}: lengths must be integers, got {lengths.dtype}")
        lengths = lengths.long()
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > T:
            raise ValueError(f"{self.name}: lengths must lie in [1, {T}] (the input's T), "
                             f"got min {lo} and max {hi}")
        return lengths

    def _state_template(self):
        """The state's structure and per-leaf shapes for B=1, computed once (not per step)."""
        if getattr(self, "_template", None) is None:
            one = self.init_state(1, device="meta")
            self._template = (isinstance(one, tuple), [tuple(s.shape) for s in _leaves(one)])
        return self._template

    def _check_state(self, state, B: int, x: Tensor):
        if state is None:
            return None
        is_tuple, shapes = self._state_template()
        want = [(s[0], B, *s[2:]) for s in shapes]
        got = _leaves(state) if isinstance(state, (tuple, list)) == is_tuple else None
        if got is None or len(got) != len(want) or any(
                not isinstance(g, Tensor) or tuple(g.shape) != w
                for g, w in zip(got, want, strict=True)):
            shown = (" and ".join(str(tuple(g.shape)) if isinstance(g, Tensor) else type(g).__name__
                                  for g in got) if got else type(state).__name__)
            form = "(h, c) of shapes" if self.kind == "lstm" else "state of shape"
            raise ValueError(f"{self.name}: expected {form} {' and '.join(map(str, want))} "
                             f"(L*D, B, H), got {shown}")
        if all(g.dtype == x.dtype for g in got):
            return state
        return _tree_map(lambda s: s.to(dtype=x.dtype), state)

    # ---------------------------------------------------------------------------- forward
    def forward(self, x: Tensor, state=None, lengths=None, return_all_states: bool = False):
        """Run the layer over ``x`` (B, T, I); see the class docstring for shapes."""
        self._check_input(x)
        B, T, _ = x.shape
        lengths = self._check_lengths(lengths, B, T)
        state = self._check_state(state, B, x)
        if lengths is not None and bool((lengths == T).all()):
            lengths = None  # nothing is padded: take the cheaper path
        use_fused = self._fused_mode is not None and (
            self.backend == "fused" or (self.backend == "auto" and not return_all_states))
        if use_fused and not return_all_states:
            return self._forward_fused(x, state, lengths)
        # auto: the scan only on a GPU; on a CPU it is slower than the loop (BENCHMARKS.md)
        use_scan = self._scannable and (self.backend == "scan" or (
            self.backend == "auto" and x.device.type != "cpu"))
        return self._forward_loop(x, state, lengths, return_all_states, use_scan)

    def _flat_weights(self) -> list[Tensor]:
        weights = []
        for c in self.cells:  # torch.nn's order: per layer, per direction: w_ih, w_hh, b_ih, b_hh
            weights += [c.weight_ih, c.weight_hh]
            if c.bias:
                weights += [c.bias_ih, c.bias_hh]
        return weights

    def _forward_fused(self, x, state, lengths):
        """The ATen kernel torch.nn.RNN/LSTM/GRU run, fed with our cells' parameters."""
        B = x.shape[0]
        if state is None:
            state = self.init_state(B, device=x.device, dtype=x.dtype)
        kernel = {"lstm": torch._VF.lstm, "gru": torch._VF.gru,
                  "rnn_tanh": torch._VF.rnn_tanh, "rnn_relu": torch._VF.rnn_relu}[self._fused_mode]
        hx = list(state) if self._fused_mode == "lstm" else state
        args = (self._flat_weights(), self.cells[0].bias, self.num_layers, self.dropout,
                self.training, self.bidirectional)
        if lengths is None:
            result = kernel(x, hx, *args, True)  # batch_first=True
            out, final = result[0], result[1:]
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            order, unorder = packed.sorted_indices, packed.unsorted_indices
            hx = _tree_map(lambda s: s.index_select(1, order), hx)
            result = kernel(packed.data, packed.batch_sizes, hx, *args)
            out, final = result[0], result[1:]
            out, _ = pad_packed_sequence(
                packed._replace(data=out), batch_first=True, total_length=x.shape[1])
            final = _tree_map(lambda s: s.index_select(1, unorder), final)
        final = tuple(final) if self._fused_mode == "lstm" else final[0]
        return out, final

    def _forward_loop(self, x, state, lengths, return_all_states, use_scan=False):
        B, T, _ = x.shape
        mask = None
        if lengths is not None:
            mask = torch.arange(T, device=x.device).unsqueeze(0) < lengths.to(x.device).unsqueeze(1)
        layer_input, finals, every = x, [], []
        for layer in range(self.num_layers):
            outputs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                cell = self.cells[k]
                s0 = (cell.init_state(B, device=x.device, dtype=x.dtype) if state is None
                      else self._cell_state(state, k))
                inp = layer_input if d == 0 else _reverse_padded(layer_input, lengths)
                run = _scan_cell if use_scan else _run_cell
                out, final, states = run(cell, inp, s0, mask, lengths, return_all_states)
                if d == 1:
                    out = _reverse_padded(out, lengths)
                    if states is not None:
                        states = _tree_map(lambda s: _reverse_padded(s, lengths), states)
                outputs.append(out)
                finals.append(final)
                every.append(states)
            layer_input = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        final = _tree_map(lambda *s: torch.stack(s), *finals)
        if not return_all_states:
            return layer_input, final
        return layer_input, final, _tree_map(lambda *s: torch.stack(s), *every)

    # ---------------------------------------------------------------------------- streaming
    def step(self, x_t: Tensor, state=None):
        """One time step for streaming: ``(x_t (B, I), state) -> (y_t (B, H), new_state)``.

        Feeding a sequence step by step, carrying the state, gives the same outputs and final
        state as one call on the whole sequence. Runs the cells directly (no fused set-up cost
        per call). Unidirectional layers only: a backward direction needs the future.
        """
        if self.bidirectional:
            raise ValueError(f"{self.name}: step() needs a unidirectional layer; a bidirectional "
                             "layer must see the whole sequence")
        if not isinstance(x_t, Tensor) or x_t.dim() != 2 or x_t.shape[-1] != self.input_size:
            shape = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(f"{self.name}: step expected input of shape (B, {self.input_size}), "
                             f"got {shape}")
        B = x_t.shape[0]
        state = self._check_state(state, B, x_t)
        y, finals = x_t, []
        for layer, cell in enumerate(self.cells):
            s = (cell.init_state(B, device=x_t.device, dtype=x_t.dtype) if state is None
                 else self._cell_state(state, layer))
            y, s = cell(y, s)
            finals.append(s)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                y = F.dropout(y, self.dropout, training=True)
        return y, _tree_map(lambda *s: torch.stack(s), *finals)

    # ------------------------------------------------------------------- torch.nn interop
    def load_torch_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        """Load weights from a ``torch.nn.RNN/LSTM/GRU`` state dict (``weight_ih_l0`` ...)."""
        for k, cell in enumerate(self.cells):
            layer, d = divmod(k, self.num_directions)
            suffix = f"l{layer}" + ("_reverse" if d else "")
            with torch.no_grad():
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    p = getattr(cell, name)
                    if p is not None:
                        key = f"{name}_{suffix}"
                        if key not in state_dict:
                            raise ValueError(f"{self.name}: torch state dict lacks {key!r}")
                        p.copy_(state_dict[key])

    def torch_state_dict(self) -> dict[str, Tensor]:
        """Our weights under ``torch.nn.RNN/LSTM/GRU``'s names, for ``load_state_dict``."""
        out = {}
        for k, cell in enumerate(self.cells):
            layer, d = divmod(k, self.num_directions)
            suffix = f"l{layer}" + ("_reverse" if d else "")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                p = getattr(cell, name)
                if p is not None:
                    out[f"{name}_{suffix}"] = p.detach().clone()
        return out


def _run_cell(cell, x, state, mask, lengths, keep_states):
    """Loop one cell over (B, T, I). Past a sequence's end the state is held, the output zero."""
    if hasattr(cell, "project_input") and hasattr(cell, "recur"):
        inputs, step = cell.project_input(x), cell.recur  # all steps' W_ih x + b_ih: one matmul
    else:
        inputs, step = x, cell
    # unbind, not x[:, t]: slicing a tensor that requires grad makes backward quadratic in T
    steps = inputs.unbind(1)
    masks = mask.unsqueeze(-1).unbind(1) if mask is not None else None
    first_padded = int(lengths.min()) if lengths is not None else len(steps)
    outputs, states = [], []
    for t, inp in enumerate(steps):
        y, new = step(inp, state)
        if t >= first_padded:  # some sequence has ended: hold its state, zero its output
            m = masks[t]
            new = _tree_map(lambda n, o, m=m: torch.where(m, n, o), new, state)
            y = y.masked_fill(~m, 0.0)
        state = new
        outputs.append(y)
        if keep_states:
            states.append(state)
    all_states = _tree_map(lambda *s: torch.stack(s, 1), *states) if keep_states else None
    return torch.stack(outputs, 1), state, all_states


def _scan_cell(cell, x, state, mask, lengths, keep_states):
    """All steps of a linear-recurrence cell at once; same contract as ``_run_cell``."""
    states = cell.scan(x, state, mask)  # (B, T, H), held past each sequence's end
    outputs = states if mask is None else states.masked_fill(~mask.unsqueeze(-1), 0.0)
    return outputs, states[:, -1], (states if keep_states else None)


def SimpleRNN(input_size: int, hidden_size: int, num_layers: int = 1, *,
              activation="tanh", **kwargs) -> RNN:
    """Elman RNN layer: ``RNN("rnn", ...)``. ``activation`` is tanh, relu, sigmoid or a callable."""
    return RNN("rnn", input_size, hidden_size, num_layers, activation=activation, **kwargs)


def LSTM(input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> RNN:
    """LSTM layer: ``RNN("lstm", ...)``; runs torch's fused kernel whenever it can."""
    return RNN("lstm", input_size, hidden_size, num_layers, **kwargs)


def GRU(input_size: int, hidden_size: int, num_layers: int = 1, *,
        reset_after: bool = True, **kwargs) -> RNN:
    """GRU layer: ``RNN("gru", ...)``; ``reset_after=False`` is Cho et al.'s form (loop only)."""
    return RNN("gru", input_size, hidden_size, num_layers, reset_after=reset_after, **kwargs)
