"""Time-series data: CSV validation, splits, the train-only scaler, calendar covariates,
windows, metrics and baselines (each against a hand computation)."""

import json

import numpy as np
import pytest
from forecast_helpers import hourly_times, seasonal_series, write_csv

from rnnkit import metrics
from rnnkit.apps.forecast import baselines
from rnnkit.apps.forecast.prepare import prepare
from rnnkit.apps.forecast.windows import ForecastWindows, split_origins
from rnnkit.data.timeseries import (
    StandardScaler,
    calendar_features,
    chronological_split,
    read_timeseries,
)


@pytest.fixture
def csv_file(tmp_path):
    return write_csv(tmp_path / "s.csv", seasonal_series(240))


# ------------------------------------------------------------------------------ reading
def test_read_columns_targets_and_times(csv_file):
    ts = read_timeseries(csv_file, time_col="date", target="temp", features="all")
    assert ts.columns == ["load", "temp"] and ts.target == ["temp"] and ts.target_index == [1]
    assert ts.values.shape == (240, 2) and ts.has_dates
    assert ts.times[1] - ts.times[0] == np.timedelta64(3600, "s")
    only = read_timeseries(csv_file, time_col="date", target="temp", features="target")
    assert only.columns == ["temp"]
    np.testing.assert_allclose(only.values[:, 0], ts.values[:, 1])


@pytest.mark.parametrize("cells, match", [
    ({(4, "load"): ""}, r"missing values in .*s\.csv: load at lines 6; fix the file or pass "
                        r"--fill ffill\|bfill\|interpolate\|zero"),
    ({(4, "load"): "NaN", (9, "load"): "NA", (2, "temp"): "null"},
     r"load at lines 6, 11; temp at lines 4;"),
    ({(7, "temp"): "abc"}, r"s\.csv: column 'temp', data row 8 \(line 9\): 'abc' is not a "
                           r"number; leave it out with --features"),
    ({(3, "date"): "2020-01-01 05:00:00"}, r"timestamps are not sorted: line 6 \(2020-01-01 "
                                           r"04:00:00\) comes after line 5 \(2020-01-01 "
                                           r"05:00:00\) in .*s\.csv; sort the file by date"),
    ({(3, "date"): "2020-01-01 02:00:00"}, r"duplicated timestamp 2020-01-01 02:00:00 at lines "
                                           r"4 and 5 of"),
    ({(3, "date"): "yesterday"}, r"cannot read the timestamp 'yesterday' at line 5"),
])
def test_bad_cells_are_refused_with_lines(tmp_path, cells, match):
    path = write_csv(tmp_path / "s.csv", seasonal_series(40), cells=cells)
    with pytest.raises(ValueError, match=match):
        read_timeseries(path, time_col="date", target="load")


def test_many_missing_lines_are_summarised(tmp_path):
    cells = {(i, "load"): "" for i in range(10, 20)}
    path = write_csv(tmp_path / "s.csv", seasonal_series(40), cells=cells)
    with pytest.raises(ValueError, match=r"load at lines 12, 13, 14, 15, 16 \(and 5 more\)"):
        read_timeseries(path, time_col="date", target="load")


@pytest.mark.parametrize("fill, expected", [
    ("ffill", [1.0, 1.0, 1.0, 4.0]), ("bfill", [1.0, 4.0, 4.0, 4.0]),
    ("interpolate", [1.0, 2.0, 3.0, 4.0]), ("zero", [1.0, 0.0, 0.0, 4.0])])
def test_fill_strategies(tmp_path, fill, expected):
    values = np.array([[1.0, 5.0], [np.nan, 6.0], [np.nan, 7.0], [4.0, 8.0]])
    path = write_csv(tmp_path / "s.csv", values, cells={(1, "load"): "", (2, "load"): ""})
    ts = read_timeseries(path, time_col="date", target="load", fill=fill)
    np.testing.assert_allclose(ts.values[:, 0], expected)
    assert ts.filled == {"load": 2}


def test_leading_gap_ffill_takes_the_next_value(tmp_path):
    values = np.array([[np.nan, 5.0], [2.0, 6.0], [3.0, 7.0]])
    path = write_csv(tmp_path / "s.csv", values, cells={(0, "load"): ""})
    ts = read_timeseries(path, time_col="date", fill="ffill")
    np.testing.assert_allclose(ts.values[:, 0], [2.0, 2.0, 3.0])


def test_other_refusals(tmp_path, csv_file):
    with pytest.raises(ValueError, match=r"target column 'price' not found in .*s\.csv; its "
                                         r"columns are: date, load, temp"):
        read_timeseries(csv_file, time_col="date", target="price")
    with pytest.raises(ValueError, match=r"s\.csv: column 'date', data row 1 \(line 2\): "
                                         r"'2020-01-01 00:00:00' is not a number; is it the time "
                                         r"column\? pass --time-col date"):
        read_timeseries(csv_file, target="load")
    with pytest.raises(ValueError, match=r"time column 'when' not found"):
        read_timeseries(csv_file, time_col="when", target="load")
    const = seasonal_series(40)
    const[:, 1] = 3.0
    path = write_csv(tmp_path / "c.csv", const)
    with pytest.raises(ValueError, match=r"column 'temp' is constant \(every row is 3\) in .*: it "
                                         r"cannot be standardised; leave it out with --features"):
        read_timeseries(path, time_col="date", target="load")
    assert read_timeseries(path, time_col="date", target="load", features="target").columns == [
        "load"]
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(ValueError, match=r"e\.csv is empty"):
        read_timeseries(tmp_path / "e.csv")
    (tmp_path / "r.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(ValueError, match=r"r\.csv line 3: expected 2 fields like the header, "
                                         r"got 1"):
        read_timeseries(tmp_path / "r.csv")
    with pytest.raises(ValueError, match=r"unknown fill strategy 'mean'"):
        read_timeseries(csv_file, fill="mean")


# ------------------------------------------------------------------------ split, scaler
def test_chronological_split_fractions_and_counts():
    s = chronological_split(100, "0.7,0.1,0.2")
    assert (s.train, s.val, s.test) == ((0, 70), (70, 80), (80, 100))
    e = chronological_split(17420, (8640, 2880, 2880))  # ETTh1: 12/4/4 months
    assert (e.train, e.val, e.test) == ((0, 8640), (8640, 11520), (11520, 14400))
    assert chronological_split(100, (0.5, 0.2, 0.2)).test == (70, 90)
    with pytest.raises(ValueError, match=r"split fractions must sum to at most 1"):
        chronological_split(100, (0.8, 0.2, 0.2))
    with pytest.raises(ValueError, match=r"the split 80\+20\+20 rows needs 120 rows, the data "
                                         r"has 100"):
        chronological_split(100, (80, 20, 20))
    with pytest.raises(ValueError, match=r"expected the split as three non-negative fractions"):
        chronological_split(100, "0.7,0.3")


def test_scaler_round_trip_and_dict():
    rng = np.random.default_rng(0)
    x = rng.normal([3.0, -20.0, 1e4], [0.5, 4.0, 300.0], size=(500, 3))
    sc = StandardScaler(["a", "b", "c"]).fit(x)
    z = sc.transform(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-10)
    np.testing.assert_allclose(sc.inverse_transform(z), x, rtol=1e-12)
    back = StandardScaler.from_dict(json.loads(json.dumps(sc.to_dict())))
    np.testing.assert_allclose(back.transform(x), z)
    np.testing.assert_allclose(back.inverse_transform(z[:, [2]], [2]), x[:, [2]])
    with pytest.raises(ValueError, match=r"StandardScaler: column 'b' is constant over the 4 "
                                         r"training rows \(value 2\)"):
        StandardScaler(["a", "b"]).fit(np.array([[1.0, 2], [2, 2], [3, 2], [4, 2]]))


def test_scaler_sees_only_training_rows(tmp_path):
    """No leakage: changing every validation and test value leaves the scaler unchanged."""
    values = seasonal_series(300)
    a = prepare(write_csv(tmp_path / "a.csv", values), lookback=24, horizon=6,
                time_col="date", split="0.6,0.2,0.2")
    changed = values.copy()
    changed[180:] = changed[180:] * 7 + 100  # rows after the 180 training rows
    b = prepare(write_csv(tmp_path / "b.csv", changed), lookback=24, horizon=6,
                time_col="date", split="0.6,0.2,0.2")
    assert a.split.train == (0, 180)
    np.testing.assert_array_equal(a.scaler.mean, b.scaler.mean)
    np.testing.assert_array_equal(a.scaler.std, b.scaler.std)
    np.testing.assert_allclose(a.scaler.mean, values[:180].mean(0))
    assert a.spec.linear == b.spec.linear and a.spec.mase_scale == b.spec.mase_scale


def test_windows_do_not_cross_split_boundaries(tmp_path):
    prep = prepare(write_csv(tmp_path / "s.csv", seasonal_series(300)), lookback=24, horizon=6,
                   time_col="date", split="0.6,0.2,0.2")
    (_a, b), (c, d), (e, f) = prep.split.train, prep.split.val, prep.split.test
    tr, va, te = (prep.windows(p) for p in ("train", "val", "test"))
    assert tr.origins.min() == 24 and tr.origins.max() + 6 == b  # targets inside train
    assert va.origins.min() == c and va.origins.max() + 6 == d
    assert te.origins.min() == e == d  # test windows start after validation ends
    assert te.origins.max() + 6 == f and len(te) == f - e - 6 + 1
    x, fc, y = te.arrays()
    assert fc is None and x.shape == (len(te), 24, 2) and y.shape == (len(te), 6, 2)
    t0 = int(te.origins[0])  # the first test window's look-back is the last val rows
    np.testing.assert_allclose(x[0].numpy(), prep.z[t0 - 24:t0], rtol=1e-6)
    np.testing.assert_allclose(y[0].numpy(), prep.z[t0:t0 + 6], rtol=1e-6)
    assert list(split_origins((0, 10), 4, 3)) == [4, 5, 6, 7]
    item_x, item_y = tr[0]
    np.testing.assert_allclose(item_x.numpy(), x[0].numpy() * 0 + prep.z[0:24], rtol=1e-6)
    assert item_y.shape == (6, 2)


def test_windows_with_covariates_and_target_subset():
    z = np.arange(40, dtype=float).reshape(20, 2)
    cov = -np.arange(20, dtype=float)[:, None]
    w = ForecastWindows(z, [5, 6], 5, 3, [1], cov)
    (x, fc), y = w[0]
    assert x.shape == (5, 3) and fc.shape == (3, 1) and y.shape == (3, 1)
    np.testing.assert_allclose(x[:, 2].numpy(), [0, -1, -2, -3, -4])
    np.testing.assert_allclose(fc[:, 0].numpy(), [-5, -6, -7])
    np.testing.assert_allclose(y[:, 0].numpy(), [11, 13, 15])


def test_calendar_features_are_cycles():
    times = hourly_times(24 * 8, "2024-01-01T00:00")  # 2024-01-01 was a Monday
    cov, names = calendar_features(times)
    assert names == ["hour_of_day_sin", "hour_of_day_cos", "day_of_week_sin", "day_of_week_cos",
                     "day_of_year_sin", "day_of_year_cos"]
    np.testing.assert_allclose(cov[0, :4], [0, 1, 0, 1], atol=1e-12)  # midnight, Monday
    np.testing.assert_allclose(cov[6, :2], [1, 0], atol=1e-12)  # 06:00: a quarter day
    np.testing.assert_allclose(cov[3, :4], cov[3 + 168, :4], atol=1e-12)  # a week later
    assert abs(cov[3, 4] - cov[3 + 168, 4]) > 0.05  # but later in the year
    daily, names = calendar_features(np.datetime64("2024-01-01", "s")
                                     + np.arange(10) * np.timedelta64(1, "D"))
    assert names[0] == "day_of_week_sin" and daily.shape == (10, 4)
    with pytest.raises(ValueError, match=r"calendar covariates need a time column of dates"):
        calendar_features(np.arange(5.0))


# ---------------------------------------------------------------------- metrics, baselines
def test_metrics_by_hand():
    y = np.array([[1.0, 2.0], [4.0, 0.0]])
    p = np.array([[2.0, 2.0], [2.0, 1.0]])
    assert metrics.mae(y, p) == pytest.approx(1.0)  # (1 + 0 + 2 + 1) / 4
    assert metrics.mse(y, p) == pytest.approx(1.5)  # (1 + 0 + 4 + 1) / 4
    assert metrics.rmse(y, p) == pytest.approx(1.5 ** 0.5)
    assert metrics.mape(y, p) == pytest.approx(100 * (1 + 0 + 0.5) / 3)  # y = 0 left out
    assert metrics.smape(y, p) == pytest.approx(200 * (1 / 3 + 0 + 2 / 6 + 1 / 1) / 4)
    scale = metrics.mase_scale(np.array([[0.0, 0.0], [2.0, 1.0], [4.0, 3.0]]), period=1)
    np.testing.assert_allclose(scale, [2.0, 1.5])
    assert metrics.mase(y, p, scale) == pytest.approx(((1 + 2) / 2 / 2 + (0 + 1) / 2 / 1.5) / 2)
    assert np.isnan(metrics.mape(np.zeros(3), np.ones(3)))
    with pytest.raises(ValueError, match=r"metrics: expected forecasts of the actuals' shape"):
        metrics.mae(y, p[:1])


def test_per_series_metrics_by_hand():
    """axis=1 keeps one value per series (row), as the M3 competition averages sMAPE."""
    y = np.array([[1.0, 2.0], [4.0, 0.0]])
    p = np.array([[2.0, 2.0], [2.0, 1.0]])
    np.testing.assert_allclose(metrics.mae(y, p, axis=1), [0.5, 1.5])
    np.testing.assert_allclose(metrics.rmse(y, p, axis=1), [0.5 ** 0.5, 2.5 ** 0.5])
    np.testing.assert_allclose(metrics.smape(y, p, axis=1), [100 * (1 / 3 + 0),
                                                              100 * (2 / 6 + 1)])
    assert metrics.smape(y, p, axis=1).mean() == pytest.approx(metrics.smape(y, p))
    # MASE's denominator of one series: mean |y_t - y_{t-m}|; lag 1 when not longer than m + 1
    assert metrics.series_scale([1.0, 2.0, 4.0, 7.0, 11.0], period=2) == pytest.approx(
        (3 + 5 + 7) / 3)
    assert metrics.series_scale([1.0, 2.0, 4.0], period=2) == pytest.approx(1.5)
    assert metrics.series_scale([5.0, 5.0, 5.0], period=1) == pytest.approx(5e-3)  # flat
    assert metrics.series_scale([3.0], period=1) == 1.0


def test_baselines_by_hand():
    x = np.arange(12, dtype=float).reshape(1, 12, 1)  # look-back 0..11
    assert baselines.last_value(x, 3)[0, :, 0].tolist() == [11, 11, 11]
    assert baselines.window_mean(x, 2)[0, :, 0].tolist() == [5.5, 5.5]
    assert baselines.seasonal_naive(x, 5, 4)[0, :, 0].tolist() == [8, 9, 10, 11, 8]
    with pytest.raises(ValueError, match=r"seasonal naive: the period must lie in \[1, 12\]"):
        baselines.seasonal_naive(x, 5, 13)


def test_detect_period_and_linear_baseline():
    s = seasonal_series(600, period=24, noise=0.2)
    assert baselines.detect_period(s, 96) == 24
    assert baselines.detect_period(seasonal_series(600, period=7), 30) == 7
    rng = np.random.default_rng(0)
    assert baselines.detect_period(rng.normal(size=500), 50) is None
    # an exactly linear rule y = 2 x_L - x_{L-1} (a line continued) is recovered
    x = rng.normal(size=(200, 6, 2)).cumsum(1)
    y = np.stack([x[:, -1] + (k + 1) * (x[:, -1] - x[:, -2]) for k in range(3)], 1)
    lin = baselines.LinearBaseline(ridge=0.0).fit(x, y)
    np.testing.assert_allclose(lin.predict(x), y, atol=1e-8)
    back = baselines.LinearBaseline.from_dict(json.loads(json.dumps(lin.to_dict())))
    np.testing.assert_allclose(back.predict(x), y, atol=1e-8)
