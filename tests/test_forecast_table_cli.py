"""``rnnkit forecast`` end to end on generated series, and every bad input: a clear one-line
error, exit status 2, nothing written."""

import csv

import numpy as np
import pytest
import torch
from forecast_helpers import seasonal_series, write_csv

from rnnkit.apps.forecast.pipeline import (
    ForecastConfig,
    evaluate_forecaster,
    predict_forecast,
    train_forecaster,
)
from rnnkit.cli.main import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A SegRNN forecaster with quantile intervals, trained once through the CLI."""
    root = tmp_path_factory.mktemp("fc")
    path = write_csv(root / "s.csv", seasonal_series(900, noise=0.3))
    ck = root / "ck"
    torch.set_num_threads(1)
    rc = main(["forecast", "train", "--csv", str(path), "--time-col", "date", "--target", "load",
               "--mode", "segrnn", "--lookback", "48", "--horizon", "12", "--hidden-size", "32", "--epochs", "25",
               "--lr", "3e-3", "--batch-size", "32", "--output", "quantile", "--checkpoint",
               str(ck), "--quiet"])
    assert rc == 0
    return path, ck


def test_train_evaluate_predict_end_to_end(trained, tmp_path, capsys):
    path, ck = trained
    assert (ck / "model.safetensors").is_file() and (ck / "config.json").is_file()
    assert (ck / "history.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["forecast", "evaluate", "--checkpoint", str(ck), "--csv", str(path)]) == 0
    text = capsys.readouterr().out
    for name in ("forecaster", "last value", "seasonal naive (m=24)", "mean",
                 "linear (DLinear-style)", "MASE", "sMAPE", "intervals hold"):
        assert name in text
    out, png = tmp_path / "f.csv", tmp_path / "f.png"
    assert main(["forecast", "predict", "--checkpoint", str(ck), "--csv", str(path), "--out",
                 str(out), "--plot", str(png), "--quiet"]) == 0
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader(out.read_text().splitlines()))  # long format
    assert len(rows) == 12 and list(rows[0]) == ["id", "date", "forecast", "lower", "upper",
                                                 "actual"]
    # the forecast index continues the file hourly: 900 rows from 2020-01-01 00:00
    assert rows[0]["date"] == "2020-02-07 12:00:00" and rows[-1]["date"] == "2020-02-07 23:00:00"
    assert all(r["id"] == "load" and r["actual"] == "" for r in rows)
    assert all(float(r["lower"]) <= float(r["forecast"]) <= float(r["upper"]) for r in rows)


def test_forecaster_beats_the_naive_baselines(trained):
    path, ck = trained
    ev = evaluate_forecaster(ck, path)
    model = ev.rows["forecaster"]
    assert model["MSE"] < 0.5 * ev.rows["last value"]["MSE"]
    assert model["MSE"] < ev.rows["seasonal naive (m=24)"]["MSE"]
    assert model["MSE"] < ev.rows["mean"]["MSE"]
    assert model["MASE"] < 1.0
    assert 0.6 < ev.coverage < 0.95  # 80 % quantile intervals on held-out windows


def test_backtest_from_an_origin_has_actuals(trained, tmp_path, capsys):
    path, ck = trained
    pred = predict_forecast(ck, path, origin="2020-02-01 00:00:00")
    assert pred.times[0] == np.datetime64("2020-02-01T00:00:00")
    assert pred.point.shape == (12, 1) and not np.isnan(pred.actual).any()
    assert pred.history.shape == (48, 1) and pred.history_times[-1] == np.datetime64(
        "2020-01-31T23:00:00")
    tail = predict_forecast(ck, path, origin=895)  # 5 steps known, 7 past the end
    assert np.isnan(tail.actual[5:]).all() and not np.isnan(tail.actual[:5]).any()
    assert main(["forecast", "predict", "--checkpoint", str(ck), "--csv", str(path), "--origin",
                 "600", "--plot", str(tmp_path / "b.svg")]) == 0
    assert "against the 12 known actuals" in capsys.readouterr().out
    assert (tmp_path / "b.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("mode", ["direct", "recursive"])
def test_direct_and_recursive_modes_shapes_and_index(tmp_path, mode):
    path = write_csv(tmp_path / "s.csv", seasonal_series(300))
    cfg = ForecastConfig(lookback=24, horizon=6, time_col="date", mode=mode, norm="revin",
                         target="all", hidden_size=16, epochs=2, batch_size=64)
    r = train_forecaster(path, tmp_path / "ck", cfg, device="cpu", quiet=True)
    assert r["model"].mode == mode
    pred = predict_forecast(tmp_path / "ck", path)
    assert pred.point.shape == (6, 2) and pred.columns == ["load", "temp"]
    step = np.timedelta64(3600, "s")
    np.testing.assert_array_equal(pred.times, np.datetime64("2020-01-13T12:00:00") +
                                  step * np.arange(6))
    x, _, _ = r["prepared"].windows("test").arrays()
    out = r["model"](x)
    assert out.shape == (len(x), 6, 2)


def test_gaussian_intervals_hold_the_nominal_share(tmp_path):
    """Pure Gaussian noise around a daily cycle: 80 % intervals cover about 80 %."""
    rng = np.random.default_rng(1)
    t = np.arange(1500)
    values = np.stack([2 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1.0, len(t))], 1)
    path = write_csv(tmp_path / "g.csv", values, columns=("y",))
    cfg = ForecastConfig(lookback=48, horizon=12, time_col="date", target="y", mode="segrnn",
                         hidden_size=16, output="gaussian", norm="none", epochs=30, lr=1e-2,
                         batch_size=64, segment_length=12, dropout=0.0)
    r = train_forecaster(path, tmp_path / "ck", cfg, device="cpu", quiet=True)
    ev = r["evaluation"]
    assert ev.level == 0.8 and 0.72 < ev.coverage < 0.88, ev.coverage
    # and the mean is near the noise floor (the true mean scores 1.0; estimating the cycle
    # from 48 noisy steps costs a little more, as the least-squares linear map shows)
    assert ev.rows["forecaster"]["MSE"] < min(1.3, ev.rows["linear (DLinear-style)"]["MSE"])


@pytest.mark.parametrize("change, args, message", [
    ({"cells": {(4, "load"): ""}}, [],
     r"missing values in .*bad\.csv: load at lines 6; fix the file or pass --fill "
     r"ffill\|bfill\|interpolate\|zero"),
    ({"cells": {(7, "temp"): "n/a?"}}, [],
     r"bad\.csv: column 'temp', data row 8 \(line 9\): 'n/a\?' is not a number; leave it "
     r"out with --features"),
    ({"cells": {(3, "date"): "2020-01-01 09:00:00"}}, [],
     r"timestamps are not sorted: line 6 \(2020-01-01 04:00:00\) comes after line 5 "
     r"\(2020-01-01 09:00:00\)"),
    ({"cells": {(3, "date"): "2020-01-01 02:00:00"}}, [],
     r"duplicated timestamp 2020-01-01 02:00:00 at lines 4 and 5"),
    ({"n": 50}, [],
     r".*bad\.csv has 50 rows; a forecast needs at least lookback \+ horizon = 48 \+ 12 = 60"),
    ({"n": 80}, [],
     r"the training split has 56 rows \(split \(0, 56\)\); it needs at least lookback \+ "
     r"horizon = 60"),
    ({"constant": True}, [],
     r"column 'temp' is constant \(every row is 4\) in .*bad\.csv: it cannot be standardised; "
     r"leave it out with --features"),
    ({}, ["--horizon", "0"], r"horizon must be a positive integer, got 0"),
    ({}, ["--target", "price"],
     r"target column 'price' not found in .*bad\.csv; its columns are: date, load, temp"),
    ({}, ["--time-col", "when"], r"time column 'when' not found in .*bad\.csv"),
    ({}, ["--mode", "recursive"],
     r"error: --mode 'recursive' feeds its forecasts back, so it must forecast every input "
     r"channel"),
    ({}, ["--split", "0.9,0.2,0.1"], r"split fractions must sum to at most 1"),
    ({}, ["--cell", "transformer"],
     r"--cell must be one of gru, lstm, rnn, mingru, minlstm, ln_lstm, ln_gru, got "
     r"'transformer'$"),
])
def test_bad_input_is_refused_and_nothing_is_written(tmp_path, capsys, change, args, message):
    values = seasonal_series(change.get("n", 300))
    if change.get("constant"):
        values[:, 1] = 4.0
    path = write_csv(tmp_path / "bad.csv", values, cells=change.get("cells"))
    before = sorted(p.name for p in tmp_path.iterdir())
    rc = main(["forecast", "train", "--csv", str(path), "--time-col", "date", "--target",
               "load", "--lookback", "48", "--horizon", "12", "--epochs", "1", "--mode",
               "segrnn", "--checkpoint", str(tmp_path / "ck"), "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("rnnkit forecast train: error: ") and len(err.splitlines()) == 1
    import re
    assert re.search(message, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no checkpoint, no files


def test_fill_makes_missing_values_usable(tmp_path):
    cells = {(i, "load"): "" for i in (10, 11, 200)}
    path = write_csv(tmp_path / "gaps.csv", seasonal_series(300), cells=cells)
    assert main(["forecast", "train", "--csv", str(path), "--time-col", "date", "--target",
                 "load", "--mode", "segrnn", "--lookback", "24", "--horizon", "6", "--epochs",
                 "1", "--fill",
                 "interpolate", "--checkpoint", str(tmp_path / "ck"), "--quiet"]) == 0
    assert (tmp_path / "ck" / "model.safetensors").is_file()


def test_predict_and_evaluate_refusals(trained, tmp_path, capsys):
    path, ck = trained

    def err(argv):
        assert main(argv) == 2
        return capsys.readouterr().err.strip()

    assert "no checkpoint folder at" in err(["forecast", "predict", "--checkpoint",
                                             str(tmp_path / "none"), "--csv", str(path)])
    assert "no such file" in err(["forecast", "evaluate", "--checkpoint", str(ck), "--csv",
                                  str(tmp_path / "missing.csv")])
    assert "cannot make its folder" in err(["forecast", "predict", "--checkpoint", str(ck),
                                            "--csv", str(path), "--out", str(path / "f.csv")])
    assert "expected a file ending in .png, .svg, .pdf" in err(
        ["forecast", "predict", "--checkpoint", str(ck), "--csv", str(path), "--plot",
         str(tmp_path / "f.jpg")])
    assert "the origin needs lookback = 48 rows before it; it is row 10" in err(
        ["forecast", "predict", "--checkpoint", str(ck), "--csv", str(path), "--origin", "10"])
    assert "is not a timestamp in" in err(
        ["forecast", "predict", "--checkpoint", str(ck), "--csv", str(path), "--origin",
         "1999-01-01 00:00:00"])
    other = write_csv(tmp_path / "other.csv", seasonal_series(100), columns=("load", "wind"))
    assert "feature column 'temp' not found" in err(
        ["forecast", "predict", "--checkpoint", str(ck), "--csv", str(other)])
    assert list(tmp_path.iterdir()) == [other]
