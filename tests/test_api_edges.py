"""Python API edges a newcomer's run found (session 17): a compiled user cell follows its
plain attributes, a subclass's own ``forward`` is what the layer runs, a stream follows the
layer's current weights, padding never reaches a gradient, a compiled user cell survives
``retain_graph``, ``predict`` returns NumPy for a bfloat16 model."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rnnkit
from rnnkit.compiled import traced


@pytest.fixture(autouse=True)
def quick_traced(monkeypatch):
    monkeypatch.setattr(traced, "INDUCTOR", False)  # the traced graphs, without code generation


class Leaky(rnnkit.RecurrentCell):
    num_gates = 1
    alpha = 0.5

    def recur(self, xp, h):
        h = self.alpha * h + (1 - self.alpha) * torch.tanh(
            xp + F.linear(h, self.weight_hh, self.bias_hh))
        return h, h


def test_a_compiled_user_cell_follows_its_plain_attributes():
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    outs = {}
    for backend in ("loop", "compiled"):
        torch.manual_seed(0)
        layer = rnnkit.RNN(Leaky(3, 4), backend=backend).double()
        first = layer(x)[0]
        layer.cells[0].alpha = 0.9
        outs[backend] = (first, layer(x)[0])
    assert not torch.allclose(outs["compiled"][0], outs["compiled"][1])
    for a, b in zip(outs["loop"], outs["compiled"], strict=True):
        torch.testing.assert_close(a, b)


class ScaledInputGRU(rnnkit.GRUCell):
    def forward(self, x_t, state=None):
        return super().forward(2.0 * x_t, state)


@pytest.mark.parametrize("backend", ["auto", "loop", "compiled"])
def test_a_subclass_forward_is_what_the_layer_runs(backend):
    torch.manual_seed(0)
    layer = rnnkit.RNN(ScaledInputGRU(3, 4), backend=backend).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    out, _ = layer(x)
    state, steps = None, []
    with torch.no_grad():
        for t in range(5):
            y, state = layer.step(x[:, t], state)
            steps.append(y)
    torch.testing.assert_close(out.detach(), torch.stack(steps, 1))
    plain = rnnkit.RNN(rnnkit.GRUCell(3, 4), backend="loop").double()
    plain.load_state_dict(layer.state_dict())
    torch.testing.assert_close(out, plain(2 * x)[0])


def test_a_stream_follows_weights_assigned_mid_stream_and_a_new_dtype():
    torch.manual_seed(0)
    layer, new = rnnkit.GRU(3, 4).eval(), rnnkit.GRU(3, 4).eval()
    x = torch.randn(2, 3, 3)
    with torch.no_grad():
        _, s = layer.step(x[:, 0])
        _, s = layer.step(x[:, 1], s)
        layer.load_state_dict(new.state_dict(), assign=True)
        y, _ = layer.step(x[:, 2], s)
        torch.testing.assert_close(y, new.cells[0](x[:, 2], s[0])[0])
        wide = rnnkit.GRU(3, 4).double().eval()
        _, s = wide.step(x[:, 0].double())
        wide.float()
        y, _ = wide.step(x[:, 1].double(), s)
        assert y.dtype == torch.float32


@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn", "mingru", "ln_lstm"])
@pytest.mark.parametrize("backend", ["loop", "compiled", "auto"])
def test_nan_in_padding_never_reaches_a_gradient(kind, backend):
    torch.manual_seed(0)
    x = torch.randn(2, 6, 2, dtype=torch.float64)
    x[1, 3:] = float("nan")
    x.requires_grad_()
    layer = rnnkit.RNN(kind, 2, 4, backend=backend).double()
    out, h = layer(x, lengths=torch.tensor([6, 3]))
    final = h if isinstance(h, tuple) else (h,)
    (out.sum() + sum(s.sum() for s in final)).backward()
    assert torch.isfinite(out).all()
    for name, p in layer.named_parameters():
        assert torch.isfinite(p.grad).all(), name
    assert torch.isfinite(x.grad).all() and (x.grad[1, 3:] == 0).all()


def test_a_compiled_user_cell_backpropagates_twice_with_retain_graph():
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    grads = []
    for backend in ("compiled", "loop"):
        torch.manual_seed(1)
        layer = rnnkit.RNN(Leaky(3, 5), backend=backend).double()
        out, _ = layer(x)
        out.sum().backward(retain_graph=True)
        (out ** 2).sum().backward()
        grads.append(layer.cells[0].weight_hh.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_predict_gives_numpy_for_a_bfloat16_model():
    model = rnnkit.SequenceRegressor(2, 6).to(torch.bfloat16)
    out = rnnkit.predict(model, np.random.randn(3, 5, 2).astype(np.float32))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape[0] == 3


def test_deepcopy_of_a_layer_mid_stream_still_steps():
    layer = rnnkit.LSTM(3, 4).eval()
    x = torch.randn(1, 3)
    with torch.no_grad():
        _, s = layer.step(x)
        twin = copy.deepcopy(layer)
        torch.testing.assert_close(twin.step(x, s)[0], layer.step(x, s)[0])


class _WithLengths(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x, lengths):
        return self.layer(x, lengths=lengths)[0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("options", [dict(reset_after=False), dict(backend="compiled")])
def test_jit_trace_with_lengths_holds_for_other_lengths(options):
    torch.manual_seed(0)
    model = _WithLengths(rnnkit.GRU(4, 6, **options).eval())
    x = torch.randn(3, 5, 4)
    traced_model = torch.jit.trace(model, (x, torch.tensor([5, 2, 4])), check_trace=False)
    for lengths in (torch.tensor([1, 3, 5]), torch.tensor([5, 5, 5])):
        torch.testing.assert_close(traced_model(x, lengths), model(x, lengths))


def test_torch_export_with_lengths_holds_for_other_lengths():
    torch.manual_seed(0)
    model = _WithLengths(rnnkit.GRU(4, 6, reset_after=False))
    x = torch.randn(3, 5, 4)
    exported = torch.export.export(model, (x, torch.tensor([5, 2, 4])))
    lengths = torch.tensor([1, 3, 5])
    torch.testing.assert_close(exported.module()(x, lengths), model(x, lengths))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own, while compiling
def test_torch_compile_runs_the_fused_layers_with_and_without_lengths():
    torch._dynamo.reset()
    x, lengths = torch.randn(3, 5, 4), torch.tensor([5, 2, 4])
    lstm, gru = rnnkit.LSTM(4, 6), rnnkit.GRU(4, 6)
    torch.testing.assert_close(torch.compile(lstm)(x)[0], lstm(x)[0])
    torch.testing.assert_close(torch.compile(gru)(x, lengths=lengths)[0],
                               gru(x, lengths=lengths)[0])


def test_a_resumed_run_given_more_epochs_replans_its_cosine_schedule(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.randn(32, 6, 2).astype(np.float32)
    y = X.sum((1, 2))[:, None]
    kw = dict(batch_size=8, schedule="cosine", progress=False, device="cpu")
    rnnkit.fit(rnnkit.SequenceRegressor(2, 6), (X, y), epochs=2, checkpoint_dir=tmp_path, **kw)
    grown = rnnkit.fit(rnnkit.SequenceRegressor(2, 6), (X, y), epochs=4, resume=True,
                       checkpoint_dir=tmp_path, **kw)["lr"]
    planned = rnnkit.fit(rnnkit.SequenceRegressor(2, 6), (X, y), epochs=4, **kw)["lr"]
    assert grown[2:] == pytest.approx(planned[2:])  # not 0 for an epoch, then up again


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_auto_takes_a_negative_initial_state_of_a_linear_recurrence(kind):
    """The kernels and the scan need a non-negative state (every state these cells produce
    is); auto then runs the loop instead of refusing what backend="loop" accepts."""
    torch.manual_seed(0)
    layer = rnnkit.RNN(kind, 3, 4).double()
    loop = rnnkit.RNN(kind, 3, 4, backend="loop").double()
    loop.load_state_dict(layer.state_dict())
    x, h0 = torch.randn(2, 5, 3, dtype=torch.float64), -torch.rand(1, 2, 4, dtype=torch.float64)
    torch.testing.assert_close(layer(x, h0)[0], loop(x, h0)[0])
