"""minGRU / minLSTM: the parallel scan equals the step-by-step recurrence (values, gradients,
padding, streaming), and gradcheck holds on the scan itself."""

import numpy as np
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


# ------------------------------------------- an oracle written from the paper, not our code
def _np_g(x):
    """Feng et al. (2024), Appendix: g(x) = x + 0.5 if x >= 0 else sigmoid(x)."""
    return np.where(x >= 0, x + 0.5, 1.0 / (1.0 + np.exp(-x)))


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def paper_min_gru(x, h0, W, b):
    """minGRU, sequential mode, as in the paper's Algorithm (float64 NumPy, one step at a time):
        z_t = σ(Linear_z(x_t));  h̃_t = g(Linear_h(x_t));  h_t = (1 − z_t) h_{t−1} + z_t h̃_t
    W = [W_z; W_h] (2H, I), b = [b_z; b_h]."""
    H = h0.shape[-1]
    W_z, W_h, b_z, b_h = W[:H], W[H:], b[:H], b[H:]
    h, out = h0, []
    for t in range(x.shape[1]):
        z = _np_sigmoid(x[:, t] @ W_z.T + b_z)
        h_tilde = _np_g(x[:, t] @ W_h.T + b_h)
        h = (1.0 - z) * h + z * h_tilde
        out.append(h)
    return np.stack(out, 1)


def paper_min_lstm(x, h0, W, b):
    """minLSTM, sequential mode, as in the paper (length-independent scaling):
        f_t = σ(Linear_f(x_t)), i_t = σ(Linear_i(x_t)), f'_t, i'_t = f_t, i_t / (f_t + i_t)
        h̃_t = g(Linear_h(x_t));  h_t = f'_t h_{t−1} + i'_t h̃_t
    W = [W_f; W_i; W_h] (3H, I)."""
    H = h0.shape[-1]
    h, out = h0, []
    for t in range(x.shape[1]):
        f = _np_sigmoid(x[:, t] @ W[:H].T + b[:H])
        i = _np_sigmoid(x[:, t] @ W[H:2 * H].T + b[H:2 * H])
        f_prime, i_prime = f / (f + i), i / (f + i)
        h_tilde = _np_g(x[:, t] @ W[2 * H:].T + b[2 * H:])
        h = f_prime * h + i_prime * h_tilde
        out.append(h)
    return np.stack(out, 1)


PAPER = {"mingru": paper_min_gru, "minlstm": paper_min_lstm}


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
@pytest.mark.parametrize("backend", ["scan", "loop", "step"])
def test_matches_the_papers_equations(double, kind, backend):
    """Every execution path against a NumPy implementation of the paper's sequential mode;
    inputs scaled so pre-activations land on both sides of g's kink."""
    layer = RNN(kind, I, H, backend="loop" if backend == "step" else backend)
    with torch.no_grad():
        for p in layer.parameters():
            p.mul_(3.0)
    x = torch.randn(B, T, I) * 2
    h0 = torch.rand(1, B, H)
    cell = layer.cells[0]
    W, b = cell.weight_ih.detach().numpy(), cell.bias_ih.detach().numpy()
    want = PAPER[kind](x.numpy(), h0[0].numpy(), W, b)
    if backend == "step":
        state, outs = h0, []
        for x_t in x.unbind(1):
            y, state = layer.step(x_t, state)
            outs.append(y)
        got = torch.stack(outs, 1)
    else:
        got, final = layer(x, h0)
        np.testing.assert_allclose(final[0].detach().numpy(), want[:, -1], atol=1e-12, rtol=0)
    np.testing.assert_allclose(got.detach().numpy(), want, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_padded_bidirectional_layer_matches_the_paper_per_sequence(double, kind):
    """Two layers, both directions, right-padded: each sequence run alone through the oracle
    (backward = the oracle on the reversed real steps)."""
    layer = RNN(kind, I, H, 2, bidirectional=True, backend="scan")
    x = torch.randn(B, T, I)
    out, _ = layer(x, lengths=LENGTHS)
    for b_i, n in enumerate(LENGTHS.tolist()):
        inp = x[b_i:b_i + 1, :n].numpy()
        for layer_i in range(2):
            outs = []
            for d in range(2):
                cell = layer.cells[2 * layer_i + d]
                W, bias = cell.weight_ih.detach().numpy(), cell.bias_ih.detach().numpy()
                seq = inp if d == 0 else inp[:, ::-1]
                o = PAPER[kind](seq, np.zeros((1, H)), W, bias)
                outs.append(o if d == 0 else o[:, ::-1])
            inp = np.concatenate(outs, -1)
        np.testing.assert_allclose(out[b_i:b_i + 1, :n].detach().numpy(), inp, atol=1e-12, rtol=0)
        assert not out[b_i, n:].any()


def test_min_cells_share_recurrent_cell_construction():
    from rnnkit.cells import RecurrentCell

    cell = MinLSTMCell(3, 4, bias=False, init="keras")
    assert isinstance(cell, RecurrentCell)
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih"]
    assert not hasattr(cell, "weight_hh") or cell.weight_hh is None
    with pytest.raises(ValueError, match=r"^MinGRUCell: unknown init 'irnn'; expected one of "
                                         r"torch, keras$"):
        MinGRUCell(3, 4, init="irnn")
    with pytest.raises(ValueError, match=r"^MinGRUCell: hidden_size must be a positive integer, "
                                         r"got 0$"):
        MinGRUCell(3, 0)
    from rnnkit import scan

    assert scan.g is __import__("rnnkit.min_cells", fromlist=["g"]).g  # old import path works
