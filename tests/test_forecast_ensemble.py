"""``--ensemble K`` for many-series forecasting: K global networks (seeds, optionally
look-backs), their forecasts combined by the median or mean; one checkpoint holds all K and
predict / evaluate / export use the combination."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

import rnnkit
from rnnkit.apps import forecast
from rnnkit.apps.forecast.ensemble import ForecasterEnsemble, combine
from rnnkit.cli.main import main
from rnnkit.models.forecaster import Forecaster


def stores(n_series: int = 5, seed: int = 0) -> pd.DataFrame:
    """Monthly series of different lengths: level, trend, yearly season, noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        n = 60 + 6 * i
        t = np.arange(n)
        y = (50 + 10 * i + 0.3 * t) * (1 + 0.2 * np.sin(2 * np.pi * (t + i) / 12)) + rng.normal(
            0, 1, n)
        frames.append(pd.DataFrame({"store": f"s{i}", "month": pd.date_range(
            "2015-01-01", periods=n, freq="MS"), "sales": y.round(2)}))
    return pd.concat(frames, ignore_index=True)


def members(lookbacks=(12, 12, 12)):
    torch.manual_seed(0)
    return [Forecaster(2, L, 4, hidden_size=8, norm="none") for L in lookbacks]


# -------------------------------------------------------------------------- the module
def test_median_and_mean_of_the_members_each_reading_its_own_lookback():
    ms = members((12, 6, 9))
    x = torch.randn(5, 12, 2)
    own = torch.stack([m.eval()(x[:, -m.lookback:]) for m in ms])  # (K, B, H, T)
    ens = ForecasterEnsemble.of(ms).eval()
    assert ens.lookback == 12 and len(ens) == 3
    torch.testing.assert_close(ens(x), own.median(0).values)
    torch.testing.assert_close(ForecasterEnsemble.of(ms, "mean").eval()(x), own.mean(0))
    torch.testing.assert_close(ens.forecast(x, batch_size=2).point, own.median(0).values)
    # even K: the mean of the two middle values (torch.median would take the lower one)
    four = torch.tensor([[1.0], [5.0], [2.0], [10.0]])
    assert combine(four, "median").item() == 3.5


@pytest.mark.parametrize("bad, message", [
    (dict(members=[]), "needs at least one member"),
    (dict(combine="mode"), "combine must be one of median, mean"),
    (dict(horizons=(4, 5)), "members must share horizon"),
])
def test_bad_ensembles_are_refused(bad, message):
    configs = [m.config for m in members((12, 12))]
    if "horizons" in bad:
        configs[1] = {**configs[1], "horizon": 5}
    with pytest.raises(ValueError, match=message):
        ForecasterEnsemble(bad.get("members", configs), bad.get("combine", "median"))


def test_save_load_and_onnx_export_give_the_combination(tmp_path):
    from rnnkit.export import export
    from rnnkit.export.onnx_export import session

    ens = ForecasterEnsemble.of(members((12, 8, 12))).eval()
    rnnkit.save(ens, tmp_path / "ck")
    back = rnnkit.load(tmp_path / "ck").eval()
    x = torch.randn(3, 12, 2)
    assert isinstance(back, ForecasterEnsemble)
    torch.testing.assert_close(back(x), ens(x))
    out = export(ens, tmp_path / "onnx")
    doc = json.loads((out / "export.json").read_text())
    assert list(doc["graphs"]) == ["model"]
    got = session(out / "model.onnx").run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, ens(x).detach().numpy(), rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------- train, predict
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ens")
    path = root / "stores.csv"
    stores().to_csv(path, index=False)
    cfg = forecast.Config(id_col="store", time_col="month", target="sales", horizon=6,
                          mode="rnn", ensemble=3, ensemble_lookbacks="1,0.5", epochs=2,
                          hidden_size=8, batch_size=16)
    result = forecast.run(cfg, path, root / "ck", quiet=True)
    return path, root / "ck", result


def test_checkpoint_holds_every_network_and_predict_uses_their_median(trained):
    path, ck, result = trained
    p = rnnkit.open(ck)
    model = p.model
    assert isinstance(model, ForecasterEnsemble) and len(model) == 3
    assert [m.lookback for m in model.members] == [36, 18, 36]  # 1, 0.5, 1 x the look-back 36
    assert p.describe()["model_class"] == "ForecasterEnsemble"
    members = {row["member"] for row in result["history"].rows}
    assert members == {0, 1, 2}
    frame = p.predict(path)
    assert len(frame) == 5 * 6 and set(frame["method"]) == {"rnn"}
    # the network forecast is the median of the three networks' forecasts
    from rnnkit.apps.forecast.auto import forecast_methods

    series = p._panel(path).series
    origins = [len(s) for s in series]
    together = forecast_methods(p.state, model, series, origins, ["rnn"])[0]["rnn"]
    alone = np.stack([forecast_methods(p.state, ForecasterEnsemble.of([m]), series, origins,
                                       ["rnn"])[0]["rnn"] for m in model.members])
    np.testing.assert_allclose(together, np.median(alone, 0), rtol=1e-5)
    np.testing.assert_allclose(frame["forecast"].to_numpy(), together.reshape(-1), rtol=1e-5)
    ev = p.evaluate(path)
    assert ev["overall"]["rnn"]["sMAPE"] == pytest.approx(
        result["test"]["overall"]["rnn"]["sMAPE"])


def test_one_network_is_a_plain_forecaster_as_before(tmp_path):
    path = tmp_path / "stores.csv"
    stores(3).to_csv(path, index=False)
    assert main(["forecast", "train", "--csv", str(path), "--id-col", "store", "--time-col",
                 "month", "--target", "sales", "--horizon", "6", "--mode", "rnn", "--epochs",
                 "1", "--hidden-size", "8", "--ensemble", "1", "--checkpoint",
                 str(tmp_path / "ck"), "--quiet"]) == 0
    assert type(rnnkit.open(tmp_path / "ck").model) is Forecaster


def test_cli_ensemble_flag_trains_k_networks(tmp_path, capsys):
    path = tmp_path / "stores.csv"
    stores(3).to_csv(path, index=False)
    assert main(["forecast", "train", "--csv", str(path), "--id-col", "store", "--time-col",
                 "month", "--target", "sales", "--horizon", "6", "--methods", "rnn,snaive",
                 "--epochs", "1", "--hidden-size", "8", "--ensemble", "2",
                 "--ensemble-combine", "mean", "--checkpoint", str(tmp_path / "ck")]) == 0
    assert "2 networks (mean of their forecasts)" in capsys.readouterr().out
    model = rnnkit.open(tmp_path / "ck").model
    assert len(model) == 2 and model.combine == "mean"


@pytest.mark.parametrize("args, message", [
    (["--ensemble", "0"], r"ensemble must be a positive integer, got 0"),
    (["--ensemble-combine", "mode"], r"--ensemble-combine must be one of median, mean"),
    (["--ensemble-lookbacks", "1,x"], r"--ensemble-lookbacks must list positive multiples"),
    (["--ensemble", "3", "--mode", "segrnn"], r"ensemble needs mode auto or rnn"),
    # quantile levels are checked in every mode (segrnn's model checked them; auto's saved them)
    (["--output", "quantile", "--quantiles", "1.5"],
     r"--quantiles must be increasing levels in \(0, 1\) including 0.5, got 1.5"),
])
def test_bad_ensemble_settings_one_line_exit_2_nothing_written(tmp_path, capsys, args, message):
    import re

    path = tmp_path / "stores.csv"
    stores(2).to_csv(path, index=False)
    before = sorted(tmp_path.iterdir())
    rc = main(["forecast", "train", "--csv", str(path), "--id-col", "store", "--time-col",
               "month", "--target", "sales", "--checkpoint", str(tmp_path / "ck"), "--quiet",
               *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and re.search(message, err[-1]), err
    assert sorted(tmp_path.iterdir()) == before
