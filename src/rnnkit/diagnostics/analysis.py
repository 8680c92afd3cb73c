"""Gradient flow through time, recurrent Jacobians, gate saturation and state statistics.

Bengio, Simard & Frasconi (1994) and Pascanu, Mikolov & Bengio (2013) explain why plain RNNs
forget: the error signal reaching step t is a product of T − t recurrent Jacobians,

    ∂L/∂h_t = ∂L/∂h_T · ∂h_T/∂h_t,   ∂h_T/∂h_t = Π_{s=t+1..T} ∂h_s/∂h_{s−1}
            (+ the direct terms of any loss on the outputs between t and T),

so it shrinks (or grows) geometrically in T − t unless the Jacobians stay near norm 1, which
the LSTM's additive memory and the GRU's update gate (and an identity-initialised ReLU RNN,
Le et al. 2015) are built to do. ``analyze`` measures, for a model and one batch:

- ``grad_norm[t]`` = ‖∂L/∂h_t‖, the Frobenius norm of the loss gradient with respect to the
  batch's state at step t (B, H), per layer and direction — a total derivative, as autograd
  computes it for the node ``h_t`` of the unrolled graph;
- ``jacobian_norm[t]`` = mean over the batch of ‖∂h_T/∂h_t‖_F, with T each sequence's last
  step: exact from H vector-Jacobian products, or estimated from random Gaussian probes u
  (E‖uᵀJ‖² = ‖J‖_F²). For the LSTM, ``h`` is the output state and ``c_t`` is held fixed;
- gate saturation (LSTM i, f, o; GRU r, z): the share of sigmoid gate values < 0.05 or > 0.95,
  recomputed from the cell's parameters and the recorded per-step inputs and states;
- hidden-state statistics (mean, std, saturation |h| > 0.95, share of zeros, dead units).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..training.losses import LOSSES
from ..validate import non_negative_int, positive_int
from .probe import CellTrace, record

__all__ = ["Diagnosis", "LayerDiagnosis", "analyze", "LOSSES", "SATURATION_LOW",
           "SATURATION_HIGH"]

SATURATION_LOW, SATURATION_HIGH = 0.05, 0.95


def _loss_fn(loss) -> Callable[[Tensor, Tensor], Tensor]:
    """The loss by name, exactly as ``rnnkit.fit`` computes it (shapes checked there)."""
    if callable(loss):
        return loss
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"diagnostics: unknown loss {loss!r}; expected one of "
                         f"{', '.join(LOSSES)} or a callable(pred, target)")
    return LOSSES[loss]


def _from_numpy(tree):
    """NumPy arrays in a batch (alone, in a tuple/list or a dict) as tensors."""
    if isinstance(tree, np.ndarray):
        return torch.as_tensor(tree)
    if isinstance(tree, dict):
        return {k: _from_numpy(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_from_numpy(v) for v in tree)
    return tree


def _call(model: nn.Module, inputs):
    """The fit contract: a Tensor is model(x), a tuple model(*x), a dict model(**x)."""
    if isinstance(inputs, dict):
        out = model(**inputs)
    elif isinstance(inputs, (tuple, list)):
        out = model(*inputs)
    else:
        out = model(inputs)
    return out[0] if isinstance(out, (tuple, list)) else out


@dataclass
class LayerDiagnosis:
    """What ``analyze`` found for one cell (one layer, one direction). Arrays are per step."""

    name: str
    kind: str  # rnn-tanh, irnn, lstm, gru, ...
    hidden_size: int
    steps: int
    grad_norm: np.ndarray | None = None  # (T,) ‖∂L/∂h_t‖ over the batch
    grad_norm_per_sample: np.ndarray | None = None  # (B, T) ‖∂L/∂h_t[b]‖
    memory_grad_norm: np.ndarray | None = None  # (T,) ‖∂L/∂c_t‖ (LSTM)
    jacobian_norm: np.ndarray | None = None  # (T,) mean_b ‖∂h_T/∂h_t‖_F
    jacobian_exact: bool = True
    gates: dict[str, dict[str, float]] = field(default_factory=dict)
    hidden: dict[str, float] = field(default_factory=dict)
    state_norm: np.ndarray | None = None  # (T,) mean_b ‖h_t‖

    def grad_ratio(self) -> float | None:
        """‖∂L/∂h_1‖ / ‖∂L/∂h_T‖: how much of the final error signal reaches the first step."""
        if self.grad_norm is None or self.grad_norm[-1] == 0:
            return None
        return float(self.grad_norm[0] / self.grad_norm[-1])

    def saturation(self) -> float | None:
        """The share of saturated gate values over all gates, or None for gateless cells."""
        if not self.gates:
            return None
        return float(np.mean([g["saturated"] for g in self.gates.values()]))

    def to_dict(self) -> dict:
        def arr(a):
            return None if a is None else [float(v) for v in np.asarray(a).ravel()]
        return {"name": self.name, "kind": self.kind, "hidden_size": self.hidden_size,
                "steps": self.steps, "grad_norm": arr(self.grad_norm),
                "memory_grad_norm": arr(self.memory_grad_norm),
                "jacobian_norm": arr(self.jacobian_norm), "jacobian_exact": self.jacobian_exact,
                "grad_ratio": self.grad_ratio(), "gates": self.gates, "hidden": self.hidden,
                "state_norm": arr(self.state_norm)}


@dataclass
class Diagnosis:
    """``analyze``'s result: the loss on the batch and one entry per recurrent cell."""

    loss: float | None
    layers: list[LayerDiagnosis]

    def __getitem__(self, name: str) -> LayerDiagnosis:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no recurrent layer {name!r}; have {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def to_dict(self) -> dict:
        return {"loss": self.loss, "layers": [layer.to_dict() for layer in self.layers]}


def analyze(model: nn.Module, inputs, target=None, *, loss="mse", jacobians: bool = True,
            probes: int | None = None, max_exact: int = 64,
            float64: bool = False) -> Diagnosis:
    """Gradient flow, recurrent Jacobians, gate saturation and state statistics on one batch.

    Args:
        model: any module holding ``rnnkit.RNN`` layers; called as in ``rnnkit.fit`` (a Tensor
            ``inputs`` as ``model(x)``, a tuple as ``model(*x)``, a dict as ``model(**x)``);
            its output is the prediction or a tuple whose first element is.
        inputs, target: one batch. Without a target the loss gradients are skipped.
        loss: "mse" | "mae" | "huber" | "cross_entropy" | "bce" | callable(pred, target).
        jacobians: compute ‖∂h_T/∂h_t‖ (H backward passes per cell when exact).
        probes: Gaussian probes for the Jacobian estimate; None = exact when H <= max_exact,
            else 32 probes.
        float64: analyse a float64 copy of the model (inputs and targets cast too), so that
            gradients below float32's ~1e-38 show as numbers instead of zeros.

    The model runs in eval mode (no dropout) and its parameters' ``.grad`` are left untouched.

    Example:
        >>> model = nn.Sequential(RNN("gru", 2, 8))  # outputs (B, T, 8), state
        >>> d = analyze(model, torch.randn(4, 30, 2), torch.zeros(4, 30, 8))
        >>> d.layers[0].grad_norm.shape, d.layers[0].jacobian_norm.shape
        ((30,), (30,))
    """
    loss_fn = _loss_fn(loss)
    if probes is not None:  # probes=-1 gave all-zero Jacobian norms, probes=0 ran 32 probes
        probes = positive_int("probes", probes, "diagnostics.analyze")
    max_exact = non_negative_int("max_exact", max_exact, "diagnostics.analyze")
    inputs = _from_numpy(inputs)  # NumPy batches, as fit and predict take them
    if float64:
        model = copy.deepcopy(model).double()
        inputs, target = _double(inputs), _double(target)
    was_training = model.training
    frozen = [p for p in model.parameters() if not p.requires_grad]
    model.eval()
    for p in frozen:
        p.requires_grad_(True)
    try:
        with torch.enable_grad(), record(model) as traces:
            pred = _call(model, inputs)
            traces = [t for t in traces if t.steps > 0]
            if not traces:
                raise ValueError(f"diagnostics: {type(model).__name__} did not run any of its "
                                 "recurrent layers on these inputs")
            value, grads, mem_grads = None, {}, {}
            if target is not None:
                L = loss_fn(pred, torch.as_tensor(target).to(pred.device))
                value = float(L.detach())
                grads, mem_grads = _loss_grads(L, traces)
            layers = []
            for tr in traces:
                d = LayerDiagnosis(tr.name, tr.kind, tr.hidden()[0].shape[-1], tr.steps)
                mask = tr.mask()
                if tr.name in grads:
                    per = tr.time_order(grads[tr.name]) * mask  # (B, T)
                    d.grad_norm_per_sample = per
                    d.grad_norm = np.sqrt((per ** 2).sum(0))
                if tr.name in mem_grads:
                    per = tr.time_order(mem_grads[tr.name]) * mask
                    d.memory_grad_norm = np.sqrt((per ** 2).sum(0))
                if jacobians:
                    H = d.hidden_size
                    exact = probes is None and H <= max_exact
                    count = H if exact else (probes or 32)
                    jac = tr.time_order(_jacobian_norms(tr, count, exact))  # (B, T)
                    d.jacobian_norm = _masked_mean(jac, mask)
                    d.jacobian_exact = exact
                with torch.no_grad():
                    d.gates = gate_saturation(tr)
                    d.hidden, d.state_norm = hidden_stats(tr)
                layers.append(d)
    finally:
        for p in frozen:
            p.requires_grad_(False)
        model.train(was_training)
    return Diagnosis(value, layers)


def _double(tree):
    if isinstance(tree, dict):
        return {k: _double(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_double(v) for v in tree)
    if isinstance(tree, Tensor) and tree.is_floating_point():
        return tree.double()
    return tree


def _masked_mean(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    count = mask.sum(0)
    return np.where(count > 0, (a * mask).sum(0) / np.maximum(count, 1), np.nan)


def _loss_grads(L: Tensor, traces: list[CellTrace]):
    """Per-sample ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖) for every trace, in processing order (B, T)."""
    nodes, owners = [], []
    for tr in traces:
        nodes += tr.hidden()
        owners += [(tr.name, "h")] * tr.steps
        mem = tr.memory()
        if mem is not None:
            nodes += mem
            owners += [(tr.name, "c")] * tr.steps
    got = torch.autograd.grad(L, nodes, allow_unused=True, retain_graph=True)
    out: dict[str, dict[str, list]] = {}
    for (name, which), node, g in zip(owners, nodes, got, strict=True):
        norm = torch.zeros(node.shape[0]) if g is None else g.detach().flatten(1).norm(dim=1)
        out.setdefault(which, {}).setdefault(name, []).append(norm.double().cpu().numpy())
    stack = {which: {name: np.stack(v, 1) for name, v in d.items()} for which, d in out.items()}
    return stack.get("h", {}), stack.get("c", {})


def _jacobian_norms(tr: CellTrace, count: int, exact: bool) -> np.ndarray:
    """Per-sample ‖∂h_T/∂h_t‖_F in processing order (B, T); T = each sequence's last step."""
    hs = tr.hidden()
    B, H = hs[0].shape
    T = len(hs)
    last = (tr.lengths - 1).tolist() if tr.lengths is not None else [T - 1] * B
    if not hs[-1].requires_grad:
        return np.zeros((B, T))
    gen = torch.Generator().manual_seed(0)
    squares = torch.zeros(B, T, dtype=torch.float64)
    ends = sorted(set(last))
    for k in range(count):
        if exact:
            u = torch.zeros(B, H, dtype=hs[0].dtype, device=hs[0].device)
            u[:, k] = 1.0
        else:
            u = torch.randn(B, H, generator=gen, dtype=torch.float64).to(hs[0])
        # seed each sequence's own last step with u, and only that step
        seeds = [u * torch.tensor([e == s for s in last], device=u.device).unsqueeze(1)
                 .to(u.dtype) for e in ends]
        got = torch.autograd.grad([hs[e] for e in ends], hs, grad_outputs=seeds,
                                  allow_unused=True, retain_graph=True)
        for t, g in enumerate(got):
            if g is not None:
                squares[:, t] += g.detach().double().pow(2).sum(1).cpu()
    if not exact:
        squares /= count
    return squares.sqrt().numpy()


def _share(values: Tensor, mask: Tensor) -> dict[str, float]:
    v = values[mask]  # (N, H) real steps only
    low = float((v < SATURATION_LOW).double().mean())
    high = float((v > SATURATION_HIGH).double().mean())
    return {"low": low, "high": high, "saturated": low + high, "mean": float(v.double().mean())}


def gate_saturation(tr: CellTrace) -> dict[str, dict[str, float]]:
    """Share of sigmoid gate values < 0.05 ("low") or > 0.95 ("high"), per gate.

    Gates are recomputed from the cell's parameters, each step's projected input
    ``W_ih x_t + b_ih`` and incoming state, exactly as the cell computes them:
    LSTM i, f, o = σ(... + W_h· h_{t−1} + b_h·); GRU r, z likewise. {} for other cells.
    """
    cell = tr.cell
    if not isinstance(cell, (LSTMCell, GRUCell)) or not tr.steps:
        return {}
    H = cell.hidden_size
    xp = torch.stack([x.detach() for x in tr.inputs], 1)  # (B, T, G*H)
    h_prev = torch.stack([(p[0] if isinstance(p, (tuple, list)) else p).detach()
                          for p in tr.prev], 1)  # (B, T, H)
    mask = torch.as_tensor(tr.mask())
    if isinstance(cell, LSTMCell):
        pre = xp + F.linear(h_prev, cell.weight_hh, cell.bias_hh)  # (B, T, 4H)
        names, rows = ("input", "forget", "output"), (0, 1, 3)
    else:  # GRU: r and z never see the reset, in either form
        b = None if cell.bias_hh is None else cell.bias_hh[: 2 * H]
        pre = xp[..., : 2 * H] + F.linear(h_prev, cell.weight_hh[: 2 * H], b)  # (B, T, 2H)
        names, rows = ("reset", "update"), (0, 1)
    return {name: _share(torch.sigmoid(pre[..., r * H:(r + 1) * H]), mask)
            for name, r in zip(names, rows, strict=True)}


def hidden_stats(tr: CellTrace) -> tuple[dict[str, float], np.ndarray]:
    """Statistics of h over the real steps of the batch, and mean_b ‖h_t‖ per step (T,)."""
    h = torch.stack([x.detach() for x in tr.hidden()], 1).double()  # (B, T, H)
    mask_np = tr.mask()
    mask = torch.as_tensor(mask_np)
    v = h[mask]  # (N, H)
    stats = {
        "mean": float(v.mean()),
        "std": float(v.std()) if v.numel() > 1 else 0.0,
        "abs_mean": float(v.abs().mean()),
        "max_abs": float(v.abs().max()),
        "saturated": float((v.abs() > SATURATION_HIGH).double().mean()),  # tanh-bounded cells
        "zero": float((v == 0).double().mean()),
        "dead_units": float((v != 0).sum(0).eq(0).double().mean()),  # never active (ReLU)
    }
    if isinstance(tr.cell, SimpleRNNCell) and tr.cell.activation_name == "relu":
        stats["saturated"] = float("nan")  # unbounded: no saturation
    mem = tr.memory()
    if mem is not None:
        c = torch.stack([x.detach() for x in mem], 1).double()[mask]
        stats["memory_abs_mean"] = float(c.abs().mean())
        stats["memory_max_abs"] = float(c.abs().max())
    norms = tr.time_order(h.norm(dim=-1).numpy())  # (B, T)
    return stats, _masked_mean(norms, mask_np)
