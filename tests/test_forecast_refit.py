"""``Config.refit`` (modes auto and rnn): after every choice is made on validation, the
network is trained again on the windows up to the test part, the validation windows
included, for the epochs early stopping chose; that network forecasts the test part and is
the one saved."""

import numpy as np
import pandas as pd
import pytest
from forecast_helpers import trending_panel

from rnnkit.apps import forecast
from rnnkit.apps.forecast import auto


def _table(n: int = 64, series: int = 4) -> pd.DataFrame:
    return trending_panel(n, series)


def _config(**kw) -> forecast.Config:
    return forecast.Config(**{**dict(horizon=6, period=4, mode="rnn", val_windows=1, epochs=4,
                                     hidden_size=8, batch_size=16), **kw})


def _test_forecasts(result, model) -> np.ndarray:
    """The network's forecasts of the test part (the last horizon of every series)."""
    series = result["panel"].series
    origins = [len(s) - result["state"].horizon for s in series]
    return auto.forecast_methods(result["state"], model, series, origins, ["rnn"])[0]["rnn"]


@pytest.fixture(scope="module")
def refitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("refit")
    calls, written = [], []  # each _windows call (ends, windows, batch); what exists at refit
    real_windows, real_refit = auto._windows, auto._refit_network

    def windows(config, state, win, series, ends, min_history, batch=None):
        out = real_windows(config, state, win, series, ends, min_history, batch)
        calls.append((list(ends), out[3], out[4]))
        return out

    def refit(*args, **kw):
        written.append(sorted(p.name for p in root.iterdir()))
        return real_refit(*args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(auto, "_windows", windows)
        mp.setattr(auto, "_refit_network", refit)
        result = forecast.run(_config(refit=True), _table(), root / "ck", quiet=True)
    return root, result, calls, written


def test_refit_trains_on_the_later_windows_for_the_epochs_chosen_on_validation(refitted):
    _, result, calls, written = refitted
    (val_ends, n_val, batch), (test_ends, n_test, batch_refit) = calls
    assert val_ends == [64 - 12] * 4 and test_ends == [64 - 6] * 4  # test part: the last 6
    assert n_test - n_val == 4 * 6 and batch_refit == batch  # the 6 validation windows each
    history, state = result["history"], result["state"]
    validated = [r for r in history.rows if not r.get("refit")]
    refit = [r for r in history.rows if r.get("refit")]
    assert state.refit_epochs == [history.best_epoch] and len(refit) == history.best_epoch
    assert [r["val_loss"] for r in refit] == [None] * len(refit)
    assert auto.epochs_run(history) == [len(validated)]
    assert written == [[]]  # nothing written before the refit


def test_refit_changes_the_forecasts_and_the_saved_network_is_the_refitted_one(refitted):
    root, result, _, _ = refitted
    mine = _test_forecasts(result, result["model"])
    before = _test_forecasts(result, result["validated_model"])
    assert np.abs(mine - before).max() > 1e-3
    saved = forecast.load(root / "ck")
    np.testing.assert_allclose(_test_forecasts(result, saved.model), mine, rtol=1e-6)
    assert saved.state.refit_epochs == result["state"].refit_epochs
    assert result["test"]["overall"]["rnn"]["MAE"] == pytest.approx(
        float(np.mean(np.abs(mine - np.stack([s.y[-6:] for s in result["panel"].series])))))


def test_without_refit_the_validated_network_and_the_same_choices(refitted, tmp_path):
    _, result, _, _ = refitted
    plain = forecast.run(_config(refit=False), _table(), tmp_path / "ck", quiet=True)
    assert plain["state"].refit_epochs == [] and not any(
        r.get("refit") for r in plain["history"].rows)
    np.testing.assert_allclose(_test_forecasts(plain, plain["model"]),
                               _test_forecasts(result, result["validated_model"]), rtol=1e-6)
    assert plain["state"].validation == result["state"].validation


def test_refit_of_an_ensemble_refits_every_network(tmp_path):
    cfg = _config(refit=True, ensemble=2, ensemble_lookbacks="1,0.5", epochs=2)
    result = forecast.run(cfg, _table(), tmp_path / "ck", quiet=True)
    state, history = result["state"], result["history"]
    assert len(state.refit_epochs) == 2
    for k, epochs in enumerate(state.refit_epochs):
        assert len([r for r in history.rows if r.get("refit") and r["member"] == k]) == epochs
    model = forecast.load(tmp_path / "ck").model
    assert [m.lookback for m in model.members] == [m.lookback for m in result["model"].members]
    np.testing.assert_allclose(_test_forecasts(result, model),
                               _test_forecasts(result, result["model"]), rtol=1e-6)
