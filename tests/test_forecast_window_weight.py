"""``Config.window_weight`` (modes auto and rnn): "relative" weighs each training and
validation window in the loss by ``scale / |level|`` (its normalised errors relative to the
series' level, as sMAPE counts them), normalised to mean 1 and capped."""

import numpy as np
import pandas as pd
import pytest
import torch
from forecast_helpers import trending_panel

from rnnkit.apps import forecast
from rnnkit.apps.forecast import auto
from rnnkit.apps.forecast.methods import Windowing


def _table(n: int = 64, series: int = 4) -> pd.DataFrame:
    return trending_panel(n, series, level_step=50.0)


def _config(**kw) -> forecast.Config:
    return forecast.Config(**{**dict(horizon=6, period=4, mode="rnn", val_windows=1, epochs=2,
                                     hidden_size=8, batch_size=16,
                                     window_weight="relative"), **kw})


def test_relative_weights_by_hand():
    ty = torch.zeros(3, 2, 1)
    level, scale = np.array([10.0, -20.0, 5.0]), np.array([1.0, 1.0, 5.0])
    out = auto._weighted_targets(_config(), Windowing(4, 2, 1, False), ty, level, scale)
    raw = np.array([0.1, 0.05, 1.0])
    assert out.shape == (3, 2, 2) and torch.equal(out[..., 0], ty[..., 0])
    np.testing.assert_allclose(out[:, 0, 1].numpy(), raw / raw.mean(), rtol=1e-6)
    logged = auto._weighted_targets(_config(), Windowing(4, 2, 1, True), ty, level, scale)
    np.testing.assert_allclose(logged[:, 1, 1].numpy(), scale / scale.mean(), rtol=1e-6)
    many = np.ones(20)
    many[0] = 1e6  # one window far above the rest: capped at WEIGHT_CAP x the median
    w = auto._weighted_targets(_config(), Windowing(4, 2, 1, False), torch.zeros(20, 2, 1),
                               np.ones(20), many)[:, 0, 1].numpy()
    assert w[0] / w[1] == pytest.approx(auto.WEIGHT_CAP)
    assert w.mean() == pytest.approx(1.0)
    none = auto._weighted_targets(_config(window_weight="none"), Windowing(4, 2, 1, False),
                                  ty, level, scale)
    assert none is ty


@pytest.mark.parametrize("point_loss, err", [("mae", np.abs), ("mse", np.square)])
def test_weighted_loss_by_hand(point_loss, err):
    loss = auto._window_loss(_config(point_loss=point_loss), None)
    pred = torch.tensor([[[1.0], [2.0]], [[0.0], [-1.0]]])
    target = torch.tensor([[[0.0, 2.0], [0.0, 2.0]], [[1.0, 0.5], [1.0, 0.5]]])
    want = np.mean([err(1.0) * 2, err(2.0) * 2, err(-1.0) * 0.5, err(-2.0) * 0.5])
    assert float(loss(pred, target)) == pytest.approx(want)


def test_training_with_relative_weights_runs_and_differs(tmp_path):
    weighted = forecast.run(_config(), _table(), tmp_path / "a", quiet=True)
    plain = forecast.run(_config(window_weight="none"), _table(), tmp_path / "b", quiet=True)
    assert weighted["history"].rows[0]["val_loss"] != plain["history"].rows[0]["val_loss"]
    saved = forecast.load(tmp_path / "a")
    assert saved.config.window_weight == "relative"
    assert np.isfinite(weighted["test"]["overall"]["rnn"]["MAE"])


def test_unknown_window_weight_is_one_line():
    with pytest.raises(ValueError, match="window_weight must be one of none, relative, got 'x'"):
        _config(window_weight="x").check()
