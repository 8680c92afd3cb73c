"""Keras import without TensorFlow: Keras 3 (torch backend) is the oracle.

Each test builds a small Keras model with random weights, saves it (.keras, and legacy .h5),
converts it with ``rnnkit.from_keras`` and compares the predictions to Keras' own to 1e-5.
Includes the articles' two example models (/work/shared/seeds/).
"""

import json
import os
import zipfile

import numpy as np
import pytest
import torch

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: no TensorFlow
keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.cli.main import main  # noqa: E402
from rnnkit.keras_import import KerasImportError, from_keras  # noqa: E402

TOL = 1e-5
# Keras 3.15's torch backend converts tensors with np.array(x) (numpy 2 deprecation): theirs
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def _randomise(model, scale=0.5, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign((scale * rng.standard_normal(w.shape)).astype("float32"))
    return model


def _keras_out(model, x):
    return model(x, training=False).detach().cpu().numpy()  # torch backend: a torch tensor


def _check(kmodel, x, tmp_path, formats=("keras",)):
    want = _keras_out(kmodel, x)
    models = []
    for fmt in formats:
        path = tmp_path / f"model.{fmt}"
        with _quiet():
            kmodel.save(path)
        model = from_keras(path)
        got = model(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)
        models.append(model)
    return models[0], want


class _quiet:
    """Keras warns that .h5 is a legacy format (absl logging): not our concern here."""

    def __enter__(self):
        import logging

        self.logger = logging.getLogger("absl")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


# ------------------------------------------------------------------- the articles' models
@pytest.mark.parametrize("units,activation", [(50, "tanh"), (10, "relu")])
def test_article_next_number_model(units, activation, tmp_path):
    """SimpleRNN(units, activation, input_shape=(3, 1)) + Dense(1), as in both articles."""
    k = keras.Sequential([keras.Input((3, 1)), layers.SimpleRNN(units, activation=activation),
                          layers.Dense(1)])
    _randomise(k, 0.3)
    x = np.arange(1, 22, dtype=np.float32).reshape(7, 3, 1) / 10
    model, want = _check(k, x, tmp_path, formats=("keras", "h5"))
    # a registered rnnkit model: saves, loads, predicts the same
    rnnkit.save(model, tmp_path / "ckpt")
    again = rnnkit.load(tmp_path / "ckpt")
    np.testing.assert_allclose(again(torch.from_numpy(x)).detach().numpy(), want, atol=TOL)


def test_article_text_model(tmp_path):
    """Embedding(total_words, 10) + SimpleRNN(64) + Dense(total_words, softmax) on
    pre-padded id sequences (the second article's next-word model)."""
    total_words, T = 30, 6
    k = keras.Sequential([keras.Input((T,), dtype="int32"), layers.Embedding(total_words, 10),
                          layers.SimpleRNN(64), layers.Dense(total_words, activation="softmax")])
    _randomise(k, 0.3)
    rng = np.random.default_rng(1)
    x = rng.integers(1, total_words, (7, T))
    for i in range(7):
        x[i, : i % 4] = 0  # pad_sequences' pre-padding
    want = _keras_out(k, x)
    k.save(tmp_path / "m.keras")
    model = from_keras(tmp_path / "m.keras")
    got = model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)
    assert np.allclose(got.sum(1), 1.0, atol=1e-5)


# -------------------------------------------------------------------------- the layers
def test_mixed_stack_keras_and_h5(tmp_path):
    """Bidirectional LSTM (sequences), GRU reset_after=False go_backwards, Dropout,
    TimeDistributed(Dense relu), SimpleRNN sigmoid, Dense, Dense: .keras and legacy .h5."""
    k = keras.Sequential([
        keras.Input((5, 3)), layers.Bidirectional(layers.LSTM(4, return_sequences=True)),
        layers.GRU(3, reset_after=False, go_backwards=True, return_sequences=True),
        layers.Dropout(0.3), layers.TimeDistributed(layers.Dense(4, activation="relu")),
        layers.SimpleRNN(5, activation="sigmoid"), layers.Dense(3, activation="tanh"),
        layers.Dense(2)])
    _randomise(k)
    x = np.random.default_rng(2).standard_normal((7, 5, 3)).astype(np.float32)
    model, want = _check(k, x, tmp_path, formats=("keras", "h5"))
    assert [s["type"] for s in model.specs] == ["rnn", "rnn", "dropout", "dense", "rnn",
                                                "dense", "dense"]
    # Keras -> rnnkit -> ONNX equals Keras (bidirectional, go_backwards: no step graph)
    from rnnkit.export.onnx_export import session

    out = rnnkit.export(model, tmp_path / "onnx")
    assert not (out / "step.onnx").exists()
    got = session(out / "model.onnx").run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("merge", ["sum", "mul", "ave", "concat"])
def test_bidirectional_gru_merge_modes_no_bias(merge, tmp_path):
    k = keras.Sequential([
        keras.Input((6, 2)),
        layers.Bidirectional(layers.GRU(4, return_sequences=True, use_bias=False),
                             merge_mode=merge),
        layers.Bidirectional(layers.SimpleRNN(3, activation="relu"), merge_mode=merge),
        layers.Activation("softmax")])
    _randomise(k)
    x = np.random.default_rng(3).standard_normal((1, 6, 2)).astype(np.float32)
    _check(k, x, tmp_path)


def test_functional_chain_with_mask_zero(tmp_path):
    """Embedding(mask_zero) -> LSTM (sequences) -> GRU go_backwards -> Dense: padding
    anywhere (pre or post) is skipped as Keras skips it."""
    inp = keras.Input((None,), dtype="int32")
    h = layers.Embedding(20, 5, mask_zero=True)(inp)
    h = layers.LSTM(6, return_sequences=True)(h)
    h = layers.GRU(4, go_backwards=True)(h)
    out = layers.Dense(3, activation="softmax")(h)
    k = _randomise(keras.Model(inp, out))
    x = np.random.default_rng(4).integers(1, 20, (7, 9))
    x[1, 5:] = 0  # post-padded
    x[2, :4] = 0  # pre-padded
    x[3, 1:] = 0  # one real id
    model, want = _check(k, x, tmp_path)
    from rnnkit.export.onnx_export import session

    out = rnnkit.export(model, tmp_path / "onnx")  # the masking exports too
    got = session(out / "model.onnx").run(None, {"tokens": x.astype(np.int64)})[0]
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)


# ----------------------------------------------------- a registered model: trains, exports
def test_imported_model_trains_and_exports(tmp_path):
    k = keras.Sequential([keras.Input((4, 2)), layers.LSTM(8, return_sequences=True),
                          layers.GRU(6), layers.Dense(1)])
    _randomise(k, 0.3)
    k.save(tmp_path / "m.keras")
    assert main(["import-keras", str(tmp_path / "m.keras"), "--checkpoint",
                 str(tmp_path / "ckpt"), "--quiet"]) == 0
    model = rnnkit.load(tmp_path / "ckpt")
    x = torch.randn(64, 4, 2)
    y = x.sum((1, 2)).unsqueeze(1)
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(model(x), y).item()
    rnnkit.fit(model, (x, y), epochs=15, loss="mse", lr=1e-2, batch_size=16, progress=False)
    with torch.no_grad():
        assert torch.nn.functional.mse_loss(model.eval()(x), y).item() < 0.5 * before
    rnnkit.save(model, tmp_path / "trained")  # saves and exports after further training
    assert main(["export", "--checkpoint", str(tmp_path / "trained"), "--out",
                 str(tmp_path / "onnx"), "--quiet"]) == 0
    from rnnkit.export.onnx_export import session

    doc = json.loads((tmp_path / "onnx" / "export.json").read_text())
    whole, step = session(tmp_path / "onnx" / "model.onnx"), session(tmp_path / "onnx" /
                                                                     "step.onnx")
    xs = torch.randn(3, 50, 2).numpy()
    state = {p["name"]: np.zeros([3 if d == "batch" else d for d in p["shape"]], np.float32)
             for p in doc["graphs"]["step"]["inputs"] if p["name"] != "x_t"}
    names = [o.name for o in step.get_outputs()]
    for t in range(50):  # the step graph carried over 50 steps = the whole-sequence graph
        outs = step.run(None, {"x_t": xs[:, t], **state})
        state = {n[:-5]: v for n, v in zip(names, outs, strict=True) if n.endswith("_next")}
    want = whole.run(None, {"x": xs})[0]
    np.testing.assert_allclose(outs[0], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(want, model(torch.from_numpy(xs)).detach().numpy(), atol=1e-5)


# -------------------------------------------------------------------------- bad input
def _bad(capsys, path, tmp_path):
    ckpt = tmp_path / "ckpt_bad"
    assert main(["import-keras", str(path), "--checkpoint", str(ckpt)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and not ckpt.exists()
    return err


def test_bad_files(tmp_path, capsys):
    k = _randomise(keras.Sequential([keras.Input((3, 1)), layers.LSTM(4), layers.Dense(1)]))
    k.save(tmp_path / "good.keras")
    data = (tmp_path / "good.keras").read_bytes()
    (tmp_path / "file").write_text("x")
    assert main(["import-keras", str(tmp_path / "good.keras"), "--checkpoint",
                 str(tmp_path / "file" / "ckpt")]) == 2  # unwritable checkpoint folder
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "text.keras").write_text("not a model")
    assert "neither a .keras (zip) nor an HDF5" in _bad(capsys, tmp_path / "text.keras",
                                                       tmp_path)
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    assert "damaged .keras file" in _bad(capsys, tmp_path / "cut.keras", tmp_path)
    with zipfile.ZipFile(tmp_path / "good.keras") as z:
        config = json.loads(z.read("config.json"))
        weights = z.read("model.weights.h5")
    with zipfile.ZipFile(tmp_path / "noweights.keras", "w") as z:
        z.writestr("config.json", json.dumps(config))
    assert "lacks" in _bad(capsys, tmp_path / "noweights.keras", tmp_path)
    with zipfile.ZipFile(tmp_path / "cutweights.keras", "w") as z:  # truncated weights file
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights[: len(weights) // 2])
    assert "not a readable HDF5 file" in _bad(capsys, tmp_path / "cutweights.keras", tmp_path)
    config["config"]["layers"][1]["config"]["units"] = 5  # LSTM(5) with LSTM(4)'s weights
    with zipfile.ZipFile(tmp_path / "shapes.keras", "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights)
    err = _bad(capsys, tmp_path / "shapes.keras", tmp_path)
    assert "weight kernel has shape (1, 16), expected (1, 20)" in err
    assert "not a checkpoint" not in err


def test_uncovered_layers_are_named(tmp_path, capsys):
    k = keras.Sequential([keras.Input((8, 2)), layers.Conv1D(3, 2), layers.LSTM(4),
                          layers.BatchNormalization(), layers.Dense(1)])
    k.save(tmp_path / "conv.keras")
    err = _bad(capsys, tmp_path / "conv.keras", tmp_path)
    assert "cannot convert 2 layer(s)" in err and "(Conv1D)" in err and \
        "(BatchNormalization)" in err
    with pytest.raises(KerasImportError, match="LSTM with activation 'relu'"):
        k = keras.Sequential([keras.Input((3, 1)), layers.LSTM(4, activation="relu")])
        k.save(tmp_path / "relu.keras")
        from_keras(tmp_path / "relu.keras")


def test_what_would_convert_wrongly_is_refused(tmp_path, capsys):
    """A newcomer's models (2026-12-02): a Bidirectional with a backward_layer of its own
    (converted as the forward layer run both ways: 0.45 off), a model with two outputs (one
    kept), a registered custom activation (an AttributeError, exit 1)."""
    inp = keras.Input((5, 3))
    bi = layers.Bidirectional(layers.SimpleRNN(4), backward_layer=layers.SimpleRNN(
        4, activation="relu", go_backwards=True))
    keras.Model(inp, layers.Dense(1)(bi(inp))).save(tmp_path / "bw.keras")
    assert "a backward_layer unlike its forward layer: activation 'relu' vs 'tanh'" in \
        _bad(capsys, tmp_path / "bw.keras", tmp_path)
    inp = keras.Input((5, 3))
    seq = layers.LSTM(4, return_sequences=True)(inp)
    keras.Model(inp, [seq, layers.Dense(2)(layers.LSTM(4)(seq))]).save(tmp_path / "two.keras")
    assert "the model has 2 outputs" in _bad(capsys, tmp_path / "two.keras", tmp_path)

    @keras.saving.register_keras_serializable(package="rnnkit_test")
    def doubled(t):
        return t * 2.0

    keras.Sequential([keras.Input((5, 3)), layers.LSTM(4), layers.Dense(
        1, activation=doubled)]).save(tmp_path / "act.keras")
    assert "(activation 'rnnkit_test>doubled')" in _bad(capsys, tmp_path / "act.keras",
                                                        tmp_path)


def test_masked_sequences_hold_the_last_output_as_keras_does(tmp_path):
    """return_sequences over mask_zero: past each length Keras repeats the last real output
    (rnnkit gave 0, and a Dense after it the bias), forward and in a Bidirectional."""
    for bidirectional in (False, True):
        inp = keras.Input((None,), dtype="int32")
        rnn = layers.GRU(3, return_sequences=True)
        rnn = layers.Bidirectional(rnn) if bidirectional else rnn
        h = rnn(layers.Embedding(12, 4, mask_zero=True)(inp))
        k = _randomise(keras.Model(inp, layers.TimeDistributed(layers.Dense(2))(h)))
        x = np.random.default_rng(1).integers(1, 12, (4, 6))
        x[0, 3:] = 0
        x[2, 5:] = 0
        x[3] = 0  # padding alone: Keras' state stays zero (one padding step ran: 8e-4 off)
        _check(k, x, tmp_path)


def test_mask_zero_without_a_recurrent_layer_and_lengths_beside_the_mask(tmp_path, capsys):
    """Embedding(mask_zero) -> Dense moved the ids to the front though nothing reads the
    mask (0.08 off Keras); lengths sent beside a mask_zero model read padding as tokens."""
    inp = keras.Input((None,), dtype="int32")
    k = _randomise(keras.Model(inp, layers.Dense(2)(layers.Embedding(9, 3, mask_zero=True)(
        inp))))
    x = np.array([[0, 0, 3, 4, 5], [1, 2, 0, 0, 0]])
    model, _ = _check(k, x, tmp_path)
    with pytest.raises(ValueError, match=r"mask_zero, so id 0 marks padding and the lengths "
                                         r"come from the ids; send no lengths"):
        model(torch.from_numpy(x), torch.tensor([5, 2]))
    with pytest.raises(ValueError, match=r"LSTMCell is a part rnnkit.load cannot rebuild alone"):
        rnnkit.save(rnnkit.cells.LSTMCell(3, 4), tmp_path / "cell")
    assert main(["serve", "--checkpoint", str(tmp_path / "model.keras"), "--port", "0"]) == 2
    assert "a Keras file; convert it first: rnnkit import-keras" in capsys.readouterr().err


def test_streaming_a_mask_zero_model_skips_padding_ids(tmp_path):
    """step() (and so step.onnx) read id 0 as a token where the whole-sequence model skips
    it: padding anywhere now carries the state over, as Keras does."""
    inp = keras.Input((None,), dtype="int32")
    h = layers.LSTM(4)(layers.Embedding(9, 3, mask_zero=True)(inp))
    k = _randomise(keras.Model(inp, layers.Dense(2)(h)))
    x = np.array([[3, 4, 5, 0, 0], [0, 0, 3, 4, 5], [3, 0, 4, 0, 5]])
    model, want = _check(k, x, tmp_path)
    states, ids = model.init_state(3), torch.from_numpy(x)
    with torch.no_grad():
        for t in range(x.shape[1]):
            y, states = model.step(ids[:, t], states)
    np.testing.assert_allclose(y.numpy(), want, rtol=TOL, atol=TOL)


def test_masked_go_backwards_sequences_feed_the_next_layer_as_in_keras(tmp_path):
    """Keras reads a go_backwards layer's padding first and passes the outputs on in that
    order under the original mask; rnnkit read the real steps alone (0.01 off a stack)."""
    inp = keras.Input((None,), dtype="int32")
    h = layers.Embedding(12, 3, mask_zero=True)(inp)
    h = layers.SimpleRNN(4, go_backwards=True, return_sequences=True)(h)
    k = _randomise(keras.Model(inp, layers.Dense(1)(layers.LSTM(3)(h))), scale=0.4)
    x = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5], [7, 0, 0, 0, 0]])  # right-padded
    _check(k, x, tmp_path)
