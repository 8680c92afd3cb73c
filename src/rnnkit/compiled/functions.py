"""Autograd functions over the compiled operators, and which cells they run.

``run_cell(cell, x, state, mask, lengths, keep_states)`` has ``layers._run_cell``'s contract:
the input projections of all steps are one matmul (for the gated and LayerNorm cells inside
``_Gated`` / ``_LayerNorm``, into a buffer of the kernels' pool; for the others through
autograd), the recurrence goes through ``torch.ops.rnnkit`` with its written-out backward.
"""

from __future__ import annotations

import torch
from torch import nn

from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..ln_cells import LayerNormGRUCell, LayerNormLSTMCell
from ..min_cells import MinGRUCell, MinLSTMCell

__all__ = ["kind_of", "run_cell"]

# the kernels' cell numbering (gated.cpp: Kind, linear.cpp: MinKind)
_ELMAN = {"tanh": 0, "relu": 1, "sigmoid": 2}
_LSTM, _GRU_AFTER, _GRU_BEFORE = 3, 4, 5
_MIN_GRU, _MIN_LSTM = 0, 1
_LN_LSTM, _LN_GRU = 0, 1  # layernorm.cpp: Kind


def kind_of(cell) -> tuple[str, int] | None:
    """``("gated" | "linear" | "layernorm", kernel kind)`` when a kernel computes exactly this
    cell, else None.

    Exact classes only: a subclass may override ``recur`` with other equations.
    """
    t = type(cell)
    if t is SimpleRNNCell and cell.activation_name in _ELMAN:
        return "gated", _ELMAN[cell.activation_name]
    if t is LSTMCell:
        return "gated", _LSTM
    if t is GRUCell:
        return "gated", _GRU_AFTER if cell.reset_after else _GRU_BEFORE
    if t is MinGRUCell:
        return "linear", _MIN_GRU
    if t is MinLSTMCell:
        return "linear", _MIN_LSTM
    if t is LayerNormLSTMCell:
        return "layernorm", _LN_LSTM
    if t is LayerNormGRUCell:
        return "layernorm", _LN_GRU
    return None


def _project(x, w_ih, b_ih=None):
    """x (B, T, I) -> x W_ih^T (+ b_ih) (B, T, G*H) for every step as one matmul, into a
    buffer from the kernels' pool (from ATen's allocator a buffer that size is fresh pages
    on every call); in float32 a big one runs on oneDNN (csrc/big_matmul.h says why)."""
    B, T, I = x.shape
    out = torch.ops.rnnkit.pooled_empty([B, T, w_ih.shape[0]], x.dtype)
    flat = out.view(B * T, -1)
    if b_ih is not None:  # as addmm does it: the bias first, the product added onto it
        flat.copy_(b_ih.expand_as(flat))
    torch.ops.rnnkit.mm_into(flat, x.reshape(B * T, I), w_ih.t(), 0.0 if b_ih is None else 1.0)
    return out


def _project_grads(d_xp, x, w_ih, need_x: bool, need_w: bool, need_b: bool = False):
    """``_project``'s backward for the gradients asked for: x's (pooled) and W_ih's, one
    matmul each over all (B, T), and b_ih's, one sum."""
    B, T, I = x.shape
    dg = d_xp.view(B * T, -1)  # (B*T, G*H)
    d_x = d_w_ih = None
    d_b_ih = dg.sum(0) if need_b else None
    if need_x:
        d_x = torch.ops.rnnkit.pooled_empty([B, T, I], x.dtype)
        torch.ops.rnnkit.mm_into(d_x.view(B * T, I), dg, w_ih, 0.0)
    if need_w:
        d_w_ih = w_ih.new_empty(w_ih.shape)
        torch.ops.rnnkit.mm_into(d_w_ih, dg.t(), x.reshape(B * T, I), 0.0)
    return d_x, d_w_ih, d_b_ih


class _CellLoop(nn.Module):
    """A cell's own loop (``layers._run_cell``) as a module: all states (B, T, H) held past
    each end, with ``functional_call`` putting other tensors in place of its parameters."""

    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell

    def forward(self, x, state, lengths):
        from ..layers import _run_cell  # (layers imports this module)

        mask = None if lengths is None else \
            torch.arange(x.shape[1], device=x.device)[None] < lengths.to(x.device)[:, None]
        return _run_cell(self.cell, x, state, mask, lengths, True)[2]


def twice_differentiable(run, inputs: list, grads: list) -> list:
    """What a backward returns under ``create_graph=True``: the gradients of ``run(*inputs)``
    (a list of outputs, weighted by ``grads``) for each of ``inputs`` (None where it is None
    or needs none), as a graph. Each input enters as a view of itself: a gradient then
    counts only the paths through this computation, not those through an input's own
    history (a projected input made from the same weight would count that weight twice)."""
    need = [i for i, t in enumerate(inputs) if isinstance(t, torch.Tensor) and t.requires_grad]
    inputs = list(inputs)
    for i in need:
        inputs[i] = inputs[i].view_as(inputs[i])
    outputs = run(*inputs)
    got = torch.autograd.grad(outputs, [inputs[i] for i in need], grads[:len(outputs)],
                              create_graph=True, allow_unused=True) if need else []
    out = [None] * len(inputs)
    for i, g in zip(need, got, strict=True):
        out[i] = g
    return out


def _again(cell, names: list[str], inputs: list, lstm: bool, lengths, grads) -> list:
    """The kernels' backward is written out, so differentiable once. Under
    ``create_graph=True`` (a gradient penalty, a Hessian-vector product, MAML) the gradients
    come instead from autograd over the cell's own loop, with the Function's inputs
    (x, h0, c0, then the tensors in place of the cell's parameters ``names``) so that they
    can be differentiated again, as torch.nn's can."""
    def run(x, h0, c0, *tensors):
        params = {f"cell.{n}": t for n, t in zip(names, tensors, strict=True) if t is not None}
        states = torch.func.functional_call(_CellLoop(cell), params,
                                            (x, (h0, c0) if lstm else h0, lengths))
        return list(states) if isinstance(states, tuple) else [states]
    return twice_differentiable(run, inputs, list(grads))


class Projection(torch.autograd.Function):
    """x (..., I) contiguous, W_ih, b_ih -> x W_ih^T + b_ih (..., G*H) as ``_project``'s one
    matmul (pooled; oneDNN in float32), with x's, W_ih's and b_ih's gradients one matmul (a
    sum) each: ``RecurrentCell.project_input`` for the user cells of ``compiled.traced``,
    where through autograd it was ``F.linear`` on MKL into fresh pages."""

    @staticmethod
    def forward(ctx, x, w_ih, b_ih):
        flat = x.view(1, -1, x.shape[-1])  # _project's (B, T, I)
        ctx.has_bias, ctx.x_shape = b_ih is not None, x.shape
        ctx.save_for_backward(x, w_ih)  # x itself: a view made here would have no history
        return _project(flat, w_ih, b_ih).view(*x.shape[:-1], w_ih.shape[0])

    @staticmethod
    def backward(ctx, d_out):
        x, w_ih = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: the same products, through autograd
            d = d_out.reshape(-1, d_out.shape[-1])
            d_x, d_w = twice_differentiable(lambda x, w: [x.reshape(-1, x.shape[-1]) @ w.t()],
                                            [x, w_ih], [d])
            return d_x, d_w, (d.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None)
        flat = x.view(1, -1, x.shape[-1])
        d = d_out.contiguous().view(1, -1, d_out.shape[-1])
        d_x, d_w_ih, d_b_ih = _project_grads(d, flat, w_ih, *ctx.needs_input_grad[:2],
                                             ctx.has_bias and ctx.needs_input_grad[2])
        return (None if d_x is None else d_x.view(ctx.x_shape)), d_w_ih, d_b_ih


class _Gated(torch.autograd.Function):
    """x (B, T, I), W_ih, b_ih, h0, c0 (LSTM), W_hh, b_hh -> all states hs (B, T, H), cs.

    The input projections of all steps, xp = x W_ih^T + b_ih (B, T, G*H), are ``_project``'s
    one matmul; the backward does W_ih's, b_ih's and x's gradients as one matmul each over
    all (B, T)."""

    @staticmethod
    def forward(ctx, cell, kind, x, w_ih, b_ih, h0, c0, w_hh, b_hh, lengths, drop):
        xp = _project(x, w_ih, b_ih)
        hs, cs, work = torch.ops.rnnkit.gated_forward(kind, xp, h0, c0, w_hh, b_hh, lengths,
                                                      drop)
        ctx.cell, ctx.kind, ctx.has_bias = cell, kind, (b_ih is not None, b_hh is not None)
        ctx.save_for_backward(x, w_ih, h0, c0, hs, cs, work, w_hh, lengths, b_ih, b_hh, drop)
        return hs, cs

    @staticmethod
    def backward(ctx, grad_hs, grad_cs):
        x, w_ih, h0, c0, hs, cs, work, w_hh, lengths, b_ih, b_hh, drop = ctx.saved_tensors
        lstm = ctx.kind == _LSTM
        if torch.is_grad_enabled():
            x, h0, c0, w_ih, b_ih, w_hh, b_hh = _again(
                ctx.cell, ["weight_ih", "bias_ih", "weight_hh", "bias_hh"],
                [x, h0, c0, w_ih, b_ih, w_hh, b_hh], lstm, lengths, [grad_hs, grad_cs])
            return None, None, x, w_ih, b_ih, h0, c0, w_hh, b_hh, None, None
        d_xp, d_h0, d_c0, d_w, d_b = torch.ops.rnnkit.gated_backward(
            ctx.kind, grad_hs, grad_cs if lstm else None, h0, c0, hs, cs, work,
            w_hh, lengths, ctx.has_bias[1], drop)
        d_x, d_w_ih, d_b_ih = _project_grads(d_xp, x, w_ih, *ctx.needs_input_grad[2:4],
                                             ctx.has_bias[0] and ctx.needs_input_grad[4])
        return (None, None, d_x, d_w_ih, d_b_ih, d_h0, d_c0 if lstm else None, d_w,
                d_b if ctx.has_bias[1] else None, None, None)


class _Linear(torch.autograd.Function):
    """x (B, T, I), W_ih, b_ih, h0 (B, H) -> all states hs (B, T, H) of minGRU / minLSTM.

    As in ``_Gated``: xp = x W_ih^T + b_ih for every step is ``_project``'s one matmul into a
    pooled buffer, and the backward does x's, W_ih's and b_ih's gradients as one matmul (a
    sum) each; the kernels' own (B, T, ·) buffers are pooled too (from ATen's allocator they
    were fresh pages, faulted in on every call)."""

    @staticmethod
    def forward(ctx, cell, kind, x, w_ih, b_ih, h0, lengths):
        xp = _project(x, w_ih, b_ih)
        hs = torch.ops.rnnkit.linear_forward(kind, xp, h0, lengths)
        ctx.cell, ctx.kind, ctx.has_bias = cell, kind, b_ih is not None
        ctx.save_for_backward(x, w_ih, xp, h0, hs, lengths, b_ih)
        return hs

    @staticmethod
    def backward(ctx, grad_hs):
        x, w_ih, xp, h0, hs, lengths, b_ih = ctx.saved_tensors
        if torch.is_grad_enabled():
            x, h0, _, w_ih, b_ih = _again(ctx.cell, ["weight_ih", "bias_ih"],
                                          [x, h0, None, w_ih, b_ih], False, lengths, [grad_hs])
            return None, None, x, w_ih, b_ih, h0, None
        d_xp, d_h0 = torch.ops.rnnkit.linear_backward(ctx.kind, grad_hs, xp, h0, hs, lengths)
        d_x, d_w_ih, d_b_ih = _project_grads(d_xp, x, w_ih, *ctx.needs_input_grad[2:4],
                                             ctx.has_bias and ctx.needs_input_grad[4])
        return None, None, d_x, d_w_ih, d_b_ih, d_h0, None


class _LayerNorm(torch.autograd.Function):
    """x (B, T, I), W_ih, h0, c0 (LSTM), W_hh, the input norm's gain and bias, the recurrent
    norm's gain, the cell norm's gain and bias (LSTM) -> all states hs, cs (B, T, H).

    As in ``_Gated``: a = x W_ih^T for every step is ``_project``'s one matmul, and the
    backward does x's and W_ih's gradients as one matmul each; the input norm is the
    kernel's."""

    @staticmethod
    def forward(ctx, cell, kind, x, w_ih, h0, c0, w_hh, gain_ih, bias_ih, gain_hh, gain_c,
                bias_c, eps, lengths, drop):
        a = _project(x, w_ih)
        hs, cs, work = torch.ops.rnnkit.ln_forward(kind, a, h0, c0, w_hh, gain_ih, bias_ih,
                                                   gain_hh, gain_c, bias_c, eps, lengths, drop)
        ctx.cell, ctx.kind = cell, kind
        ctx.has_bias = bias_ih is not None, bias_c is not None
        ctx.save_for_backward(x, w_ih, a, h0, c0, hs, cs, work, w_hh, gain_ih, bias_ih, gain_hh,
                              gain_c, lengths, bias_c, drop)
        return hs, cs

    @staticmethod
    def backward(ctx, grad_hs, grad_cs):
        (x, w_ih, a, h0, c0, hs, cs, work, w_hh, gain_ih, bias_ih, gain_hh, gain_c,
         lengths, bias_c, drop) = ctx.saved_tensors
        lstm = ctx.kind == _LN_LSTM
        if torch.is_grad_enabled():
            names = ["weight_ih", "weight_hh", "gain_ih", "bias_ih", "gain_hh", "gain_c",
                     "bias_c"]
            x, h0, c0, *d = _again(ctx.cell, names, [x, h0, c0, w_ih, w_hh, gain_ih, bias_ih,
                                                     gain_hh, gain_c, bias_c],
                                   lstm, lengths, [grad_hs, grad_cs])
            return (None, None, x, d[0], h0, c0, *d[1:], None, None, None)
        has_bias_ih, has_bias_c = ctx.has_bias
        (d_a, d_h0, d_c0, d_w, d_gain, d_gain_c, d_bias_c, d_gain_ih,
         d_bias_ih) = torch.ops.rnnkit.ln_backward(
            ctx.kind, grad_hs, grad_cs if lstm else None, a, h0, c0, hs, cs, work, w_hh,
            gain_ih, bias_ih, gain_hh, gain_c, lengths, drop)
        d_x, d_w_ih, _ = _project_grads(d_a, x, w_ih, *ctx.needs_input_grad[2:4])
        return (None, None, d_x, d_w_ih, d_h0, d_c0 if lstm else None, d_w, d_gain_ih,
                d_bias_ih if has_bias_ih else None, d_gain, d_gain_c if lstm else None,
                d_bias_c if lstm and has_bias_c else None, None, None, None)


def run_cell(cell, x, state, mask, lengths, keep_states):
    """Run ``cell`` over (B, T, I) on the kernels: (outputs (B, T, H), final, all states).

    Past a sequence's end the state is held and the output is zero, as in the loop.
    """
    family, kind = kind_of(cell)
    if family == "layernorm":
        # W_ih x for every step is _LayerNorm's own matmul; its norm is the kernel's
        lstm = kind == _LN_LSTM
        h0, c0 = state if lstm else (state, None)
        hs, cs = _LayerNorm.apply(cell, kind, x, cell.weight_ih, h0, c0, cell.weight_hh,
                                  cell.gain_ih, cell.bias_ih, cell.gain_hh,
                                  getattr(cell, "gain_c", None),
                                  getattr(cell, "bias_c", None), cell.eps, lengths,
                                  _recurrent_mask(cell, x))
        return _finish(hs, cs, lstm, mask, keep_states)
    if family == "gated":  # the input projections are _Gated's own matmul
        lstm = kind == _LSTM
        h0, c0 = state if lstm else (state, None)
        hs, cs = _Gated.apply(cell, kind, x, cell.weight_ih, cell.bias_ih, h0, c0, cell.weight_hh,
                              cell.bias_hh, lengths, _recurrent_mask(cell, x))
        return _finish(hs, cs, lstm, mask, keep_states)
    # minGRU / minLSTM
    cell.check_state(state, "the compiled recurrence")
    states = _Linear.apply(cell, kind, x, cell.weight_ih, cell.bias_ih, state,
                           lengths)  # (B, T, H)
    out = states if mask is None else states.masked_fill(~mask.unsqueeze(-1), 0.0)
    return out, states[:, -1], (states if keep_states else None)


def _recurrent_mask(cell, x):
    """Recurrent dropout's mask for this sequence, m / (1 - p) (B, H), or None: the cell's own
    (``recurrent_input``), drawn and kept as its loop draws it at the first step, so that the
    kernels and the loop see the same masks from the same seed."""
    if not (cell.training and getattr(cell, "recurrent_dropout", 0.0) > 0):
        return None
    return cell.recurrent_input(x.new_ones(x.shape[0], cell.hidden_size))


def _finish(hs, cs, lstm, mask, keep_states):
    """``run_cell``'s result from all states hs (B, T, H) (and cs), held past each end; the
    outputs are zero there."""
    out = hs if mask is None else hs.masked_fill(~mask.unsqueeze(-1), 0.0)
    if lstm:
        return out, (hs[:, -1], cs[:, -1]), ((hs, cs) if keep_states else None)
    return out, hs[:, -1], (hs if keep_states else None)
