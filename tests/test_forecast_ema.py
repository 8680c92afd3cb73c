"""``Config.ema`` (modes auto and rnn): the network's weights are averaged (an exponential
moving average per step, ``rnnkit.training.averaging.WeightAverage``); the average is what
is validated, kept as the best epoch, refitted, saved and forecast with."""

import pandas as pd
import pytest
import torch
from forecast_helpers import trending_panel

from rnnkit.apps import forecast
from rnnkit.apps.forecast import auto
from rnnkit.cli.main import main


def _table(n: int = 64, series: int = 4) -> pd.DataFrame:
    return trending_panel(n, series)


def _config(**kw) -> forecast.Config:
    return forecast.Config(**{**dict(horizon=6, period=4, mode="rnn", val_windows=1, epochs=4,
                                     hidden_size=8, batch_size=16, ema=0.9), **kw})


def _recording(averages: list):
    """A WeightAverage that keeps, per run, the average validated after each epoch."""
    class Recording(auto.WeightAverage):
        def __init__(self, *args):
            super().__init__(*args)
            averages.append(self.epochs_seen)

        epochs_seen: list

        def __call__(self, event, info):
            if event == "batch_end" and info["step"] == self.steps:
                super().__call__(event, info)
                self.epochs_seen.append([a.clone() for a in self.shadow])
                return None
            return super().__call__(event, info)

    def make(*args):
        Recording.epochs_seen = []
        return Recording(*args)
    return make


def _params(model) -> list[torch.Tensor]:
    return [p.detach() for p in model.parameters() if p.requires_grad]


@pytest.mark.parametrize("refit", [False, True])
def test_the_kept_network_is_the_average_of_its_best_epoch(tmp_path, monkeypatch, refit):
    averages: list = []
    monkeypatch.setattr(auto, "WeightAverage", _recording(averages))
    real_refit = auto._refit_network

    def refit_for_one_epoch(*args, **kw):  # fewer epochs than the run's 4: stopped early
        return real_refit(*args[:7], [1], *args[8:], **kw)

    monkeypatch.setattr(auto, "_refit_network", refit_for_one_epoch)
    result = forecast.run(_config(refit=refit), _table(), tmp_path / "ck", quiet=True)
    history = result["history"]
    validated = [r for r in history.rows if not r.get("refit")]
    assert len(averages[0]) == len(validated)  # one average per epoch, each validated
    best = averages[0][history.best_epoch - 1]
    kept = result["validated_model"] if refit else result["model"]
    for a, p in zip(best, _params(kept), strict=True):
        torch.testing.assert_close(p, a)
    if refit:  # the refitted network ends on its average after the chosen epochs
        assert len(averages) == 2 and len(averages[1]) == 1
        for a, p in zip(averages[1][-1], _params(result["model"]), strict=True):
            torch.testing.assert_close(p, a)
    saved = forecast.load(tmp_path / "ck")
    assert saved.config.ema == 0.9
    for a, b in zip(_params(saved.model), _params(result["model"]), strict=True):
        torch.testing.assert_close(a, b)


def test_ema_off_is_the_plain_network(tmp_path):
    plain = forecast.run(_config(ema=0.0), _table(), tmp_path / "a", quiet=True)
    averaged = forecast.run(_config(), _table(), tmp_path / "b", quiet=True)
    assert any(not torch.equal(a, b) for a, b in zip(_params(plain["model"]),
                                                      _params(averaged["model"]), strict=True))


@pytest.mark.parametrize("bad", [1.0, -0.1])
def test_ema_out_of_range_is_one_line(bad, tmp_path, capsys):
    with pytest.raises(ValueError, match=rf"ema must lie in \[0, 1\) \(0: off\), got {bad}"):
        _config(ema=bad).check()
    path = tmp_path / "t.csv"
    _table().to_csv(path, index=False)
    assert main(["forecast", "train", "--csv", str(path), "--mode", "rnn", "--horizon", "6",
                 "--ema", str(bad), "--checkpoint", str(tmp_path / "ck"), "--quiet"]) == 2
    assert "ema must lie in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "ck").exists()
