"""Tables written with their row index (pandas' ``to_csv`` default, R's ``write.csv``): the
unnamed first column is not data, and a header of pandas' column numbers (0, 1, ...) is a
header, in every reader that takes "every other column" or rows of values."""

import numpy as np
import pandas as pd
import pytest

from rnnkit.apps import regress
from rnnkit.apps.anomaly.config import Config as AnomalyConfig
from rnnkit.apps.anomaly.data import read_sequences
from rnnkit.apps.forecast.panel import read_panel
from rnnkit.data.classification import names_row, parse_series_csv, read_ucr


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(12, 6)).round(4)
    labels = np.repeat([0, 1, 2], 4)
    return values, labels


def written(tmp_path, frame, name, **kw):
    path = tmp_path / name
    frame.to_csv(path, **kw)
    return path


@pytest.mark.parametrize("index", [True, False])
def test_ucr_rows_with_pandas_index_and_column_numbers(tmp_path, rows, index):
    values, labels = rows
    named = pd.DataFrame(values).assign(label=labels)
    plain = pd.DataFrame(np.column_stack([values, labels]))  # columns 0..6, the label last
    for frame, label in ((named, "label"), (plain, "last")):
        path = written(tmp_path, frame, f"{label}.csv", index=index)
        got, lengths, got_labels = read_ucr(path, label=label)
        np.testing.assert_allclose(got, values, rtol=1e-6)  # no index step, no header row
        assert list(lengths) == [6] * 12
        assert got_labels == [str(v) for v in labels]


def test_ucr_rows_from_r_write_csv(tmp_path, rows):
    values, labels = rows
    header = '"","' + '","'.join(f"V{j + 1}" for j in range(6)) + '","class"'
    lines = [header] + [f'"{i + 1}",' + ",".join(map(str, v)) + f',"c{lab}"'
                        for i, (v, lab) in enumerate(zip(values, labels, strict=True))]
    path = tmp_path / "r.csv"
    path.write_text("\n".join(lines) + "\n")
    got, _, got_labels = read_ucr(path, label="class")
    np.testing.assert_allclose(got, values, rtol=1e-6)
    assert got_labels == [f"c{lab}" for lab in labels]


@pytest.mark.parametrize("first, second, expected", [
    (["label", "t1", "t2"], ["1", "0.5", "0.6"], True),    # names over numbers
    (["", "0", "1", "2"], ["0", "0.5", "0.6", "0.7"], True),  # pandas: index and numbers
    (["0", "1", "2", "label"], ["0.1", "0.5", "0.6", "a"], True),
    (["1", "1", "2", "3"], ["2", "1", "2", "3"], False),    # a series of small integers
    (["1", "1", "x", "3"], ["2", "1", "2", "3"], False),    # a typo in a series: not names
    (["", "0.5", "0.6"], ["1", "0.5", "0.6"], False),       # an empty label: not a header
    (["0", "1", "2", "3"], ["0", "1", "2", "3"], False),    # the same as the next row
    (["up", "0", "1"], None, False),                        # one row: no second to compare
])
def test_names_row(first, second, expected):
    assert names_row(first, second) is expected


def test_anomaly_sequences_with_pandas_index(tmp_path, rows):
    values, labels = rows
    frame = pd.DataFrame(np.column_stack([values, labels]))
    path = written(tmp_path, frame, "seq.csv")
    seqs = read_sequences(str(path), AnomalyConfig(label_col="last"))
    np.testing.assert_allclose(seqs.values[..., 0], values)
    assert list(seqs.labels) == [str(v) for v in labels]  # 0.0 written, the class 0 read
    named = written(tmp_path, pd.DataFrame(values).assign(label=labels), "named.csv")
    seqs = read_sequences(str(named), AnomalyConfig(label_col="label"))
    np.testing.assert_allclose(seqs.values[..., 0], values)


def test_series_csv_default_features_leave_out_the_index(tmp_path):
    frame = pd.DataFrame({"id": ["a", "a", "b", "b"], "label": ["x", "x", "y", "y"],
                          "v": [1.0, 2.0, 3.0, 4.0]})
    table = parse_series_csv(frame.to_csv(), "id", "label")
    assert table.features == ["v"]
    assert parse_series_csv(frame.to_csv(index=False), "id", "label").features == ["v"]


def test_regress_rows_leave_out_the_index(tmp_path):
    frame = pd.DataFrame({"a": np.arange(8.0), "b": np.ones(8), "y": np.arange(8.0) * 2})
    path = written(tmp_path, frame, "reg.csv")
    X, y, info = regress.read_samples(path, regress.Config(target="y"))
    assert info["features"] == ["a", "b"] and X.shape == (8, 2, 1)


def test_forecast_wide_table_leaves_out_the_index(tmp_path):
    t = np.arange(60)
    frame = pd.DataFrame({"a": np.sin(t / 6.0), "b": np.cos(t / 6.0)})
    panel = read_panel(str(written(tmp_path, frame, "wide.csv")))
    assert sorted(panel.ids) == ["a", "b"]


def test_anomaly_stream_leaves_out_the_index(tmp_path):
    from rnnkit.apps.anomaly.data import read_stream

    times = pd.date_range("2020-01-01", periods=30, freq="h").astype(str)
    frame = pd.DataFrame({"timestamp": times, "value": np.sin(np.arange(30.0))})
    path = written(tmp_path, frame, "stream.csv")
    stream = read_stream(str(path), AnomalyConfig(time_col="timestamp"), min_rows=10)
    assert stream.columns == ["value"]  # not the index as a second value
    with pytest.raises(ValueError, match="name it with --time-col"):
        read_stream(str(path), AnomalyConfig(), min_rows=10)  # the index taken as the time


def test_table_timeseries_leave_out_the_index(tmp_path):
    from rnnkit.data.timeseries import read_timeseries

    t = np.arange(40)
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=40, freq="h").astype(str),
                          "a": np.sin(t / 5.0), "b": np.cos(t / 5.0)})
    ts = read_timeseries(written(tmp_path, frame, "table.csv"), time_col="date")
    assert ts.columns == ["a", "b"]
