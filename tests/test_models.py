"""The four sequence shapes + the feed-forward baseline: forward semantics against oracles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.data.windows import make_windows
from rnnkit.models._sequence import POOLINGS

CELLS = ["rnn", "irnn", "lstm", "gru"]


# --------------------------------------------------------------------------- many-to-one
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_pooling_ignores_padding(double, pooling, bidirectional):
    """A sequence gives the same output alone and inside a right-padded batch."""
    torch.manual_seed(0)
    model = rnnkit.SequenceClassifier(3, 5, num_classes=4, cell="gru", num_layers=2,
                                      bidirectional=bidirectional, pooling=pooling).eval()
    x = torch.randn(3, 8, 3)
    lengths = torch.tensor([8, 5, 2])
    x_padded = x.clone()
    x_padded[1, 5:] = 99.0  # garbage in the padding must not matter
    x_padded[2, 2:] = -99.0
    batch = model(x_padded, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = model(x[b:b + 1, :n])
        torch.testing.assert_close(batch[b:b + 1], alone, rtol=0, atol=1e-12)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_pooling_matches_a_manual_computation(double, pooling):
    torch.manual_seed(0)
    model = rnnkit.SequenceRegressor(2, 4, output_size=3, cell="lstm", bidirectional=True,
                                     pooling=pooling).eval()
    x, lengths = torch.randn(2, 6, 2), torch.tensor([6, 3])
    outs = []
    for b, n in enumerate(lengths.tolist()):
        o, (h, _) = model.rnn(x[b:b + 1, :n])  # (1, n, 2H), (2, 1, H)
        if pooling == "last":  # forward state at step n-1, backward state at step 0
            v = torch.cat([o[0, n - 1, :4], o[0, 0, 4:]])
            torch.testing.assert_close(v, torch.cat([h[0, 0], h[1, 0]]))
        else:
            v = o[0].mean(0) if pooling == "mean" else o[0].max(0).values
        outs.append(model.head(v))
    torch.testing.assert_close(model(x, lengths), torch.stack(outs))


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_kind_builds_every_model(cell):
    x = torch.randn(2, 5, 3)
    assert rnnkit.SequenceRegressor(3, 4, cell=cell)(x).shape == (2, 1)
    assert rnnkit.SequenceClassifier(3, 4, num_classes=5, cell=cell)(x).shape == (2, 5)
    assert rnnkit.SequenceTagger(3, 4, output_size=6, cell=cell, bidirectional=True)(
        x).shape == (2, 5, 6)
    assert rnnkit.SequenceGenerator(3, 4, output_size=2, steps=7, cell=cell)(x[:, 0]).shape \
        == (2, 7, 2)


def test_relu_regressor_is_the_keras_seed_model(double):
    """SimpleRNN(10, ReLU) + Dense(1): y = W_y h_3 + b_y with h_t = relu(W x_t + U h_{t-1} + b)."""
    torch.manual_seed(0)
    model = rnnkit.SequenceRegressor(1, 10, cell="rnn", activation="relu")
    cell = model.rnn.cells[0]
    x = torch.tensor([[[98.0], [99.0], [100.0]]])
    h = torch.zeros(1, 10)
    for t in range(3):
        h = torch.relu(x[:, t] @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T
                       + cell.bias_hh)
    torch.testing.assert_close(model(x), h @ model.head.weight.T + model.head.bias)


def test_standardize_adapts_once_and_works_in_raw_units(double):
    torch.manual_seed(0)
    model = rnnkit.SequenceRegressor(2, 4, standardize=True)
    x = torch.randn(50, 6, 2) * torch.tensor([100.0, 0.01]) + torch.tensor([1e3, -5.0])
    y = torch.randn(50, 1) * 300 + 2e4
    lengths = torch.full((50,), 6)
    lengths[:10] = 3
    x[:10, 3:] = 0.0  # padding: excluded from the statistics
    model.adapt((x, lengths), y)
    real = torch.cat([x[:10, :3].reshape(-1, 2), x[10:].reshape(-1, 2)])
    torch.testing.assert_close(model.x_mean, real.mean(0))
    torch.testing.assert_close(model.x_std, real.std(0, unbiased=False))
    torch.testing.assert_close(model.y_mean, y.mean(0))
    model.adapt(x * 0, y * 0)  # already adapted: a no-op
    torch.testing.assert_close(model.y_mean, y.mean(0))
    # the inside sees standardised values: the output is y_mean + y_std * (head of the RNN)
    z = (x[10:12] - model.x_mean) / model.x_std
    o, h = model.rnn(z)
    torch.testing.assert_close(model(x[10:12]), model.head(h[0][-1]) * model.y_std + model.y_mean)


def test_fit_adapts_a_standardising_regressor_on_large_values():
    """Values in the tens of thousands: fit calls adapt, so training is as easy as at scale 1."""
    X, y = make_windows(20_000 + 100 * np.arange(60.0), window=4)
    torch.manual_seed(0)
    model = rnnkit.SequenceRegressor(1, 8, cell="gru", standardize=True)
    h = rnnkit.fit(model, (X, y), epochs=40, lr=1e-2, progress=False)
    assert bool(model.adapted) and model.x_mean.item() == pytest.approx(X.mean(), rel=1e-6)
    rmse = float(np.sqrt(h[-1]["train_loss"]))
    assert rmse < 0.1 * y.std()


# ----------------------------------------------------------------------- many-to-many
def test_tagger_is_causal_and_bidirectional_is_not(double):
    torch.manual_seed(0)
    uni = rnnkit.SequenceTagger(2, 4, output_size=3).eval()
    bi = rnnkit.SequenceTagger(2, 4, output_size=3, bidirectional=True).eval()
    x = torch.randn(1, 6, 2)
    x2 = x.clone()
    x2[0, 4] += 1.0  # change step 4: steps 0..3 of a causal tagger must not move
    torch.testing.assert_close(uni(x)[:, :4], uni(x2)[:, :4])
    assert not torch.allclose(bi(x)[:, :4], bi(x2)[:, :4])
    o, _ = uni.rnn(x)
    torch.testing.assert_close(uni(x), uni.head(o))


# ------------------------------------------------------------------------ one-to-many
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_generator_teacher_forcing_equals_free_running_on_its_own_outputs(double, cell):
    """Feeding back its own outputs as targets reproduces the free run exactly."""
    torch.manual_seed(0)
    model = rnnkit.SequenceGenerator(3, 6, output_size=2, steps=5, cell=cell,
                                     num_layers=2).eval()
    c = torch.randn(4, 3)
    free = model(c)
    torch.testing.assert_close(model(c, free), free)
    assert model(c, steps=9).shape == (4, 9, 2)
    torch.testing.assert_close(model(c, steps=9)[:, :5], free)


def test_generator_context_initialises_the_state():
    torch.manual_seed(0)
    model = rnnkit.SequenceGenerator(3, 6, output_size=2, steps=4).eval()
    c = torch.randn(2, 3)
    h, cell_state = model.init_state(c)
    assert h.shape == (1, 2, 6) and cell_state.shape == (1, 2, 6)
    torch.testing.assert_close(h[0], torch.tanh(model.bridge(c)[:, :6]))
    assert not torch.allclose(model(c)[0], model(c)[1])  # different contexts, different outputs


def test_generator_learns_to_emit_a_class_dependent_sequence():
    """One-to-many end to end: the class picks a ramp up or a ramp down."""
    t = np.linspace(0, 1, 6, dtype=np.float32)
    C = np.eye(2, dtype=np.float32)[np.arange(32) % 2]  # (32, 2) one-hot classes
    Y = np.where(C[:, :1] == 1, t, 1 - t)[..., None]  # (32, 6, 1)
    torch.manual_seed(0)
    model = rnnkit.SequenceGenerator(2, 16, output_size=1, steps=6, cell="gru")
    rnnkit.fit(model, ((C, Y), Y), epochs=60, lr=1e-2, progress=False)
    free = rnnkit.predict(model, C[:2])  # free running from the class alone
    np.testing.assert_allclose(free, Y[:2], atol=0.15)


# ------------------------------------------------------------------------- one-to-one
def test_feedforward_flattens_windows():
    torch.manual_seed(0)
    model = rnnkit.FeedForward(6, 8, output_size=2, num_layers=2)
    x = torch.randn(4, 3, 2)
    torch.testing.assert_close(model(x), model(x.reshape(4, 6)))
    assert len([m for m in model.net if isinstance(m, torch.nn.Linear)]) == 3


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("build, message", [
    (lambda: rnnkit.SequenceRegressor(1, 4, pooling="attention"),
     r"SequenceRegressor: unknown pooling 'attention'; expected one of last, mean, max"),
    (lambda: rnnkit.SequenceClassifier(1, 4, num_classes=0),
     r"SequenceClassifier: num_classes must be a positive integer, got 0"),
    (lambda: rnnkit.SequenceTagger(1, 4, 2, cell="transformer"),
     r"RNN: unknown cell kind 'transformer'"),
    (lambda: rnnkit.SequenceRegressor(1, 4, cell=rnnkit.LSTMCell(1, 4)),
     r"SequenceRegressor: cell must be a kind name"),
    (lambda: rnnkit.SequenceGenerator(2, 4, 1, steps=3, bidirectional=True),
     r"SequenceGenerator: bidirectional=True is not possible"),
    (lambda: rnnkit.SequenceGenerator(2, 4, 1, steps=0),
     r"SequenceGenerator: steps must be a positive integer, got 0"),
    (lambda: rnnkit.FeedForward(3, 4, activation="swish"),
     r"FeedForward: unknown activation 'swish'"),
])
def test_bad_construction_is_a_clear_error(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("call, message", [
    (lambda: rnnkit.SequenceRegressor(1, 4)(torch.randn(3, 5)),
     r"SequenceRegressor: expected x of shape \(B, T, 1\), got \(3, 5\)"),
    (lambda: rnnkit.SequenceClassifier(2, 4, 3)(torch.randn(3, 5, 1)),
     r"SequenceClassifier: expected x of shape \(B, T, 2\), got \(3, 5, 1\)"),
    (lambda: rnnkit.SequenceGenerator(2, 4, 1, steps=3)(torch.randn(3, 5, 2)),
     r"SequenceGenerator: expected context of shape \(B, 2\), got \(3, 5, 2\)"),
    (lambda: rnnkit.SequenceGenerator(2, 4, 1, steps=3)(torch.randn(3, 2), torch.randn(3, 4)),
     r"SequenceGenerator: expected targets of shape \(B, T, 1\), got \(3, 4\)"),
    (lambda: rnnkit.FeedForward(6, 4)(torch.randn(3, 5)),
     r"FeedForward: expected input of shape \(B, 6\) once flattened, got \(3, 5\)"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
