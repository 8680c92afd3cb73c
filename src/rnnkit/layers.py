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
The fused path and the conversions to and from ``torch.nn`` live in ``rnnkit.torch_interop``;
which class a kind builds, and which settings it takes, is the table ``CELLS``.

State layout follows ``torch.nn``: a tensor ``(L*D, B, H)`` (``(h, c)`` for the LSTM) with
rows ordered layer 0 forward, layer 0 backward, layer 1 forward, ...
"""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils._pytree import tree_leaves

from . import compiled, torch_interop
from .cells import GRUCell, LSTMCell, SimpleRNNCell, projects_input
from .checkpoint import register_model
from .compiled import traced
from .compiled.functions import kind_of as compiled_kind
from .compiled.functions import run_cell as compiled_cell
from .compiled.step import StepPlan, step_kind
from .ln_cells import LayerNormGRUCell, LayerNormLSTMCell
from .min_cells import MinGRUCell, MinLSTMCell
from .runtime import check_memory
from .state_tree import leaves as _leaves
from .state_tree import stack as _stack
from .state_tree import tree_map as _tree_map
from .validate import flag, positive_int, probability

__all__ = ["RNN", "SimpleRNN", "LSTM", "GRU", "CELLS", "KINDS", "CellKind", "register_cell",
           "estimate_size"]


@dataclass(frozen=True)
class CellKind:
    """A row of the cell table: the class, its display name and the settings it takes.

    ``options`` maps each setting beyond (input_size, hidden_size, bias) to its default; the
    layer passes exactly these to ``cls`` and refuses any other.
    """

    cls: type
    name: str
    options: dict = field(default_factory=dict)


# kind -> cell; add one with ``register_cell``
CELLS: dict[str, CellKind] = {
    "rnn": CellKind(SimpleRNNCell, "SimpleRNN", {"activation": "tanh", "init": "torch"}),
    "lstm": CellKind(LSTMCell, "LSTM", {"init": "torch", "recurrent_dropout": 0.0}),
    "gru": CellKind(GRUCell, "GRU", {"reset_after": True, "init": "torch",
                                     "recurrent_dropout": 0.0}),
    "mingru": CellKind(MinGRUCell, "MinGRU", {"init": "torch"}),
    "minlstm": CellKind(MinLSTMCell, "MinLSTM", {"init": "torch"}),
    "ln_lstm": CellKind(LayerNormLSTMCell, "LayerNormLSTM",
                        {"init": "torch", "recurrent_dropout": 0.0}),
    "ln_gru": CellKind(LayerNormGRUCell, "LayerNormGRU",
                       {"init": "torch", "recurrent_dropout": 0.0}),
}
# other names for a kind, with the settings they fix
_ALIASES: dict[str, tuple[str, dict]] = {
    "simple": ("rnn", {}), "elman": ("rnn", {}), "simplernn": ("rnn", {}),
    "rnn_tanh": ("rnn", {"activation": "tanh"}), "rnn_relu": ("rnn", {"activation": "relu"}),
    "irnn": ("rnn", {"activation": "relu", "init": "irnn"}),  # Le et al. 2015
}
KINDS = {kind: row.name for kind, row in CELLS.items()}  # kind -> display name (errors)
_BUILT_IN = dict(CELLS)  # register_cell may not replace these
BACKENDS = ("auto", "fused", "loop", "scan", "compiled")


def register_cell(kind: str, cls: type, name: str | None = None, **options) -> None:
    """Make ``RNN(kind, ...)`` build ``cls(input_size, hidden_size, bias=..., **options)``.

    ``options`` are the settings ``cls`` takes with their defaults (e.g. ``init="torch"``).
    """
    kind = kind.lower()
    if kind in _ALIASES:
        raise ValueError(f"register_cell: {kind!r} is an alias of {_ALIASES[kind][0]!r}")
    try:  # as RNN(kind, ...) will call it: found now, not as a TypeError at the first layer
        inspect.signature(cls).bind(1, 1, bias=True, **options)
    except (TypeError, ValueError) as e:
        raise ValueError(f"register_cell: {getattr(cls, '__name__', cls)!r} cannot be built as "
                         f"cls(input_size, hidden_size, bias=..., **options): {e}") from None
    if kind in _BUILT_IN and cls is not _BUILT_IN[kind].cls:
        # replaced the built-in cell for every layer, model and checkpoint load in the process
        raise ValueError(f"register_cell: {kind!r} is a built-in kind ({_BUILT_IN[kind].name}); "
                         "register your cell under a name of its own")
    CELLS[kind] = CellKind(cls, name or cls.__name__, dict(options))
    KINDS[kind] = CELLS[kind].name


def estimate_size(cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                  bidirectional: bool = False, batch_size: int = 0, steps: int = 0,
                  bytes_per_value: int = 4) -> dict[str, int]:
    """Parameters and bytes a built-in layer would allocate, without allocating.

    Returns ``{"parameters", "parameter_bytes", "activation_bytes"}``; activations are those
    kept for backpropagation over ``batch_size`` sequences of ``steps`` steps (gates, states
    and outputs of every layer).
    """
    kind, _ = _ALIASES.get(cell.lower(), (cell.lower(), {}))
    gates = getattr(CELLS[kind].cls, "num_gates", 1)
    recurrent = getattr(CELLS[kind].cls, "recurrent_weights", True)
    D = 2 if bidirectional else 1
    def per_layer(layer_input: int) -> int:
        per_cell = gates * hidden_size * (layer_input + 1)
        if recurrent:
            per_cell += gates * hidden_size * (hidden_size + 1)
        return D * per_cell

    # closed form, not a loop: num_layers may be absurd (10**9) and must be refused quickly
    params = per_layer(input_size) + (num_layers - 1) * per_layer(D * hidden_size)
    kept = getattr(CELLS[kind].cls, "kept_per_step", gates + 2)  # per unit, row and step
    acts = batch_size * steps * num_layers * D * hidden_size * kept
    cells = num_layers * D * 16384  # each cell is a Python module too: ~16 KiB of objects
    return {"parameters": params, "parameter_bytes": params * bytes_per_value + cells,
            "activation_bytes": acts * bytes_per_value}


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


@register_model
class RNN(nn.Module):
    """A recurrent layer: any cell run over batch-first sequences.

    Args:
        cell: a kind from ``CELLS`` (``"rnn"``, ``"lstm"``, ``"gru"``, ``"mingru"``,
            ``"minlstm"``, ``"ln_lstm"``, ``"ln_gru"``; aliases ``"irnn"``, ``"rnn_relu"``...),
            a cell instance (one layer, one direction; copied and re-initialised for the
            backward direction) or a factory
            ``cell(input_size, hidden_size) -> cell`` called once per layer and direction.
            A cell follows the contract ``y_t, state = cell(x_t, state)`` and
            ``cell.init_state(batch_size, device=, dtype=)``.
        input_size: I (taken from a cell instance when omitted).
        hidden_size: H (taken from a cell instance when omitted).
        num_layers: L, stacked layers; layer l+1 reads layer l's outputs.
        bidirectional: D = 2, a backward direction per layer, outputs concatenated.
        dropout: dropout on the outputs of every layer but the last (training only; with one
            layer it does nothing, and a warning says so, as in torch.nn).
        bias (default True), activation ("tanh" | "relu" | "sigmoid" | callable; Elman only),
        reset_after (GRU only; default True), init ("torch" | "keras" | "irnn"),
            recurrent_dropout (LSTM, GRU and the LayerNorm cells; default 0: variational
            dropout on h_{t-1} where the recurrent weights read it, one mask per sequence,
            training only; training then runs the compiled kernels with each cell's mask,
            or the loop, never torch's fused kernel): settings of the built-in cells.
            A setting the cell does not take is refused, never dropped
            (``LSTM(..., activation="relu")`` is a ``ValueError``); user cells take none.
        backend: "auto" | "fused" | "loop" | "scan" | "compiled" (rnnkit's C++ kernels for
            built-in cells; for a user cell, its step traced and compiled by TorchInductor
            once per batch shape, ``rnnkit.compiled.traced``, the loop where it cannot).
        batch_first, nonlinearity, device, dtype: torch.nn's spellings, for code written
            against ``torch.nn.LSTM``: ``batch_first=True`` is what every layer here is
            (``False`` is refused: transpose time-major inputs), ``nonlinearity`` is
            ``activation``, ``device``/``dtype`` place the parameters.

    Shapes:
        x: (B, T, I); lengths: (B,) ints in [1, T]; state: (L*D, B, H) or (h, c).
        returns outputs (B, T, D*H) — zero past each sequence's length — and the final state
        (the state at each sequence's last real step). With ``return_all_states=True`` a
        third value holds every step's state, (L*D, B, T, H) per state tensor.

    Input dtypes: integer and bool inputs are refused (``ValueError`` naming the layer and
    the dtype: token ids belong in an ``nn.Embedding`` first). Floating inputs of another
    precision than the layer's parameters are cast to the parameters' dtype, as Keras casts
    to a layer's compute dtype: the layer's precision is a property of the layer (set with
    ``.double()``, ``.half()``...), float64 NumPy data then just works with a float32
    layer, and the outputs come back in the layer's dtype. Under ``torch.autocast`` inputs
    are left alone: autocast chooses the precision.

    Sizes: the constructor refuses, with one line naming the settings and the estimate,
    a layer whose parameters would not fit in the memory available (``estimate_size``);
    ``forward`` does the same for the activations of a batch.

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
        bias: bool | None = None,
        activation: str | Callable | None = None,
        reset_after: bool | None = None,
        init: str | None = None,
        recurrent_dropout: float | None = None,
        backend: str = "auto",
        batch_first: bool = True,
        nonlinearity: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.kind, preset = self._kind_of(cell)
        cell_name = (type(cell).__name__ if isinstance(cell, nn.Module)
                     else getattr(cell, "__name__", "cell"))
        self.name = CELLS[self.kind].name if self.kind else f"RNN({cell_name})"
        if batch_first is not True:
            raise ValueError(f"{self.name}: rnnkit layers are batch-first, x (B, T, I); for "
                             "time-major data pass x.transpose(0, 1) (batch_first must be True)")
        if nonlinearity is not None:  # torch.nn.RNN's name for it
            if activation is not None and activation != nonlinearity:
                raise ValueError(f"{self.name}: activation={activation!r} and nonlinearity="
                                 f"{nonlinearity!r} name two activations; give one")
            activation = nonlinearity
        given = {k: v for k, v in (("activation", activation), ("reset_after", reset_after),
                                   ("init", init), ("recurrent_dropout", recurrent_dropout))
                 if v is not None}
        options = self._options(preset, given, bias)
        if isinstance(cell, nn.Module):
            for key, given_size in (("input_size", input_size), ("hidden_size", hidden_size)):
                own = getattr(cell, key, None)
                if given_size is not None and isinstance(own, int) and given_size != own:
                    # was taken as given: a layer claiming hidden_size=8 over a 4-unit cell
                    raise ValueError(f"{self.name}: {key}={given_size!r} contradicts the cell "
                                     f"instance's {key}={own}; omit it or build the cell so")
            if input_size is None:
                input_size = getattr(cell, "input_size", None)
            if hidden_size is None:
                hidden_size = getattr(cell, "hidden_size", None)
        input_size = positive_int("input_size", input_size, self.name)
        hidden_size = positive_int("hidden_size", hidden_size, self.name)
        num_layers = positive_int("num_layers", num_layers, self.name)
        dropout = probability("dropout", dropout, self.name)
        if backend not in BACKENDS:
            raise ValueError(f"{self.name}: unknown backend {backend!r}; expected one of "
                             f"{', '.join(BACKENDS)}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional = flag("bidirectional", bidirectional, self.name)
        self.dropout = dropout
        if dropout > 0 and num_layers == 1:  # as torch.nn.LSTM warns: a setting doing nothing
            warnings.warn(f"{self.name}: dropout={dropout} acts between stacked layers and "
                          "does nothing with num_layers=1 (recurrent_dropout acts inside one "
                          "layer)", stacklevel=2)
        if bias is not None:
            bias = flag("bias", bias, self.name)
        self.backend = backend
        self.num_directions = 2 if bidirectional else 1
        # the constructor's arguments, for rnnkit.save / load (checkpoint.register_model);
        # None where a checkpoint could not name them: a cell class or instance, a callable
        self.config = None if not isinstance(cell, str) or callable(activation) else {
            "cell": cell, "input_size": input_size, "hidden_size": hidden_size,
            "num_layers": num_layers, "bidirectional": self.bidirectional, "dropout": dropout,
            "bias": bias, "backend": backend, **given}
        if self.kind is not None:  # on the meta device too: building 10**9 cells hangs
            size = estimate_size(self.kind, input_size, hidden_size, num_layers, bidirectional,
                                 bytes_per_value=torch.empty(0, device="cpu").element_size())
            check_memory(f"{self.name}(input_size={input_size}, hidden_size={hidden_size}, "
                         f"num_layers={num_layers}, bidirectional={self.bidirectional}) with "
                         f"{size['parameters']:.3g} parameters", size["parameter_bytes"])

        def make(layer_input: int, direction: int) -> nn.Module:
            if self.kind is not None:
                return CELLS[self.kind].cls(layer_input, hidden_size,
                                            bias=True if bias is None else bool(bias), **options)
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

        cells = [make(input_size, d) for d in range(self.num_directions)]
        # a user cell whose outputs are not H wide (a projection after the state) says so
        # with an output_size attribute: the next layer reads D times that
        own = getattr(cells[0], "output_size", None) if self.kind is None else None
        self._cell_output = own if isinstance(own, int) and not isinstance(own, bool) \
            and own > 0 else hidden_size
        for _ in range(1, num_layers):
            cells += [make(self._cell_output * self.num_directions, d)
                      for d in range(self.num_directions)]
        for c in cells:  # the contract the layer relies on (class docstring)
            if not isinstance(c, nn.Module) or not callable(getattr(c, "init_state", None)):
                kind = type(c).__name__
                raise ValueError(
                    f"{self.name}: a cell must be an nn.Module with init_state(batch_size, "
                    f"device=, dtype=) and forward(x_t, state) -> (y_t, state); {kind} is not"
                    + (" (torch.nn's cells: use rnnkit's LSTMCell, GRUCell, SimpleRNNCell)"
                       if type(c).__module__.startswith("torch.nn") else ""))
        self.cells = nn.ModuleList(cells)
        self._fused_mode = torch_interop.fused_mode(self.cells)
        self._scannable = all(hasattr(c, "scan") and projects_input(c) for c in self.cells)
        self._compiled_all = all(compiled_kind(c) is not None for c in self.cells)
        # the compiled streaming step: same built-in cell in every layer, one direction
        self._step_kind = None if self.bidirectional else step_kind(self.cells)
        self._step_plan, self._last_step_state = None, None
        if backend == "fused" and self._fused_mode is None:
            raise ValueError(f"{self.name}: backend='fused' needs a configuration torch.nn runs "
                             "(tanh/ReLU SimpleRNN, LSTM, GRU with reset_after=True)")
        if backend == "fused" and self._recurrent_dropout():
            raise ValueError(f"{self.name}: backend='fused' cannot apply recurrent_dropout "
                             "(torch's kernels have no such option); use 'auto' or 'loop'")
        if backend == "scan" and not self._scannable:
            raise ValueError(f"{self.name}: backend='scan' needs cells with a linear recurrence "
                             "and a scan method (mingru, minlstm)")
        if device is not None or dtype is not None:  # torch.nn's factory keywords
            if dtype is not None and not (isinstance(dtype, torch.dtype)
                                          and dtype.is_floating_point):
                raise ValueError(f"{self.name}: dtype must be a floating torch.dtype, got "
                                 f"{dtype!r}")
            self.to(device=device, dtype=dtype)

    # ----------------------------------------------------------------- construction helpers
    @staticmethod
    def _kind_of(cell) -> tuple[str | None, dict]:
        """(kind, the settings its name fixes) for a name; (None, {}) for a user cell."""
        if isinstance(cell, str):
            kind, preset = _ALIASES.get(cell.lower(), (cell.lower(), {}))
            if kind not in CELLS:
                raise ValueError(f"RNN: unknown cell kind {cell!r}; expected one of "
                                 f"{', '.join(CELLS)}, irnn, a cell instance or a cell factory")
            return kind, preset
        if isinstance(cell, nn.Module) or callable(cell):
            return None, {}
        raise ValueError(f"RNN: cell must be a kind, a cell or a factory, got {cell!r}")

    def _options(self, preset: dict, given: dict, bias) -> dict:
        """The settings passed to each built-in cell; refuses those that do not apply."""
        if self.kind is None:
            extra = sorted(given) + (["bias"] if bias is not None else [])
            if extra:
                raise ValueError(f"{self.name}: {', '.join(e + '=' for e in extra)} "
                                 "configure built-in cells only; set them on your cell")
            return {}
        takes = CELLS[self.kind].options
        for key, value in given.items():
            if key not in takes:
                took = ", ".join(k + "=" for k in takes) or "none of these"
                raise ValueError(f"{self.name}: {key}={value!r} does not apply to a "
                                 f"{self.name} cell (it takes {took})")
            if key in preset and preset[key] != value:
                raise ValueError(f"{self.name}: {key}={value!r} contradicts the cell kind, "
                                 f"which fixes {key}={preset[key]!r}")
        return {**takes, **preset, **given}

    def _recurrent_dropout(self) -> bool:
        """Whether a cell drops recurrent inputs (in training; the loop and the kernels)."""
        return any(getattr(c, "recurrent_dropout", 0.0) > 0 for c in self.cells)

    def _drops(self) -> bool:
        """Whether this call draws dropout masks (training with either dropout)."""
        return self.training and (self.dropout > 0 or self._recurrent_dropout())

    @property
    def output_size(self) -> int:
        """Features per output step: D * H (D times a user cell's ``output_size``)."""
        return self.num_directions * self._cell_output

    def extra_repr(self) -> str:
        return (f"num_layers={self.num_layers}, bidirectional={self.bidirectional}, "
                f"dropout={self.dropout}, backend={self.backend!r}")

    def __prepare_scriptable__(self):
        """``torch.jit.script`` calls this first: one clear line instead of TorchScript's
        16-frame "Unknown type annotation" traceback (README: there is no TorchScript export)."""
        raise TypeError(f"{self.name}: rnnkit layers do not compile to TorchScript (deprecated "
                        "in PyTorch 2); export to ONNX with rnnkit.export(model, folder), or "
                        "use torch.compile (torch.jit.trace fixes the sequence length of "
                        "layers that run the Python loop)")

    # ------------------------------------------------------------------------------ state
    def init_state(self, batch_size: int, device=None, dtype=None):
        """Zero state in torch.nn's layout: (L*D, B, H), or (h, c) for the LSTM."""
        per_cell = [c.init_state(batch_size, device=device, dtype=dtype) for c in self.cells]
        return _stack(per_cell)

    def _cell_state(self, state, k: int):
        return _tree_map(lambda s: s[k], state)

    # ------------------------------------------------------------------------- validation
    def _check_input(self, x) -> Tensor:
        if not isinstance(x, Tensor):
            raise ValueError(f"{self.name}: expected a tensor input, got {type(x).__name__}")
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"{self.name}: expected input of shape (B, T, {self.input_size}), "
                             f"got {tuple(x.shape)}")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"{self.name}: expected at least one sequence of at least one step, "
                             f"got input of shape {tuple(x.shape)}")
        return self._cast(x)

    def _cast(self, x: Tensor) -> Tensor:
        """Refuse non-float inputs; cast floats to the parameters' dtype (class docstring)."""
        if not x.is_floating_point():
            raise ValueError(f"{self.name}: expected a floating-point input, got {x.dtype} "
                             "(token ids go through an nn.Embedding first; else call .float())")
        first = self.cells[0]._parameters  # not .parameters(): this runs every streaming step
        p = next((v for v in first.values() if v is not None), None) if first else \
            next(self.cells[0].parameters(), None)
        if p is None or p.dtype == x.dtype or not p.is_floating_point() or \
                torch.is_autocast_enabled(x.device.type):
            return x
        return x.to(p.dtype)

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
        if _tracing():
            return lengths  # checked in eager calls; a number here would be baked in (or,
            # under torch.export, refused as data-dependent)
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
            self._template_keys = sorted(one) if isinstance(one, dict) else None
        return self._template

    def _check_state(self, state, B: int, x: Tensor):
        if state is None:
            return None
        is_tuple, shapes = self._state_template()
        keys = self._template_keys
        if keys is not None and (not isinstance(state, dict) or sorted(state) != keys):
            got_keys = sorted(map(str, state)) if isinstance(state, dict) else None
            raise ValueError(f"{self.name}: expected a state with the keys {keys} that "
                             "init_state gives, got " + (f"the keys {got_keys}" if got_keys
                                                         is not None else type(state).__name__))
        want = [(s[0], B, *s[2:]) for s in shapes]
        got = _leaves(state) if isinstance(state, (tuple, list)) == is_tuple else None
        if got is None or len(got) != len(want) or any(
                not isinstance(g, Tensor) or tuple(g.shape) != w
                for g, w in zip(got, want, strict=True)):
            shown = (" and ".join(str(tuple(g.shape)) if isinstance(g, Tensor) else type(g).__name__
                                  for g in got) if got else type(state).__name__)
            form = "(h, c) of shapes" if is_tuple else "state of shape"
            raise ValueError(f"{self.name}: expected {form} {' and '.join(map(str, want))} "
                             f"(L*D, B, H), got {shown}")
        if all(g.dtype == x.dtype for g in got):
            return state
        return _tree_map(lambda s: s.to(dtype=x.dtype), state)

    # ---------------------------------------------------------------------------- forward
    def forward(self, x: Tensor, state=None, lengths=None, return_all_states: bool = False):
        """Run the layer over ``x`` (B, T, I); see the class docstring for shapes."""
        x = self._check_input(x)
        B, T, _ = x.shape
        lengths = self._check_lengths(lengths, B, T)
        if lengths is not None and x.device.type == "cpu":  # CUDA lengths beside CPU inputs:
            lengths = lengths.cpu()  # the CPU kernels read them as host memory
        state = self._check_state(state, B, x)
        if self.kind is not None and B * T * self.hidden_size * self.num_layers > 1 << 26:
            size = estimate_size(self.kind, self.input_size, self.hidden_size, self.num_layers,
                                 self.bidirectional, B, T, x.element_size())
            check_memory(f"{self.name}: a batch of {B} sequences of {T} steps",
                         size["activation_bytes"], x.device)
        if lengths is not None and not _tracing() and bool((lengths == T).all()):
            lengths = None  # nothing is padded: take the cheaper path (not baked into a trace)
        if lengths is not None:  # padding's contents never matter: not even NaN in gradients
            pad = torch.arange(T, device=x.device)[None, :] >= lengths.to(x.device)[:, None]
            x = x.masked_fill(pad.unsqueeze(-1), 0.0)  # (a NaN x 0 in backward is NaN)
        if self.training and self._recurrent_dropout():  # masks: the cells' own equations
            for cell in self.cells:
                if hasattr(cell, "reset_recurrent_dropout"):
                    cell.reset_recurrent_dropout()  # a new mask per sequence
            # the kernels take each cell's mask (never torch's fused kernel: it has no place)
            kernels = self._use_compiled(x, return_all_states=return_all_states, fused_ok=False)
            return self._forward_loop(x, state, lengths, return_all_states, compiled=kernels)
        if self._use_traced(x, return_all_states):  # a user cell: compiled.traced
            return self._forward_loop(x, state, lengths, False, compiled="traced")
        # auto never picks a path that refuses this call: minGRU/minLSTM's kernels and scan
        # need a non-negative initial state (every state they produce is), the loop does not
        negative = self.backend == "auto" and self._scannable and state is not None and any(
            bool((s < 0).any()) for s in tree_leaves(state))
        if not negative and self._use_compiled(x, return_all_states=return_all_states):
            return self._forward_loop(x, state, lengths, return_all_states, compiled=True)
        use_fused = self._fused_mode is not None and (
            self.backend == "fused" or (self.backend == "auto" and not return_all_states))
        if use_fused and not return_all_states:
            return self._forward_fused(x, state, lengths)
        # auto: the scan only on a GPU; on a CPU it is slower than the loop (BENCHMARKS.md)
        use_scan = self._scannable and (self.backend == "scan" or (
            self.backend == "auto" and x.device.type != "cpu" and not negative))
        return self._forward_loop(x, state, lengths, return_all_states, use_scan)

    def _use_compiled(self, x: Tensor, whole_sequence: bool = True,
                      return_all_states: bool = False, fused_ok: bool = True) -> bool:
        """``compiled``: build the kernels if needed (the loop, with a notice, if that fails);
        ``auto``: on a CPU when they are already built and cover every cell, except where
        torch's oneDNN LSTM measured faster (``_onednn_lstm_faster``) and ``fused_ok``."""
        if self.backend not in ("compiled", "auto") or x.device.type != "cpu":
            return False
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return False  # export and torch.compile see the plain torch ops, not our kernels
        if torch.is_autocast_enabled("cpu"):
            return False  # bf16 projections: torch's ops under autocast, the kernels are fp32/64
        if self.backend == "auto" and not (compiled.available() and self._compiled_all):
            return False
        if self.backend == "auto" and self.kind == "lstm" and whole_sequence and fused_ok and \
                not return_all_states and self._fused_mode is not None and \
                self._onednn_lstm_faster(x):
            return False  # the fused path: torch's oneDNN LSTM
        return (self.backend == "auto" or compiled.ensure()) and self._compiled_all \
            and x.dtype in (torch.float32, torch.float64)

    def _onednn_lstm_faster(self, x: Tensor) -> bool:
        """Where torch's oneDNN LSTM beat the compiled kernels (BENCHMARKS.md, "Per-step
        products on a reordered weight"; ``benchmarks/lstm_backends.py``): without gradients
        (prediction, serving) at every size measured (0.42-0.94x the kernels' speed there), in
        training below 32 sequences (0.52-0.93x) and for 32 x 128 units below 200 steps
        (0.68-0.74x). The kernels led in training from 64 x 128 units or 200 steps, on 1 and
        2 threads (1.07-1.44x; textgen's default, 64 x 64 steps x 512 units: 1.32-1.35x)."""
        needs_grad = torch.is_grad_enabled() and (
            x.requires_grad or any(p.requires_grad for p in self.parameters()))
        B, T = x.shape[0], x.shape[1]
        if not needs_grad or B < 32:
            return True
        return B * self.hidden_size < 8192 and T < 200

    def _use_traced(self, x: Tensor, return_all_states: bool) -> bool:
        """``compiled`` on user cells: each cell's step traced and compiled by TorchInductor
        (``rnnkit.compiled.traced``; the loop, with a notice, where that fails)."""
        return (self.backend == "compiled" and self.kind is None and not return_all_states
                and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
                and not compiled.disabled() and not torch.jit.is_tracing()
                and not torch.compiler.is_compiling() and not torch.is_autocast_enabled("cpu"))

    def _forward_fused(self, x, state, lengths):
        """The ATen kernel torch.nn.RNN/LSTM/GRU run, fed with our cells' parameters. Under
        torch.compile it runs eagerly, as Dynamo runs torch.nn's own RNN modules
        (``allow_rnn`` off): Inductor cannot lower the CPU LSTM's oneDNN op, nor trace the
        packing of ``lengths``."""
        if torch.compiler.is_compiling() and not torch.compiler.is_exporting():
            return _fused_eagerly(self, x, state, lengths)
        return torch_interop.run_fused(self, x, state, lengths)

    def _forward_loop(self, x, state, lengths, return_all_states, use_scan=False,
                      compiled=False):
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
                run = (_traced_cell if compiled == "traced" else compiled_cell if compiled
                       else _scan_cell if use_scan else _run_cell)
                out, final, states = run(cell, inp, s0, mask, lengths, return_all_states)
                if out.shape[-1] != self._cell_output:
                    raise ValueError(
                        f"{self.name}: the cell's outputs are {out.shape[-1]} wide, not "
                        f"{self._cell_output}; a cell whose outputs are not hidden_size wide "
                        "says so with an output_size attribute")
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
        final = _stack(finals)
        if not return_all_states:
            return layer_input, final
        return layer_input, final, _stack(every)

    # ---------------------------------------------------------------------------- streaming
    def step(self, x_t: Tensor, state=None):
        """One time step for streaming: ``(x_t (B, I), state) -> (y_t (B, H), new_state)``.

        Feeding a sequence step by step, carrying the state, gives the same outputs and final
        state as one call on the whole sequence. Runs the cells directly (no fused set-up cost
        per call). Unidirectional layers only: a backward direction needs the future. Under
        ``no_grad`` on a CPU with the compiled kernels, every layer runs in one C++ call.
        In training with ``recurrent_dropout``, a stream started with ``state=None`` draws
        new masks and keeps them for its steps.
        """
        plan = self._step_plan
        if plan is not None and state is not None and state is self._last_step_state and \
                plan.fits(x_t) and not torch.is_grad_enabled() and not self._drops():
            # the hot path: this stream was validated at its first step, and the state is the
            # one this layer returned last (validated once per stream, not per call)
            y, new = plan(self, x_t, state)
            self._last_step_state = new
            return y, new
        if self.bidirectional:
            raise ValueError(f"{self.name}: step() needs a unidirectional layer; a bidirectional "
                             "layer must see the whole sequence")
        if not isinstance(x_t, Tensor) or x_t.dim() != 2 or x_t.shape[-1] != self.input_size:
            shape = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(f"{self.name}: step expected input of shape (B, {self.input_size}), "
                             f"got {shape}")
        x_t = self._cast(x_t)
        B = x_t.shape[0]
        state = self._check_state(state, B, x_t)
        if self._step_kind is not None and not torch.is_grad_enabled() and \
                not self._drops() and self._use_compiled(x_t, whole_sequence=False):
            return self._compiled_step(x_t, state)
        y, finals = x_t, []
        if state is None and self.training and self._recurrent_dropout():
            for cell in self.cells:
                if hasattr(cell, "reset_recurrent_dropout"):
                    cell.reset_recurrent_dropout()  # a new stream: a new mask
        for layer, cell in enumerate(self.cells):
            s = (cell.init_state(B, device=x_t.device, dtype=x_t.dtype) if state is None
                 else self._cell_state(state, layer))
            y, s = cell(y, s)
            finals.append(s)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                y = F.dropout(y, self.dropout, training=True)
        return y, _stack(finals)

    def _compiled_step(self, x_t: Tensor, state):
        """Every layer in one C++ call; a new plan (hot path) per validated stream start."""
        plan = self._step_plan
        if plan is None or state is None or not plan.fits(x_t):
            plan = self._step_plan = StepPlan(self, self._step_kind, x_t)
        y, new = plan(self, x_t, state)
        self._last_step_state = new
        return y, new

    # ------------------------------------------------------------------- torch.nn interop
    def load_torch_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        """Load weights from a ``torch.nn.RNN/LSTM/GRU`` state dict (``weight_ih_l0`` ...)."""
        torch_interop.load_torch_state_dict(self, state_dict)

    def torch_state_dict(self) -> dict[str, Tensor]:
        """Our weights under ``torch.nn.RNN/LSTM/GRU``'s names, for ``load_state_dict``."""
        return torch_interop.torch_state_dict(self)

    def to_torch(self) -> nn.RNNBase:
        """The equal ``torch.nn.RNN/LSTM/GRU`` (batch_first=True), or ``ValueError`` saying
        why torch.nn cannot express this layer (``rnnkit.torch_interop.to_torch``)."""
        return torch_interop.to_torch(self)

    @classmethod
    def from_torch(cls, module: nn.Module, backend: str = "auto") -> RNN:
        """The equal ``rnnkit.RNN`` of a ``torch.nn.RNN/LSTM/GRU`` (batch-first)."""
        return torch_interop.from_torch(module, backend=backend)


_fused_eagerly = torch.compiler.disable(torch_interop.run_fused)


def _tracing() -> bool:
    """Under torch.jit.trace, torch.compile or torch.export: Python numbers read from
    tensors become constants of the graph."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def _run_cell(cell, x, state, mask, lengths, keep_states):
    """Loop one cell over (B, T, I). Past a sequence's end the state is held, the output zero."""
    if projects_input(cell):
        inputs, step = cell.project_input(x), cell.recur  # all steps' W_ih x + b_ih: one matmul
    else:
        inputs, step = x, cell
    # unbind, not x[:, t]: slicing a tensor that requires grad makes backward quadratic in T
    steps = inputs.unbind(1)
    masks = mask.unsqueeze(-1).unbind(1) if mask is not None else None
    # the first step where a sequence has ended; under jit.trace / torch.compile a number
    # read from lengths would be baked in for every later call: mask every step there
    first_padded = len(steps) if lengths is None else 0 if _tracing() else int(lengths.min())
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


def _traced_cell(cell, x, state, mask, lengths, keep_states):
    """A user cell's step compiled once (``compiled.traced``); the loop where it cannot."""
    return (traced.run_cell(cell, x, state, mask, lengths, keep_states)
            or _run_cell(cell, x, state, mask, lengths, keep_states))


def _scan_cell(cell, x, state, mask, lengths, keep_states):
    """All steps of a linear-recurrence cell at once; same contract as ``_run_cell``."""
    states = cell.scan(x, state, mask)  # (B, T, H), held past each sequence's end
    outputs = states if mask is None else states.masked_fill(~mask.unsqueeze(-1), 0.0)
    return outputs, states[:, -1], (states if keep_states else None)


def SimpleRNN(input_size: int, hidden_size: int, num_layers: int = 1, *,
              activation=None, **kwargs) -> RNN:
    """Elman RNN layer: ``RNN("rnn", ...)``. ``activation`` is tanh (the default), relu,
    sigmoid or a callable."""
    return RNN("rnn", input_size, hidden_size, num_layers, activation=activation, **kwargs)


def LSTM(input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> RNN:
    """LSTM layer: ``RNN("lstm", ...)``; runs torch's fused kernel whenever it can."""
    return RNN("lstm", input_size, hidden_size, num_layers, **kwargs)


def GRU(input_size: int, hidden_size: int, num_layers: int = 1, *,
        reset_after: bool = True, **kwargs) -> RNN:
    """GRU layer: ``RNN("gru", ...)``; ``reset_after=False`` is Cho et al.'s form (loop only)."""
    return RNN("gru", input_size, hidden_size, num_layers, reset_after=reset_after, **kwargs)
