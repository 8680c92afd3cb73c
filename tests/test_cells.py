"""Cells against oracles: torch.nn's cells, the articles' equations, and gradcheck."""

import pytest
import torch
from torch import nn

from rnnkit import GRUCell, LSTMCell, SimpleRNNCell

ATOL = 1e-10


def copy_params(src: nn.Module, dst: nn.Module) -> None:
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(dst, name).copy_(getattr(src, name))


def assert_same_values_and_grads(ours, ref, x, state):
    """Forward once through each, backward the same random projection, compare everything."""
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    s1 = tuple(s.clone().requires_grad_() for s in state)
    s2 = tuple(s.clone().requires_grad_() for s in state)
    y1, new1 = ours(x1, s1 if len(s1) > 1 else s1[0])
    new2 = ref(x2, s2 if len(s2) > 1 else s2[0])
    y2 = new2[0] if isinstance(new2, tuple) else new2
    new1 = new1 if isinstance(new1, tuple) else (new1,)
    new2 = new2 if isinstance(new2, tuple) else (new2,)
    for a, b in zip(new1, new2, strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    torch.testing.assert_close(y1, y2, atol=ATOL, rtol=0)
    proj = [torch.randn_like(a) for a in new1]
    sum((a * p).sum() for a, p in zip(new1, proj, strict=True)).backward()
    sum((b * p).sum() for b, p in zip(new2, proj, strict=True)).backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=ATOL, rtol=0)
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=ATOL, rtol=0)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        torch.testing.assert_close(getattr(ours, name).grad, getattr(ref, name).grad,
                                   atol=ATOL, rtol=0)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_cell_matches_torch(double, activation):
    ours, ref = SimpleRNNCell(5, 7, activation), nn.RNNCell(5, 7, nonlinearity=activation)
    copy_params(ours, ref)
    assert_same_values_and_grads(ours, ref, torch.randn(3, 5), (torch.randn(3, 7),))


def test_lstm_cell_matches_torch(double):
    ours, ref = LSTMCell(5, 7), nn.LSTMCell(5, 7)
    copy_params(ours, ref)
    assert_same_values_and_grads(ours, ref, torch.randn(3, 5), (torch.randn(3, 7), torch.randn(3, 7)))


def test_gru_cell_reset_after_matches_torch(double):
    ours, ref = GRUCell(5, 7, reset_after=True), nn.GRUCell(5, 7)
    copy_params(ours, ref)
    assert_same_values_and_grads(ours, ref, torch.randn(3, 5), (torch.randn(3, 7),))


def test_simple_rnn_sigmoid_is_the_elman_equation(double):
    cell = SimpleRNNCell(4, 6, activation="sigmoid")
    x, h = torch.randn(2, 4), torch.randn(2, 6)
    expected = torch.sigmoid(x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh)
    y, new = cell(x, h)
    torch.testing.assert_close(y, expected, atol=ATOL, rtol=0)
    assert y is new


def seeds_gru_reset_before(x, h, W, U, b):
    """The articles' GRU (Cho et al. 2014), written as they write it:

        z = σ(W_z x + U_z h + b_z),  r = σ(W_r x + U_r h + b_r)
        h̃ = tanh(W_h x + U_h (r ⊙ h) + b_h)
        h' = (1 − z) ⊙ h + z ⊙ h̃
    """
    z = torch.sigmoid(x @ W["z"].T + h @ U["z"].T + b["z"])
    r = torch.sigmoid(x @ W["r"].T + h @ U["r"].T + b["r"])
    h_tilde = torch.tanh(x @ W["h"].T + (r * h) @ U["h"].T + b["h"])
    return (1 - z) * h + z * h_tilde


def test_gru_reset_before_equals_the_articles_equations(double):
    """Same model, z on the other side: the articles' z is our 1 − z, i.e. σ(−a) = 1 − σ(a)."""
    cell = GRUCell(4, 6, reset_after=False)
    x, h = torch.randn(3, 4), torch.randn(3, 6)
    Wr, Wz, Wn = cell.weight_ih.chunk(3)
    Ur, Uz, Un = cell.weight_hh.chunk(3)
    bir, biz, bin_ = cell.bias_ih.chunk(3)
    bhr, bhz, bhn = cell.bias_hh.chunk(3)
    W = {"r": Wr, "z": -Wz, "h": Wn}
    U = {"r": Ur, "z": -Uz, "h": Un}
    b = {"r": bir + bhr, "z": -(biz + bhz), "h": bin_ + bhn}
    y, _ = cell(x, h)
    torch.testing.assert_close(y, seeds_gru_reset_before(x, h, W, U, b), atol=ATOL, rtol=0)


def test_gru_reset_before_differs_from_reset_after(double):
    a = GRUCell(4, 6, reset_after=True)
    b = GRUCell(4, 6, reset_after=False)
    b.load_state_dict(a.state_dict())
    x, h = torch.randn(3, 4), torch.randn(3, 6)
    assert not torch.allclose(a(x, h)[0], b(x, h)[0])


CELLS = [
    lambda: SimpleRNNCell(3, 4, "tanh"),
    lambda: SimpleRNNCell(3, 4, "relu"),
    lambda: SimpleRNNCell(3, 4, "sigmoid"),
    lambda: SimpleRNNCell(3, 4, torch.nn.functional.softsign),
    lambda: LSTMCell(3, 4),
    lambda: GRUCell(3, 4, reset_after=True),
    lambda: GRUCell(3, 4, reset_after=False),
    lambda: GRUCell(3, 4, bias=False),
]


@pytest.mark.parametrize("make", CELLS, ids=["tanh", "relu", "sigmoid", "callable", "lstm",
                                             "gru-after", "gru-before", "gru-nobias"])
def test_gradcheck_every_cell(double, make):
    cell = make()
    x = torch.randn(2, 3, requires_grad=True)
    state = cell.init_state(2)
    state = tuple(torch.randn_like(s).requires_grad_() for s in
                  (state if isinstance(state, tuple) else (state,)))
    params = tuple(cell.parameters())

    def fn(x, *args):
        s = args[: len(state)]
        y, new = cell(x, s if len(s) > 1 else s[0])
        new = new if isinstance(new, tuple) else (new,)
        return (y, *new)

    assert torch.autograd.gradcheck(fn, (x, *state), eps=1e-6, atol=1e-7)
    # parameter gradients too: differentiate w.r.t. the weights through a functional call
    names = [n for n, _ in cell.named_parameters()]

    def fp(*ps):
        out = torch.func.functional_call(cell, dict(zip(names, ps, strict=True)),
                                         (x.detach(), state if len(state) > 1 else state[0]))
        return out[0]

    assert torch.autograd.gradcheck(fp, tuple(p.detach().requires_grad_() for p in params),
                                    eps=1e-6, atol=1e-7)


def test_state_none_means_zeros(double):
    cell = LSTMCell(3, 4)
    x = torch.randn(2, 3)
    y1, _ = cell(x, None)
    y2, _ = cell(x, cell.init_state(2))
    torch.testing.assert_close(y1, y2)


def test_torch_init_bounds():
    cell = LSTMCell(8, 25)
    for p in cell.parameters():
        assert p.abs().max() <= 1 / 5 + 1e-7


def test_keras_init():
    cell = LSTMCell(8, 16, init="keras")
    H = 16
    limit = (6 / (8 + 4 * H)) ** 0.5  # Glorot over the whole (4H, I) kernel
    assert cell.weight_ih.abs().max() <= limit + 1e-7
    w = cell.weight_hh  # (4H, H): orthonormal columns
    torch.testing.assert_close(w.T @ w, torch.eye(H), atol=1e-5, rtol=0)
    assert torch.all(cell.bias_hh == 0)
    assert torch.all(cell.bias_ih[H : 2 * H] == 1) and cell.bias_ih[:H].abs().sum() == 0
    gru = GRUCell(8, 16, init="keras")
    assert torch.all(gru.bias_ih == 0) and torch.all(gru.bias_hh == 0)


def test_irnn_init_is_identity():
    cell = SimpleRNNCell(3, 5, activation="relu", init="irnn")
    torch.testing.assert_close(cell.weight_hh, torch.eye(5))


def test_cell_errors():
    with pytest.raises(ValueError, match=r"SimpleRNNCell: unknown activation 'gelu'; expected one "
                                         r"of tanh, relu, sigmoid or a callable"):
        SimpleRNNCell(3, 4, activation="gelu")
    with pytest.raises(ValueError, match=r"LSTMCell: hidden_size must be a positive integer, got 0"):
        LSTMCell(3, 0)
    with pytest.raises(ValueError, match=r"GRUCell: unknown init 'xavier'"):
        GRUCell(3, 4, init="xavier")
