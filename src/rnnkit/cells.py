"""Recurrent cells written from their equations: one time step each.

- Elman, "Finding structure in time" (1990): the simple RNN.
- Hochreiter & Schmidhuber (1997), with the forget gate of Gers et al. (2000): the LSTM.
- Cho et al., "Learning phrase representations using RNN encoder-decoder" (2014): the GRU.

Every cell follows one contract, which `rnnkit.RNN` relies on and user cells may follow too::

    y_t, new_state = cell(x_t, state)          # x_t: (B, I)
    state = cell.init_state(batch_size, device=..., dtype=...)

Parameters are named and laid out as in ``torch.nn`` (``weight_ih`` (G*H, I), ``weight_hh``
(G*H, H), ``bias_ih``, ``bias_hh``; gate order i,f,g,o for the LSTM and r,z,n for the GRU), so
weights move to and from ``torch.nn.RNN/LSTM/GRU`` unchanged and torch is our test oracle.

Built-in cells split a step in two so that a layer can project the inputs of all time steps in
one matmul before its loop: ``forward(x_t, state) == recur(project_input(x_t), state)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .runtime import check_memory
from .validate import flag, positive_int, probability

__all__ = ["RecurrentCell", "SimpleRNNCell", "LSTMCell", "GRUCell", "ACTIVATIONS", "INITS"]

def projects_input(cell) -> bool:
    """Whether a layer may run ``cell`` as ``project_input`` over all steps, then ``recur``
    per step. Not where a class below the one that wrote ``recur`` overrides ``forward``
    (a subclass scaling its input, say): the layer then calls ``cell(x_t, state)`` per step,
    as ``step`` does, so the two agree."""
    if not (hasattr(cell, "project_input") and hasattr(cell, "recur")):
        return False
    mro = type(cell).__mro__
    owner = {name: next(i for i, k in enumerate(mro) if name in vars(k))
             for name in ("forward", "recur")}
    return owner["forward"] >= owner["recur"]


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
}
INITS = ("torch", "keras", "irnn")


class RecurrentCell(nn.Module):
    """Shared base: owns the weights, their initialisation and the state shape.

    Subclasses set ``num_gates`` (the G in ``weight_ih``'s G*H rows) and write ``recur``;
    cells whose gates read only the input (minGRU, minLSTM) set ``recurrent_weights = False``
    and get no ``weight_hh``/``bias_hh``. Everything else — argument checks, parameters,
    ``init``, ``init_state``, ``project_input``, ``forward`` — is here, once.

    Args:
        input_size: I, features per step.
        hidden_size: H, units of the state.
        bias: learn ``b_ih`` (and ``b_hh``).
        init: one of ``self.inits`` (see ``reset_parameters``).

    Shapes:
        x_t: (B, I); state: (B, H) (``(h, c)`` for the LSTM); y_t: (B, H).
        ``weight_ih``: (G*H, I); ``weight_hh``: (G*H, H); ``bias_ih``, ``bias_hh``: (G*H,).
    """

    num_gates: int = 1
    recurrent_weights: bool = True
    inits: tuple[str, ...] = INITS
    recurrent_dropout: float = 0.0  # gated cells take it as an option; see recurrent_input

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, init: str = "torch"):
        super().__init__()
        name = type(self).__name__
        self.input_size = positive_int("input_size", input_size, owner=name)
        self.hidden_size = positive_int("hidden_size", hidden_size, owner=name)
        if init not in self.inits:
            raise ValueError(f"{name}: unknown init {init!r}; expected one of "
                             f"{', '.join(self.inits)}")
        self.bias, self.init = flag("bias", bias, name), init
        rows = self.num_gates * hidden_size
        # refused before allocating: hidden_size=10**9 failed deep in torch's allocator, or
        # was killed by the kernel's OOM killer while the init touched the pages
        count = rows * (input_size + (hidden_size if self.recurrent_weights else 0) + 2)
        nbytes = count * torch.empty(0).element_size()
        if nbytes > 1 << 26:
            check_memory(f"{name}(input_size={input_size}, hidden_size={hidden_size}) with "
                         f"{count:.3g} parameters", nbytes)
        # registered in torch.nn's order (w_ih, w_hh, b_ih, b_hh): the init draws follow it
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        shapes = [(rows, input_size), (rows, hidden_size), (rows,), (rows,)]
        for name_, shape in zip(names, shapes, strict=True):
            if name_.endswith("hh") and not self.recurrent_weights:
                continue  # input-only gates: no recurrent parameters at all
            wanted = name_.startswith("weight") or self.bias
            self.register_parameter(name_, nn.Parameter(torch.empty(shape)) if wanted else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``init="torch"``: every weight and bias U(-1/sqrt(H), 1/sqrt(H)) like ``torch.nn``.

        ``init="keras"``: Glorot-uniform input weights (over the whole (G*H, I) matrix, as Keras
        does over its (I, G*H) kernel), orthogonal recurrent weights, zero biases; the LSTM adds
        a forget-gate bias of 1 (Jozefowicz et al. 2015). ``init="irnn"`` (Le et al. 2015):
        identity recurrent weights, small Gaussian input weights, zero biases.
        """
        H = self.hidden_size
        with torch.no_grad():
            if self.init == "torch":
                bound = 1.0 / math.sqrt(H)
                for p in self.parameters():
                    p.uniform_(-bound, bound)
                return
            if self.init == "keras":
                nn.init.xavier_uniform_(self.weight_ih)
                if self.recurrent_weights:
                    nn.init.orthogonal_(self.weight_hh)
            else:  # irnn
                nn.init.normal_(self.weight_ih, std=0.001)
                self.weight_hh.copy_(torch.eye(H).repeat(self.num_gates, 1))
            for b in (self.bias_ih, getattr(self, "bias_hh", None)):
                if b is not None:
                    b.zero_()
            self._gate_bias_init()

    def _gate_bias_init(self) -> None:
        """Hook for gate-specific bias initialisation (the LSTM's forget bias)."""

    def init_state(self, batch_size: int, device=None, dtype=None):
        """Zero state for a batch: ``h`` of shape (B, H)."""
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def project_input(self, x: Tensor) -> Tensor:
        """``W_ih x + b_ih`` for any leading shape: (..., I) -> (..., G*H)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def recurrent_input(self, h: Tensor) -> Tensor:
        """``h_{t-1}`` as the recurrent matmul reads it: ``h`` itself, or in training with
        ``recurrent_dropout`` p > 0, ``h ⊙ m / (1 − p)`` with one Bernoulli mask m per sequence
        (Gal & Ghahramani 2016, variational dropout), drawn at the first step and kept until
        ``reset_recurrent_dropout()``. ``RNN`` calls that at each forward call (so with
        truncated BPTT each chunk gets its own mask, as in Keras) and when ``step`` starts a
        stream from ``state=None``."""
        if not (self.training and self.recurrent_dropout > 0):
            return h
        mask = getattr(self, "_recurrent_mask", None)
        if mask is None or mask.shape != h.shape or mask.dtype != h.dtype or \
                mask.device != h.device:
            mask = self._recurrent_mask = F.dropout(torch.ones_like(h), self.recurrent_dropout)
        return h * mask

    def reset_recurrent_dropout(self) -> None:
        """Forget the recurrent dropout mask: the next step draws a new one."""
        self._recurrent_mask = None

    def _set_recurrent_dropout(self, p) -> None:
        self.recurrent_dropout = probability("recurrent_dropout", p, owner=type(self).__name__)

    def recur(self, xp_t: Tensor, state):
        """One step from an already projected input ``xp_t = W_ih x_t + b_ih`` (B, G*H)."""
        raise NotImplementedError

    def forward(self, x_t: Tensor, state=None):
        """One time step: ``(x_t (B, I), state) -> (y_t (B, H), new_state)``.

        ``x_t`` must be (B, I) floats (another float precision is cast to the weights', as
        ``rnnkit.RNN`` does; ints are refused); ``state`` None (zeros) or what ``init_state``
        gives for B rows."""
        x_t, state = self._check_step(x_t, state)
        if state is None:
            state = self.init_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        return self.recur(self.project_input(x_t), state)

    def _check_step(self, x_t, state):
        """One ValueError naming the cell for a wrong input or state (an unbatched (I,) input
        was broadcast into a batch of I rows; a wrong width was a matmul traceback)."""
        name = type(self).__name__
        if not isinstance(x_t, Tensor) or x_t.dim() != 2 or x_t.shape[1] != self.input_size:
            got = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            hint = " (one sample: x_t[None])" if isinstance(x_t, Tensor) and x_t.dim() == 1 \
                else " (a whole sequence: rnnkit.RNN)" if isinstance(x_t, Tensor) and \
                x_t.dim() == 3 else ""
            raise ValueError(f"{name}: expected x_t of shape (B, {self.input_size}), "
                             f"got {got}{hint}")
        dtype = self.weight_ih.dtype
        if not x_t.is_floating_point():
            raise ValueError(f"{name}: expected a floating-point x_t, got {x_t.dtype}")
        if x_t.dtype != dtype and not torch.is_autocast_enabled(x_t.device.type):
            x_t = x_t.to(dtype)
        if state is None:
            return x_t, None
        arity = self.__dict__.get("_state_arity")
        if arity is None:  # h, or (h, c): once per cell, every leaf (B, H)
            one = self.init_state(1, device="meta")
            arity = self.__dict__["_state_arity"] = len(one) if isinstance(one, tuple) else 1
        got = state if isinstance(state, (tuple, list)) else (state,)
        B = x_t.shape[0]
        if len(got) != arity or any(not isinstance(g, Tensor) or g.dim() != 2 or g.shape[0] != B
                                    or g.shape[1] != self.hidden_size for g in got):
            shown = ", ".join(str(tuple(g.shape)) if isinstance(g, Tensor) else type(g).__name__
                              for g in got)
            form = "a state (h, c), each" if arity == 2 else "a state"
            raise ValueError(f"{name}: expected {form} of shape ({B}, {self.hidden_size}) for "
                             f"x_t's {B} rows, got {shown}")
        if any(g.dtype != x_t.dtype for g in got):
            got = tuple(g.to(x_t.dtype) for g in got)
            return x_t, got if len(got) > 1 else got[0]
        return x_t, state

    def extra_repr(self) -> str:
        drop = f", recurrent_dropout={self.recurrent_dropout}" if self.recurrent_dropout else ""
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}, init={self.init!r}{drop}"


class SimpleRNNCell(RecurrentCell):
    """Elman RNN cell.

        h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   y_t = h_t

    with ``f`` tanh (default), ReLU, sigmoid or any callable. The articles' output layer
    ``y_t = W_y h_t + b_y`` is a ``nn.Linear`` applied to the layer's outputs (see ``models``).

    Args:
        input_size: I, features per step.
        hidden_size: H.
        activation: "tanh" | "relu" | "sigmoid" | a callable Tensor -> Tensor.
        bias: learn ``b_ih`` and ``b_hh``.
        init: "torch" | "keras" | "irnn" (see ``RecurrentCell.reset_parameters``).

    Shapes:
        x_t: (B, I); h: (B, H); returns (y_t, h') both (B, H).
        ``weight_ih`` (H, I), ``weight_hh`` (H, H), ``bias_ih``/``bias_hh`` (H,).

    Example:
        >>> cell = SimpleRNNCell(3, 5, activation="relu")
        >>> y, h = cell(torch.randn(2, 3), None)
        >>> y.shape
        torch.Size([2, 5])
    """

    num_gates = 1

    def __init__(self, input_size, hidden_size, activation="tanh", bias=True, init="torch"):
        if isinstance(activation, str):
            if activation not in ACTIVATIONS:
                raise ValueError(
                    f"SimpleRNNCell: unknown activation {activation!r}; expected one of "
                    f"{', '.join(ACTIVATIONS)} or a callable"
                )
            name, fn = activation, ACTIVATIONS[activation]
        elif callable(activation):
            name, fn = None, activation
        else:
            raise ValueError(
                f"SimpleRNNCell: activation must be a name or a callable, got {activation!r}"
            )
        super().__init__(input_size, hidden_size, bias, init)
        # after Module.__init__: an nn.Module activation (nn.Tanh(), nn.PReLU()) was
        # "AttributeError: cannot assign module before Module.__init__() call"
        self.activation_name, self.activation = name, fn

    def recur(self, xp_t, h):
        h = self.activation(xp_t + F.linear(h, self.weight_hh, self.bias_hh))
        return h, h

    def extra_repr(self) -> str:
        act = self.activation_name or getattr(self.activation, "__name__", "callable")
        return super().extra_repr() + f", activation={act!r}"


class LSTMCell(RecurrentCell):
    """Long short-term memory cell; state ``(h, c)``.

        i = σ(W_ii x + b_ii + W_hi h + b_hi)        input gate
        f = σ(W_if x + b_if + W_hf h + b_hf)        forget gate
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)     candidate cell
        o = σ(W_io x + b_io + W_ho h + b_ho)        output gate
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ tanh(c'),   y = h'

    Weights are stacked in the order i, f, g, o as in ``torch.nn.LSTM``.

    Args:
        input_size: I, features per step.
        hidden_size: H.
        bias: learn ``b_ih`` and ``b_hh``.
        init: "torch" | "keras" (adds a forget-gate bias of 1) | "irnn".
        recurrent_dropout: p of variational dropout on ``h`` where ``W_h*`` reads it (one mask
            per sequence, training only; ``recurrent_input``). 0 (default): none.

    Shapes:
        x_t: (B, I); state ``(h, c)``, each (B, H); returns (y_t (B, H), (h', c')).
        ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), ``bias_ih``/``bias_hh`` (4H,).

    Example:
        >>> cell = LSTMCell(3, 5)
        >>> y, (h, c) = cell(torch.randn(2, 3), None)
        >>> c.shape
        torch.Size([2, 5])
    """

    num_gates = 4

    def __init__(self, input_size, hidden_size, bias=True, init="torch", recurrent_dropout=0.0):
        self._set_recurrent_dropout(recurrent_dropout)
        super().__init__(input_size, hidden_size, bias, init)

    def _gate_bias_init(self):
        if self.bias and self.init == "keras":
            H = self.hidden_size
            self.bias_ih[H : 2 * H].fill_(1.0)  # forget gate: remember by default

    def init_state(self, batch_size, device=None, dtype=None):
        """Zero state ``(h, c)``, each (B, H)."""
        h = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return h, torch.zeros_like(h)

    def recur(self, xp_t, state):
        h, c = state
        gates = xp_t + F.linear(self.recurrent_input(h), self.weight_hh, self.bias_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, (h, c)


class GRUCell(RecurrentCell):
    """Gated recurrent unit; state ``h``.

        r = σ(W_ir x + b_ir + W_hr h + b_hr)                 reset gate
        z = σ(W_iz x + b_iz + W_hz h + b_hz)                 update gate
        reset_after=True  (cuDNN, PyTorch, Keras default):
            n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        reset_after=False (Cho et al. 2014, the articles):
            n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)
        h' = (1 − z) ⊙ n + z ⊙ h,   y = h'

    Which side ``z`` weights: the articles write ``h' = (1 − z) ⊙ h + z ⊙ h̃`` (z is the share
    of the *new* candidate); PyTorch, cuDNN and Keras write ``h' = (1 − z) ⊙ n + z ⊙ h`` (z is
    the share *kept* from the old state). The two are the same model with z ↦ 1 − z; we follow
    PyTorch so that weights load from ``torch.nn.GRU`` unchanged. Weights stack as r, z, n.

    Args:
        input_size: I, features per step.
        hidden_size: H.
        bias: learn ``b_ih`` and ``b_hh``.
        reset_after: where the reset gate acts (see above); True is torch.nn's form.
        init: "torch" | "keras" | "irnn".
        recurrent_dropout: p of variational dropout on ``h`` where ``W_h*`` reads it (not in
            ``z ⊙ h``; one mask per sequence, training only). 0 (default): none.

    Shapes:
        x_t: (B, I); h: (B, H); returns (y_t, h') both (B, H).
        ``weight_ih`` (3H, I), ``weight_hh`` (3H, H), ``bias_ih``/``bias_hh`` (3H,).

    Example:
        >>> cell = GRUCell(3, 5, reset_after=False)
        >>> y, h = cell(torch.randn(2, 3), None)
        >>> h.shape
        torch.Size([2, 5])
    """

    num_gates = 3

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True, init="torch",
                 recurrent_dropout=0.0):
        self.reset_after = flag("reset_after", reset_after, type(self).__name__)
        self._set_recurrent_dropout(recurrent_dropout)
        super().__init__(input_size, hidden_size, bias, init)

    def recur(self, xp_t, h):
        H = self.hidden_size
        x_r, x_z, x_n = xp_t.chunk(3, dim=1)
        b_hh, hd = self.bias_hh, self.recurrent_input(h)  # hd is h unless recurrent dropout
        if self.reset_after:
            h_r, h_z, h_n = F.linear(hd, self.weight_hh, b_hh).chunk(3, dim=1)  # (B, H) each
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * h_n)
        else:
            w_rz, w_n = self.weight_hh[: 2 * H], self.weight_hh[2 * H :]
            b_rz, b_n = (None, None) if b_hh is None else (b_hh[: 2 * H], b_hh[2 * H :])
            h_r, h_z = F.linear(hd, w_rz, b_rz).chunk(2, dim=1)
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + F.linear(r * hd, w_n, b_n))
        h = (1 - z) * n + z * h
        return h, h

    def extra_repr(self) -> str:
        return super().extra_repr() + f", reset_after={self.reset_after}"
