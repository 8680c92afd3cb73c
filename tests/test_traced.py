"""User cells on the compiled path (``rnnkit.compiled.traced``) against the Python loop.

float64, values and gradients (inputs, initial state, every parameter). The quick tests run
the traced forward/backward graphs without Inductor (``traced.INDUCTOR = False``: the tracing,
the graph split and the whole-sequence autograd Function are the same, only the code
generation is skipped); the ``slow`` test compiles with Inductor (~10-20 CPU s).
"""

import os
import warnings

import pytest
import torch
from compiled_helpers import penalty_grads
from torch import nn

from rnnkit import RNN, compiled
from rnnkit.cells import RecurrentCell
from rnnkit.compiled import functions, traced

ATOL = 1e-10
B, T, I, H = 3, 6, 5, 4
LENGTHS = torch.tensor([6, 2, 4])


class PeepholeLSTM(RecurrentCell):
    """A user cell on rnnkit's base class: LSTM with peepholes (Gers & Schmidhuber 2000)."""

    num_gates = 4

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, bias=bias)
        self.peep = nn.Parameter(torch.randn(3, hidden_size) * 0.5)

    def init_state(self, batch_size, device=None, dtype=None):
        h = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return h, h.clone()

    def recur(self, xp, state):
        h, c = state
        a = xp + h @ self.weight_hh.t()
        i, f, g, o = (a if self.bias_hh is None else a + self.bias_hh).chunk(4, 1)
        i, f = torch.sigmoid(i + self.peep[0] * c), torch.sigmoid(f + self.peep[1] * c)
        c = f * c + i * torch.tanh(g)
        h = torch.sigmoid(o + self.peep[2] * c) * torch.tanh(c)
        return h, (h, c)


class PlainCell(nn.Module):
    """A user cell on nn.Module only (no project_input): y is not the state."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)

    def init_state(self, batch_size, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x_t, h):
        h = torch.tanh(self.lin(torch.cat([x_t, h], -1)))
        return 2 * h, h


class InPlaceCell(PlainCell):
    """Writes into its state: cannot be traced, must fall back to the loop."""

    def forward(self, x_t, h):
        h.mul_(0.5)
        return super().forward(x_t, h)


@pytest.fixture(autouse=True)
def path_on(monkeypatch):
    """This file tests the traced path itself, which needs no built kernels: on even in the
    run with ``RNNKIT_COMPILED=0`` (``test_off_switch`` checks that setting)."""
    monkeypatch.delenv("RNNKIT_COMPILED", raising=False)


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(traced, "INDUCTOR", False)


def twins(factory, **kw):
    fast = RNN(factory, I, H, backend="compiled", **kw)
    loop = RNN(factory, I, H, backend="loop", **kw)
    loop.load_state_dict(fast.state_dict())
    return fast, loop


def check_equal(fast, loop, lengths=None, with_state=False):
    x = torch.randn(B, T, I, requires_grad=True)
    s0 = None
    if with_state:
        s0 = fast.init_state(B)
        s0 = tuple(s.normal_().requires_grad_() for s in s0) if isinstance(s0, tuple) \
            else s0.normal_().requires_grad_()
    results = []
    for layer in (fast, loop):
        out, final = layer(x, s0, lengths=lengths)
        finals = final if isinstance(final, tuple) else (final,)
        loss = (out * torch.arange(out.numel()).view_as(out).cos()).sum() + \
            sum((f * 1.5).sum() for f in finals)
        inputs = [x, *(s0 if isinstance(s0, tuple) else [s0] if s0 is not None else [])]
        grads = torch.autograd.grad(loss, [*inputs, *layer.parameters()])
        results.append((out, finals, grads))
    (o1, f1, g1), (o2, f2, g2) = results
    torch.testing.assert_close(o1, o2, atol=ATOL, rtol=0)
    for a, b in zip(f1, f2, strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


@pytest.mark.parametrize("factory", [PeepholeLSTM, PlainCell])
def test_equals_loop(double, quick, factory):
    fast, loop = twins(factory)
    check_equal(fast, loop)
    check_equal(fast, loop, with_state=True)
    check_equal(fast, loop, lengths=LENGTHS, with_state=True)
    assert len(traced._CACHE[fast.cells[0]]) == 2  # one graph pair without, one with padding


def test_stacked_bidirectional(double, quick):
    fast, loop = twins(PeepholeLSTM, num_layers=2, bidirectional=True)
    check_equal(fast, loop, lengths=LENGTHS, with_state=True)


@pytest.mark.parametrize("factory", [PeepholeLSTM, PlainCell])
def test_double_backward_equals_loop(double, quick, factory):
    """create_graph=True through the compiled graphs (a gradient penalty): the penalty's
    gradients equal the loop's; they came back without a graph before (2026-12-02)."""
    fast, loop = twins(factory, num_layers=2)
    x, s0 = torch.randn(B, T, I), fast.init_state(B)
    s0 = tuple(s.normal_() for s in s0) if isinstance(s0, tuple) else s0.normal_()
    for a, b in zip(penalty_grads(loop, x, s0, LENGTHS), penalty_grads(fast, x, s0, LENGTHS),
                    strict=True):
        torch.testing.assert_close(b, a, atol=ATOL, rtol=1e-10)


def test_no_grad_and_all_states(double, quick):
    fast, loop = twins(PeepholeLSTM)
    x = torch.randn(B, T, I)
    with torch.no_grad():
        torch.testing.assert_close(fast(x)[0], loop(x)[0], atol=ATOL, rtol=0)
    out, _, states = fast(x, return_all_states=True)  # the loop keeps every state
    torch.testing.assert_close(states[0][0, :, -1], out[:, -1], atol=ATOL, rtol=0)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kernels", [True, False])
def test_own_projection(double, quick, monkeypatch, bias, kernels):
    """``RecurrentCell``'s own ``W_ih x + b_ih`` runs as the kernels' ``Projection`` (one
    pooled matmul and its written-out backward) where they are loaded, as the cell writes it
    where they are not; the pooled buffers and the deferred weight gradient likewise."""
    if kernels and not compiled.available():
        pytest.skip("rnnkit's kernels are not built here")
    monkeypatch.setattr(traced, "_pooled", lambda: kernels)
    calls = []
    real = functions.Projection.apply
    monkeypatch.setattr(functions.Projection, "apply", lambda *a: calls.append(1) or real(*a))
    fast = RNN(PeepholeLSTM(I, H, bias=bias), backend="compiled")
    loop = RNN(PeepholeLSTM(I, H, bias=bias), backend="loop")
    loop.load_state_dict(fast.state_dict())
    check_equal(fast, loop, lengths=LENGTHS, with_state=True)
    assert len(calls) == (1 if kernels else 0)


def float32_against_float64(fast, loop, x, out_tol: float, grad_tol: tuple) -> None:
    """The float32 ``fast`` layer's outputs and gradients (x and every parameter, for a loss
    that weights each output) against the float64 ``loop``'s."""
    results = []
    for layer, inp in ((fast, x), (loop, x.double())):
        out = layer(inp)[0]
        weights = out.detach().double().cos().to(out.dtype)
        grads = torch.autograd.grad((out * weights).sum(), [x, *layer.parameters()])
        results.append((out, grads))
    (o1, g1), (o2, g2) = results
    torch.testing.assert_close(o1.double(), o2, atol=out_tol, rtol=out_tol)
    for a, b_ in zip(g1, g2, strict=True):
        torch.testing.assert_close(a.double(), b_.double(), atol=grad_tol[0], rtol=grad_tol[1])


def test_float32_at_onednn_sizes(quick):
    """float32 where the projection, its gradients and W_hh's deferred gradient are large
    enough for oneDNN (csrc/big_matmul.h: 32M multiply-adds), against the float64 loop."""
    if not compiled.available():
        pytest.skip("rnnkit's kernels are not built here")
    torch.manual_seed(0)
    b, t, n = 8, 64, 256  # (b*t) x n x 4n = 134M multiply-adds
    fast = RNN(PeepholeLSTM(n, n), backend="compiled")
    loop = RNN(PeepholeLSTM(n, n), backend="loop").double()
    loop.load_state_dict(fast.state_dict())
    x = torch.randn(b, t, n, requires_grad=True)
    before = torch.ops.rnnkit.onednn_calls()
    float32_against_float64(fast, loop, x, 1e-4, (2e-3, 1e-3))
    if before >= 0 and os.environ.get("RNNKIT_ONEDNN", "1") not in ("0", "off"):
        # the projection, x's and W_ih's gradients, W_hh's deferred one
        assert torch.ops.rnnkit.onednn_calls() - before == 4


@pytest.mark.parametrize("factory", [PeepholeLSTM, PlainCell])
def test_products_by_weights_on_reordered_weights(quick, factory):
    """The step's products by its own weights (``h W_hh^T`` forward, ``dg W_hh`` backward;
    PlainCell's ``nn.Linear``, an addmm) run on ``rnnkit::step_mm``: a copy of the weight
    reordered once per sequence for oneDNN (csrc/step_matmul.h). float32 at H 256 against the
    float64 loop; then a weight changed through ``.data`` (no version counter sees that)
    between two calls must be read afresh, not from a stale reordered copy."""
    if not compiled.available():
        pytest.skip("rnnkit's kernels are not built here")
    torch.manual_seed(0)
    n = 256
    fast = RNN(factory, 8, n, backend="compiled")
    loop = RNN(factory, 8, n, backend="loop").double()
    x = torch.randn(16, 12, 8, requires_grad=True)  # 16 x 256 x 264: 1M multiply-adds
    for change in (1.0, 0.5):
        for p in fast.parameters():
            p.data.mul_(change)
        loop.load_state_dict(fast.state_dict())
        before = torch.ops.rnnkit.packed_calls()
        float32_against_float64(fast, loop, x, 1e-5, (1e-4, 1e-4))
        if before >= 0:  # forward and backward: one reordered weight each, at least
            assert torch.ops.rnnkit.packed_calls() - before >= 2
    graphs = [v for k, v in traced._CACHE[fast.cells[0]].items() if k != "failed"]
    assert graphs and all(g.step_mm >= 2 for g in graphs)


def test_short_sequences_keep_torch_mm(quick):
    """A sequence too short to pay for the reorder (under 8 steps: a decoder called a token at
    a time) multiplies on torch.mm, the same graphs otherwise."""
    if not compiled.available():
        pytest.skip("rnnkit's kernels are not built here")
    torch.manual_seed(0)
    fast = RNN(PeepholeLSTM, 8, 256, backend="compiled")
    loop = RNN(PeepholeLSTM, 8, 256, backend="loop")
    loop.load_state_dict(fast.state_dict())
    x = torch.randn(16, 3, 8, requires_grad=True)
    before = torch.ops.rnnkit.packed_calls()
    out = fast(x)[0]
    out.sum().backward()
    if before >= 0:
        assert torch.ops.rnnkit.packed_calls() == before
    torch.testing.assert_close(out, loop(x)[0], atol=1e-5, rtol=1e-5)


def test_untraceable_cell_falls_back_with_one_notice(double, quick):
    fast, loop = twins(InPlaceCell)
    x = torch.randn(B, T, I)
    with pytest.warns(RuntimeWarning, match=r"cannot compile InPlaceCell .*in place.*Python loop"):
        out, _ = fast(x)
    torch.testing.assert_close(out, loop(x)[0], atol=ATOL, rtol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast(x)  # the notice once per cell


def test_off_switch(double, quick, monkeypatch):
    monkeypatch.setenv("RNNKIT_COMPILED", "0")
    fast, loop = twins(PeepholeLSTM)
    check_equal(fast, loop)
    assert fast.cells[0] not in traced._CACHE  # the loop ran: nothing was traced


@pytest.mark.slow
@pytest.mark.parametrize("factory", [PeepholeLSTM, PlainCell])
def test_inductor_equals_loop(double, factory):
    # PlainCell: unprojected inputs (a strided slice of x) and a state gradient that is a
    # view; Inductor's graphs check strides, so both must reach them contiguous
    fast, loop = twins(factory)
    check_equal(fast, loop, with_state=True)
    check_equal(fast, loop, lengths=LENGTHS)
    x = torch.randn(B, T + 3, I)  # the same graphs, another length (and mask strides)
    lengths = torch.tensor([T + 3, 2, 5])
    torch.testing.assert_close(fast(x, lengths=lengths)[0], loop(x, lengths=lengths)[0],
                               atol=ATOL, rtol=0)
    assert any(v.fw is not None for k, v in traced._CACHE[fast.cells[0]].items()
               if k != "failed" and k[-1])


class DropoutCell(PlainCell):
    """Dropout on the state in training: Inductor cannot lower its random mask here."""

    def forward(self, x_t, h):
        return super().forward(x_t, nn.functional.dropout(h, 0.5, self.training))


@pytest.mark.slow
def test_inductor_training_failure_leaves_eval_compiled(double):
    fast, loop = twins(DropoutCell)
    x = torch.randn(B, T, I)
    with pytest.warns(RuntimeWarning, match=r"cannot compile DropoutCell"):
        fast(x)  # training: the loop, one notice
    fast.eval(), loop.eval()
    check_equal(fast, loop)  # eval: no randomness, compiled
    assert any(k[0] is False for k in traced._CACHE[fast.cells[0]] if k != "failed")
