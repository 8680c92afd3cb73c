"""minGRU / minLSTM: the parallel scan equals the step-by-step recurrence (values, gradients,
padding, streaming), and gradcheck holds on the scan itself."""

import pytest
import torch

from rnnkit import RNN, MinGRUCell, MinLSTMCell
from rnnkit.scan import log_scan

ATOL = 1e-10
B, T, I, H = 3, 7, 4, 5
LENGTHS = torch.tensor([7, 3, 5])


def sequential(cell, x, h):
    outs = []
    for x_t in x.unbind(1):
        y, h = cell(x_t, h)
        outs.append(y)
    return torch.stack(outs, 1)


@pytest.mark.parametrize("cls", [MinGRUCell, MinLSTMCell])
def test_scan_equals_sequential_values_and_grads(double, cls):
    cell = cls(I, H)
    x = torch.randn(B, T, I)
    h0 = torch.rand(B, H)  # states are positive
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    a = cell.scan(x1, h0)
    b = sequential(cell, x2, h0)
    torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    w = torch.randn_like(a)
    ga = torch.autograd.grad((a * w).sum(), [x1, *cell.parameters()])
    gb = torch.autograd.grad((b * w).sum(), [x2, *cell.parameters()])
    for p, q in zip(ga, gb, strict=True):
        torch.testing.assert_close(p, q, atol=1e-9, rtol=0)


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_layer_scan_equals_loop_with_lengths_bidirectional(double, kind):
    scan = RNN(kind, I, H, 2, bidirectional=True, backend="scan")
    loop = RNN(kind, I, H, 2, bidirectional=True, backend="loop")
    loop.load_state_dict(scan.state_dict())
    x = torch.randn(B, T, I)
    for lengths in (None, LENGTHS):
        a, sa = scan(x, lengths=lengths)
        b, sb = loop(x, lengths=lengths)
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
        torch.testing.assert_close(sa, sb, atol=ATOL, rtol=0)
    assert RNN(kind, I, H).backend == "auto" and RNN(kind, I, H)._scannable


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_streaming_equals_parallel_training_call(double, kind):
    layer = RNN(kind, I, H, 2)
    x = torch.randn(B, T, I)
    out, final = layer(x)
    state, steps = None, []
    for x_t in x.unbind(1):
        y, state = layer.step(x_t, state)
        steps.append(y)
    torch.testing.assert_close(torch.stack(steps, 1), out, atol=ATOL, rtol=0)
    torch.testing.assert_close(state, final, atol=ATOL, rtol=0)


def test_log_scan_gradcheck(double):
    log_a = (-torch.rand(2, 5, 3)).requires_grad_()
    log_b = torch.randn(2, 5, 3).requires_grad_()
    log_h0 = torch.randn(2, 3).requires_grad_()
    assert torch.autograd.gradcheck(log_scan, (log_a, log_b, log_h0))


@pytest.mark.parametrize("cls", [MinGRUCell, MinLSTMCell])
def test_gradcheck_min_cells(double, cls):
    cell = cls(3, 4)
    x = torch.randn(2, 3, requires_grad=True)
    h = torch.rand(2, 4, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h: cell(x, h)[0], (x, h))


def test_scan_backend_errors():
    with pytest.raises(ValueError, match=r"^LSTM: backend='scan' needs cells with a linear"):
        RNN("lstm", 3, 4, backend="scan")
    with pytest.raises(ValueError, match=r"^MinGRUCell: the scan needs a non-negative state"):
        RNN("mingru", 3, 4, backend="scan")(torch.randn(1, 2, 3), -torch.ones(1, 1, 4))


def test_zero_initial_state_gives_finite_gradients():
    layer = RNN("mingru", 3, 4, 2, bidirectional=True)
    x = torch.randn(2, 6, 3, requires_grad=True)
    layer.backend = "scan"
    out, _ = layer(x, lengths=torch.tensor([6, 2]))  # zero state: log 0 = -inf inside the scan
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())
