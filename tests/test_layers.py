"""The RNN layer against torch.nn.RNN/LSTM/GRU (values and gradients, float64), against a
manual step loop, and against itself (backends, streaming, padding)."""

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
from rnnkit import RNN, GRUCell, LSTMCell

ATOL = 1e-10
TORCH = {"rnn": nn.RNN, "rnn_relu": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
B, T, I, H = 3, 6, 5, 4
LENGTHS = torch.tensor([6, 2, 4])


def leaves(s):
    return list(s) if isinstance(s, tuple) else [s]


def make_pair(kind, layers, bi, backend):
    kw = {"activation": "relu"} if kind == "rnn_relu" else {}
    ours = RNN("rnn" if kind == "rnn_relu" else kind, I, H, layers, bidirectional=bi,
               backend=backend, **kw)
    tkw = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    ref = TORCH[kind](I, H, layers, bidirectional=bi, batch_first=True, **tkw)
    ref.load_state_dict(ours.torch_state_dict())
    return ours, ref


def run_torch(ref, x, state, lengths):
    if lengths is None:
        return ref(x, state)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, final = ref(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, final


CONFIGS = list(itertools.product(["rnn", "rnn_relu", "lstm", "gru"], [1, 2], [False, True],
                                 [False, True], ["fused", "loop"]))


@pytest.mark.parametrize("kind,layers,bi,padded,backend", CONFIGS)
def test_layer_matches_torch_values_and_gradients(double, kind, layers, bi, padded, backend):
    ours, ref = make_pair(kind, layers, bi, backend)
    x = torch.randn(B, T, I)
    lengths = LENGTHS if padded else None
    shape = (layers * (2 if bi else 1), B, H)
    state = (torch.randn(shape), torch.randn(shape)) if kind == "lstm" else torch.randn(shape)

    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    s1 = tuple(s.clone().requires_grad_() for s in leaves(state))
    s2 = tuple(s.clone().requires_grad_() for s in leaves(state))
    out1, fin1 = ours(x1, s1 if kind == "lstm" else s1[0], lengths=lengths)
    out2, fin2 = run_torch(ref, x2, s2 if kind == "lstm" else s2[0], lengths)
    torch.testing.assert_close(out1, out2, atol=ATOL, rtol=0)
    for a, b in zip(leaves(fin1), leaves(fin2), strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)

    g_out = torch.randn_like(out1)
    g_fin = [torch.randn_like(a) for a in leaves(fin1)]
    loss1 = (out1 * g_out).sum() + sum((a * g).sum() for a, g in zip(leaves(fin1), g_fin, strict=True))
    loss2 = (out2 * g_out).sum() + sum((b * g).sum() for b, g in zip(leaves(fin2), g_fin, strict=True))
    loss1.backward()
    loss2.backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=ATOL, rtol=0)
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=ATOL, rtol=0)
    ref_grads = dict(ref.named_parameters())
    for k, cell in enumerate(ours.cells):
        layer, d = divmod(k, ours.num_directions)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            key = f"{name}_l{layer}" + ("_reverse" if d else "")
            torch.testing.assert_close(getattr(cell, name).grad, ref_grads[key].grad,
                                       atol=ATOL, rtol=0)


def manual_loop(cell, x, state=None):
    """The layer's definition for one layer, one direction: step the cell over time."""
    outs = []
    for t in range(x.shape[1]):
        y, state = cell(x[:, t], state)
        outs.append(y)
    return torch.stack(outs, 1), state


@pytest.mark.parametrize("make", [
    lambda: RNN("gru", I, H, reset_after=False),
    lambda: RNN("rnn", I, H, activation="sigmoid"),
    lambda: RNN("rnn", I, H, activation=torch.nn.functional.softsign),
], ids=["gru-reset-before", "sigmoid", "callable"])
def test_loop_only_configs_equal_manual_step_loop(double, make):
    layer = make()
    assert layer._fused_mode is None
    x = torch.randn(B, T, I)
    out, final = layer(x)
    ref_out, ref_final = manual_loop(layer.cells[0], x)
    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=0)
    torch.testing.assert_close(final[0], ref_final, atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_fused_and_loop_backends_agree(double, kind):
    fused = RNN(kind, I, H, 2, bidirectional=True, backend="fused")
    loop = RNN(kind, I, H, 2, bidirectional=True, backend="loop")
    loop.load_state_dict(fused.state_dict())
    x = torch.randn(B, T, I)
    for lengths in (None, LENGTHS):
        a, sa = fused(x, lengths=lengths)
        b, sb = loop(x, lengths=lengths)
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
        for p, q in zip(leaves(sa), leaves(sb), strict=True):
            torch.testing.assert_close(p, q, atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind,bi,backend", list(itertools.product(
    ["lstm", "gru", "rnn"], [False, True], ["fused", "loop"])))
def test_padded_batch_equals_each_sequence_alone(double, kind, bi, backend):
    layer = RNN(kind, I, H, 2, bidirectional=bi, backend=backend)
    x = torch.randn(B, T, I)
    out, final = layer(x, lengths=LENGTHS)
    for b, n in enumerate(LENGTHS.tolist()):
        alone, alone_final = layer(x[b : b + 1, :n])
        torch.testing.assert_close(out[b, :n], alone[0], atol=ATOL, rtol=0)
        assert torch.all(out[b, n:] == 0)
        for p, q in zip(leaves(final), leaves(alone_final), strict=True):
            torch.testing.assert_close(p[:, b], q[:, 0], atol=ATOL, rtol=0)


def test_return_all_states(double):
    layer = RNN("lstm", I, H, 2, bidirectional=True)
    x = torch.randn(B, T, I)
    out, (h, c), (hs, cs) = layer(x, lengths=LENGTHS, return_all_states=True)
    assert hs.shape == cs.shape == (4, B, T, H)
    # the last layer's h at every step is the output (forward half, then backward half)
    torch.testing.assert_close(hs[2].masked_fill(out[..., :H] == 0, 0), out[..., :H])
    torch.testing.assert_close(hs[3].masked_fill(out[..., H:] == 0, 0), out[..., H:])
    for b, n in enumerate(LENGTHS.tolist()):
        torch.testing.assert_close(cs[0, b, n - 1], c[0, b])  # forward: state at the last step
        torch.testing.assert_close(cs[1, b, 0], c[1, b])  # backward: ends at t = 0
    out2, _ = layer(x, lengths=LENGTHS)
    torch.testing.assert_close(out, out2, atol=ATOL, rtol=0)


class PeepholeFreeMinGRU(nn.Module):
    """A user cell following the contract (minGRU, Feng et al. 2024): no rnnkit base class.

        z = σ(W_z x),  h̃ = W_h x,  h' = (1 − z) ⊙ h + z ⊙ h̃
    """

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.linear = nn.Linear(input_size, 2 * hidden_size)

    def init_state(self, batch_size, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x_t, h):
        z, h_tilde = self.linear(x_t).chunk(2, dim=-1)
        z = torch.sigmoid(z)
        h = (1 - z) * h + z * h_tilde
        return h, h


def test_user_cell_instance_and_factory(double):
    cell = PeepholeFreeMinGRU(I, H)
    layer = RNN(cell, I)  # hidden_size is read from the cell
    assert layer.input_size == I and layer.hidden_size == H
    x = torch.randn(B, T, I)
    out, final = layer(x)
    ref, ref_final = manual_loop(cell, x, cell.init_state(B))
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=0)
    deep = RNN(PeepholeFreeMinGRU, I, H, num_layers=2, bidirectional=True)
    out, final = deep(x, lengths=LENGTHS)
    assert out.shape == (B, T, 2 * H) and final.shape == (4, B, H)
    with pytest.raises(ValueError, match=r"a cell instance builds one layer only"):
        RNN(PeepholeFreeMinGRU(I, H), I, num_layers=2)
    with pytest.raises(ValueError, match=r"RNN\(PeepholeFreeMinGRU\): input_size must be a positive"):
        RNN(PeepholeFreeMinGRU(I, H))


def test_dropout_between_layers_only_in_training():
    layer = RNN("lstm", I, H, 2, dropout=0.5)
    x = torch.randn(B, T, I)
    layer.eval()
    a, _ = layer(x)
    b, _ = layer(x)
    torch.testing.assert_close(a, b)
    layer.train()
    c, _ = layer(x)
    assert not torch.allclose(a, c)
    loop = RNN("lstm", I, H, 2, dropout=0.5, backend="loop").train()
    assert not torch.allclose(loop(x)[0], loop(x)[0])


def test_torch_state_dict_round_trip():
    ref = nn.GRU(I, H, 2, bidirectional=True, batch_first=True)
    ours = RNN("gru", I, H, 2, bidirectional=True)
    ours.load_torch_state_dict(ref.state_dict())
    x = torch.randn(B, T, I)
    torch.testing.assert_close(ours(x)[0], ref(x)[0])
    with pytest.raises(ValueError, match=r"GRU: torch state dict lacks 'weight_ih_l0'"):
        ours.load_torch_state_dict({})


def test_conveniences():
    assert rnnkit.SimpleRNN(3, 4, activation="relu")._fused_mode == "rnn_relu"
    assert rnnkit.LSTM(3, 4)._fused_mode == "lstm"
    assert rnnkit.GRU(3, 4)._fused_mode == "gru"
    assert rnnkit.GRU(3, 4, reset_after=False)._fused_mode is None
    assert RNN("irnn", 3, 4)._fused_mode == "rnn_relu"
    assert RNN("lstm", 3, 4, bidirectional=True).output_size == 8


# ------------------------------------------------------------------------------ errors
def test_error_wrong_rank():
    with pytest.raises(ValueError, match=r"^LSTM: expected input of shape \(B, T, 8\), got \(32, 8\)$"):
        rnnkit.LSTM(8, 16)(torch.randn(32, 8))


def test_error_wrong_feature_size():
    with pytest.raises(ValueError, match=r"^GRU: expected input of shape \(B, T, 8\), got \(2, 5, 7\)$"):
        rnnkit.GRU(8, 16)(torch.randn(2, 5, 7))


@pytest.mark.parametrize("lengths,lo,hi", [([5, 6], 5, 6), ([0, 3], 0, 3)])
def test_error_lengths_out_of_range(lengths, lo, hi):
    with pytest.raises(ValueError, match=rf"^SimpleRNN: lengths must lie in \[1, 5\] \(the input's "
                                         rf"T\), got min {lo} and max {hi}$"):
        rnnkit.SimpleRNN(3, 4)(torch.randn(2, 5, 3), lengths=torch.tensor(lengths))


def test_error_lengths_wrong_shape_or_type():
    with pytest.raises(ValueError, match=r"^LSTM: expected lengths of shape \(2,\), got \(3,\)$"):
        rnnkit.LSTM(3, 4)(torch.randn(2, 5, 3), lengths=[1, 2, 3])
    with pytest.raises(ValueError, match=r"^LSTM: lengths must be integers, got torch.float32$"):
        rnnkit.LSTM(3, 4)(torch.randn(2, 5, 3), lengths=torch.tensor([1.0, 2.0]))


def test_error_state_wrong_shape():
    with pytest.raises(ValueError, match=r"^GRU: expected state of shape \(2, 3, 4\) \(L\*D, B, H\), "
                                         r"got \(1, 3, 4\)$"):
        rnnkit.GRU(5, 4, 2)(torch.randn(3, 6, 5), torch.zeros(1, 3, 4))
    with pytest.raises(ValueError, match=r"^LSTM: expected \(h, c\) of shapes \(1, 3, 4\) and "
                                         r"\(1, 3, 4\) \(L\*D, B, H\), got Tensor$"):
        rnnkit.LSTM(5, 4)(torch.randn(3, 6, 5), torch.zeros(1, 3, 4))


def test_error_unknown_activation_and_kind():
    with pytest.raises(ValueError, match=r"^SimpleRNNCell: unknown activation 'swish'"):
        rnnkit.SimpleRNN(3, 4, activation="swish")
    with pytest.raises(ValueError, match=r"^RNN: unknown cell kind 'transformer'; expected one of "
                                         r"rnn, lstm, gru"):
        RNN("transformer", 3, 4)
    with pytest.raises(ValueError, match=r"^GRU: backend='fused' needs a configuration torch.nn runs"):
        RNN("gru", 3, 4, reset_after=False, backend="fused")
    with pytest.raises(ValueError, match=r"^LSTM: unknown backend 'cuda'"):
        RNN("lstm", 3, 4, backend="cuda")


def test_error_step_on_bidirectional_and_bad_shape():
    with pytest.raises(ValueError, match=r"^LSTM: step\(\) needs a unidirectional layer"):
        rnnkit.LSTM(3, 4, bidirectional=True).step(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"^LSTM: step expected input of shape \(B, 3\), got \(2, 1, 3\)$"):
        rnnkit.LSTM(3, 4).step(torch.randn(2, 1, 3))


def test_cells_are_exported():
    assert isinstance(RNN("lstm", 3, 4).cells[0], LSTMCell)
    assert isinstance(RNN("gru", 3, 4).cells[0], GRUCell)


# --------------------------------------------- settings that do not apply, dtypes, sizes
@pytest.mark.parametrize("make, message", [
    (lambda: RNN("lstm", 3, 4, activation="relu"),
     r"^LSTM: activation='relu' does not apply to a LSTM cell \(it takes init=, "
     r"recurrent_dropout=\)$"),
    (lambda: rnnkit.LSTM(3, 4, activation="tanh"),
     r"^LSTM: activation='tanh' does not apply to a LSTM cell"),
    (lambda: RNN("rnn", 3, 4, reset_after=False),
     r"^SimpleRNN: reset_after=False does not apply to a SimpleRNN cell \(it takes "
     r"activation=, init=\)$"),
    (lambda: RNN("irnn", 3, 4, activation="tanh"),
     r"^SimpleRNN: activation='tanh' contradicts the cell kind, which fixes activation='relu'$"),
    (lambda: RNN("mingru", 3, 4, init="irnn"), r"^MinGRUCell: unknown init 'irnn'"),
    (lambda: RNN(lambda i, h: LSTMCell(i, h), 3, 4, init="keras"),
     r"^RNN\(<lambda>\): init= configure built-in cells only; set them on your cell$"),
])
def test_settings_a_cell_does_not_take_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_cell_table_and_register_cell():
    assert rnnkit.layers.CELLS["gru"].cls is GRUCell
    assert RNN("irnn", 3, 4).cells[0].init == "irnn"

    class Sine(rnnkit.SimpleRNNCell):
        pass

    rnnkit.layers.register_cell("sine_rnn", Sine, "SineRNN", activation="tanh", init="torch")
    try:
        layer = RNN("sine_rnn", 3, 4, activation="relu")
        assert type(layer.cells[0]) is Sine and layer.name == "SineRNN"
        assert layer._fused_mode is None  # a subclass may change the equations
    finally:
        del rnnkit.layers.CELLS["sine_rnn"], rnnkit.layers.KINDS["sine_rnn"]


def test_models_still_accept_their_default_settings_for_any_cell():
    m = rnnkit.SequenceRegressor(1, 4, cell="lstm", activation="tanh", init="torch")
    assert isinstance(m.rnn.cells[0], LSTMCell)
    with pytest.raises(ValueError, match=r"^SequenceRegressor: LSTM: activation='relu' does "
                                         r"not apply"):
        rnnkit.SequenceRegressor(1, 4, cell="lstm", activation="relu")
    # issue 14: SequenceRegressor(1, 0) named only LSTM
    with pytest.raises(ValueError, match=r"^SequenceRegressor: LSTM: hidden_size must be a "
                                         r"positive integer, got 0$"):
        rnnkit.SequenceRegressor(1, 0)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.uint8])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "mingru"])
def test_integer_and_bool_inputs_are_refused_naming_the_layer(kind, dtype):
    layer = RNN(kind, 3, 4)
    name = rnnkit.layers.KINDS[kind]
    x = torch.ones(2, 5, 3, dtype=dtype)
    with pytest.raises(ValueError, match=rf"^{name}: expected a floating-point input, got "
                                         rf"{dtype} \(token ids go through an nn.Embedding"):
        layer(x)
    with pytest.raises(ValueError, match=rf"^{name}: expected a floating-point input"):
        layer.step(x[:, 0])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "minlstm"])
def test_other_float_precisions_are_cast_to_the_layers(kind, dtype):
    """The issue's probe: float16/float64 inputs to a float32 LSTM/GRU/RNN raised torch's
    'expected m1 and m2 to have the same dtype'; now they run in the layer's precision."""
    layer = RNN(kind, 3, 4)
    x = torch.randn(2, 5, 3)
    want, _ = layer(x.to(dtype).float())
    out, final = layer(x.to(dtype))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, want)
    y, _ = layer.step(x[:, 0].to(dtype))
    assert y.dtype == torch.float32
    state = layer.init_state(2, dtype=dtype)  # a state of another precision too
    assert layer(x.to(dtype), state)[0].dtype == torch.float32


@pytest.mark.parametrize("kind, hidden, layers", [("lstm", 10_000_000, 1), ("gru", 400_000, 1),
                                                  ("rnn", 50_000, 1000)])
def test_absurd_sizes_are_refused_before_allocating(kind, hidden, layers):
    name = rnnkit.layers.KINDS[kind]
    with pytest.raises(ValueError, match=rf"^{name}\(input_size=1, hidden_size={hidden}, "
                                         rf"num_layers={layers}, bidirectional=False\) with .* "
                                         r"parameters would need about .*iB, more than the .* of "
                                         r"memory available here$"):
        RNN(kind, 1, hidden, layers)


def test_estimate_size_counts_parameters_exactly():
    for kind, kw in (("lstm", {}), ("gru", {}), ("rnn", {}), ("mingru", {}), ("minlstm", {})):
        layer = RNN(kind, 3, 5, 2, bidirectional=True, **kw)
        est = rnnkit.layers.estimate_size(kind, 3, 5, 2, True)
        assert est["parameters"] == sum(p.numel() for p in layer.parameters()), kind
    assert rnnkit.layers.estimate_size("lstm", 1, 10, batch_size=2, steps=3)[
        "activation_bytes"] == 2 * 3 * 10 * 6 * 4


def test_a_batch_too_large_for_memory_is_refused(monkeypatch):
    from rnnkit import runtime

    monkeypatch.setattr(runtime, "memory_available", lambda device="cpu": 1 << 20)
    layer = RNN("lstm", 1, 64)
    with pytest.raises(ValueError, match=r"^LSTM: a batch of 512 sequences of 4096 steps would "
                                         r"need about 3.0 GiB, more than the 1.0 MiB"):
        layer(torch.zeros(512, 4096, 1, device="meta"))


def test_torch_nn_spellings():
    """Code written against torch.nn.LSTM/RNN (batch_first, nonlinearity, device, dtype) got
    bare TypeErrors (a newcomer, 2026-12-02): each means what it means there."""
    import rnnkit

    layer = rnnkit.LSTM(3, 4, batch_first=True, device="cpu", dtype=torch.float64)
    assert layer.cells[0].weight_ih.dtype == torch.float64
    assert rnnkit.SimpleRNN(3, 4, nonlinearity="relu").cells[0].activation_name == "relu"
    assert rnnkit.SimpleRNN(3, 4).cells[0].activation_name == "tanh"
    for kwargs, message in (
            ({"batch_first": False}, r"^SimpleRNN: rnnkit layers are batch-first"),
            ({"nonlinearity": "tanh", "activation": "relu"}, r"name two activations"),
            ({"dtype": torch.int64}, r"dtype must be a floating torch.dtype")):
        with pytest.raises(ValueError, match=message):
            rnnkit.SimpleRNN(3, 4, **kwargs)
    with pytest.raises(ValueError, match=r"^LSTM: "):
        rnnkit.LSTM(3, 4, nonlinearity="relu")  # a setting the cell does not take


class _ProjCell(nn.Module):
    """A user cell whose outputs (2 wide) are a projection of its state (H wide)."""

    def __init__(self, input_size, hidden_size, declare=True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        if declare:
            self.output_size = 2
        self.cell, self.proj = nn.GRUCell(input_size, hidden_size), nn.Linear(hidden_size, 2)

    def init_state(self, batch_size, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x, h):
        h = self.cell(x, h)
        return self.proj(h), h


def test_a_user_cell_narrower_than_its_state():
    """output_size said H for a cell whose outputs are 2 wide, and stacking failed deep in
    torch (a newcomer, 2026-12-02): a cell's own output_size sets what the next layer reads;
    a cell that does not declare it gets one clear line."""
    from rnnkit import RNN

    layer = RNN(_ProjCell, 3, 4, num_layers=2, bidirectional=True)
    out, h = layer(torch.randn(2, 5, 3))
    assert layer.output_size == 4 and out.shape == (2, 5, 4) and h.shape == (4, 2, 4)
    undeclared = RNN(lambda i, h: _ProjCell(i, h, declare=False), 3, 4)
    with pytest.raises(ValueError, match=r"the cell's outputs are 2 wide, not 4; a cell whose "
                                         r"outputs are not hidden_size wide says so"):
        undeclared(torch.randn(2, 5, 3))


def test_register_cell_checks_the_constructor_and_dict_states_name_their_keys():
    from rnnkit import RNN
    from rnnkit.layers import register_cell

    class NoBias(nn.Module):
        def __init__(self, input_size, hidden_size):
            super().__init__()

    with pytest.raises(ValueError, match=r"^register_cell: 'NoBias' cannot be built as "
                                         r"cls\(input_size, hidden_size, bias=..., \*\*options\)"):
        register_cell("nobias_test", NoBias)

    class DictCell(nn.Module):
        def __init__(self, input_size, hidden_size):
            super().__init__()
            self.input_size, self.hidden_size = input_size, hidden_size
            self.lin = nn.Linear(input_size + hidden_size, hidden_size)

        def init_state(self, batch_size, device=None, dtype=None):
            z = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
            return {"h": z, "m": z.clone()}

        def forward(self, x, state):
            h = torch.tanh(self.lin(torch.cat([x, state["h"]], -1)))
            return h, {"h": h, "m": state["m"] + h}

    layer = RNN(DictCell, 3, 4)
    with pytest.raises(ValueError, match=r"expected a state with the keys \['h', 'm'\] that "
                                         r"init_state gives, got the keys \['h'\]"):
        layer(torch.randn(2, 5, 3), {"h": torch.zeros(1, 2, 4)})
    out, state = layer(torch.randn(2, 5, 3), layer.init_state(2))
    assert sorted(state) == ["h", "m"]
