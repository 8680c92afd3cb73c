"""The Python API as a newcomer uses it (README's Quick start and "What is inside"): each test
is a mistake or an edge case that gave a silent wrong result, a deep torch traceback or an
unclear message, and now gives torch.nn's numbers or one ValueError line naming the argument."""

import copy
import warnings

import numpy as np
import pytest
import torch

import rnnkit

KINDS = ["rnn", "lstm", "gru", "mingru", "minlstm", "ln_lstm", "ln_gru"]


# ------------------------------------------------------------------ NaN through the layers
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", ["auto", "compiled"])
def test_nan_input_propagates_as_in_torch(kind, backend):
    """The compiled CPU kernels (built with -ffast-math) turned a NaN reading into ordinary
    finite outputs on the default backend; a NaN now reaches every later output of its own
    sequence, and only that sequence, as on the loop and in torch.nn."""
    layer = rnnkit.RNN(kind, 3, 4, num_layers=2, backend=backend)
    x = torch.randn(2, 5, 3)
    x[0, 2, 1] = float("nan")
    out, state = layer(x)
    assert out[0, 2:].isnan().all() and not out[0, :2].isnan().any()
    assert not out[1].isnan().any()
    h = state[0] if isinstance(state, tuple) else state
    assert h[:, 0].isnan().all() and not h[:, 1].isnan().any()
    torch.testing.assert_close(layer(x[1:])[0], out[1:], atol=1e-6, rtol=1e-5)  # clean: same


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "mingru"])
def test_nan_reading_in_a_stream_and_nan_weights(kind):
    layer = rnnkit.RNN(kind, 3, 4).eval()
    with torch.no_grad():
        y, s = layer.step(torch.randn(1, 3))
        y, s = layer.step(torch.randn(1, 3), s)  # the compiled hot path from here
        y, s = layer.step(torch.full((1, 3), float("nan")), s)
        assert y.isnan().all()
        y, _ = layer.step(torch.randn(1, 3), s)  # the NaN stays in the state
        assert y.isnan().all()
        layer.cells[0].bias_ih[0] = float("nan")  # a diverged weight
        assert layer(torch.randn(1, 4, 3))[0].isnan().any()


@pytest.mark.parametrize("kind", KINDS + ["relu", "sigmoid"])
def test_nan_and_inf_come_out_of_the_kernels_as_out_of_the_loop(kind):
    """The kernels themselves carry NaN and inf as torch's ops do (they are built without
    finite-math-only; no guard in front of them): the compiled path equals the loop."""
    make = (lambda: rnnkit.SimpleRNN(3, 4, activation=kind, num_layers=2)) \
        if kind in ("relu", "sigmoid") else (lambda: rnnkit.RNN(kind, 3, 4, num_layers=2))
    torch.manual_seed(0)
    compiled_layer = make().double()
    loop_layer = copy.deepcopy(compiled_layer)
    compiled_layer.backend, loop_layer.backend = "compiled", "loop"
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    x[0, 1, 0], x[1, 3, 2], x[2, 2, 1] = float("nan"), float("inf"), -float("inf")
    for layer in (compiled_layer, loop_layer):
        layer.eval()
    with torch.no_grad():
        got, want = compiled_layer(x)[0], loop_layer(x)[0]
    torch.testing.assert_close(got, want, equal_nan=True)


# ------------------------------------------------------------------ cells used on their own
CELLS = [rnnkit.SimpleRNNCell, rnnkit.LSTMCell, rnnkit.GRUCell, rnnkit.MinGRUCell,
         rnnkit.MinLSTMCell, rnnkit.LayerNormLSTMCell, rnnkit.LayerNormGRUCell]


@pytest.mark.parametrize("cls", CELLS)
def test_cell_refuses_wrong_inputs_in_one_line(cls):
    """An unbatched (I,) input was silently broadcast into a batch of I rows of outputs
    (SimpleRNNCell(3, 4)(x of shape (3,)) gave (3, 4)); a wrong width, a whole sequence, a
    NumPy array, int inputs or a state for another batch were torch tracebacks."""
    cell, name = cls(3, 4), cls.__name__
    with pytest.raises(ValueError, match=rf"^{name}: expected x_t of shape \(B, 3\), got \(3,\) "
                                         r"\(one sample: x_t\[None\]\)$"):
        cell(torch.randn(3))
    with pytest.raises(ValueError, match=rf"^{name}: expected x_t of shape \(B, 3\), got "
                                         r"\(2, 5, 3\) \(a whole sequence: rnnkit.RNN\)$"):
        cell(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match=rf"^{name}: expected x_t of shape \(B, 3\), got \(2, 5\)$"):
        cell(torch.randn(2, 5))
    with pytest.raises(ValueError, match=rf"^{name}: expected x_t of shape \(B, 3\), got ndarray$"):
        cell(torch.randn(2, 3).numpy())
    with pytest.raises(ValueError, match=rf"^{name}: expected a floating-point x_t, got torch.int64$"):
        cell(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=rf"^{name}: expected a state.* of shape \(2, 4\) for "
                                         r"x_t's 2 rows, got \(3, 4\)"):
        cell(torch.randn(2, 3), cell.init_state(3))


@pytest.mark.parametrize("cls", CELLS)
def test_cell_casts_float_precisions_like_the_layer(cls):
    cell = cls(3, 4)
    x = torch.randn(2, 3, dtype=torch.float64)
    y, _ = cell(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, cell(x.float())[0])
    y64, _ = cell.double()(x.float(), cell.init_state(2))  # float32 state and input, f64 cell
    assert y64.dtype == torch.float64


@pytest.mark.parametrize("cls", CELLS)
def test_cell_of_absurd_size_is_refused_before_allocating(cls):
    with pytest.raises(ValueError, match=rf"^{cls.__name__}\(input_size=3, hidden_size=1000000000000\) "
                                         r"with .* parameters would need about .*, more than the "):
        cls(3, 10**12)


# ------------------------------------------------------------------ user cells in a layer
def test_layer_refuses_sizes_that_contradict_its_cell_instance():
    """RNN(LSTMCell(3, 4), 3, 8) built a layer that said hidden_size=8 (output_size 8) while
    every output had 4 features; a wrong input_size was a matmul traceback at the first call."""
    with pytest.raises(ValueError, match=r"^RNN\(LSTMCell\): hidden_size=8 contradicts the cell "
                                         r"instance's hidden_size=4; omit it or build the cell so$"):
        rnnkit.RNN(rnnkit.LSTMCell(3, 4), 3, 8)
    with pytest.raises(ValueError, match=r"^RNN\(LSTMCell\): input_size=5 contradicts"):
        rnnkit.RNN(rnnkit.LSTMCell(3, 4), 5, 4)
    layer = rnnkit.RNN(rnnkit.LSTMCell(3, 4), 3, 4, bidirectional=True)  # agreeing sizes: fine
    assert layer(torch.randn(2, 5, 3))[0].shape == (2, 5, 8) and layer.output_size == 8


def test_layer_refuses_a_cell_without_the_contract():
    """torch.nn.LSTMCell (no init_state) was an AttributeError from inside the loop."""
    with pytest.raises(ValueError, match=r"^RNN\(LSTMCell\): a cell must be an nn.Module with "
                                         r"init_state\(batch_size, device=, dtype=\) .*LSTMCell is "
                                         r"not \(torch.nn's cells: use rnnkit's LSTMCell"):
        rnnkit.RNN(torch.nn.LSTMCell(3, 4))
    with pytest.raises(ValueError, match=r"; int is not$"):
        rnnkit.RNN(lambda i, h: 3, 3, 4)


# ------------------------------------------------------------------ losses, fit / evaluate
def _xy(n=12, T=4, I=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, T, I, generator=g).numpy(), g


def test_bce_refuses_targets_outside_0_1():
    """Class ids 0..4 with loss="bce" trained without a word on a meaningless loss."""
    X, _ = _xy()
    y = (torch.arange(12) % 5).reshape(12, 1).numpy()
    model = rnnkit.SequenceClassifier(2, 4, 1)
    with pytest.raises(ValueError, match=r"^fit: SequenceClassifier rejects the first batch of "
                                         r"train_data: loss 'bce': targets must lie in \[0, 1\] "
                                         r"\(0/1 labels or probabilities\), got values from 0 to 4; "
                                         r"class ids need loss='cross_entropy'$"):
        rnnkit.fit(model, (X, y), loss="bce", epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"^loss 'bce': targets must lie in \[0, 1\]"):
        rnnkit.evaluate(model, (X, y), loss="bce")
    soft = (torch.arange(12) % 3 / 2.0).reshape(12, 1).numpy()  # probabilities are fine
    assert rnnkit.evaluate(model, (X, soft), loss="bce")["loss"] > 0


def test_cross_entropy_names_an_out_of_range_class_id():
    """torch said "Target 11 is out of bounds." on a CPU and fails with a device-side assert
    on CUDA; now the loss names the range and the id (-100 stays the ignored padding)."""
    X, _ = _xy()
    model = rnnkit.SequenceClassifier(2, 4, 3)
    y = torch.arange(12).numpy()
    with pytest.raises(ValueError, match=r"^loss 'cross_entropy': class ids must lie in \[0, 3\) "
                                         r"for logits of 3 classes \(or be -100, ignored\), got 3$"):
        rnnkit.evaluate(model, (X, y), loss="cross_entropy")
    y = torch.tensor([0, 1, 2, -100] * 3).numpy()
    assert rnnkit.evaluate(model, (X, y), loss="cross_entropy")["loss"] > 0


def test_evaluate_errors_name_evaluate_not_fit():
    X, _ = _xy()
    model = rnnkit.SequenceRegressor(2, 4)
    with pytest.raises(ValueError, match=r"^evaluate: unknown loss 'nope'"):
        rnnkit.evaluate(model, (X, X[:, 0, :1]), loss="nope")
    with pytest.raises(ValueError, match=r"^evaluate: unknown metric 'f1'"):
        rnnkit.evaluate(model, (X, X[:, 0, :1]), metrics=["f1"])


# ------------------------------------------------------------------ save / load
def test_load_gives_back_the_saved_precision(tmp_path):
    """A float64 model came back float32 from rnnkit.load: weights rounded, outputs changed."""
    model = rnnkit.SequenceRegressor(2, 4, standardize=True).double()
    rnnkit.save(model, tmp_path / "m")
    back = rnnkit.load(tmp_path / "m")
    assert {p.dtype for p in back.parameters()} == {torch.float64}
    assert back.x_mean.dtype == torch.float64
    x = torch.randn(3, 5, 2, dtype=torch.float64)
    assert torch.equal(back(x), model(x).detach())
    rnnkit.save(rnnkit.SequenceRegressor(2, 4), tmp_path / "f32")  # float32 stays float32
    assert {p.dtype for p in rnnkit.load(tmp_path / "f32").parameters()} == {torch.float32}


# ------------------------------------------------------------------ the four shapes
@pytest.mark.parametrize("build, name, arg", [
    (lambda n: rnnkit.SequenceRegressor(3, 4, output_size=n), "SequenceRegressor", "output_size"),
    (lambda n: rnnkit.SequenceTagger(3, 4, output_size=n), "SequenceTagger", "output_size"),
    (lambda n: rnnkit.SequenceGenerator(n, 4, 2, 5), "SequenceGenerator", "context_size"),
    (lambda n: rnnkit.SequenceGenerator(3, 4, n, 5), "SequenceGenerator", "output_size"),
    (lambda n: rnnkit.FeedForward(n, 4), "FeedForward", "input_size"),
    (lambda n: rnnkit.FeedForward(3, 4, output_size=n), "FeedForward", "output_size"),
])
def test_model_sizes_are_checked(build, name, arg):
    """output_size=0 built a model with no outputs; -1 or 2.0 were torch tracebacks."""
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match=rf"^{name}: {arg} must be a positive integer, "
                                             rf"got {bad!r}$"):
            build(bad)


@pytest.mark.parametrize("build, name", [
    (lambda: rnnkit.SequenceRegressor(3, 4, output_size=10**12), "SequenceRegressor"),
    (lambda: rnnkit.SequenceClassifier(3, 4, num_classes=10**12), "SequenceClassifier"),
    (lambda: rnnkit.SequenceTagger(3, 4, output_size=10**12), "SequenceTagger"),
    (lambda: rnnkit.SequenceGenerator(10**12, 4, 2, 5), "SequenceGenerator"),
    (lambda: rnnkit.FeedForward(3, 10**12), "FeedForward"),
    (lambda: rnnkit.FeedForward(10**12, 4), "FeedForward"),
])
def test_model_of_absurd_size_is_refused_before_allocating(build, name):
    """The heads and the feed-forward layers went to torch's allocator (FeedForward(3, 10**9)
    spent a minute there before its traceback)."""
    with pytest.raises(ValueError, match=rf"^{name}.* would need about .*, more than the "):
        build()


def test_feedforward_settings_and_precisions():
    with pytest.raises(ValueError, match=r"^FeedForward: dropout must lie in \[0, 1\), got 1.5$"):
        rnnkit.FeedForward(3, 4, dropout=1.5)
    model = rnnkit.FeedForward(6, 4)
    x = torch.randn(2, 3, 2)
    assert torch.equal(model(x.double()), model(x))  # float64 data, as the layers take it
    assert model.double()(x).dtype == torch.float64  # a .double() model, float32 data
    X = torch.randn(8, 3, 2, dtype=torch.float64).numpy()
    history = rnnkit.fit(model, (X, X[:, 0, :1]), epochs=1, progress=False)  # fit: float32 batches
    assert len(history) == 1


def test_generator_steps_targets_and_context():
    """steps=0 ran the default length without a word; targets of T=0 gave one step; a B=0,
    float64 or int context were torch tracebacks."""
    model = rnnkit.SequenceGenerator(3, 8, 2, steps=5)
    c = torch.randn(2, 3)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match=rf"^SequenceGenerator: steps must be a positive "
                                             rf"integer, got {bad!r}$"):
            model(c, steps=bad)
    assert model(c, steps=2).shape == (2, 2, 2) and model(c).shape == (2, 5, 2)
    with pytest.raises(ValueError, match=r"^SequenceGenerator: expected targets of shape "
                                         r"\(B, T, 2\), got \(2, 0, 2\) \(no steps\)$"):
        model(c, torch.randn(2, 0, 2))
    with pytest.raises(ValueError, match=r"^SequenceGenerator: expected context of shape "
                                         r"\(B, 3\), got \(0, 3\) \(an empty batch\)$"):
        model(torch.randn(0, 3))
    with pytest.raises(ValueError, match=r"^SequenceGenerator: expected a floating-point "
                                         r"context, got torch.int64$"):
        model(torch.ones(2, 3, dtype=torch.long))
    assert torch.equal(model(c.double()), model(c))


@pytest.mark.parametrize("cell", ["lstm", "ln_lstm", "gru", "ln_gru", "rnn", "mingru", "minlstm"])
def test_generator_runs_every_cell(cell):
    """cell="ln_lstm" was accepted but every call failed: its (h, c) state got h only."""
    model = rnnkit.SequenceGenerator(3, 8, 2, steps=4, cell=cell, num_layers=2)
    c, targets = torch.randn(2, 3), torch.randn(2, 4, 2)
    assert model(c).shape == (2, 4, 2)
    assert model(c, targets).shape == (2, 4, 2)


def test_fit_predict_evaluate_argument_mistakes_are_one_line():
    X, _ = _xy()
    y = X[:, 0, :1]
    model = rnnkit.SequenceRegressor(2, 4)
    with pytest.raises(ValueError, match=r"^fit: model must be a torch.nn.Module, got function$"):
        rnnkit.fit(lambda x: x, (X, y), progress=False)
    with pytest.raises(ValueError, match=r"^fit: seed must be an integer in \[0, 2\*\*63\) or None, got 'a'$"):
        rnnkit.fit(model, (X, y), seed="a", progress=False)
    for bad in (0, -1):
        with pytest.raises(ValueError, match=rf"^predict: batch_size must be a positive "
                                             rf"integer, got {bad}$"):
            rnnkit.predict(model, X, batch_size=bad)
        with pytest.raises(ValueError, match=rf"^evaluate: batch_size must be a positive "
                                             rf"integer, got {bad}$"):
            rnnkit.evaluate(model, (X, y), batch_size=bad)
    with pytest.raises(ValueError, match=r"^predict: the inputs in X have different numbers of "
                                         r"samples: \[12, 11\]$"):
        rnnkit.predict(model, (X, [4] * 11))
    assert rnnkit.predict(model, (X, [4] * 12)).shape == (12, 1)


def test_fit_tries_val_data_before_training():
    """A val_data the model cannot take failed only after a whole epoch of training."""
    X, _ = _xy()
    y = X[:, 0, :1]
    seen = []
    with pytest.raises(ValueError, match=r"^fit: SequenceRegressor rejects the first batch of "
                                         r"val_data: SequenceRegressor: expected x of shape "
                                         r"\(B, T, 2\), got \(4, 4, 1\)$"):
        rnnkit.fit(rnnkit.SequenceRegressor(2, 4), (X, y), val_data=(X[:4, :, :1], y[:4]),
                   callbacks=[lambda event, info: seen.append(event)], progress=False)
    assert seen == []  # not one training step


# ------------------------------------------------------------------ diagnostics
def test_diagnostics_checks_probes_and_takes_numpy():
    """probes=-1 returned all-zero Jacobian norms and probes=0 quietly ran 32 probes; NumPy
    inputs (which fit and predict take) were refused by the model."""
    from rnnkit import diagnostics

    model = rnnkit.SequenceRegressor(2, 8)
    x, y = torch.randn(4, 10, 2), torch.randn(4, 1)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match=rf"^diagnostics.analyze: probes must be a positive "
                                             rf"integer, got {bad!r}$"):
            diagnostics.analyze(model, x, y, probes=bad)
    with pytest.raises(ValueError, match=r"^diagnostics.analyze: max_exact must be a "
                                         r"non-negative integer, got -1$"):
        diagnostics.analyze(model, x, y, max_exact=-1)
    a = diagnostics.analyze(model, x, y)
    b = diagnostics.analyze(model, x.numpy(), y.numpy())
    assert (a.layers[0].grad_norm == b.layers[0].grad_norm).all() and a.loss == b.loss


# ------------------------------------------------------------------ resume
def test_resume_refuses_other_fit_settings(tmp_path):
    """fit(resume=True, lr=0.1) on a run stored with lr=0.001 continued at 0.001 without a
    word (the restored optimizer keeps its own), and other data continued the stored run."""
    X, _ = _xy(20)
    y = X[:, 0, :1]

    def run(**kw):
        torch.manual_seed(0)
        args = dict(epochs=2, checkpoint_dir=tmp_path / "run", progress=False, resume=True)
        return rnnkit.fit(rnnkit.SequenceRegressor(2, 4), (kw.pop("X", X), kw.pop("y", y)),
                          **{**args, **kw})

    run(epochs=1)
    with pytest.raises(ValueError, match=r"^fit: cannot resume from .*run: lr was 0.001 in that "
                                         r"run and is 0.1 now; resume with the same settings, "
                                         r"or train into a new folder$"):
        run(lr=0.1)
    with pytest.raises(ValueError, match=r": batch_size was 32 in that run and is 8 now"):
        run(batch_size=8)
    with pytest.raises(ValueError, match=r": schedule was None in that run and is 'cosine' now"):
        run(schedule="cosine")
    with pytest.raises(ValueError, match=r": train_samples was 20 in that run and is 10 now"):
        run(X=X[:10], y=y[:10])
    assert len(run(epochs=3)) == 3  # more epochs: allowed, as before
    assert not run(epochs=4).already_finished  # it trained its fourth epoch
    again = run(epochs=4)  # a finished run: nothing trained, and the History says so
    assert again.already_finished and len(again) == 4


# ------------------------------------------------------------------ truncated BPTT
def test_tbptt_needs_a_model_that_carries_its_state():
    """fit(SequenceTagger(...), tbptt=10) trained every chunk from a zero state without a
    word: the tagger returns its prediction alone, so there was no state to carry."""
    X = torch.randn(4, 30, 2).numpy()
    with pytest.raises(ValueError, match=r"^fit: tbptt needs a model called model\(x, state\) "
                                         r"-> \(pred, state\) that carries its state across "
                                         r"chunks; SequenceTagger returned Tensor alone$"):
        rnnkit.fit(rnnkit.SequenceTagger(2, 4, 1), (X, X[..., :1]), tbptt=10, progress=False)

    class Stateful(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = rnnkit.LSTM(2, 4), torch.nn.Linear(4, 1)

        def forward(self, x, state=None):
            out, state = self.rnn(x, state)
            return self.head(out), state

    model = Stateful()
    assert len(rnnkit.fit(model, (X, X[..., :1]), tbptt=10, epochs=1, progress=False)) == 1
    for bad in (0, -1):  # 0 ran without tbptt, -1 was torch's split error
        with pytest.raises(ValueError, match=rf"^evaluate: tbptt must be a positive integer, "
                                             rf"got {bad}$"):
            rnnkit.evaluate(model, (X, X[..., :1]), tbptt=bad)


def test_float64_model_gets_its_float64_data_unrounded():
    """predict/evaluate/fit rounded float64 data to float32 before a .double() model: its
    predictions were ~1e-9 off model(x), its losses too."""
    g = torch.Generator().manual_seed(1)
    X = torch.randn(6, 5, 2, dtype=torch.float64, generator=g)
    y = torch.randn(6, 1, dtype=torch.float64, generator=g)
    model = rnnkit.SequenceRegressor(2, 4).double()
    with torch.no_grad():
        want = model(X)
    assert torch.equal(rnnkit.predict(model, X), want)
    assert (rnnkit.predict(model, X.numpy()) == want.numpy()).all()
    loss = rnnkit.evaluate(model, (X.numpy(), y.numpy()))["loss"]
    assert loss == float(((want - y) ** 2).mean())
    float32 = rnnkit.SequenceRegressor(2, 4)  # a float32 model: float32 batches, as before
    assert rnnkit.predict(float32, X.numpy()).dtype == "float32"


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_is_refused_in_one_line():
    """torch.jit.script(layer) was a 16-frame "Unknown type annotation" traceback."""
    for model in (rnnkit.LSTM(3, 4), rnnkit.SequenceRegressor(3, 4)):
        with pytest.raises(TypeError, match=r"^LSTM: rnnkit layers do not compile to TorchScript "
                                            r".*rnnkit.export\(model, folder\)"):
            torch.jit.script(model)


def test_fit_checks_weight_decay_min_delta_and_extras_up_front(tmp_path):
    """min_delta=NaN stopped after one epoch and -1 never stopped; weight_decay='0.1' was a
    TypeError inside Adam; extras JSON cannot hold failed at the first save, after an epoch
    of training, leaving an empty checkpoint folder."""
    X, _ = _xy()
    y = X[:, 0, :1]
    model = rnnkit.SequenceRegressor(2, 4)
    for name, bad, what in (("min_delta", float("nan"), "a finite number"),
                            ("min_delta", -1, "a non-negative number"),
                            ("weight_decay", "0.1", "a finite number"),
                            ("weight_decay", -1, "a non-negative number")):
        with pytest.raises(ValueError, match=rf"^fit: {name} must be {what}, got "):
            rnnkit.fit(model, (X, y), early_stopping=1, progress=False, **{name: bad})
    with pytest.raises(ValueError, match=r"^fit: extras must be JSON-serialisable: Object of "
                                         r"type object is not JSON serializable$"):
        rnnkit.fit(model, (X, y), extras={"a": object()}, checkpoint_dir=tmp_path / "run",
                   progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("build, message", [
    (lambda: rnnkit.LSTM(3, 4, bidirectional="no"), "LSTM: bidirectional must be True or False, got 'no'"),
    (lambda: rnnkit.GRUCell(3, 4, reset_after="False"), "GRUCell: reset_after must be True or False, got 'False'"),
    (lambda: rnnkit.RNN("gru", 3, 4, bias="no"), "GRU: bias must be True or False, got 'no'"),
    (lambda: rnnkit.LayerNormLSTMCell(3, 4, bias="no"), "LayerNormLSTMCell: bias must be True or False, got 'no'"),
    (lambda: rnnkit.SequenceRegressor(2, 4, standardize="no"), "SequenceRegressor: standardize must be True or False, got 'no'"),
])
def test_switches_refuse_strings(build, message):
    """bidirectional="no" built a bidirectional layer (bool("no") is True), reset_after="False"
    the reset-after GRU: silently the opposite of what was written."""
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        build()
    import numpy as np
    assert rnnkit.LSTM(3, 4, bidirectional=np.bool_(True)).bidirectional is True
    assert rnnkit.GRU(3, 4, reset_after=0).cells[0].reset_after is False


def test_wrong_kinds_of_model_or_path_are_one_line(tmp_path):
    """AttributeErrors ('function' object has no attribute 'parameters'), pathlib's TypeError
    for None, torch.cat's error for an empty Dataset."""
    X = torch.zeros(2, 5, 2).numpy()
    with pytest.raises(ValueError, match=r"^predict: model must be a torch.nn.Module, got function$"):
        rnnkit.predict(lambda x: x, X)
    with pytest.raises(ValueError, match=r"^evaluate: model must be a torch.nn.Module, got function$"):
        rnnkit.evaluate(lambda x: x, (X, X[:, 0, :1]))
    empty = torch.utils.data.TensorDataset(torch.zeros(0, 5, 2))
    with pytest.raises(ValueError, match=r"^predict: X is empty \(0 samples\)$"):
        rnnkit.predict(rnnkit.SequenceRegressor(2, 4), empty)
    model = rnnkit.SequenceRegressor(2, 4)
    for call, owner in ((lambda: rnnkit.load(None), "rnnkit.load"),
                        (lambda: rnnkit.save(model, None), "rnnkit.save")):
        with pytest.raises(ValueError, match=rf"^{owner}: path must be a checkpoint folder \(str "
                                             r"or os.PathLike\), got None$"):
            call()
    with pytest.raises(ValueError, match=r"^export: out must be a folder path, got None$"):
        rnnkit.export(model, None)
    with pytest.raises(ValueError, match=r"^export: expected a model \(nn.Module\), a Predictor "
                                         r"\(rnnkit.open\) or a checkpoint folder, got function$"):
        rnnkit.export(lambda x: x, tmp_path / "out")


def test_compare_cells_checks_its_counts_and_sizes():
    """steps=0 said "fit: epochs must be a positive integer"; eval_every=0 quietly evaluated
    every step; length=10**9 was an allocator traceback while generating the data."""
    from rnnkit import diagnostics

    kw = dict(steps=2, test_size=4, diag_size=3, batch_size=2, hidden_size=4, jacobians=False)
    with pytest.raises(ValueError, match=r"^diagnostics: steps must be a positive integer, got 0$"):
        diagnostics.compare_cells("adding", 10, ["lstm"], **{**kw, "steps": 0})
    with pytest.raises(ValueError, match=r"^diagnostics: eval_every must be a positive integer, "
                                         r"got 0$"):
        diagnostics.compare_cells("adding", 10, ["lstm"], eval_every=0, **kw)
    with pytest.raises(ValueError, match=r"^diagnostics: 9 sequences of 1000000000000 steps would "
                                         r"need about .*, more than the "):
        diagnostics.compare_cells("adding", 10**12, ["lstm"], **kw)


def test_fit_switches_refuse_strings(tmp_path):
    """fit(resume="no") resumed and shuffle="no" shuffled: bool("no") is True."""
    X, _ = _xy()
    for name in ("resume", "shuffle", "restore_best", "progress"):
        with pytest.raises(ValueError, match=rf"^fit: {name} must be True or False, got 'no'$"):
            rnnkit.fit(rnnkit.SequenceRegressor(2, 4), (X, X[:, 0, :1]), checkpoint_dir=tmp_path,
                       **{"progress": False, name: "no"})


def test_elman_takes_a_module_activation():
    """SimpleRNN(..., activation=nn.Tanh()) was "AttributeError: cannot assign module before
    Module.__init__() call"; it now equals activation="tanh" (a PReLU's weight trains)."""
    x = torch.randn(2, 5, 3)
    named = rnnkit.SimpleRNN(3, 4, num_layers=2, backend="loop")
    moduled = rnnkit.SimpleRNN(3, 4, num_layers=2, activation=torch.nn.Tanh())
    moduled.load_state_dict(named.state_dict())
    torch.testing.assert_close(moduled(x)[0], named(x)[0], rtol=0, atol=1e-6)
    prelu = rnnkit.SimpleRNNCell(3, 4, activation=torch.nn.PReLU())
    assert "activation.weight" in dict(prelu.named_parameters())


def test_accuracy_refuses_regression_targets():
    """metrics=["accuracy"] on a regressor reported a number: (pred > 0) == target.long()."""
    X, _ = _xy()
    with pytest.raises(ValueError, match=r"^metric 'accuracy': targets must be class ids or 0/1 "
                                         r"labels, got values such as .*; for regression use "
                                         r"'mae', 'mse' or 'rmse'$"):
        rnnkit.evaluate(rnnkit.SequenceRegressor(2, 4), (X, X[:, 0, :1]), metrics=["accuracy"])
    y01 = (torch.arange(12) % 2).float().reshape(12, 1).numpy()  # 0/1 floats: fine (bce)
    assert 0 <= rnnkit.evaluate(rnnkit.SequenceClassifier(2, 4, 1), (X, y01), loss="bce",
                                metrics=["accuracy"])["accuracy"] <= 1


def test_fit_optimizer_and_schedule_instances_must_be_the_models():
    """An optimizer built on another model trained nothing (every step skipped as a NaN
    gradient norm); a scheduler built on another optimizer never changed fit's lr."""
    X, _ = _xy()
    y = X[:, 0, :1]
    model = rnnkit.SequenceRegressor(2, 4)
    other = torch.optim.SGD(rnnkit.SequenceRegressor(2, 4).parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"^fit: the optimizer instance holds none of "
                                         r"SequenceRegressor's parameters \(built for another "
                                         r"model\?\)$"):
        rnnkit.fit(model, (X, y), optimizer=other, progress=False)
    own = torch.optim.SGD(model.parameters(), lr=0.1)
    stray = torch.optim.lr_scheduler.StepLR(torch.optim.SGD(model.parameters(), lr=0.1), 1)
    with pytest.raises(ValueError, match=r"^fit: the schedule instance drives another optimizer "
                                         r"than fit's \(a SGD of its own\)"):
        rnnkit.fit(model, (X, y), optimizer=own, schedule=stray, progress=False)
    sched = torch.optim.lr_scheduler.StepLR(own, 1, gamma=0.5)
    h = rnnkit.fit(model, (X, y), optimizer=own, schedule=sched, epochs=2, progress=False)
    assert h["lr"] == [0.1, 0.05]  # each row: the lr its epoch trained with


def test_fit_counts_may_be_numpy_integers():
    """epochs=np.int64(2) was "fit: epochs must be a positive integer, got np.int64(2)"."""
    import numpy as np

    X, _ = _xy()
    h = rnnkit.fit(rnnkit.SequenceRegressor(2, 4), (X, X[:, 0, :1]), epochs=np.int64(2),
                   batch_size=np.int32(4), progress=False)
    assert len(h) == 2 and h.rows[0]["steps"] == 3


def test_register_cell_cannot_replace_a_built_in_kind():
    """register_cell("lstm", MyCell) replaced the LSTM of every layer, model and checkpoint
    load in the process, without a word."""
    with pytest.raises(ValueError, match=r"^register_cell: 'lstm' is a built-in kind \(LSTM\); "
                                         r"register your cell under a name of its own$"):
        rnnkit.layers.register_cell("LSTM", rnnkit.GRUCell)
    assert rnnkit.layers.CELLS["lstm"].cls is rnnkit.LSTMCell


def test_predict_on_a_loader_passes_lengths_given_as_inputs_and_warns_on_a_bare_pair():
    """A DataLoader yielding (x, lengths) lost the lengths without a word: a pair is read as
    (inputs, target), as Keras reads it, so the padded rows were predicted on their padding.
    Now ((x, lengths),) passes them, and a bare pair where the model takes lengths warns."""
    from torch.utils.data import DataLoader, TensorDataset

    from rnnkit.models.classifier import SequenceClassifier
    torch.manual_seed(0)
    model = SequenceClassifier(2, 8, num_classes=3, pooling="last")
    x, lengths = torch.randn(6, 9, 2), torch.tensor([9, 5, 2, 1, 7, 3])
    want = rnnkit.predict(model, (x, lengths))
    as_inputs = DataLoader([((xi, li),) for xi, li in zip(x, lengths, strict=True)],
                           batch_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(rnnkit.predict(model, as_inputs), want, atol=1e-6)
    bare = DataLoader(TensorDataset(x, lengths), batch_size=4)
    with pytest.warns(UserWarning, match=r"to pass lengths, yield \(\(x, lengths\),\)") as got:
        rnnkit.predict(model, bare)
    assert len(got) == 1  # once per call, not once per batch
    labelled = DataLoader(TensorDataset(x, torch.zeros(6)), batch_size=4)  # float target
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rnnkit.predict(model, labelled)
