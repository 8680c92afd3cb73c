"""A stack of Keras-style layers in rnnkit: what ``rnnkit.from_keras`` turns a Keras model into.

``KerasSequential(layers=[...])`` is a registered rnnkit model (it saves, loads, trains with
``rnnkit.fit`` and exports to ONNX) built from a JSON-able list of layer specs, one per Keras
layer, each run with Keras' semantics:

    {"type": "embedding", "input_dim": V, "output_dim": E, "mask_zero": bool}
    {"type": "rnn", "kind": "rnn"|"lstm"|"gru", "input_size": I, "units": H,
     "activation": "tanh"|"relu"|"sigmoid" (rnn), "reset_after": bool (gru),
     "use_bias": bool, "return_sequences": bool, "go_backwards": bool,
     "bidirectional": bool, "merge_mode": "concat"|"sum"|"mul"|"ave"}
    {"type": "dense", "input_size": I, "units": O, "activation": NAME, "use_bias": bool}
    {"type": "dropout", "rate": p}          {"type": "activation", "activation": NAME}

Each recurrent layer is an ``rnnkit.RNN`` (one layer, Keras' cells: LSTM/GRU/SimpleRNN have
the same equations in rnnkit, with ``init="keras"``). ``mask_zero`` embeddings make id 0
padding that Keras skips: each row's real ids are moved to its front (so pre-, post- and
inner padding all work) and every recurrent layer gets their lengths, so a sequence's final
output is Keras'.
Per-step outputs (``return_sequences``) are those of the moved rows; past each length a
recurrent layer repeats its last real output and a Bidirectional one gives 0, as Keras'
masked steps do; a ``go_backwards`` layer's are placed as Keras places them (its padding
read first, outputs 0 there). They line up with Keras' for right-padded input only.

Example:
    >>> model = KerasSequential([
    ...     {"type": "rnn", "kind": "rnn", "input_size": 1, "units": 10, "activation": "relu"},
    ...     {"type": "dense", "input_size": 10, "units": 1}])
    >>> model(torch.randn(4, 3, 1)).shape
    torch.Size([4, 1])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checkpoint import register_model
from ..layers import RNN
from ..state_tree import tree_map

__all__ = ["KerasSequential", "ACTIVATIONS", "MERGE_MODES"]

ACTIVATIONS = {
    "linear": lambda x: x, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "softmax": lambda x: torch.softmax(x, -1), "elu": F.elu, "selu": F.selu,
    "softplus": F.softplus, "softsign": F.softsign, "swish": F.silu, "silu": F.silu,
    "gelu": F.gelu, "exponential": torch.exp, "log_softmax": lambda x: torch.log_softmax(x, -1),
}
MERGE_MODES = ("concat", "sum", "mul", "ave")
RNN_KINDS = ("rnn", "lstm", "gru")


def _merge(mode: str, fwd: Tensor, bwd: Tensor) -> Tensor:
    if mode == "concat":
        return torch.cat([fwd, bwd], -1)
    if mode == "sum":
        return fwd + bwd
    if mode == "mul":
        return fwd * bwd
    return (fwd + bwd) / 2


def _compact(ids: Tensor) -> tuple[Tensor, Tensor]:
    """Move the non-zero ids of each row to its front, in order: (ids, lengths).

    Keras skips masked (id 0) steps, carrying the state over them, so a sequence's final
    output is that of its real ids alone, wherever the zeros are (pre- or post-padding).
    """
    B, T = ids.shape
    t = torch.arange(T, device=ids.device).unsqueeze(0)  # (1, T)
    real = ids != 0
    order = torch.where(real, t, t + T).argsort(1)  # real steps first, each group in order
    return ids.gather(1, order), real.sum(1).clamp(min=1)


def _hold_last(out: Tensor, lengths: Tensor) -> Tensor:
    """Past each sequence's length a (unidirectional) Keras RNN repeats its last real output:
    its masked steps carry the previous output on. (B, T, H) -> the same. (A Bidirectional
    gives 0 there, as rnnkit's layer does.)"""
    T = out.shape[1]
    lengths = lengths.to(out.device)
    last = out[torch.arange(out.shape[0], device=out.device), (lengths - 1).clamp(min=0)]
    padded = (torch.arange(T, device=out.device)[None, :] >= lengths[:, None]).unsqueeze(-1)
    return torch.where(padded, last.unsqueeze(1), out)


def _keras_backwards(out: Tensor, lengths: Tensor) -> Tensor:
    """A masked ``go_backwards`` layer's per-step outputs where Keras puts them: it reads the
    padding first (outputs 0 there) and then the real steps backwards, and returns that
    order as it is; rnnkit read the real steps alone, so each row's outputs move to its end.
    (B, T, H) -> the same."""
    T = out.shape[1]
    lengths = lengths.to(out.device)
    t = torch.arange(T, device=out.device)[None, :]
    start = (T - lengths)[:, None]  # where the real outputs begin
    idx = (t - start).clamp(min=0)
    moved = out.gather(1, idx.unsqueeze(-1).expand(-1, -1, out.shape[-1]))
    return moved.masked_fill((t < start).unsqueeze(-1), 0.0)


def _reverse(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of (B, T, F) within its length; padding stays at the end."""
    if lengths is None:
        return x.flip(1)
    t = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # (1, T)
    L = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    idx = torch.where(t < L, L - 1 - t, t).unsqueeze(-1).expand_as(x)  # (B, T, F)
    return x.gather(1, idx)


def _rnn(spec: dict) -> RNN:
    kind = spec["kind"]
    options = {"activation": spec.get("activation", "tanh")} if kind == "rnn" else {}
    if kind == "gru":
        options["reset_after"] = bool(spec.get("reset_after", True))
    return RNN(kind, spec["input_size"], spec["units"], 1,
               bidirectional=bool(spec.get("bidirectional", False)),
               bias=bool(spec.get("use_bias", True)), init="keras", **options)


@register_model
class KerasSequential(nn.Module):
    """Keras layers in rnnkit: ``(B, T, F)`` floats or ``(B, T)`` ids -> the last layer's output.

    Args:
        layers: the layer specs (see the module docstring), first to last.

    Shapes:
        x: (B, T, F) or (B, T) integer ids when the first layer is an embedding; lengths:
        (B,) for right-padded batches (from the ids when ``mask_zero``). Returns (B, O), or
        (B, T, O) when the last recurrent layer returns sequences.
    """

    def __init__(self, layers: list[dict]):
        super().__init__()
        if not isinstance(layers, list) or not layers:
            raise ValueError(f"KerasSequential: layers must be a non-empty list of layer specs, "
                             f"got {layers!r}")
        self.config = {"layers": [dict(s) for s in layers]}
        self.specs = self.config["layers"]
        blocks = []
        for i, spec in enumerate(self.specs):
            kind = spec.get("type")
            if kind == "embedding":
                if i:
                    raise ValueError("KerasSequential: an embedding must be the first layer")
                blocks.append(nn.Embedding(spec["input_dim"], spec["output_dim"]))
            elif kind == "rnn":
                if spec["kind"] not in RNN_KINDS:
                    raise ValueError(f"KerasSequential: unknown recurrent kind {spec['kind']!r}")
                if spec.get("merge_mode", "concat") not in MERGE_MODES:
                    raise ValueError(f"KerasSequential: unknown merge_mode "
                                     f"{spec['merge_mode']!r}; expected one of "
                                     f"{', '.join(MERGE_MODES)}")
                blocks.append(_rnn(spec))
            elif kind == "dense":
                if spec.get("activation", "linear") not in ACTIVATIONS:
                    raise ValueError(f"KerasSequential: unknown activation "
                                     f"{spec['activation']!r}")
                blocks.append(nn.Linear(spec["input_size"], spec["units"],
                                        bias=bool(spec.get("use_bias", True))))
            elif kind == "dropout":
                blocks.append(nn.Dropout(float(spec["rate"])))
            elif kind == "activation":
                if spec["activation"] not in ACTIVATIONS:
                    raise ValueError(f"KerasSequential: unknown activation "
                                     f"{spec['activation']!r}")
                blocks.append(nn.Identity())
            else:
                raise ValueError(f"KerasSequential: unknown layer type {kind!r}")
        self.blocks = nn.ModuleList(blocks)
        self.takes_ids = self.specs[0]["type"] == "embedding"
        self.mask_zero = self.takes_ids and bool(self.specs[0].get("mask_zero", False))

    @property
    def recurrent(self) -> list[RNN]:
        return [b for b in self.blocks if isinstance(b, RNN)]

    @property
    def streams(self) -> bool:
        """Whether a step-by-step form exists: every recurrent layer runs forwards only."""
        return all(not s.get("bidirectional") and not s.get("go_backwards")
                   for s in self.specs if s["type"] == "rnn")

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        empty = None
        if self.takes_ids:
            if not isinstance(x, Tensor) or x.dim() != 2 or x.is_floating_point():
                got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(f"KerasSequential: expected integer ids of shape (B, T), "
                                 f"got {got}")
            if self.mask_zero and lengths is not None:  # lengths beside the mask read
                raise ValueError("KerasSequential: the model's Embedding has mask_zero, so id "
                                 "0 marks padding and the lengths come from the ids; send no "
                                 "lengths")  # padding ids as real tokens (a served request)
            if self.mask_zero and self.recurrent:  # only a recurrent layer reads the mask:
                empty = (x == 0).all(1)  # rows of padding alone: Keras' state stays zero
                x, lengths = _compact(x)  # Dense alone keeps every step where it is
        elif not isinstance(x, Tensor) or x.dim() not in (2, 3):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"KerasSequential: expected input of shape (B, T, F), got {got}")
        for spec, block in zip(self.specs, self.blocks, strict=True):
            if spec["type"] == "rnn":
                x, lengths = self._recur(spec, block, x, lengths)
                if empty is not None:  # (it ran one padding step: 8e-4 off Keras' 0)
                    x = x.masked_fill(empty.view(-1, *[1] * (x.dim() - 1)), 0.0)
            elif spec["type"] in ("dense", "activation"):
                x = ACTIVATIONS[spec.get("activation", "linear")](block(x))
            else:
                x = block(x)
        return x

    def _recur(self, spec: dict, rnn: RNN, x: Tensor, lengths):
        if spec.get("go_backwards") and not rnn.bidirectional:
            x = _reverse(x, lengths)  # Keras returns the reversed sequence as it is
        out, final = rnn(x, lengths=lengths)  # (B, T, D*H)
        H = rnn.hidden_size
        if spec.get("return_sequences"):
            if lengths is not None and not rnn.bidirectional:
                out = _keras_backwards(out, lengths) if spec.get("go_backwards") \
                    else _hold_last(out, lengths)
            if rnn.bidirectional:
                out = _merge(spec.get("merge_mode", "concat"), out[..., :H], out[..., H:])
            return out, lengths
        h = final[0] if isinstance(final, tuple) else final  # (D, B, H)
        if rnn.bidirectional:
            return _merge(spec.get("merge_mode", "concat"), h[0], h[1]), None
        return h[-1], None

    # ------------------------------------------------------------------ streaming
    def init_state(self, batch_size: int) -> list:
        """Zero states, one per recurrent layer."""
        return [r.init_state(batch_size) for r in self.recurrent]

    def step(self, x_t: Tensor, states: list) -> tuple[Tensor, list]:
        """One step (B, F) or ids (B,) -> (the output for the sequence so far, new states)."""
        if not self.streams:
            raise ValueError("KerasSequential: step() needs forward-only recurrent layers "
                             "(no Bidirectional, no go_backwards)")
        # mask_zero: an id 0 is a step Keras skips: the states are carried over it and each
        # recurrent layer's output stays its last (read as a token before)
        keep = (x_t != 0) if self.mask_zero else None
        new, k = [], 0
        for spec, block in zip(self.specs, self.blocks, strict=True):
            if spec["type"] == "rnn":
                out, s = block(x_t.unsqueeze(1), states[k])
                x_t = out[:, 0]
                if keep is not None:
                    old = states[k]
                    s = tree_map(lambda n, o: torch.where(keep[None, :, None], n, o), s, old)
                    held = (old[0] if isinstance(old, tuple) else old)[-1]  # (B, H)
                    x_t = torch.where(keep[:, None], x_t, held)
                k += 1
                new.append(s)
            elif spec["type"] in ("dense", "activation"):
                x_t = ACTIVATIONS[spec.get("activation", "linear")](block(x_t))
            else:
                x_t = block(x_t)
        return x_t, new
