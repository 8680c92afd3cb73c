"""The anomaly application on data a newcomer brought (2026-12-02): timestamps with zones,
Unix times for the calendar, readings past float32, ragged or empty sequence files, filling
inside a sequence, a "label" column that holds no labels, files shorter than the warm-up,
and absurd settings."""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pandas as pd
import pytest

from rnnkit.apps import anomaly
from rnnkit.apps.anomaly.data import calendar_features, read_sequences
from rnnkit.cli.main import main
from rnnkit.demos.anomaly import sensor_stream


def _config(tmp_path, name="ck", **kw):
    base = dict(hidden_size=8, epochs=2, chunk=16, window=16, learning_fraction=0.5,
                checkpoint=str(tmp_path / name))
    return anomaly.Config(**{**base, **kw})


@pytest.mark.parametrize("zone", ["utc", "offsets"])
def test_timestamps_with_a_zone(tmp_path, zone):
    """'...+00:00' (what pandas writes for zone-aware times) and offsets changing at a
    daylight-saving switch: "'<' not supported between Timedelta and int" in train, score,
    serve and the API before."""
    frame = sensor_stream(n=300, seed=1, faults=())
    times = pd.date_range("2026-03-28", periods=300, freq="10min", tz="Europe/Berlin"
                          if zone == "offsets" else "UTC")  # Berlin: +01:00 then +02:00
    frame["timestamp"] = [t.isoformat() for t in times]
    path = tmp_path / "tz.csv"
    frame.to_csv(path, index=False)
    anomaly.train(_config(tmp_path, data=str(path)))
    scores = anomaly.load(tmp_path / "ck").predict(str(path))
    assert len(scores) == 300 and scores["likelihood"].notna().all()
    # a DataFrame with zone-aware datetimes, as the Python API gets it
    frame["timestamp"] = times
    assert len(anomaly.load(tmp_path / "ck").predict(frame)) == 300


def test_calendar_reads_unix_times_and_refuses_other_numbers():
    dates = pd.date_range("2024-05-01", periods=50, freq="37min")
    as_dates = calendar_features(dates.astype(str))
    seconds = (dates.astype("int64") // 10**9).to_numpy()
    np.testing.assert_allclose(calendar_features(seconds), as_dates, atol=1e-12)
    np.testing.assert_allclose(calendar_features(seconds * 1000), as_dates, atol=1e-12)
    with pytest.raises(ValueError, match=r"calendar features need dates; the data has numeric "
                                         r"times \(0, \.\.\.\) that are no Unix time"):
        calendar_features(np.arange(50))


def test_a_reading_past_float32_is_refused(tmp_path):
    frame = sensor_stream(n=200, seed=1, faults=())
    frame.loc[150, "temperature"] = 1e39  # inf in float32: NaN likelihoods for 400 rows
    with pytest.raises(ValueError, match=r"reading 1e\+39 at line 152 of the frame is beyond "
                                         r"float32's range"):
        anomaly.train(_config(tmp_path), data=frame)


def _sequences(tmp_path, rows, name="seq.csv"):
    path = tmp_path / name
    path.write_text("\n".join(",".join("" if v is None else str(v) for v in r) for r in rows)
                    + "\n")
    return path


def test_sequence_files_ragged_empty_and_filled_within_each_row(tmp_path):
    seq = anomaly.Config(layout="sequences", detector="reconstruct", fill="ffill")
    # header only: an IndexError before
    header = tmp_path / "header.csv"
    header.write_text("label,v1,v2,v3\n")
    with pytest.raises(ValueError, match=r"header.csv has a header and no sequences"):
        read_sequences(str(header), seq)
    # a row shorter than the others was "missing values", and --fill padded it from the row
    # before
    ragged = _sequences(tmp_path, [[0, 1, 2, 3, 4], [0, 1, 2], [0, 4, 3, 2, 1]])
    with pytest.raises(ValueError, match=r"the sequence at line 2 of .*seq.csv has 2 values and "
                                         r"the others 4: sequences must have one length"):
        read_sequences(str(ragged), seq)
    # a missing reading inside a row is filled from that row, never from its neighbours
    rows = [[0, 10, 10, 10, 10], [0, -10, None, -9, -8], [0, 10, 10, 10, 10]]
    filled = read_sequences(str(_sequences(tmp_path, rows, "gap.csv")), seq).values[:, :, 0]
    assert filled[1].tolist() == [-10, -10, -9, -8]
    seq = anomaly.Config(layout="sequences", detector="reconstruct", fill="interpolate")
    filled = read_sequences(str(_sequences(tmp_path, rows, "gap.csv")), seq).values[:, :, 0]
    assert filled[1].tolist() == [-10, -9.5, -9, -8]


def test_a_label_column_without_labels_is_left_out_when_scoring(tmp_path, caplog):
    frame = sensor_stream(n=300, seed=1, faults=())
    anomaly.train(_config(tmp_path), data=frame)
    predictor = anomaly.load(tmp_path / "ck")
    frame["label"] = np.where(np.arange(300) % 2, "normal", "odd")  # text, not 0/1
    with caplog.at_level(logging.WARNING, logger="rnnkit.anomaly"):
        scores = predictor.predict(frame)
    assert "label" not in scores and "not 0/1 labels; not used" in caplog.text
    with pytest.raises(ValueError, match=r"label column 'label' holds 'odd' at line 2"):
        predictor.evaluate(frame)


def test_a_file_within_the_warm_up_says_nothing_can_be_flagged(tmp_path, caplog):
    frame = sensor_stream(n=400, seed=1, faults=())
    anomaly.train(_config(tmp_path), data=frame)  # learns 200 readings: warm-up 200
    with caplog.at_level(logging.WARNING, logger="rnnkit.anomaly"):
        anomaly.load(tmp_path / "ck").predict(frame.iloc[-100:])
    assert "has 100 readings, all within the likelihood's warm-up of 200" in caplog.text


def test_resuming_with_fewer_epochs_than_trained_is_refused(tmp_path):
    """--epochs 5 --resume of a run at epoch 91 trained nothing and saved its 91-epoch model
    as one of 5, without a word."""
    import rnnkit
    from rnnkit.data.tasks import adding_problem

    x, y = adding_problem(16, 6, seed=0)
    model = rnnkit.SequenceRegressor(2, 4)
    rnnkit.fit(model, (x, y), epochs=3, batch_size=8, checkpoint_dir=tmp_path / "run",
               progress=False)
    with pytest.raises(ValueError, match=r"has trained 3 epochs, more than epochs=2; resume "
                                         r"with at least 3"):
        rnnkit.fit(model, (x, y), epochs=2, batch_size=8, checkpoint_dir=tmp_path / "run",
                   resume=True, progress=False)


def test_absurd_settings_are_refused_or_cheap(tmp_path, capsys):
    frame = sensor_stream(n=300, seed=1, faults=())
    path = tmp_path / "s.csv"
    frame.to_csv(path, index=False)
    # lr 1e300 was an overflow RuntimeError mid-step; --threads 100000 oneDNN's failure
    assert main(["anomaly", "train", "--data", str(path), "--checkpoint",
                 str(tmp_path / "a"), "--lr", "1e300"]) == 2
    assert "lr 1e+300 is far above any learning rate" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # argparse's own refusal
        main(["anomaly", "score", "--checkpoint", str(tmp_path / "a"), "--data", str(path),
              "--threads", "100000"])
    assert exit_.value.code == 2
    assert "100000 threads on" in capsys.readouterr().err
    # --seasonal-cycles 10**9 looped over every cycle for every reading (hung)
    start = time.perf_counter()
    anomaly.train(_config(tmp_path, name="b", seasonal_cycles=10**9, epochs=1), data=frame)
    assert time.perf_counter() - start < 60 and not math.isnan(
        anomaly.load(tmp_path / "b").predict(frame)["likelihood"].iloc[-1])


def test_scoring_settings_and_what_a_request_must_carry(tmp_path):
    """configure(window=5) was accepted (the window is fixed by training); stream settings
    (holdoff...) on a sequences checkpoint did nothing; GET /v1/models listed no columns."""
    frame = sensor_stream(n=300, seed=1, faults=())
    anomaly.train(_config(tmp_path), data=frame)
    predictor = anomaly.load(tmp_path / "ck")
    with pytest.raises(ValueError, match=r"anomaly: window is fixed by training; scoring takes "
                                         r"threshold, holdoff"):
        predictor.configure(window=5)
    assert predictor.describe()["input"] == {"layout": "stream", "columns": ["temperature"],
                                             "time_col": "timestamp", "calendar": False}
    # a DatetimeIndex is the time column (was "time column not found"); an array is refused
    indexed = frame.set_index(pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp")),
                                               name="timestamp"))
    assert len(predictor.predict(indexed)) == 300
    with pytest.raises(ValueError, match=r"expected a CSV path or a pandas DataFrame .* got "
                                         r"ndarray"):
        predictor.predict(frame["temperature"].to_numpy())

    rng = np.random.default_rng(0)
    beats = pd.DataFrame(np.hstack([np.zeros((30, 1)), rng.normal(size=(30, 12))]))
    beats.to_csv(tmp_path / "beats.csv", header=False, index=False)
    anomaly.train(_config(tmp_path, name="seq", layout="sequences", detector="reconstruct"),
                  data=str(tmp_path / "beats.csv"))
    sequences = anomaly.load(tmp_path / "seq")
    assert sequences.describe()["input"] == {"layout": "sequences", "length": 12}
    with pytest.raises(ValueError, match=r"anomaly: holdoff, level_window act on streams; this "
                                         r"checkpoint scores sequences"):
        sequences.configure(holdoff=3, level_window=10)
    sequences.configure(threshold=0.5)


def test_label_columns_by_number_and_by_name_and_other_verbs(tmp_path, capsys):
    """--label-col on a file without a header was ignored (column 0 taken); is_anomaly (NAB's
    name) was read as a value column; `rnnkit predict` on this checkpoint said only that it
    was not a regression one."""
    rng = np.random.default_rng(0)
    rows = np.hstack([rng.normal(size=(30, 12)), np.zeros((30, 1))])  # label last
    pd.DataFrame(rows).to_csv(tmp_path / "last.csv", header=False, index=False)
    seq = anomaly.Config(layout="sequences", label_col="12")
    assert set(read_sequences(str(tmp_path / "last.csv"), seq).labels) == {"0"}
    last = read_sequences(str(tmp_path / "last.csv"), anomaly.Config(layout="sequences",
                                                                     label_col="last"))
    assert set(last.labels) == {"0"} and last.values.shape == (30, 12, 1)  # by its place
    with pytest.raises(ValueError, match=r"--label-col 13: .* has no header, so it names a "
                                         r"column by its number, 0 to 12, or by its place, "
                                         r"first or last"):
        read_sequences(str(tmp_path / "last.csv"), anomaly.Config(layout="sequences",
                                                                  label_col="13"))
    frame = sensor_stream(n=300, seed=1, faults=()).rename(columns={"label": "is_anomaly"})
    frame.to_csv(tmp_path / "nab.csv", index=False)
    anomaly.train(_config(tmp_path), data=str(tmp_path / "nab.csv"))
    assert anomaly.load(tmp_path / "ck").meta["columns"] == ["temperature"]
    assert main(["predict", "--checkpoint", str(tmp_path / "ck"), "--csv",
                 str(tmp_path / "nab.csv")]) == 2
    assert "was written by rnnkit anomaly train; use it with rnnkit anomaly" in \
        capsys.readouterr().err


def test_labelled_anomalies_in_the_learning_period_are_named(tmp_path, caplog):
    frame = sensor_stream(n=300, seed=1, faults=(("spike", 40, 2),))  # learns 150 readings
    with caplog.at_level(logging.WARNING, logger="rnnkit.anomaly"):
        anomaly.train(_config(tmp_path), data=frame)
    assert "2 labelled anomalous reading(s) lie in the learning period of the frame (lines 42, " \
        "43)" in caplog.text
