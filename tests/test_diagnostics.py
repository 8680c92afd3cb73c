"""Diagnostics against oracles: brute-force autograd re-runs, explicit Jacobian products, gates
computed directly from the parameters."""

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnnkit
from rnnkit.diagnostics import analyze, record
from rnnkit.diagnostics.plots import plot_gradient_flow, plot_runs

matplotlib.use("Agg")


class Head(nn.Module):
    """RNN + linear readout, on the last step or on every step."""

    def __init__(self, kind, input_size=3, hidden_size=4, num_layers=1, per_step=False, **kw):
        super().__init__()
        self.rnn = rnnkit.RNN(kind, input_size, hidden_size, num_layers, **kw)
        self.head = nn.Linear(self.rnn.output_size, 2)
        self.per_step = per_step

    def forward(self, x, lengths=None):
        out, _ = self.rnn(x, lengths=lengths)
        return self.head(out if self.per_step else out[:, -1])


def _brute_force(model, x, target, layer, t):
    """∂L/∂h_t of `layer` by re-running the network by hand with h_t as a fresh leaf."""
    inp, leaf = x, None
    for depth, cell in enumerate(model.rnn.cells):
        state = cell.init_state(x.shape[0], dtype=x.dtype)
        outs = []
        for s in range(x.shape[1]):
            y, state = cell(inp[:, s], state)
            if depth == layer and s == t:
                h = state[0] if isinstance(state, tuple) else state
                leaf = h.detach().clone().requires_grad_(True)
                y = leaf
                state = (leaf, state[1].detach()) if isinstance(state, tuple) else leaf
            elif depth == layer and s < t:
                y = y.detach()
                state = tuple(v.detach() for v in state) if isinstance(state, tuple) \
                    else state.detach()
            outs.append(y)
        inp = torch.stack(outs, 1)
    pred = model.head(inp if model.per_step else inp[:, -1])
    (grad,) = torch.autograd.grad(F.mse_loss(pred, target), leaf)
    return grad


@pytest.mark.parametrize("kind", ["rnn", "irnn", "lstm", "gru"])
@pytest.mark.parametrize("per_step", [False, True])
def test_grad_norms_equal_brute_force_autograd(double, kind, per_step):
    model = Head(kind, num_layers=2, per_step=per_step)
    if kind == "irnn":  # identity init keeps ReLU units alive; add spread so the test bites
        with torch.no_grad():
            for p in model.rnn.parameters():
                p.add_(0.3 * torch.randn_like(p))
    B, T = 3, 6
    x = torch.randn(B, T, 3)
    target = torch.randn(B, T, 2) if per_step else torch.randn(B, 2)
    d = analyze(model, x, target, jacobians=False)
    assert d.names == ["rnn.layer0", "rnn.layer1"]
    for layer in range(2):
        got = d.layers[layer]
        for t in range(T):
            g = _brute_force(model, x, target, layer, t)
            np.testing.assert_allclose(got.grad_norm_per_sample[:, t], g.norm(dim=1).numpy(),
                                       rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(got.grad_norm[t], g.norm().item(), rtol=1e-9)
    assert d.loss == pytest.approx(F.mse_loss(model(x), target).item(), rel=1e-12)


def _step_jacobians(cell, x, b):
    """Jacobians of one sample's full state map s_{t-1} -> s_t (2H for the LSTM) per step."""
    H = cell.hidden_size
    lstm = isinstance(cell, rnnkit.LSTMCell)
    state = cell.init_state(1, dtype=x.dtype)
    jacs = []
    for t in range(x.shape[1]):
        xt = x[b : b + 1, t]
        flat = torch.cat(state, 1)[0] if lstm else state[0]

        def f(s, xt=xt):
            st = (s[:H].unsqueeze(0), s[H:].unsqueeze(0)) if lstm else s.unsqueeze(0)
            _, new = cell(xt, st)
            return torch.cat(new, 1)[0] if lstm else new[0]

        jacs.append(torch.autograd.functional.jacobian(f, flat))
        _, state = cell(xt, state)
    return jacs


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_jacobian_norms_equal_explicit_products(double, kind):
    layer = rnnkit.RNN(kind, 3, 4)
    B, T = 2, 5
    x = torch.randn(B, T, 3)
    d = analyze(nn.Sequential(layer), x)
    H = 4
    expect = np.zeros((B, T))
    for b in range(B):
        jacs = _step_jacobians(layer.cells[0], x, b)
        prod = torch.eye(jacs[0].shape[0], dtype=x.dtype)
        for t in range(T - 1, -1, -1):  # prod = ∂s_T/∂s_t
            expect[b, t] = prod[:H, :H].norm().item()
            prod = prod @ jacs[t]
    np.testing.assert_allclose(d.layers[0].jacobian_norm, expect.mean(0), rtol=1e-9)
    assert d.layers[0].jacobian_norm[-1] == pytest.approx(2.0)  # ‖I_4‖_F
    assert d.loss is None and d.layers[0].grad_norm is None

    est = analyze(nn.Sequential(layer), x, probes=400).layers[0]
    assert not est.jacobian_exact
    np.testing.assert_allclose(est.jacobian_norm, expect.mean(0), rtol=0.2)


def test_bidirectional_padded_time_order(double):
    """Loss on the output at t=0 only: forward direction gets gradient at t=0 alone, the
    backward direction (whose last step is t=0) at every real step; padding gets none."""
    layer = rnnkit.RNN("gru", 2, 3, bidirectional=True)
    x, lengths = torch.randn(2, 6, 2), torch.tensor([6, 4])

    def first_output(pred, target):
        return pred[:, 0].pow(2).sum()

    d = analyze(layer, (x, None, lengths), torch.zeros(1), loss=first_output)
    fwd, bwd = d["rnn.layer0"], d["rnn.layer0.reverse"]
    assert (fwd.grad_norm_per_sample[:, 1:] == 0).all() and (fwd.grad_norm[0] > 0)
    assert (bwd.grad_norm_per_sample[0] > 0).all()
    assert (bwd.grad_norm_per_sample[1, :4] > 0).all()
    assert (bwd.grad_norm_per_sample[1, 4:] == 0).all()
    # each sequence's last real step of the backward direction is t = 0: ‖∂h_T/∂h_T‖ = ‖I‖
    assert bwd.jacobian_norm[0] == pytest.approx(3 ** 0.5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gate_saturation_matches_direct_computation(double, kind):
    layer = rnnkit.RNN(kind, 3, 5)
    with torch.no_grad():
        for p in layer.parameters():
            p.mul_(8.0)  # big weights: a mix of saturated and unsaturated gates
    x = torch.randn(4, 7, 3)
    d = analyze(layer, x, jacobians=False).layers[0]
    cell = layer.cells[0]
    state = cell.init_state(4, dtype=x.dtype)
    gates = {}
    for t in range(7):  # gates straight from the equations, by hand
        h = state[0] if kind == "lstm" else state
        pre = x[:, t] @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
        chunks = pre.chunk(4 if kind == "lstm" else 3, dim=1)
        named = {"input": chunks[0], "forget": chunks[1], "output": chunks[3]} \
            if kind == "lstm" else {"reset": chunks[0], "update": chunks[1]}
        for name, v in named.items():
            gates.setdefault(name, []).append(torch.sigmoid(v))
        _, state = cell(x[:, t], state)
    assert set(d.gates) == set(gates)
    for name, vals in gates.items():
        v = torch.stack(vals)
        low, high = (v < 0.05).double().mean().item(), (v > 0.95).double().mean().item()
        assert d.gates[name]["low"] == pytest.approx(low)
        assert d.gates[name]["high"] == pytest.approx(high)
        assert 0 < low + high < 1
    assert 0 < d.saturation() < 1


def test_gate_saturation_known_biases():
    layer = rnnkit.RNN("lstm", 2, 4)
    with torch.no_grad():
        for p in layer.parameters():
            p.zero_()
        layer.cells[0].bias_ih[:4] = -10.0  # input gate shut
        layer.cells[0].bias_ih[4:8] = 10.0  # forget gate open
    d = analyze(layer, torch.randn(3, 5, 2), jacobians=False).layers[0]
    assert d.gates["input"]["low"] == 1.0 and d.gates["forget"]["high"] == 1.0
    assert d.gates["output"]["saturated"] == 0.0 and d.gates["output"]["mean"] == 0.5


def test_hidden_stats_and_state_norm():
    layer = rnnkit.RNN("rnn", 3, 6)
    x = torch.randn(4, 9, 3) * 5
    d = analyze(layer, x, jacobians=False).layers[0]
    out, _ = layer(x)  # the fused kernel: an independent computation of the same states
    assert d.hidden["saturated"] == pytest.approx((out.abs() > 0.95).double().mean().item())
    assert d.hidden["abs_mean"] == pytest.approx(out.abs().mean().item(), rel=1e-6)
    np.testing.assert_allclose(d.state_norm, out.norm(dim=-1).mean(0).detach().numpy(),
                               rtol=1e-5)


def test_tanh_gradient_vanishes_and_irnn_does_not():
    """The textbook picture at initialisation, on the adding problem at T = 60."""
    from rnnkit.data.tasks import adding_problem

    x, y = adding_problem(16, 60, seed=1)
    ratios = {}
    for kind in ("rnn", "irnn"):
        torch.manual_seed(0)
        model = Head(kind, input_size=2, hidden_size=16)
        model.head = nn.Linear(16, 1)
        ratios[kind] = analyze(model, x, y, jacobians=False).layers[0].grad_ratio()
    assert ratios["rnn"] < 1e-3 < 0.1 < ratios["irnn"]


def test_model_state_is_restored():
    model = Head("lstm").train()
    model.rnn.backend = "auto"
    for p in model.head.parameters():
        p.requires_grad_(False)
    analyze(model, torch.randn(2, 4, 3), torch.randn(2, 2))
    assert model.training and model.rnn.backend == "auto"
    assert all(p.grad is None for p in model.parameters())
    assert not any(p.requires_grad for p in model.head.parameters())
    assert "recur" not in model.rnn.cells[0].__dict__


def test_record_exposes_steps():
    layer = rnnkit.RNN("lstm", 2, 3, num_layers=2)
    with record(layer) as traces:
        layer(torch.randn(2, 5, 2))
    assert [t.name for t in traces] == ["rnn.layer0", "rnn.layer1"]
    assert all(t.steps == 5 and t.memory() is not None for t in traces)


def test_errors():
    with pytest.raises(ValueError, match=r"diagnostics: Linear has no recurrent layer"):
        analyze(nn.Linear(2, 2), torch.randn(2, 2))
    with pytest.raises(ValueError, match=r"torch.nn recurrent modules \(0\)"):
        analyze(nn.Sequential(nn.LSTM(2, 2)), torch.randn(2, 3, 2))
    model = Head("gru")
    with pytest.raises(ValueError, match=r"diagnostics: unknown loss 'l7'; expected one of mse"):
        analyze(model, torch.randn(2, 4, 3), torch.randn(2, 2), loss="l7")
    with pytest.raises(ValueError, match=r"loss 'mse': prediction of shape \(2, 2\) does not "
                                         r"match target of shape \(2, 1\)"):
        analyze(model, torch.randn(2, 4, 3), torch.randn(2, 1))


def test_plots_write_pngs(tmp_path):
    d = analyze(Head("gru"), torch.randn(2, 8, 3), torch.randn(2, 2))
    path = plot_gradient_flow({"gru": d.layers[0].grad_norm, "zeros": np.zeros(8)},
                              tmp_path / "flow.png", title="t")
    assert path.stat().st_size > 1000
    runs = {"a": {"step": [1, 2, 3], "loss": [1.0, 0.5, 0.2], "grad_norm": [3.0, 2.0, 1.0]}}
    assert plot_runs(runs, tmp_path / "runs.png", baseline=0.17).stat().st_size > 1000


def test_exploding_gradients_runs_share_weights_and_record_divergence():
    """IRNN + plain SGD at T=200: without clipping the loss turns non-finite at step 2 and fit
    gives up after 5 skipped steps; with clipping every recorded norm was clipped to 1."""
    from rnnkit.diagnostics import exploding_gradients

    runs = exploding_gradients("adding", 200, steps=8, eval_every=4, hidden_size=16)
    free, clipped = runs["no clipping"], runs["clip_norm=1"]
    assert free.step == [1] and free.skipped == 5 and free.diverged_at == 6
    assert clipped.diverged_at is None and clipped.step == list(range(1, 9))
    assert free.grad_norm[0] == pytest.approx(clipped.grad_norm[0])  # same start
    assert all(c == (g > 1) for c, g in zip(clipped.clipped, clipped.grad_norm, strict=True))
