"""LayerNorm-LSTM/GRU (rnnkit.ln_cells) and recurrent dropout.

The oracle is an implementation written here from the equations (Ba et al. 2016, eq. 20-22;
the GRU by the same rule), with its own layer norm (mean and biased variance by hand), run
per sequence in float64: the layer's loop and its compiled kernels must both equal it.
Then the compiled kernels against the loop (values and gradients, stacked, bidirectional,
lengths, initial state), gradcheck, recurrent dropout (off = the plain cell, on = one mask
per sequence fixed across steps, none in eval mode) and the one-line errors."""

import pytest
import torch
from compiled_helpers import run

import rnnkit
from rnnkit import RNN, LayerNormGRUCell, LayerNormLSTMCell, compiled
from rnnkit.state_tree import leaves, tree_map

B, T, I, H = 4, 7, 3, 5
LENGTHS = torch.tensor([7, 3, 5, 1])
KINDS = ["ln_lstm", "ln_gru"]
BUILT = compiled.available()


# ------------------------------------------------------------------------- the oracle
def sig(v):
    return 1 / (1 + torch.exp(-v))


def norm(a, gain, bias, eps):
    mean = a.sum(-1, keepdim=True) / a.shape[-1]
    var = ((a - mean) ** 2).sum(-1, keepdim=True) / a.shape[-1]
    out = gain * (a - mean) / torch.sqrt(var + eps)
    return out if bias is None else out + bias


def reference(cell, x, state, mask=None):
    """One sequence batch (B, T, I) through ``cell``'s equations, written out; ``mask`` (B, H)
    multiplies h_{t-1} where W_hh reads it. Returns outputs (B, T, H) and the final state."""
    p = dict(cell.named_parameters())
    lstm = isinstance(cell, LayerNormLSTMCell)
    h, c = state if lstm else (state, None)
    outs = []
    for t in range(x.shape[1]):
        hd = h if mask is None else h * mask
        xs = norm(x[:, t] @ p["weight_ih"].T, p["gain_ih"], p.get("bias_ih"), cell.eps)
        hs = norm(hd @ p["weight_hh"].T, p["gain_hh"], None, cell.eps)
        if lstm:
            i, f, g, o = (xs + hs).split(cell.hidden_size, -1)
            c = sig(f) * c + sig(i) * torch.tanh(g)
            h = sig(o) * torch.tanh(norm(c, p["gain_c"], p.get("bias_c"), cell.eps))
        else:
            xr, xz, xn = xs.split(cell.hidden_size, -1)
            hr, hz, hn = hs.split(cell.hidden_size, -1)
            r, z = sig(xr + hr), sig(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs, 1), ((h, c) if lstm else h)


def randomise(module, seed=0):
    """Gains and biases away from 1 and 0, so that every parameter matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.7)
    return module


def layer(kind, backend="loop", **kwargs):
    return randomise(RNN(kind, I, H, backend=backend, **kwargs).double())


def random_state(net, batch=B):
    return tree_map(torch.randn_like, net.init_state(batch, dtype=torch.float64))


# --------------------------------------------------------------- equal to the equations
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", ["loop", "compiled"])
@pytest.mark.parametrize("bias", [True, False])
def test_layer_equals_the_equations(kind, backend, bias):
    net = layer(kind, backend, bias=bias)
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = random_state(net)
    y, final = net(x, state)
    want_y, want_final = reference(net.cells[0], x, tree_map(lambda s: s[0], state))
    torch.testing.assert_close(y, want_y, atol=1e-12, rtol=0)
    for a, b in zip(leaves(final), leaves(want_final), strict=True):
        torch.testing.assert_close(a[0], b, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", ["loop", "compiled"])
def test_bidirectional_lengths_equal_the_equations_per_sequence(kind, backend):
    """Each sequence alone, cut to its length: forward cell over it, backward cell over it
    reversed; the layer's outputs past the end are zero and its final state is the last
    real step's."""
    net = layer(kind, backend, bidirectional=True)
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = random_state(net)
    y, final = net(x, state, lengths=LENGTHS)
    for b, n in enumerate(LENGTHS.tolist()):
        seq = x[b : b + 1, :n]
        for d, cell in enumerate(net.cells):
            s0 = tree_map(lambda s, d=d, b=b: s[d, b : b + 1], state)
            out, last = reference(cell, seq if d == 0 else seq.flip(1), s0)
            out = out if d == 0 else out.flip(1)
            torch.testing.assert_close(y[b, :n, d * H : (d + 1) * H], out[0], atol=1e-12,
                                       rtol=0)
            for got, want in zip(leaves(final), leaves(last), strict=True):
                torch.testing.assert_close(got[d, b], want[0], atol=1e-12, rtol=0)
        assert bool((y[b, n:] == 0).all())


# --------------------------------------------------------------- compiled equals the loop


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("initial", [False, True], ids=["zero", "state"])
def test_compiled_equals_loop(kind, bidirectional, padded, initial):
    loop = layer(kind, "loop", num_layers=2, bidirectional=bidirectional)
    fast = RNN(kind, I, H, num_layers=2, bidirectional=bidirectional,
               backend="compiled").double()
    fast.load_state_dict(loop.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = random_state(loop) if initial else None
    lengths = LENGTHS if padded else None
    values_a, grads_a = run(loop, x, state, lengths)
    values_b, grads_b = run(fast, x, state, lengths)
    for a, b in zip(values_a + grads_a, values_b + grads_b, strict=True):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
def test_compiled_all_states_and_no_bias_equal_loop(kind, bias):
    loop = layer(kind, "loop", bias=bias)
    fast = RNN(kind, I, H, backend="compiled", bias=bias).double()
    fast.load_state_dict(loop.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = random_state(loop)
    a = run(loop, x, state, LENGTHS, all_states=True)
    b = run(fast, x, state, LENGTHS, all_states=True)
    for u, v in zip(a[0] + a[1], b[0] + b[1], strict=True):
        torch.testing.assert_close(v, u, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", ["loop", "compiled"])
def test_gradcheck(kind, backend):
    net = RNN(kind, 2, 3, backend=backend).double()
    randomise(net, seed=1)
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    h0 = tree_map(lambda s: s.clone().requires_grad_(), random_state(net, batch=2))
    lengths = torch.tensor([4, 2])
    params = list(net.parameters())

    def f(x, *rest):
        state = tuple(rest[:2]) if kind == "ln_lstm" else rest[0]
        y, final = torch.func.functional_call(
            net, dict(zip([n for n, _ in net.named_parameters()], rest[-len(params):],
                          strict=True)), (x, state), {"lengths": lengths})
        return (y, *leaves(final))

    weights = [p.detach().clone().requires_grad_() for p in params]
    assert torch.autograd.gradcheck(f, (x, *leaves(h0), *weights))


@pytest.mark.parametrize("cls", [LayerNormLSTMCell, LayerNormGRUCell])
def test_cell_gradcheck(cls):
    cell = randomise(cls(2, 3).double(), seed=2)
    x = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    state = tree_map(lambda s: torch.randn_like(s).requires_grad_(),
                     cell.init_state(2, dtype=torch.float64))

    def f(x, *s):
        y, new = cell(x, tuple(s) if len(s) == 2 else s[0])
        return (y, *leaves(new))

    assert torch.autograd.gradcheck(f, (x, *leaves(state)))


@pytest.mark.parametrize("kind", KINDS)
def test_float32_and_saturated_inputs(kind):
    loop = RNN(kind, 4, 8, num_layers=2, backend="loop")
    fast = RNN(kind, 4, 8, num_layers=2, backend="compiled")
    fast.load_state_dict(loop.state_dict())
    for scale in (1.0, 100.0, 1000.0):
        x = torch.randn(3, 20, 4) * scale
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = loop(xa)[0], fast(xb)[0]
        ya.sum().backward()
        yb.sum().backward()
        assert torch.isfinite(yb).all() and torch.isfinite(xb.grad).all()
        torch.testing.assert_close(yb, ya, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(xb.grad, xa.grad, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_streaming_step_equals_the_sequence(kind):
    net = layer(kind, "auto", num_layers=2)
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = random_state(net)
    want, final = net(x, state)
    outs = []
    with torch.no_grad():
        for x_t in x.unbind(1):
            y, state = net.step(x_t, state)
            outs.append(y)
    torch.testing.assert_close(torch.stack(outs, 1), want, atol=1e-12, rtol=0)
    for a, b in zip(leaves(state), leaves(final), strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


@pytest.mark.skipif(not BUILT, reason="compiled kernels not built here")
def test_auto_runs_the_kernels_when_built():
    assert RNN("ln_lstm", I, H)._use_compiled(torch.randn(1, 1, I))
    assert RNN("ln_gru", I, H)._use_compiled(torch.randn(1, 1, I))


def test_init_and_parameters():
    cell = LayerNormLSTMCell(3, 4, init="keras")
    names = [n for n, _ in cell.named_parameters()]
    assert names == ["weight_ih", "weight_hh", "bias_ih", "gain_ih", "gain_hh", "gain_c",
                     "bias_c"]
    assert bool((cell.gain_ih == 1).all()) and bool((cell.bias_c == 0).all())
    assert cell.bias_ih[4:8].tolist() == [1.0] * 4 and cell.bias_ih[:4].abs().sum() == 0
    gru = LayerNormGRUCell(3, 4, bias=False)
    assert [n for n, _ in gru.named_parameters()] == ["weight_ih", "weight_hh", "gain_ih",
                                                      "gain_hh"]
    assert isinstance(rnnkit.RNN("ln_gru", 3, 4).cells[0], LayerNormGRUCell)


# ------------------------------------------------------------------- recurrent dropout
PLAIN = [("lstm", {}), ("gru", {"reset_after": True}), ("gru", {"reset_after": False}),
         ("ln_lstm", {}), ("ln_gru", {})]
PLAIN_IDS = ["lstm", "gru-after", "gru-before", "ln_lstm", "ln_gru"]


@pytest.mark.parametrize("kind,options", PLAIN, ids=PLAIN_IDS)
def test_recurrent_dropout_off_is_the_plain_cell(kind, options):
    plain = RNN(kind, I, H, num_layers=2, backend="loop", **options).double()
    off = RNN(kind, I, H, num_layers=2, backend="loop", recurrent_dropout=0.0,
              **options).double()
    off.load_state_dict(plain.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64)
    torch.testing.assert_close(off(x, lengths=LENGTHS)[0], plain(x, lengths=LENGTHS)[0],
                               atol=0, rtol=0)


@pytest.mark.parametrize("kind,options", PLAIN, ids=PLAIN_IDS)
def test_eval_mode_has_no_recurrent_dropout(kind, options):
    plain = RNN(kind, I, H, **options).double()
    drop = RNN(kind, I, H, recurrent_dropout=0.5, **options).double()
    drop.load_state_dict(plain.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64)
    drop.eval()
    plain.eval()
    torch.testing.assert_close(drop(x)[0], plain(x)[0], atol=1e-12, rtol=0)
    drop.train()
    assert not torch.allclose(drop(x)[0], plain(x)[0])  # training: it does drop


def test_recurrent_dropout_mask_is_fixed_across_steps_closed_form():
    """LSTM with i = o = 1, f = 0 (saturated biases, W_ih = 0) and W_hh's g block the
    identity: c_t = tanh(m ⊙ h_{t-1}), h_t = tanh(c_t) with m the mask (0 or 1/(1-p)).
    From h_0 = 1 a dropped unit is 0 at every step and a kept one never is: one mask per
    sequence, the same at every step (a mask per step would zero kept units later)."""
    p, steps, width = 0.5, 12, 64
    net = RNN("lstm", 1, width, recurrent_dropout=p, backend="loop").double()
    with torch.no_grad():
        for q in net.parameters():
            q.zero_()
        cell = net.cells[0]
        cell.bias_ih[:width] = 50.0  # i = 1
        cell.bias_ih[width : 2 * width] = -50.0  # f = 0
        cell.bias_ih[3 * width :] = 50.0  # o = 1
        cell.weight_hh[2 * width : 3 * width] = torch.eye(width)  # g reads h
    h0 = torch.ones(1, 2, width, dtype=torch.float64)
    torch.manual_seed(3)
    y, _ = net(torch.zeros(2, steps, 1, dtype=torch.float64), (h0, torch.zeros_like(h0)))
    kept = y[:, 0] != 0  # (B, H)
    assert bool((kept == (y != 0).all(1)).all())  # zero at every step or at none
    assert 0.25 < kept.double().mean() < 0.75
    first = torch.tanh(torch.tanh(torch.tensor(1 / (1 - p), dtype=torch.float64)))
    torch.testing.assert_close(y[:, 0][kept], first.expand(int(kept.sum())), atol=1e-15, rtol=0)
    assert not torch.equal(kept[0], kept[1])  # each sequence its own mask
    y2, _ = net(torch.zeros(2, steps, 1, dtype=torch.float64), (h0, torch.zeros_like(h0)))
    assert not torch.equal(y2[:, 0] != 0, kept)  # a new call, a new mask


@pytest.mark.parametrize("kind,options", PLAIN, ids=PLAIN_IDS)
def test_recurrent_dropout_equals_the_equations_with_its_mask(kind, options):
    """In training the layer computes the cell with h_{t-1} ⊙ m in W_hh's products, the
    one mask m it drew for this call; z ⊙ h (GRU) and c (LSTM) are not dropped."""
    p = 0.4
    net = RNN(kind, I, H, recurrent_dropout=p, backend="compiled", **options).double()
    randomise(net)
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = random_state(net)
    y, _ = net(x, state)
    cell = net.cells[0]
    mask = cell._recurrent_mask
    assert set(mask.unique().tolist()) <= {0.0, 1 / (1 - p)}
    twin = RNN(kind, I, H, backend="loop", **options).double()
    twin.load_state_dict(net.state_dict())
    ref = twin.cells[0]
    ref.recurrent_input = lambda h: h * mask  # the same mask at every step
    s = tree_map(lambda v: v[0], state)
    outs = []
    for x_t in x.unbind(1):
        out, s = ref.recur(ref.project_input(x_t), s)
        outs.append(out)
    if kind.startswith("ln"):  # and the independent equations for the LayerNorm cells
        want, _ = reference(ref, x, tree_map(lambda v: v[0], state), mask)
        torch.testing.assert_close(y, want, atol=1e-12, rtol=0)
    torch.testing.assert_close(y, torch.stack(outs, 1), atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", ["lstm", "ln_gru"])
def test_streaming_in_training_keeps_one_mask(kind):
    net = RNN(kind, I, H, recurrent_dropout=0.5).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    torch.manual_seed(5)
    want, _ = net(x)
    torch.manual_seed(5)
    state, outs = None, []
    for x_t in x.unbind(1):
        y, state = net.step(x_t, state)
        outs.append(y)
    torch.testing.assert_close(torch.stack(outs, 1), want, atol=1e-12, rtol=0)


def test_recurrent_dropout_trains_with_gradients():
    net = RNN("ln_lstm", I, H, num_layers=2, bidirectional=True, recurrent_dropout=0.3)
    y, _ = net(torch.randn(B, T, I), lengths=LENGTHS)
    y.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("make, message", [
    (lambda: LayerNormLSTMCell(3, 4, eps=0), r"^LayerNormLSTMCell: eps must be a positive "
                                              r"number, got 0$"),
    (lambda: LayerNormGRUCell(3, 4, eps=float("nan")), r"^LayerNormGRUCell: eps must be a "),
    (lambda: RNN("ln_lstm", 3, 4, recurrent_dropout=1.0),
     r"^LayerNormLSTMCell: recurrent_dropout must lie in \[0, 1\), got 1.0$"),
    (lambda: RNN("lstm", 3, 4, recurrent_dropout=-0.1),
     r"^LSTMCell: recurrent_dropout must lie in \[0, 1\), got -0.1$"),
    (lambda: RNN("gru", 3, 4, recurrent_dropout="half"),
     r"^GRUCell: recurrent_dropout must lie in \[0, 1\), got 'half'$"),
    (lambda: RNN("rnn", 3, 4, recurrent_dropout=0.2),
     r"^SimpleRNN: recurrent_dropout=0.2 does not apply to a SimpleRNN cell \(it takes "
     r"activation=, init=\)$"),
    (lambda: RNN("mingru", 3, 4, recurrent_dropout=0.2),
     r"^MinGRU: recurrent_dropout=0.2 does not apply to a MinGRU cell"),
    (lambda: RNN("ln_gru", 3, 4, reset_after=False),
     r"^LayerNormGRU: reset_after=False does not apply to a LayerNormGRU cell \(it takes "
     r"init=, recurrent_dropout=\)$"),
    (lambda: RNN("ln_lstm", 3, 4, init="irnn"), r"^LayerNormLSTMCell: unknown init 'irnn'; "
                                                r"expected one of torch, keras$"),
    (lambda: RNN("lstm", 3, 4, recurrent_dropout=0.1, backend="fused"),
     r"^LSTM: backend='fused' cannot apply recurrent_dropout"),
    (lambda: RNN("ln_lstm", 3, 4, backend="fused"), r"^LayerNormLSTM: backend='fused' needs"),
    (lambda: RNN(lambda i, h: LayerNormLSTMCell(i, h), 3, 4, recurrent_dropout=0.1),
     r"^RNN\(<lambda>\): recurrent_dropout= configure built-in cells only"),
])
def test_bad_options_are_refused_in_one_line(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_state_shape_error_names_the_pair():
    net = RNN("ln_lstm", I, H)
    with pytest.raises(ValueError, match=r"^LayerNormLSTM: expected \(h, c\) of shapes"):
        net(torch.randn(B, T, I), torch.zeros(1, B, H))


def test_docstring_equations_hold_for_one_step():
    """The cell's forward is one step of the reference."""
    for cls in (LayerNormLSTMCell, LayerNormGRUCell):
        cell = randomise(cls(I, H).double())
        x = torch.randn(B, I, dtype=torch.float64)
        state = tree_map(torch.randn_like, cell.init_state(B, dtype=torch.float64))
        y, new = cell(x, state)
        want, last = reference(cell, x.unsqueeze(1), state)
        torch.testing.assert_close(y, want[:, 0], atol=1e-12, rtol=0)
        for a, b in zip(leaves(new), leaves(last), strict=True):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


@pytest.mark.parametrize("cell", ["ln_lstm", "ln_gru"])
def test_textgen_trains_a_layer_norm_language_model_and_generates(tmp_path, cell):
    from rnnkit.apps import textgen

    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    config = textgen.Config(cell=cell, hidden_size=16, seq_len=8, batch_size=4, epochs=1,
                            sample_length=0)
    config.check()
    history = textgen.train(config, path=text, checkpoint_dir=tmp_path / "lm", quiet=True)
    assert len(history) == 1 and history["train_loss"][0] == history["train_loss"][0]
    predictor = textgen.load(tmp_path / "lm")
    out = "".join(predictor.stream("the ", 12, seed=0))
    assert len(out) > 0
