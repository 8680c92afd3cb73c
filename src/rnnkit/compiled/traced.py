"""User cells on the compiled path: one step traced and compiled once, run over the sequence.

``RNN(cell, backend="compiled")`` with a user cell (one rnnkit has no kernel for) runs here.
One step of the cell, ``recur(xp_t, state)`` for a ``RecurrentCell`` (its input projections
of all steps stay one matmul, outside) or ``cell(x_t, state)`` otherwise, is traced once
with AOTAutograd into a forward graph (returning the new state and the tensors the backward
needs) and a backward graph, and each is compiled by TorchInductor (C++ for the gate
arithmetic, BLAS for the matmuls). ``_Sequence`` calls the two compiled graphs directly, T
times forward and T times backward, with no autograd node, guard or wrapper per step:

    forward:  s_t, saved_t = fw(params, xp_t, m_t, s_{t-1})          t = 1 .. T
    backward: dparams_t, dxp_t, ds_{t-1} = bw(saved_t, ds_t + dy_t)   t = T .. 1
              dparams = Σ_t dparams_t

A parameter whose gradient is one matmul per step (``W_hh``'s ``dg_tᵀ h_{t-1}``) is not
summed step by step: the backward graph returns the two factors and the sum over all steps
is one large matmul at the end. ``m_t`` holds each sequence's state past its length. Where
rnnkit's kernels are loaded, ``RecurrentCell``'s own input projection, that final matmul and
the (T·B, ·) stacks use their oneDNN matmul and buffer pool (BENCHMARKS.md, "Quiet re-runs
after oneDNN; user cells on the kernels' projection and pool": 1.05-1.26x).

Compiling takes seconds (per cell, batch size, dtype and padding; the graphs are kept on the
cell, and Inductor's on-disk cache under ``$TORCHINDUCTOR_CACHE_DIR`` serves a later process).
What cannot be traced — in-place updates of the state, Python decisions on tensor values,
states that alias each other — makes the layer run the Python loop instead, with one notice
per cell. The loop (``layers._run_cell``) is the oracle: ``tests/test_traced.py``.
"""

from __future__ import annotations

import copy
import functools
import warnings
import weakref

import torch
from torch import nn
from torch.utils._pytree import tree_flatten, tree_unflatten

from ..cells import projects_input

__all__ = ["run_cell"]

# cell -> {call signature: _Traced, or None where it could not be compiled}; weak, so that
# a cell's compiled graphs go with it and never into its copies or pickles
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
INDUCTOR = True  # False: run the traced graphs as they are (the tests' quick mode)
# tanh as 2 / (1 + exp(-2x)) - 1 in Inductor's vector code, the form rnnkit's own kernels use
# (csrc/cell_math.h): one exp where ATen's vector tanh costs more. Peephole LSTM, B 64, H 128,
# 1 thread, CPU µs a step: forward graph 150 -> 132, backward 130 -> 123 (it recomputes
# tanh(c)). The error is a few ulp of 1 (absolute, not relative near 0): float64 still
# matches the loop to 1e-10 (tests/test_traced.py)
TANH_THROUGH_EXP = {"cpp.use_decompose_tanh": True}


def _flat_tensors(cell: nn.Module) -> list:
    """The step's parameters and buffers now, in ``_Step``'s order (weights change)."""
    return [*cell.parameters(), *cell.buffers()]


class _Step(nn.Module):
    """One step of ``cell`` as a function of flat tensors, for ``functional_call``."""

    def __init__(self, cell: nn.Module, spec, masked: bool, y_is: int | None, aliased: set):
        super().__init__()
        self.cell, self.spec, self.masked, self.y_is, self.aliased = cell, spec, masked, y_is, \
            aliased
        self.projected = projects_input(cell)

    def forward(self, x_t, m_t, *state):
        old = tree_unflatten(list(state), self.spec)
        step = self.cell.recur if self.projected else self.cell
        y, new = step(x_t, old)
        leaves, spec = tree_flatten(new)
        if spec != self.spec:
            raise ValueError("the new state's structure is not the old one's")
        if self.masked:  # past a sequence's end: hold its state, zero its output
            leaves = [torch.where(m_t, n, o) for n, o in zip(leaves, state, strict=True)]
            y = y.masked_fill(~m_t, 0.0)
        outs = [v.clone() if i in self.aliased else v for i, v in enumerate(leaves)]
        return tuple(outs) if self.y_is is not None else (*outs, y)


class _Traced:
    """The compiled forward and backward graphs of one step, and how to call them."""

    def __init__(self, cell: nn.Module, x_t, m_t, state, compile: bool = True):
        from torch._functorch.aot_autograd import aot_function, make_boxed_func
        from torch._functorch.partitioners import min_cut_rematerialization_partition
        from torch._inductor import config as inductor_config
        from torch._inductor.compile_fx import compile_fx_inner
        from torch._inductor.decomposition import select_decomp_table

        leaves, spec = tree_flatten(state)
        masked = m_t is not None
        y_is, aliased = self._probe(cell, x_t, m_t, leaves, spec, masked)
        module = _Step(cell, spec, masked, y_is, aliased)
        names = [n for n, _ in module.named_parameters()] + [n for n, _ in module.named_buffers()]
        self.n_state, self.y_is = len(leaves), y_is
        self.n_out = len(leaves) + (y_is is None)
        n_tensors = len(names)

        def step(*flat):
            tensors = dict(zip(names, flat[:n_tensors], strict=True))
            x, m, *st = flat[n_tensors:]
            return torch.func.functional_call(module, tensors, (x, m, *st))

        graphs, self.deferred, weights_saved = {}, [], set()
        self.step_mm = 0  # products by a weight on rnnkit::step_mm (csrc/step_matmul.h)

        def compiler(kind):
            def run(gm, example_inputs):
                graphs[kind + "_gm"] = gm
                ours = copy.deepcopy(gm)  # AOTAutograd's own example call runs the original
                if kind == "fw":
                    weights_saved.update(_saved_weights(ours, n_tensors, self.n_out))
                if kind == "bw":
                    self.deferred = _defer_weight_grads(ours, n_tensors)
                if _pooled():
                    self.step_mm += _products_by_weights(ours, n_tensors if kind == "fw" else
                                                         None, weights_saved)
                if compile:
                    with inductor_config.patch(TANH_THROUGH_EXP):
                        graphs[kind] = compile_fx_inner(ours, example_inputs,
                                                        is_backward=kind == "bw")
                else:
                    graphs[kind] = make_boxed_func(ours)
                return make_boxed_func(gm)
            return run

        traced = aot_function(step, compiler("fw"), compiler("bw"),
                              partition_fn=min_cut_rematerialization_partition,
                              decompositions=select_decomp_table())
        mask = m_t if masked else torch.ones(x_t.shape[0], 1, dtype=torch.bool)
        example = [t.detach().requires_grad_(t.is_floating_point())
                   for t in (*_flat_tensors(cell), x_t, *leaves)]
        example.insert(n_tensors + 1, mask)
        outs = traced(*example)
        torch.autograd.backward([o for o in outs if o.requires_grad],
                                [torch.ones_like(o) for o in outs if o.requires_grad])
        if "bw" not in graphs:
            raise ValueError("nothing in the step depends on its inputs")
        # the layout called below: fw -> (outputs, saved...), bw(saved..., tangents...)
        inputs = [n.name for n in graphs["bw_gm"].graph.nodes if n.op == "placeholder"]
        tangents = sum(name.startswith("tangents") for name in inputs)
        fw_out = next(n for n in graphs["fw_gm"].graph.nodes if n.op == "output").args[0]
        if tangents != self.n_out or len(fw_out) - self.n_out != len(inputs) - tangents:
            raise ValueError("unexpected graph layout (an output without a gradient?)")
        self.fw, self.bw, self.n_tensors = graphs["fw"], graphs["bw"], n_tensors
        self.module, self.names = module, names  # the step as written (create_graph=True)

    @staticmethod
    def _probe(cell, x_t, m_t, leaves, spec, masked):
        """Run one step eagerly: which output is y, which outputs must be copied, and refuse
        steps that write into their inputs (the traced graphs would not repeat that)."""
        inputs = [x_t.detach().clone(), *(s.detach().clone() for s in leaves)]
        versions = [t._version for t in inputs]
        with torch.no_grad():
            step = cell.recur if hasattr(cell, "project_input") and hasattr(cell, "recur") \
                else cell
            y, new = step(inputs[0], tree_unflatten(inputs[1:], spec))
        if any(t._version != v for t, v in zip(inputs, versions, strict=True)):
            raise ValueError("the step writes into its input or state in place")
        out, _ = tree_flatten(new)
        if not all(isinstance(o, torch.Tensor) for o in (y, *out)):
            raise ValueError("the step returned something other than tensors")
        y_is = None if masked else next((i for i, o in enumerate(out) if o is y), None)
        seen = {t.untyped_storage().data_ptr() for t in inputs}
        if y_is is None:
            seen.add(y.untyped_storage().data_ptr())
        aliased = set()
        for i, o in enumerate(out):  # a state that is an input or another output: copy it
            ptr = o.untyped_storage().data_ptr()
            if ptr in seen and i != y_is:
                aliased.add(i)
            seen.add(ptr)
        return y_is, aliased



_VIEWS = {torch.ops.aten.permute.default, torch.ops.aten.t.default,
          torch.ops.aten.transpose.int, torch.ops.aten.view.default,
          torch.ops.aten.slice.Tensor, torch.ops.aten.alias.default}


def _weight_of(node, weights: set):
    """The placeholder among ``weights`` that ``node`` is a view of (transposes, slices), or
    None."""
    while isinstance(node, torch.fx.Node) and node.op == "call_function" and \
            node.target in _VIEWS:
        node = node.args[0]
    return node if isinstance(node, torch.fx.Node) and node.name in weights else None


def _placeholders(gm: torch.fx.GraphModule) -> list:
    return [n for n in gm.graph.nodes if n.op == "placeholder"]


def _saved_weights(fw: torch.fx.GraphModule, n_tensors: int, n_out: int) -> set:
    """Which of the forward graph's saved values (by position: the backward graph's first
    placeholders) are views of the step's parameters: the backward multiplies by them."""
    weights = {n.name for n in _placeholders(fw)[:n_tensors]}
    out = next(n for n in fw.graph.nodes if n.op == "output").args[0]
    return {i for i, v in enumerate(out[n_out:]) if _weight_of(v, weights) is not None}


def _products_by_weights(gm: torch.fx.GraphModule, n_tensors: int | None,
                         saved: set) -> int:
    """Put each matmul ``a @ W`` by one of the step's weights (a parameter in the forward
    graph, ``n_tensors`` of them first; a saved view of one in the backward graph, at the
    positions ``saved``) on ``rnnkit::step_mm``: the same product, on a copy of W reordered
    once per sequence for oneDNN (csrc/step_matmul.h; at H 256 the per-step products ran
    2.3x faster there than on torch.mm). ``addmm(c, a, W)`` becomes ``c + step_mm(a, W)``.
    Returns how many were put there."""
    nodes = _placeholders(gm)
    chosen = nodes[:n_tensors] if n_tensors is not None else \
        [n for i, n in enumerate(nodes) if i in saved]
    weights, count = {n.name for n in chosen}, 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in (torch.ops.aten.mm.default,
                                                             torch.ops.aten.addmm.default):
            continue
        addend = node.args[0] if node.target is torch.ops.aten.addmm.default else None
        a, b = node.args[-2:]
        if node.kwargs or _weight_of(b, weights) is None:
            continue
        with gm.graph.inserting_before(node):
            product = gm.graph.call_function(torch.ops.rnnkit.step_mm.default, (a, b))
            product.meta = dict(node.meta)
            if addend is not None:
                product = gm.graph.call_function(torch.ops.aten.add.Tensor, (addend, product))
                product.meta = dict(node.meta)
        node.replace_all_uses_with(product)
        gm.graph.erase_node(node)
        count += 1
    if count:
        _step_mm_fake()
        gm.graph.lint()
        gm.recompile()
    return count


@functools.cache
def _step_mm_fake() -> None:
    """rnnkit::step_mm's shape for Inductor's tracing (once per process)."""
    torch.library.register_fake("rnnkit::step_mm")(
        lambda a, b: a.new_empty(a.shape[0], b.shape[1]))


def _defer_weight_grads(gm: torch.fx.GraphModule, n_tensors: int) -> list:
    """Turn each parameter gradient that is one matmul ``a_t @ b_t`` per step into the
    outputs ``a_t, b_t``: ``_Sequence`` then does ``Σ_t a_t b_t`` as one large matmul at the
    end (the weight gradient of ``h W_hh^T`` is ``dg_tᵀ h_{t-1}``, a thin product per step).
    Returns (index, transposed) of each parameter so deferred."""
    out = next(n for n in gm.graph.nodes if n.op == "output")
    outs, deferred = list(out.args[0]), []
    for i in range(n_tensors):
        g, flips = outs[i], 0
        while isinstance(g, torch.fx.Node) and len(g.users) == 1 and \
                g.target is torch.ops.aten.permute.default and list(g.args[1]) == [1, 0]:
            g, flips = g.args[0], flips + 1  # transposes of the product: (a b)ᵀ
        if isinstance(g, torch.fx.Node) and g.target is torch.ops.aten.mm.default and \
                len(g.users) == 1:
            deferred.append((i, flips % 2 == 1))
            outs[i] = None
            outs += list(g.args)
    if deferred:
        out.args = (tuple(outs),)
        gm.graph.eliminate_dead_code()
        gm.recompile()
    return deferred


class _Sequence(torch.autograd.Function):
    """xs (T, B, X) time-major, masks (T, B, 1) or None, then state leaves and the step's
    tensors -> ys (T, B, H) and the final state leaves."""

    @staticmethod
    def forward(ctx, traced, keep, xs, masks, *rest):
        n = traced.n_state
        state, tensors = list(rest[:n]), list(rest[n:])  # contiguous: run_cell
        ones = None if masks is not None else torch.ones(xs.shape[1], 1, dtype=torch.bool,
                                                         device=xs.device)
        saved, ys = [], []
        with _weights_reordered(traced, len(xs)):
            for t, x_t in enumerate(xs.unbind(0)):
                out = traced.fw([*tensors, x_t, masks[t] if masks is not None else ones,
                                 *state])
                state = list(out[:n])
                ys.append(out[traced.y_is] if traced.y_is is not None else out[n])
                if keep:
                    saved.append(out[traced.n_out:])
        ctx.traced, ctx.saved, ctx.masks, ctx.ones = traced, saved, masks, ones
        ctx.state_like = [s.new_zeros(()).expand(s.shape) for s in state]  # shapes only
        ctx.mark_non_differentiable(*([masks] if masks is not None else []))
        if keep:  # the inputs themselves, for a backward under create_graph=True only
            ctx.save_for_backward(xs, *rest)
        return (_stacked(ys), *state)

    @staticmethod
    def backward(ctx, dys, *dstate):
        if torch.is_grad_enabled():
            return (None, None, *_Sequence.again(ctx, dys, dstate))
        traced, deferred = ctx.traced, ctx.traced.deferred
        dys = dys.contiguous().unbind(0)
        ds = [torch.zeros_like(z) if d is None else d.contiguous()
              for d, z in zip(dstate, ctx.state_like, strict=True)]
        parts = [([], []) for _ in deferred]
        with _weights_reordered(traced, len(dys)):
            dx, dtensors, ds = _Sequence._steps_back(ctx, dys, ds, parts)
        for (i, flip), (a, b) in zip(deferred, parts, strict=True):  # Σ_t a_t b_t
            product = _matmul(_cat(a, 1), _cat(b, 0))  # one matmul over all steps
            dtensors[i] = product.t().contiguous() if flip else product
        return (None, None, _stacked(dx), None, *ds, *dtensors)

    @staticmethod
    def _steps_back(ctx, dys, ds, parts):
        """The backward graph from the last step to the first: x's gradient per step, the
        step's tensors' summed gradients and the initial state's."""
        traced, like = ctx.traced, ctx.state_like
        dx, dtensors = [None] * len(dys), None
        k = traced.n_tensors
        first_extra = k + 2 + len(like)  # bw's outputs: tensors, x, mask, state, then pairs
        for t in range(len(dys) - 1, -1, -1):
            tangents = list(ds)
            if traced.y_is is not None:
                tangents[traced.y_is] = tangents[traced.y_is] + dys[t]
            else:
                tangents.append(dys[t])
            grads = traced.bw([*ctx.saved[t], *tangents])  # kept: retain_graph may call again
            for j, (a, b) in enumerate(parts):
                a.append(grads[first_extra + 2 * j])
                b.append(grads[first_extra + 2 * j + 1])
            # contiguous: bw was compiled for contiguous tangents, and a state's gradient can
            # be a view (the slice of a torch.cat's gradient)
            dx[t], ds = grads[k], [torch.zeros_like(z) if d is None else d.contiguous()
                                   for d, z in zip(grads[k + 2:first_extra], like, strict=True)]
            if dtensors is None:
                dtensors = list(grads[:k])
            else:
                dtensors = [a if b is None else b.clone() if a is None else a.add_(b)
                            for a, b in zip(dtensors, grads[:k], strict=True)]
        return dx, dtensors, ds

    @staticmethod
    def again(ctx, dys, dstate) -> list:
        """The compiled backward is differentiable once. Under ``create_graph=True`` (a
        gradient penalty, a Hessian-vector product) the gradients come from autograd over the
        step as written, T times, so that they can be differentiated again: (xs, masks,
        state leaves, tensors)."""
        from .functions import twice_differentiable

        traced, masks, n = ctx.traced, ctx.masks, ctx.traced.n_state

        def run(xs, *rest):
            state, params = list(rest[:n]), dict(zip(traced.names, rest[n:], strict=True))
            ys = []
            for t, x_t in enumerate(xs.unbind(0)):
                m_t = masks[t] if masks is not None else ctx.ones
                out = torch.func.functional_call(traced.module, params, (x_t, m_t, *state))
                state = list(out[:n])
                ys.append(out[traced.y_is] if traced.y_is is not None else out[n])
            return [torch.stack(ys), *state]

        grads = twice_differentiable(run, list(ctx.saved_tensors), [dys, *dstate])
        return [grads[0], None, *grads[1:]]


class _weights_reordered:
    """Around one sequence's ``steps`` on graphs that use ``rnnkit::step_mm``: its kept
    reordered weights (per thread) are dropped at the start and at the end, so each sequence
    reorders the weights it multiplies by once, as they are now; a sequence too short to pay
    for the reorder keeps torch.mm (csrc/step_matmul.h)."""

    def __init__(self, traced, steps: int):
        self.on, self.steps = traced.step_mm > 0, steps

    def __enter__(self):
        if self.on:
            torch.ops.rnnkit.step_mm_reset(self.steps)

    def __exit__(self, *exc):
        if self.on:
            torch.ops.rnnkit.step_mm_reset(0)


def _pooled() -> bool:
    """Whether rnnkit's kernels are loaded: their buffer pool and oneDNN matmul (below)."""
    from . import available
    return available()


def _buffer(shape: list, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised (T·B, ·)-sized tensor from the kernels' pool where they are loaded
    (csrc/pool.h: from ATen's allocator a buffer that size can be fresh pages, faulted in
    on every call), else from ATen's."""
    if like.device.type == "cpu" and _pooled():
        return torch.ops.rnnkit.pooled_empty(list(shape), like.dtype)
    return like.new_empty(shape)


def _stacked(parts: list) -> torch.Tensor:
    """``torch.stack(parts, 0)`` into a pooled buffer."""
    return torch.stack(parts, 0, out=_buffer([len(parts), *parts[0].shape], parts[0]))


def _cat(parts: list, dim: int):
    """``torch.cat(parts, dim)`` of 2-D tensors, into a pooled buffer; transposed views
    (``dg_tᵀ``) are joined as their contiguous originals and transposed back (a copy of rows,
    not a gather)."""
    if all(p.dim() == 2 and not p.is_contiguous() and p.t().is_contiguous() for p in parts):
        return _cat([p.t() for p in parts], 1 - dim).t()
    shape = list(parts[0].shape)
    shape[dim] = sum(p.shape[dim] for p in parts)
    return torch.cat(parts, dim, out=_buffer(shape, parts[0]))


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b``; a large float32 one on oneDNN where the kernels are loaded (as their own
    weight gradients: csrc/big_matmul.h)."""
    if a.device.type != "cpu" or not _pooled():
        return a @ b
    out = a.new_empty(a.shape[0], b.shape[1])
    torch.ops.rnnkit.mm_into(out, a, b, 0.0)
    return out


def _projected(cell, x: torch.Tensor) -> torch.Tensor:
    """Every step's input projection, (T, B, I) -> (T, B, G*H) contiguous. ``RecurrentCell``'s
    own ``W_ih x + b_ih`` goes through the kernels' ``Projection`` where they are loaded
    (one pooled matmul, oneDNN in float32, and its written-out backward); a cell's own
    ``project_input`` runs as written."""
    from ..cells import RecurrentCell
    from .functions import Projection
    if type(cell).project_input is RecurrentCell.project_input and x.device.type == "cpu" \
            and _pooled():
        return Projection.apply(x.contiguous(), cell.weight_ih, cell.bias_ih)
    return cell.project_input(x).contiguous()


def _key(cell, x_t, m_t, leaves) -> tuple:
    return (cell.training, m_t is not None, x_t.dtype, x_t.device, tuple(x_t.shape),
            tuple((tuple(s.shape), s.dtype) for s in leaves), _plain_state(cell))


_PLAIN = (bool, int, float, str, type(None))


def _plain_state(cell: nn.Module) -> tuple:
    """The numbers, flags and names the traced step has baked in as constants: every plain
    attribute of the cell and its submodules, and of their classes outside torch (a leak
    rate, a temperature set between calls recompiles the step, as the loop would see it)."""
    out = []
    for module in cell.modules():
        classes = [k for k in type(module).__mro__ if not k.__module__.startswith("torch")]
        for where in (*classes, module):
            out += [(k, v) for k, v in vars(where).items()
                    if isinstance(v, _PLAIN) and not k.startswith("__")]
    return tuple(out)


def run_cell(cell, x, state, mask, lengths, keep_states):
    """``layers._run_cell``'s contract, on the compiled graphs; None when they cannot run
    this call (the caller then runs the loop). With ``INDUCTOR = False`` the traced graphs
    run without Inductor (the tests' quick check of everything but code generation)."""
    if keep_states:
        return None
    projected = projects_input(cell)
    # contiguous before tracing: Inductor compiles for the example's strides and checks them
    inputs = _projected(cell, x.transpose(0, 1)) if projected else \
        x.transpose(0, 1).contiguous()
    masks = (mask.transpose(0, 1).unsqueeze(-1).contiguous()  # (T, B, 1); its strides
             if mask is not None else None)                    # must not depend on T
    leaves, spec = tree_flatten(state)
    leaves = [s.contiguous() for s in leaves]  # as _Sequence passes them to the graphs
    compile = INDUCTOR
    key = _key(cell, inputs[0], None if masks is None else masks[0], leaves) + (compile,)
    cache = _CACHE.setdefault(cell, {})
    if key in cache.get("failed", ()):
        return None
    traced = cache.get(key)
    if traced is None:
        try:
            # torch's own notices while tracing are not the user's; trace with autograd on
            with warnings.catch_warnings(), torch.enable_grad():
                warnings.simplefilter("ignore")
                traced = cache[key] = _Traced(cell, inputs[0].detach(),
                                              None if masks is None else masks[0],
                                              tree_unflatten(leaves, spec), compile)
        except Exception as err:  # noqa: BLE001 - any failure to trace or compile: the loop
            return _failed(cell, cache, key, err)
    tensors = _flat_tensors(cell)
    keep = torch.is_grad_enabled() and any(t.requires_grad for t in (inputs, *leaves, *tensors))
    try:
        out = _Sequence.apply(traced, keep, inputs, masks, *leaves, *tensors)
    except Exception as err:  # noqa: BLE001 - the graphs refused this call: the loop
        cache.pop(key, None)
        return _failed(cell, cache, key, err)
    ys, final = out[0].transpose(0, 1), tree_unflatten(list(out[1:]), spec)
    return ys, final, None


def _failed(cell, cache: dict, key: tuple, err: Exception) -> None:
    """Remember that ``key`` runs the loop, with one notice per cell. Per call signature: a
    step that fails in training (dropout's random mask, which Inductor cannot lower here) may
    still compile in eval mode."""
    noticed = "failed" in cache
    cache.setdefault("failed", set()).add(key)
    if not noticed:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        warnings.warn(f"rnnkit: cannot compile {type(cell).__name__} ({reason[:200]}); "
                      "running the Python loop instead", RuntimeWarning, stacklevel=5)
