"""Checkpoints: save -> load round trips, atomic writes, clear errors, old checkpoints load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import rnnkit
from rnnkit import checkpoint
from rnnkit.checkpoint import CheckpointError

DATA = Path(__file__).parent / "data"


MODELS = [
    lambda: rnnkit.SequenceRegressor(2, 6, cell="gru", num_layers=2, bidirectional=True,
                                     pooling="max", standardize=True),
    lambda: rnnkit.SequenceRegressor(1, 10, cell="rnn", activation="relu", init="keras"),
    lambda: rnnkit.SequenceClassifier(2, 5, num_classes=3, cell="lstm", pooling="mean"),
    lambda: rnnkit.SequenceTagger(2, 4, output_size=3, cell="irnn", bidirectional=True),
    lambda: rnnkit.SequenceGenerator(2, 5, output_size=2, steps=4, cell="lstm", num_layers=2),
    lambda: rnnkit.FeedForward(14, 8, output_size=2, num_layers=3, activation="tanh"),
]


def _inputs(model):
    g = torch.Generator().manual_seed(1)
    if isinstance(model, rnnkit.SequenceGenerator):
        return (torch.randn(3, 2, generator=g),)
    if isinstance(model, rnnkit.FeedForward):
        return (torch.randn(3, 7, 2, generator=g),)
    return torch.randn(3, 7, 2 if model.input_size == 2 else 1, generator=g), torch.tensor(
        [7, 4, 1])


@pytest.mark.parametrize("make", MODELS)
def test_save_load_gives_identical_outputs(tmp_path, make):
    torch.manual_seed(0)
    model = make()
    with torch.no_grad():  # non-default buffers/weights must travel too
        for p in model.parameters():
            p.add_(0.01)
    if getattr(model, "standardize", False):
        model.adapt(torch.randn(10, 7, 2) * 5 + 3, torch.randn(10, 1) * 4)
    model.eval()
    path = rnnkit.save(model, tmp_path / "ckpt", extras={"vocab": ["a", "b"], "window": 7})
    loaded = rnnkit.load(path)
    assert type(loaded) is type(model) and not loaded.training
    args = _inputs(model)
    with torch.no_grad():
        torch.testing.assert_close(loaded(*args), model(*args), rtol=0, atol=0)
    assert checkpoint.load_extras(path) == {"vocab": ["a", "b"], "window": 7}
    doc = json.loads((path / "config.json").read_text())
    assert doc["rnnkit_version"] == rnnkit.__version__
    assert doc["model_class"] == type(model).__name__ and doc["model_config"] == model.config
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]


def test_old_checkpoint_still_loads():
    model = rnnkit.load(DATA / "regressor_v0.1.0")
    x = torch.tensor([[[98.0], [99.0], [100.0]], [[1.0], [2.0], [3.0]]])
    with torch.no_grad():
        out = model(x)
    torch.testing.assert_close(out, torch.tensor([[37.049560546875], [45.71280288696289]]))
    assert checkpoint.load_extras(DATA / "regressor_v0.1.0")["window"] == 3


def test_save_into_an_existing_folder_keeps_other_files_and_replaces_atomically(tmp_path):
    model = rnnkit.SequenceRegressor(1, 4)
    rnnkit.save(model, tmp_path)
    (tmp_path / "history.csv").write_text("epoch\n1\n")
    with torch.no_grad():
        model.head.bias.fill_(3.0)
    rnnkit.save(model, tmp_path)
    assert rnnkit.load(tmp_path).head.bias.item() == 3.0
    assert (tmp_path / "history.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files


def test_a_failed_write_leaves_no_partial_checkpoint(tmp_path, monkeypatch):
    model = rnnkit.SequenceRegressor(1, 4)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_model", broken)
    with pytest.raises(OSError, match="disk full"):
        rnnkit.save(model, tmp_path / "new")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a temp folder
    monkeypatch.undo()

    rnnkit.save(model, tmp_path / "old")
    before = {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()}
    monkeypatch.setattr(checkpoint, "save_model", broken)
    with pytest.raises(OSError, match="disk full"):
        rnnkit.save(model, tmp_path / "old")
    assert {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()} == before


def test_mixed_saves_are_detected(tmp_path):
    a, b = rnnkit.SequenceRegressor(1, 4), rnnkit.SequenceRegressor(1, 4)
    rnnkit.save(a, tmp_path / "a")
    rnnkit.save(b, tmp_path / "b")
    (tmp_path / "a" / "config.json").write_bytes((tmp_path / "b" / "config.json").read_bytes())
    with pytest.raises(CheckpointError, match=r"config.json and model.safetensors in .* come "
                                              r"from different saves"):
        rnnkit.load(tmp_path / "a")


class Unregistered(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.config = {}


def test_save_errors_write_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"rnnkit.save: Unregistered is not a registered model; "
                                         r"decorate its class with "
                                         r"@rnnkit.checkpoint.register_model"):
        rnnkit.save(Unregistered(), tmp_path / "x")
    model = rnnkit.SequenceRegressor(1, 4)
    with pytest.raises(ValueError, match=r"rnnkit.save: extras must be JSON-serialisable"):
        rnnkit.save(model, tmp_path / "x", extras={"f": object()})
    with pytest.raises(ValueError, match=r"rnnkit.save: extras must be JSON-serialisable"):
        rnnkit.save(model, tmp_path / "x", extras={"nan": float("nan")})
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"rnnkit.save: .*file exists and is not a folder"):
        rnnkit.save(model, tmp_path / "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def _saved(tmp_path) -> Path:
    return rnnkit.save(rnnkit.SequenceRegressor(1, 4, cell="gru"), tmp_path / "ckpt")


def _edit_config(path: Path, **changes) -> None:
    doc = json.loads((path / "config.json").read_text())
    for k, v in changes.items():
        if v is None:
            doc.pop(k)
        else:
            doc[k] = v
    (path / "config.json").write_text(json.dumps(doc))


def test_missing_things_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"rnnkit.load: no checkpoint at .*nowhere"):
        rnnkit.load(tmp_path / "nowhere")
    path = _saved(tmp_path)
    (path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"has config.json but no model.safetensors"):
        rnnkit.load(path)
    (path / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no config.json \(a checkpoint folder holds "
                                                r"config.json and model.safetensors"):
        rnnkit.load(path)


@pytest.mark.parametrize("changes, message", [
    ({"model_class": "Transformer"}, r"names model class 'Transformer', which is not "
                                     r"registered \(import the module defining it; registered: "),
    ({"model_config": None}, r"config.json lacks 'model_config'"),
    ({"model_config": {"input_size": 1, "hidden_size": 4, "cell": "gru", "heads": 8}},
     r"model_config does not fit SequenceRegressor: .*unexpected keyword argument 'heads'"),
    ({"model_config": {"input_size": 1, "hidden_size": 5, "cell": "gru"}},
     r"model.safetensors does not match SequenceRegressor built from config.json: .*size "
     r"mismatch"),
    ({"model_config": {"input_size": 1, "hidden_size": 4, "cell": "lstm"}},
     r"model.safetensors does not match SequenceRegressor built from config.json"),
    ({"model_config": {"input_size": 1, "hidden_size": 4, "cell": "gru", "standardize": True}},
     r"missing \['adapted', 'x_mean', 'x_std', 'y_mean', 'y_std'\], unexpected \[\]"),
])
def test_mismatched_config_is_a_clear_error(tmp_path, changes, message):
    path = _saved(tmp_path)
    _edit_config(path, **changes)
    with pytest.raises(CheckpointError, match=message):
        rnnkit.load(path)


def test_invalid_json_and_damaged_weights(tmp_path):
    path = _saved(tmp_path)
    (path / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match=r"model.safetensors is not a safetensors file"):
        rnnkit.load(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config.json is not valid JSON"):
        rnnkit.load(path)


def test_never_unpickles():
    root = Path(rnnkit.__file__).parent
    for name in ("checkpoint.py", "train.py", "training/state.py"):
        text = (root / name).read_text()
        assert "torch.load" not in text and "pickle" not in text.replace(
            "never unpickle", "").replace("no pickle", "").replace("without pickle", ""), name


def test_fit_checkpoint_dir_holds_a_loadable_model_with_extras(tmp_path):
    X = np.random.default_rng(0).normal(size=(20, 4, 1)).astype(np.float32)
    model = rnnkit.SequenceRegressor(1, 4)
    rnnkit.fit(model, (X, X.sum(1)), epochs=2, checkpoint_dir=tmp_path, extras={"window": 4},
               progress=False)
    assert checkpoint.load_extras(tmp_path) == {"window": 4}
    with torch.no_grad():
        torch.testing.assert_close(rnnkit.load(tmp_path)(torch.from_numpy(X)),
                                   model.eval()(torch.from_numpy(X)))


def test_register_model_refuses_a_different_class_with_the_same_name():
    with pytest.raises(ValueError, match=r"a different class named 'SequenceRegressor' is "
                                         r"already registered"):
        checkpoint.register_model(type("SequenceRegressor", (nn.Module,), {}))


@pytest.mark.parametrize("make", [
    lambda: rnnkit.LSTM(3, 4, 2, dropout=0.1), lambda: rnnkit.GRU(3, 4, reset_after=False),
    lambda: rnnkit.SimpleRNN(3, 4, activation="relu", bidirectional=True),
    lambda: rnnkit.RNN("mingru", 3, 4), lambda: rnnkit.RNN("ln_lstm", 3, 4, recurrent_dropout=0.2),
], ids=["lstm", "gru-before", "relu-bi", "mingru", "ln_lstm"])
def test_a_bare_layer_saves_and_loads(tmp_path, make):
    """rnnkit.save(rnnkit.LSTM(...)) was refused with advice to decorate rnnkit's own class
    (found by a newcomer, 2026-12-02): a layer built from a cell name is a model of its own."""
    layer = make().eval()
    rnnkit.save(layer, tmp_path / "layer")
    back = rnnkit.load(tmp_path / "layer").eval()
    assert type(back) is rnnkit.RNN and back.config == layer.config
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(back(x)[0], layer(x)[0], rtol=0, atol=0)


def test_a_layer_of_a_cell_class_says_why_it_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match=r"^rnnkit.save: RNN\(LSTMCell\) is built from a cell "
                                         r"class, a cell instance or a callable"):
        rnnkit.save(rnnkit.RNN(rnnkit.cells.LSTMCell, 3, 4), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_a_users_own_class_named_rnn_still_registers(tmp_path, monkeypatch):
    """rnnkit's layer is registered as "RNN" (bare layers save and load): a user's own
    registered class of that name must not start failing at its definition, and both kinds
    of checkpoint load."""
    monkeypatch.setattr(checkpoint, "_REGISTRY", dict(checkpoint._REGISTRY))

    @checkpoint.register_model
    class RNN(nn.Module):  # noqa: N801 - the user's name
        def __init__(self, n: int = 3):
            super().__init__()
            self.config, self.lin = {"n": n}, nn.Linear(n, 1)

    rnnkit.save(RNN(), tmp_path / "theirs")
    rnnkit.save(rnnkit.LSTM(3, 4), tmp_path / "ours")
    assert type(rnnkit.load(tmp_path / "theirs")) is RNN
    assert type(rnnkit.load(tmp_path / "ours")) is rnnkit.RNN
