"""The compiled CPU path (rnnkit.compiled) equals the Python loop, its oracle, in float64:
values and gradients for every cell it runs, stacked and bidirectional, with and without
lengths, with an initial state; gradcheck on each kernel; the streaming step; and the
fallbacks (disabled, no compiler, cells it has no kernel for).

With the kernels absent or RNNKIT_COMPILED=0 (CI runs this file both ways) the equality tests
compare the loop with itself through backend="compiled"'s fallback, and still must pass."""

import copy
import os
import warnings

import pytest
import torch
from compiled_helpers import penalty_grads, run

import rnnkit
from rnnkit import compiled, layers
from rnnkit.state_tree import leaves, tree_map

CELLS = [
    ("rnn", {"activation": "tanh"}), ("rnn", {"activation": "relu"}),
    ("rnn", {"activation": "sigmoid"}), ("lstm", {}), ("gru", {"reset_after": True}),
    ("gru", {"reset_after": False}), ("mingru", {}), ("minlstm", {}),
]
IDS = [k + "-" + "-".join(str(v) for v in o.values()) for k, o in CELLS]
B, T, I, H = 4, 7, 3, 5
LENGTHS = torch.tensor([7, 3, 5, 1])
BUILT = compiled.available()


def pair(kind, options, **kwargs):
    loop = rnnkit.RNN(kind, I, H, backend="loop", **options, **kwargs).double()
    fast = rnnkit.RNN(kind, I, H, backend="compiled", **options, **kwargs).double()
    fast.load_state_dict(loop.state_dict())
    return loop, fast


def random_state(layer, kind):
    s = layer.init_state(B, dtype=torch.float64)
    positive = kind.startswith("min")  # their states are positive
    return tree_map(lambda t: (torch.rand_like(t) if positive else torch.randn_like(t)), s)


@pytest.mark.parametrize("kind,options", CELLS, ids=IDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("initial", [False, True], ids=["zero", "state"])
def test_compiled_equals_loop(kind, options, bidirectional, padded, initial):
    loop, fast = pair(kind, options, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = random_state(loop, kind) if initial else None
    lengths = LENGTHS if padded else None
    values_a, grads_a = run(loop, x, state, lengths)
    values_b, grads_b = run(fast, x, state, lengths)
    for a, b in zip(values_a + grads_a, values_b + grads_b, strict=True):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind,options", CELLS, ids=IDS)
def test_compiled_equals_loop_without_bias(kind, options):
    # minGRU/minLSTM add b_ih in their Function's own projection: with bias=False there is none
    loop, fast = pair(kind, options, bias=False)
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = random_state(loop, kind)
    values_a, grads_a = run(loop, x, state, LENGTHS)
    values_b, grads_b = run(fast, x, state, LENGTHS)
    for a, b in zip(values_a + grads_a, values_b + grads_b, strict=True):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind,options", CELLS, ids=IDS)
def test_all_states_equal_loop(kind, options):
    loop, fast = pair(kind, options)
    x = torch.randn(B, T, I, dtype=torch.float64)
    a = run(loop, x, None, LENGTHS, all_states=True)
    b = run(fast, x, None, LENGTHS, all_states=True)
    for u, v in zip(a[0] + a[1], b[0] + b[1], strict=True):
        torch.testing.assert_close(v, u, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind,options", CELLS, ids=IDS)
def test_gradcheck(kind, options):
    layer = rnnkit.RNN(kind, 2, 3, backend="compiled", **options).double()
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    h0 = random_state(layer, kind)
    h0 = tree_map(lambda s: s[:, :2].clone().requires_grad_(), h0)
    lengths = torch.tensor([4, 2])

    def f(x, *state):
        state = tuple(state) if len(state) == 2 else state[0]
        y, final = layer(x, state, lengths=lengths)
        return (y, *leaves(final))

    assert torch.autograd.gradcheck(f, (x, *leaves(h0)))


@pytest.mark.parametrize("kind,options", CELLS + [("ln_lstm", {}), ("ln_gru", {})],
                         ids=IDS + ["ln_lstm", "ln_gru"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_double_backward_equals_loop(kind, options, bidirectional):
    """create_graph=True through the kernels (a gradient penalty): the first gradients and
    those of the penalty equal the loop's. The kernels' backward was once-differentiable and
    the gradients came back without a graph, so a penalty was silently constant (found by a
    newcomer, 2026-12-02)."""
    loop, fast = pair(kind, options, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = random_state(loop, kind)
    for a, b in zip(penalty_grads(loop, x, state, LENGTHS),
                    penalty_grads(fast, x, state, LENGTHS), strict=True):
        # relative too: the LayerNorm-LSTM's second derivatives reach 1e5 here
        torch.testing.assert_close(b, a, atol=1e-10, rtol=1e-10)


def test_gradgradcheck_through_the_kernels():
    layer = rnnkit.RNN("lstm", 2, 3, backend="compiled").double()
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x: layer(x, lengths=torch.tensor([4, 2]))[0],
                                        (x,))


@pytest.mark.parametrize("kind,options", CELLS, ids=IDS)
@pytest.mark.parametrize("bias", [True, False])
def test_streaming_step_equals_loop(kind, options, bias):
    loop, fast = pair(kind, options, num_layers=3, bias=bias)
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = random_state(loop, kind)
    want, final = loop(x, state)
    outs = []
    with torch.no_grad():
        for x_t in x.unbind(1):
            y, state = fast.step(x_t, state)
            outs.append(y)
    torch.testing.assert_close(torch.stack(outs, 1), want, atol=1e-10, rtol=0)
    for a, b in zip(leaves(state), leaves(final), strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind,options", CELLS, ids=IDS)
def test_streaming_step_takes_a_state_in_any_layout(kind, options):
    """A state kept batch-first and transposed to (L, B, H): not contiguous. step.cpp made the
    new state with the old one's strides and wrote it as rows of H, interleaving them (0.5
    off; found by a newcomer, 2026-12-02)."""
    loop, fast = pair(kind, options, num_layers=3)
    x = torch.randn(B, I, dtype=torch.float64)
    state = tree_map(lambda s: s.transpose(0, 1).contiguous().transpose(0, 1),
                     random_state(loop, kind))
    assert not leaves(state)[0].is_contiguous()
    with torch.no_grad():
        (y_a, s_a), (y_b, s_b) = loop.step(x, state), fast.step(x, state)
    for a, b in zip([y_a, *leaves(s_a)], [y_b, *leaves(s_b)], strict=True):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=0)


@pytest.mark.parametrize("batch", [1, 6])
@pytest.mark.parametrize("kind,options", [("lstm", {}), ("gru", {"reset_after": False}),
                                          ("minlstm", {})], ids=["lstm", "gru-before", "minlstm"])
def test_streaming_step_batch_sizes_and_wide_layers(batch, kind, options):
    """B 1: step.cpp's own products over the weights' rows (at H 256 split over threads);
    B 6: at::addmm's. Both equal to the loop in float64."""
    loop = rnnkit.RNN(kind, 40, 256, num_layers=2, backend="loop", **options).double()
    fast = rnnkit.RNN(kind, 40, 256, num_layers=2, backend="compiled", **options).double()
    fast.load_state_dict(loop.state_dict())
    x = torch.randn(batch, 5, 40, dtype=torch.float64)
    want = loop(x)[0]
    state, outs = None, []
    with torch.no_grad():
        for x_t in x.unbind(1):
            y, state = fast.step(x_t, state)
            outs.append(y)
    torch.testing.assert_close(torch.stack(outs, 1), want, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind,options", CELLS, ids=IDS)
def test_float32_close_to_loop(kind, options):
    loop = rnnkit.RNN(kind, 8, 16, num_layers=2, backend="loop", **options)
    fast = rnnkit.RNN(kind, 8, 16, num_layers=2, backend="compiled", **options)
    fast.load_state_dict(loop.state_dict())
    x = torch.randn(3, 20, 8)
    torch.testing.assert_close(fast(x)[0], loop(x)[0], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("kind,options", CELLS, ids=IDS)
def test_saturated_gates_stay_finite(kind, options):
    """Pre-activations in the hundreds or thousands: the gates saturate, nothing overflows
    (fast-math's vector exp is undefined past overflow; the kernels clamp its argument), and
    minLSTM's normalised gates stay finite where both underflow (σ(∓δ), not f / (f + i))."""
    loop = rnnkit.RNN(kind, 4, 8, backend="loop", **options)
    fast = rnnkit.RNN(kind, 4, 8, backend="compiled", **options)
    fast.load_state_dict(loop.state_dict())
    for scale in (100.0, 1000.0):
        x = torch.randn(3, 20, 4) * scale
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = loop(xa)[0], fast(xb)[0]
        ya.sum().backward()
        yb.sum().backward()
        assert torch.isfinite(yb).all() and torch.isfinite(xb.grad).all()
        torch.testing.assert_close(yb, ya, atol=1e-4, rtol=1e-4)


def test_user_cell_runs_on_the_loop():
    """A cell without a kernel (here a subclass, which may change the equations) is looped."""

    class Leaky(rnnkit.SimpleRNNCell):
        def recur(self, xp_t, h):
            h = 0.5 * h + 0.5 * torch.tanh(xp_t + h @ self.weight_hh.T)
            return h, h

    loop = rnnkit.RNN(Leaky, I, H, backend="loop").double()
    fast = rnnkit.RNN(Leaky, I, H, backend="compiled").double()
    fast.load_state_dict(loop.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64)
    torch.testing.assert_close(fast(x)[0], loop(x)[0], atol=1e-12, rtol=0)


def test_half_precision_falls_back_to_the_loop():
    layer = rnnkit.GRU(I, H, backend="compiled").to(torch.bfloat16)
    y, _ = layer(torch.randn(B, T, I, dtype=torch.bfloat16))
    assert y.dtype == torch.bfloat16 and y.shape == (B, T, H)


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("RNNKIT_COMPILED", "0")
    assert compiled.disabled() and not compiled.available() and not compiled.ensure()
    loop, fast = pair("gru", {"reset_after": False})
    x = torch.randn(B, T, I, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no notice: the user asked for the loop
        torch.testing.assert_close(fast(x)[0], loop(x)[0], atol=0, rtol=0)


def test_no_compiler_falls_back_with_one_notice(monkeypatch, tmp_path):
    """A build that fails (no compiler here) warns once, in one line, and the loop runs."""
    from torch.utils import cpp_extension

    def no_compiler(**kwargs):
        raise RuntimeError("Error building extension 'rnnkit_kernels'\nc++: not found")

    monkeypatch.setattr(cpp_extension, "load", no_compiler)
    monkeypatch.setenv("RNNKIT_KERNELS_DIR", str(tmp_path))  # nothing built there
    monkeypatch.delenv("RNNKIT_COMPILED", raising=False)
    monkeypatch.setattr(compiled, "_state", {})
    loop, fast = pair("lstm", {})
    x = torch.randn(B, T, I, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match=r"could not build .*c\+\+: not found; using the "
                                            r"Python loop") as caught:
        y = fast(x)[0]
        fast(x)  # a second call does not warn again
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    torch.testing.assert_close(y, loop(x)[0], atol=0, rtol=0)


def test_a_cpu_with_other_instructions_gets_its_own_build(monkeypatch, tmp_path):
    """-march=native: a library built on one CPU may not run on another, so a home folder
    shared by a cluster's nodes keeps one build per instruction set."""
    monkeypatch.setenv("RNNKIT_KERNELS_DIR", str(tmp_path))
    here = compiled.build_dir()
    assert compiled.build_dir() == here and here.parent == tmp_path  # stable
    assert "avx" in compiled.cpu_instruction_set() or "x86" not in compiled.cpu_instruction_set()
    monkeypatch.setattr(compiled, "cpu_instruction_set", lambda: "x86_64 sse sse2 avx avx2")
    avx2 = compiled.build_dir()
    monkeypatch.setattr(compiled, "cpu_instruction_set", lambda: "x86_64 avx avx2 avx512f")
    assert len({here, avx2, compiled.build_dir()}) == 3


@pytest.mark.skipif(not BUILT, reason="compiled kernels not built here "
                    f"(RNNKIT_COMPILED={os.environ.get('RNNKIT_COMPILED', '1')})")
def test_auto_uses_the_kernels_when_built():
    layer = rnnkit.GRU(I, H, reset_after=False)
    assert layer._use_compiled(torch.randn(1, 1, I))
    lstm, wide = rnnkit.LSTM(I, 128), rnnkit.LSTM(I, 256)
    short, long = torch.randn(32, 199, I), torch.randn(32, 200, I)
    threads = torch.get_num_threads()
    try:  # training: torch's oneDNN LSTM below 32 sequences and for 32 x 128 units below
        # 200 steps, on any number of threads; return_all_states (oneDNN cannot give them)
        # and the streaming step: the kernels
        torch.set_num_threads(2)
        assert not lstm._use_compiled(short) and lstm._use_compiled(long)
        assert wide._use_compiled(short) and not wide._use_compiled(long[:31])
        assert lstm._use_compiled(short, return_all_states=True)
        assert lstm._use_compiled(short[:, 0], whole_sequence=False)
        torch.set_num_threads(1)
        assert not lstm._use_compiled(short) and lstm._use_compiled(long)
        assert wide._use_compiled(short) and lstm._use_compiled(torch.cat([short, short]))
        with torch.no_grad():  # prediction: oneDNN at any size
            assert not wide._use_compiled(long) and not lstm._use_compiled(long)
            assert lstm._use_compiled(short[:, 0], whole_sequence=False)
        frozen = copy.deepcopy(wide).requires_grad_(False)
        assert not frozen._use_compiled(long)
        assert frozen._use_compiled(long.requires_grad_())  # a gradient for x: the kernels
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        want = rnnkit.LSTM(I, H, backend="loop").double()
        got = copy.deepcopy(want)
        got.backend = "auto"
        x = torch.randn(3, 9, I, dtype=torch.float64)
        torch.testing.assert_close(got(x, lengths=torch.tensor([9, 4, 1]))[0],
                                   want(x, lengths=torch.tensor([9, 4, 1]))[0], atol=1e-12, rtol=0)


def test_autocast_runs_torch_ops():
    """Under CPU autocast (bf16 matmuls) the layer runs torch's ops, as without the kernels."""
    loop, fast = pair("lstm", {})
    loop, fast = loop.float(), fast.float()
    x = torch.randn(B, T, I)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(fast(x)[0], loop(x)[0], atol=2e-2, rtol=0)


def test_textgen_trains_a_min_gru_language_model(tmp_path):
    from rnnkit.apps import textgen

    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    config = textgen.Config(cell="mingru", hidden_size=16, seq_len=8, batch_size=4, epochs=1,
                            sample_length=0)
    config.check()
    history = textgen.train(config, path=text, checkpoint_dir=tmp_path / "lm", quiet=True)
    assert len(history) == 1 and history["train_loss"][0] == history["train_loss"][0]  # not NaN


def test_unknown_backend_names_compiled():
    with pytest.raises(ValueError, match="compiled"):
        rnnkit.GRU(I, H, backend="fast")


@pytest.mark.parametrize("kind,options", CELLS[:6], ids=IDS[:6])
def test_row_blocks_on_two_threads_equal_loop(kind, options):
    """With 2 threads and B >= 16 the gated kernels run blocks of rows through all steps in
    parallel (uneven blocks here: 17 = 8 + 9); the loop is the oracle, lengths and all."""
    loop, fast = pair(kind, options, bidirectional=True)
    batch = 17
    x = torch.randn(batch, T, I, dtype=torch.float64)
    state = tree_map(lambda s: torch.randn(s.shape[0], batch, s.shape[2], dtype=s.dtype),
                     loop.init_state(1, dtype=torch.float64))
    lengths = torch.randint(1, T + 1, (batch,), generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        values_b, grads_b = run(fast, x, state, lengths)
    finally:
        torch.set_num_threads(threads)
    values_a, grads_a = run(loop, x, state, lengths)
    for a, b in zip(values_a + grads_a, values_b + grads_b, strict=True):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=0)


@pytest.mark.skipif(not BUILT, reason="compiled kernels not built here")
@pytest.mark.parametrize("layout", ["plain", "a transposed", "b transposed", "a strided"])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_big_matmuls_equal_torch_mm(layout, beta, monkeypatch):
    """rnnkit::mm_into (csrc/big_matmul.h): float32 products of 32M+ multiply-adds go to
    oneDNN, the rest (and float64) to at::mm; either way out = beta*out + a@b, any strides."""
    monkeypatch.delenv("RNNKIT_ONEDNN", raising=False)
    g = torch.Generator().manual_seed(0)
    for dtype, (m, k, n) in [(torch.float32, (1024, 256, 160)), (torch.float64, (64, 30, 20)),
                             (torch.float32, (64, 30, 20))]:
        a = torch.randn(m, k, generator=g, dtype=dtype)
        b = torch.randn(k, n, generator=g, dtype=dtype)
        if layout == "a transposed":
            a = a.t().contiguous().t()
        elif layout == "b transposed":
            b = b.t().contiguous().t()
        elif layout == "a strided":  # a slice of wider rows, as the gate slices are
            a = torch.randn(m, 3 * k, generator=g, dtype=dtype)[:, k:2 * k]
        out = torch.randn(m, n, generator=g, dtype=dtype)
        want = beta * out.double() + a.double() @ b.double()
        before = torch.ops.rnnkit.onednn_calls()
        torch.ops.rnnkit.mm_into(out, a, b, beta)
        tol = 1e-12 if dtype == torch.float64 else 2e-6 * k ** 0.5 * 4
        torch.testing.assert_close(out.double(), want, atol=tol, rtol=1e-5)
        if before >= 0:  # this torch has oneDNN's matmul: big, dense float32 products only
            went = dtype == torch.float32 and m * k * n >= 32 * 1024 * 1024 \
                and layout != "a strided"
            assert torch.ops.rnnkit.onednn_calls() - before == int(went)


def onednn_calls() -> int:
    """The kernels' count of products run on oneDNN (-1: this torch has none to call)."""
    return torch.ops.rnnkit.onednn_calls() if BUILT else -1


@pytest.mark.skipif(not BUILT, reason="compiled kernels not built here")
def test_onednn_off_switch(monkeypatch):
    """RNNKIT_ONEDNN=0: every product on at::mm, read at each call."""
    a, b, out = torch.randn(2048, 256), torch.randn(256, 128), torch.empty(2048, 128)
    before = onednn_calls()
    monkeypatch.setenv("RNNKIT_ONEDNN", "0")
    torch.ops.rnnkit.mm_into(out, a, b, 0.0)
    assert onednn_calls() == before
    torch.testing.assert_close(out, a @ b, atol=1e-4, rtol=1e-5)


def packed_calls() -> int:
    """The kernels' count of sequences whose per-step products ran on a reordered weight
    (-1: this torch has no oneDNN linear to call)."""
    return torch.ops.rnnkit.packed_calls() if BUILT else -1


GATED = CELLS[:6] + [("ln_lstm", {}), ("ln_gru", {})]  # the kernels with a product per step


@pytest.mark.parametrize("kind,options", GATED,
                         ids=IDS[:6] + ["ln_lstm", "ln_gru"])
@pytest.mark.parametrize("packed", ["1", "0"], ids=["reordered", "mm"])
def test_per_step_products_on_a_reordered_weight(kind, options, packed, monkeypatch):
    """csrc/step_matmul.h: in float32 at H 256 and 8+ steps, h W_hh^T and dg W_hh run on a
    weight reordered once per sequence (oneDNN); RNNKIT_PACKED=0 keeps at::mm. Either way,
    values and gradients (lengths, an initial state, both directions, 2 threads: the row
    blocks) stay within float32 rounding of the float64 loop's."""
    monkeypatch.setenv("RNNKIT_PACKED", packed)
    torch.manual_seed(0)
    hidden = 256
    loop = rnnkit.RNN(kind, 8, hidden, backend="loop", bidirectional=True, **options).double()
    fast = rnnkit.RNN(kind, 8, hidden, backend="compiled", bidirectional=True, **options)
    fast.load_state_dict({k: v.float() for k, v in loop.state_dict().items()})
    batch, steps = 40, 10  # 2 row blocks of 20: 20 x 256 x 256 multiply-adds and more
    x = torch.randn(batch, steps, 8, dtype=torch.float64)
    lengths = torch.randint(1, steps + 1, (batch,), generator=torch.Generator().manual_seed(1))
    state = tree_map(lambda s: torch.randn(s.shape[0], batch, s.shape[2], dtype=s.dtype) * 0.5,
                     loop.init_state(1, dtype=torch.float64))
    want, want_grads = run(loop, x, state, lengths)
    before, threads = packed_calls(), torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        got, got_grads = run(fast, x.float(), tree_map(lambda s: s.float(), state), lengths)
    finally:
        torch.set_num_threads(threads)
    if before >= 0:  # forward and backward, both directions
        assert (packed_calls() - before >= 4) == (packed == "1")
    for a, b in zip(want + want_grads, got + got_grads, strict=True):
        a, b = a.detach(), b.detach().double()
        scale = float(a.abs().max()) or 1.0
        torch.testing.assert_close(b / scale, a / scale, atol=2e-5, rtol=0)


DROPPING = [("lstm", {}), ("gru", {"reset_after": True}), ("gru", {"reset_after": False}),
            ("ln_lstm", {}), ("ln_gru", {})]
DROPPING_IDS = ["lstm", "gru-after", "gru-before", "ln_lstm", "ln_gru"]


@pytest.mark.parametrize("kind,options", DROPPING, ids=DROPPING_IDS)
def test_recurrent_dropout_on_the_kernels_equals_loop(kind, options, monkeypatch):
    """Training with recurrent_dropout runs the kernels with each cell's mask m (W_hh reads
    h_{t-1} * m, the GRU's z * h reads h_{t-1}): values and gradients equal the loop's, drawn
    from the same seed, in float64 (stacked, bidirectional, lengths, an initial state)."""
    calls = []
    real = layers.compiled_cell
    monkeypatch.setattr(layers, "compiled_cell", lambda *a: calls.append(1) or real(*a))
    loop = rnnkit.RNN(kind, I, H, backend="loop", recurrent_dropout=0.4, num_layers=2,
                      bidirectional=True, **options).double()
    fast = rnnkit.RNN(kind, I, H, backend="compiled", recurrent_dropout=0.4, num_layers=2,
                      bidirectional=True, **options).double()
    fast.load_state_dict(loop.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = tree_map(lambda s: torch.randn(s.shape[0], B, s.shape[2], dtype=s.dtype),
                     loop.init_state(1, dtype=torch.float64))
    torch.manual_seed(5)
    want, want_grads = run(loop, x, state, LENGTHS)
    torch.manual_seed(5)
    got, got_grads = run(fast, x, state, LENGTHS)
    assert len(calls) == (4 if BUILT else 0)  # every cell on the kernels (where built)
    for a, b in zip(want + want_grads, got + got_grads, strict=True):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=0)
    fast.eval()  # and the mask did something: without it the outputs differ
    assert not torch.allclose(fast(x, state, lengths=LENGTHS)[0], got[0])


@pytest.mark.parametrize("kind,options", DROPPING, ids=DROPPING_IDS)
def test_recurrent_dropout_double_backward_equals_loop(kind, options):
    """create_graph=True with recurrent dropout: the second backward runs the cell's own loop
    with the mask the kernels' forward used (the cell keeps it until the next call)."""
    loop = rnnkit.RNN(kind, I, H, backend="loop", recurrent_dropout=0.4, **options).double()
    fast = rnnkit.RNN(kind, I, H, backend="compiled", recurrent_dropout=0.4, **options).double()
    fast.load_state_dict(loop.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64)
    s0 = tree_map(lambda s: torch.randn(s.shape[0], B, s.shape[2], dtype=s.dtype),
                  loop.init_state(1, dtype=torch.float64))
    torch.manual_seed(3)
    want = penalty_grads(loop, x, s0, LENGTHS)
    torch.manual_seed(3)
    for a, b in zip(want, penalty_grads(fast, x, s0, LENGTHS), strict=True):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("kind,options", DROPPING, ids=DROPPING_IDS)
def test_recurrent_dropout_at_h256_on_two_threads(kind, options):
    """The same in float32 at H 256 on 2 threads: row blocks, each with its part of the mask,
    and the per-step products on reordered weights (csrc/step_matmul.h); against the float32
    loop with the same seed."""
    torch.manual_seed(0)
    loop = rnnkit.RNN(kind, 8, 256, backend="loop", recurrent_dropout=0.3, **options)
    fast = rnnkit.RNN(kind, 8, 256, backend="compiled", recurrent_dropout=0.3, **options)
    fast.load_state_dict(loop.state_dict())
    x = torch.randn(40, 10, 8)
    lengths = torch.randint(1, 11, (40,), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    want, want_grads = run(loop, x, None, lengths)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        torch.manual_seed(5)
        got, got_grads = run(fast, x, None, lengths)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(want + want_grads, got + got_grads, strict=True):
        a, b = a.detach(), b.detach()
        scale = float(a.abs().max()) or 1.0
        torch.testing.assert_close(b / scale, a / scale, atol=2e-5, rtol=0)


@pytest.mark.parametrize("kind,options", CELLS, ids=IDS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_float32_at_a_size_for_onednn_close_to_float64(kind, options, bias, monkeypatch):
    """B*T*I*G*H over 32M multiply-adds: the input projections and the weight gradients run
    on oneDNN in float32; values and gradients stay within float32 rounding of the float64
    loop's."""
    monkeypatch.delenv("RNNKIT_ONEDNN", raising=False)
    torch.manual_seed(0)
    loop = rnnkit.RNN(kind, 128, 96, backend="loop", bias=bias, **options).double()
    fast = rnnkit.RNN(kind, 128, 96, backend="compiled", bias=bias, **options)
    fast.load_state_dict({k: v.float() for k, v in loop.state_dict().items()})
    x = torch.randn(64, 48, 128, dtype=torch.float64) * 0.5
    lengths = torch.randint(1, 49, (64,), generator=torch.Generator().manual_seed(1))
    want, want_grads = run(loop, x, None, lengths)
    before = onednn_calls()
    got, got_grads = run(fast, x.float(), None, lengths)
    if before >= 0:  # the projection, x's and W_ih's gradients: 3 products at least
        assert onednn_calls() - before >= 3
    for a, b in zip(want + want_grads, got + got_grads, strict=True):
        a, b = a.detach(), b.detach().double()
        scale = float(a.abs().max()) or 1.0
        torch.testing.assert_close(b / scale, a / scale, atol=2e-5, rtol=0)
