"""fit keeps the best epoch: monitor= (row key or callable, min/max), save_best=, one line per
epoch when stderr is not a terminal."""

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.checkpoint import load_extras


def _data(n=64):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4, 1)).astype(np.float32)
    return X, X.sum(1)


def test_monitor_callable_max_picks_and_restores_the_best_epoch(tmp_path):
    X, y = _data()
    model = rnnkit.SequenceRegressor(1, 4)
    scores = iter([0.1, 0.9, 0.5, 0.2])
    seen = {}

    def val_score(m):
        seen[len(seen) + 1] = {k: v.clone() for k, v in m.state_dict().items()}
        return next(scores)

    h = rnnkit.fit(model, (X, y), epochs=4, monitor=val_score, mode="max",
                   save_best=tmp_path / "best", progress=False)
    assert h.best_epoch == 2 and h["val_score"] == [0.1, 0.9, 0.5, 0.2]
    for k, v in model.state_dict().items():  # the best epoch's weights are back
        assert torch.equal(v, seen[2][k])
    extras = load_extras(tmp_path / "best")
    assert extras["epoch"] == 2 and extras["val_score"] == 0.9
    saved = rnnkit.load(tmp_path / "best")
    for k, v in saved.state_dict().items():
        assert torch.equal(v, seen[2][k])


def test_save_best_in_checkpoint_dir_keeps_the_best_not_the_last(tmp_path):
    X, y = _data()
    model = rnnkit.SequenceRegressor(1, 4)
    scores = iter([3.0, 1.0, 2.0])
    h = rnnkit.fit(model, (X, y), epochs=3, monitor=lambda m: next(scores),
                   checkpoint_dir=tmp_path, save_best=tmp_path, progress=False,
                   extras={"task": "x"})
    assert h.best_epoch == 2
    extras = load_extras(tmp_path)
    assert extras == {"task": "x", "epoch": 2, "monitor": 1.0}
    assert (tmp_path / "history.csv").exists()


def test_monitor_row_key_and_ties_go_to_the_lower_loss():
    X, y = _data()
    model = rnnkit.SequenceRegressor(1, 4)
    h = rnnkit.fit(model, (X, y), val_split=0.25, epochs=3, monitor="val_mae", metrics=("mae",),
                   progress=False)
    assert h.best_epoch == int(np.argmin(h["val_mae"])) + 1
    with pytest.raises(ValueError, match="monitor 'val_nothing'"):
        rnnkit.fit(rnnkit.SequenceRegressor(1, 4), (X, y), epochs=1, monitor="val_nothing",
                   progress=False)
    with pytest.raises(ValueError, match="mode"):
        rnnkit.fit(model, (X, y), epochs=1, mode="up", progress=False)


def test_one_line_per_epoch_when_not_a_terminal(capsys):
    X, y = _data()
    rnnkit.fit(rnnkit.SequenceRegressor(1, 4), (X, y), epochs=2, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert [line.split(" loss")[0] for line in err.splitlines() if line.startswith("fit:")] == [
        "fit: epoch 1/2", "fit: epoch 2/2"]


def test_many_short_epochs_are_not_a_line_each(capsys, monkeypatch):
    """The first and the last epoch, and between them one line per LOG_EVERY seconds."""
    import rnnkit.train

    X, y = _data()
    monkeypatch.setattr(rnnkit.train, "LOG_EVERY", 1e9)
    rnnkit.fit(rnnkit.SequenceRegressor(1, 4), (X, y), epochs=6, progress=True)
    assert [line.split(" loss")[0] for line in capsys.readouterr().err.splitlines()
            if line.startswith("fit:")] == ["fit: epoch 1/6", "fit: epoch 6/6"]
    monkeypatch.setattr(rnnkit.train, "LOG_EVERY", 0.0)  # every epoch, as before
    rnnkit.fit(rnnkit.SequenceRegressor(1, 4), (X, y), epochs=3, progress=True)
    assert len([line for line in capsys.readouterr().err.splitlines()
                if line.startswith("fit:")]) == 3
