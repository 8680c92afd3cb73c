"""A newcomer's own data through the time-series verbs (regress, forecast, anomaly): columns in
another order at predict time, a BOM, a constant input column in the history, calendar months,
series skipped or not forecastable at predict time, another verb's checkpoint, an output file
in a missing folder. Each test is a regression test for a bug found by an audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnkit.cli.main import main

TABLE = ["--time-col", "date", "--target", "load", "--mode", "segrnn", "--lookback", "24",
         "--horizon", "6", "--segment-length", "6", "--hidden-size", "8", "--epochs", "1",
         "--quiet"]


def _table(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    i = np.arange(n)
    return pd.DataFrame({
        "date": pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M:%S"),
        "load": 10 + 5 * np.sin(i * 2 * np.pi / 24) + rng.normal(0, 0.3, n),
        "temp": np.cos(i * 2 * np.pi / 24) + rng.normal(0, 0.1, n),
        "extra": rng.normal(size=n)})


def _trained(tmp_path_factory, name: str, frame: pd.DataFrame, *flags: str):
    """``frame`` written to a CSV and a forecaster trained on it: (folder, csv, checkpoint)."""
    tmp = tmp_path_factory.mktemp(name)
    data = tmp / f"{name}.csv"
    frame.to_csv(data, index=False)
    ck = tmp / "ck"
    assert main(["forecast", "train", "--csv", str(data), *flags, "--checkpoint", str(ck)]) == 0
    return tmp, data, ck


@pytest.fixture(scope="module")
def table_model(tmp_path_factory):
    return _trained(tmp_path_factory, "audit_table", _table(), "--features", "load,temp", *TABLE)


def _predict(ck, csv, out):
    assert main(["forecast", "predict", "--checkpoint", str(ck), "--csv", str(csv), "--out",
                 str(out), "--quiet"]) == 0
    return pd.read_csv(out)


def test_forecast_predict_takes_the_columns_in_any_order(table_model, capsys):
    tmp, data, ck = table_model
    base = _predict(ck, data, tmp / "a.csv")
    moved = tmp / "moved.csv"
    pd.read_csv(data)[["temp", "extra", "load", "date"]].to_csv(moved, index=False)
    pd.testing.assert_frame_equal(_predict(ck, moved, tmp / "b.csv"), base)
    assert main(["forecast", "evaluate", "--checkpoint", str(ck), "--csv", str(moved)]) == 0


def test_forecast_predict_accepts_a_constant_input_column_in_the_history(table_model):
    tmp, data, ck = table_model
    flat = tmp / "flat.csv"
    pd.read_csv(data).assign(temp=0.5).to_csv(flat, index=False)  # the model's scaler is stored
    frame = _predict(ck, flat, tmp / "c.csv")
    assert len(frame) == 6 and frame["forecast"].notna().all()


def test_forecast_predict_missing_values_advise_what_predict_can_do(table_model, capsys):
    tmp, data, ck = table_model
    gaps = tmp / "gaps.csv"
    pd.read_csv(data).assign(load=lambda f: f["load"].mask(f.index == 3)).to_csv(gaps,
                                                                                  index=False)
    assert main(["forecast", "predict", "--checkpoint", str(ck), "--csv", str(gaps)]) == 2
    err = capsys.readouterr().err
    assert "load at lines 5" in err and "train the model with --fill" in err
    assert len(err.strip().splitlines()) == 1


def test_forecast_train_reads_a_bom_and_windows_line_endings(tmp_path, capsys):
    data = tmp_path / "bom.csv"
    data.write_bytes(b"\xef\xbb\xbf" + _table().to_csv(index=False).replace("\n", "\r\n")
                     .encode())
    ck = tmp_path / "ck"
    assert main(["forecast", "train", "--csv", str(data), "--features", "load",
                 "--checkpoint", str(ck), *TABLE]) == 0
    frame = _predict(ck, data, tmp_path / "f.csv")
    assert frame["date"].iloc[0] == "2024-01-06 00:00:00"


def test_forecast_monthly_dates_continue_on_month_starts(tmp_path, capsys):
    n = 60
    data = tmp_path / "monthly.csv"
    pd.DataFrame({"month": pd.date_range("2019-01-01", periods=n, freq="MS").strftime("%Y-%m-%d"),
                  "sales": 10 + 3 * np.sin(np.arange(n) * 2 * np.pi / 12)
                  + np.random.default_rng(0).normal(0, 0.2, n)}).to_csv(data, index=False)
    ck = tmp_path / "ck"
    assert main(["forecast", "train", "--csv", str(data), "--time-col", "month", "--target",
                 "sales", "--mode", "direct", "--lookback", "12", "--horizon", "6",
                 "--hidden-size", "8", "--epochs", "1", "--quiet", "--checkpoint", str(ck)]) == 0
    frame = _predict(ck, data, tmp_path / "f.csv")
    assert list(frame["month"]) == ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01",
                                    "2024-05-01", "2024-06-01"]


# ------------------------------------------------------------------------ many series
def _long(shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for sid, level in (("a", 10.0), ("b", 15.0)):
        for i, t in enumerate(pd.date_range("2024-01-01", periods=60, freq="D")):
            rows.append((sid, t.strftime("%Y-%m-%d"),
                         level + 3 * np.sin(i * 2 * np.pi / 7) + rng.normal(0, 0.2) + shift))
    return pd.DataFrame(rows, columns=["unique_id", "ds", "y"])


@pytest.fixture(scope="module")
def panel_model(tmp_path_factory):
    return _trained(tmp_path_factory, "audit_panel", _long(), "--id-col", "unique_id",
                    "--time-col", "ds", "--target", "y", "--horizon", "7", "--methods",
                    "linear,snaive", "--transform", "log", "--quiet")


def test_forecast_predict_says_which_series_it_skipped(panel_model, capsys):
    tmp, data, ck = panel_model
    gaps = tmp / "gaps.csv"
    frame = pd.read_csv(data)
    frame.loc[5, "y"] = np.nan  # series a: missing values, and the model has no --fill
    frame.to_csv(gaps, index=False)
    capsys.readouterr()
    out = _predict(ck, gaps, tmp / "f.csv")
    assert set(out["id"]) == {"b"}
    assert "warning: skipped 1 series (missing target values): a" in capsys.readouterr().err
    assert main(["forecast", "evaluate", "--checkpoint", str(ck), "--csv", str(gaps)]) == 0
    assert "skipped 1 series (missing target values): a" in capsys.readouterr().err


def test_forecast_log_model_refuses_values_at_or_below_zero(panel_model, capsys):
    tmp, data, ck = panel_model
    low = tmp / "low.csv"
    _long(shift=-15.0).to_csv(low, index=False)  # a log model would forecast NaN for these
    for action in ("predict", "evaluate"):
        assert main(["forecast", action, "--checkpoint", str(ck), "--csv", str(low)]) == 2
        err = capsys.readouterr().err
        assert "series 'a' has a value <= 0" in err and "--transform none" in err


# ------------------------------------------------------------------------------ anomaly
def _sensor(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    v = np.sin(np.arange(n) * 2 * np.pi / 48) + rng.normal(0, 0.05, n)
    v[150] += 4
    return pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="5min")
                         .strftime("%Y-%m-%d %H:%M:%S"), "value": v,
                         "label": (np.arange(n) == 150).astype(int)})


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit_anomaly")
    data = tmp / "sensor.csv"
    _sensor().to_csv(data, index=False)
    ck = tmp / "ck"
    assert main(["anomaly", "train", "--data", str(data), "--checkpoint", str(ck),
                 "--hidden-size", "4", "--epochs", "2", "--window", "16",
                 "--learning-fraction", "0.5", "--quiet"]) == 0
    return tmp, data, ck


def test_anomaly_score_finds_the_time_column_it_trained_on(detector):
    tmp, data, ck = detector
    moved = tmp / "moved.csv"
    pd.read_csv(data)[["value", "label", "timestamp"]].to_csv(moved, index=False)
    a, b = tmp / "a.csv", tmp / "b.csv"
    for src, out in ((data, a), (moved, b)):
        assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(src),
                     "--out", str(out), "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b))


def _regress_model(tmp_path):
    """(its series CSV, a one-epoch regress checkpoint trained on it) under ``tmp_path``."""
    series = tmp_path / "series.csv"
    pd.DataFrame({"value": np.sin(np.arange(40) / 3)}).to_csv(series, index=False)
    ck = tmp_path / "reg"
    assert main(["regress", "train", "--csv", str(series), "--target", "value", "--window",
                 "4", "--hidden-size", "4", "--epochs", "1", "--quiet", "--checkpoint",
                 str(ck)]) == 0
    return series, ck


def test_anomaly_refuses_another_verbs_checkpoint(detector, tmp_path, capsys):
    tmp, data, _ = detector
    _, ck = _regress_model(tmp_path)
    capsys.readouterr()
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err == (f"rnnkit anomaly score: error: {ck} is not an anomaly checkpoint (it was "
                   "written by rnnkit regress); train one with rnnkit anomaly train\n")


def test_outputs_in_a_missing_folder_are_made_and_a_file_in_the_way_refused_first(
        detector, tmp_path, capsys):
    tmp, data, ck = detector
    missing = tmp_path / "nowhere"
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(data), "--out",
                 str(missing / "s.csv"), "--quiet"]) == 0
    assert (missing / "s.csv").is_file()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["anomaly", "evaluate", "--checkpoint", str(ck), "--data", str(data),
                 "--json", str(blocker / "m.json")]) == 2
    assert capsys.readouterr().err.startswith(f"rnnkit anomaly evaluate: error: --json "
                                              f"{blocker / 'm.json'}: cannot make its folder")
    series, reg = _regress_model(tmp_path)
    capsys.readouterr()
    assert main(["regress", "predict", "--checkpoint", str(reg), "--csv", str(series),
                 "--out", str(blocker / "p.csv")]) == 2  # before any work
    assert capsys.readouterr().err.startswith(f"rnnkit regress predict: error: --out "
                                              f"{blocker / 'p.csv'}: cannot make its folder")
    assert main(["regress", "predict", "--checkpoint", str(reg), "--csv", str(series),
                 "--out", str(tmp_path / "new" / "p.csv"), "--quiet"]) == 0
    assert (tmp_path / "new" / "p.csv").is_file()


def test_anomaly_score_ignores_blank_lines_at_the_end_of_the_file(detector):
    tmp, data, ck = detector
    trailing = tmp / "trailing.csv"
    trailing.write_text(data.read_text() + "\n\n")
    out = tmp / "t.csv"
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(trailing),
                 "--out", str(out), "--quiet"]) == 0
    assert len(pd.read_csv(out)) == len(pd.read_csv(data))


def test_forecast_many_series_refuse_a_lookback_longer_than_every_series(tmp_path, capsys):
    data = tmp_path / "long.csv"
    _long().to_csv(data, index=False)
    ck = tmp_path / "ck"
    assert main(["forecast", "train", "--csv", str(data), "--id-col", "unique_id", "--time-col",
                 "ds", "--target", "y", "--horizon", "7", "--methods", "linear,snaive",
                 "--lookback", "100000", "--quiet", "--checkpoint", str(ck)]) == 2
    assert capsys.readouterr().err == (
        "rnnkit forecast train: error: lookback 100000 is longer than every series (the "
        "longest has 60 steps); lower --lookback\n")
    assert not ck.exists()


def test_anomaly_threads_zero_is_a_usage_error(detector, capsys):
    tmp, data, ck = detector
    with pytest.raises(SystemExit) as stop:
        main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(data), "--threads",
              "0"])
    assert stop.value.code == 2
    assert "argument --threads: expected a positive integer, got '0'" in capsys.readouterr().err


def test_regress_rows_mode_says_how_to_leave_out_a_date_column(tmp_path, capsys):
    data = tmp_path / "table.csv"
    _table(20).to_csv(data, index=False)
    assert main(["regress", "train", "--csv", str(data), "--target", "load", "--epochs", "1",
                 "--quiet", "--checkpoint", str(tmp_path / "ck")]) == 2
    err = capsys.readouterr().err
    assert "column 'date' has a non-numeric value" in err and "--features a,b" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "ck").exists()


def test_day_first_dates_are_read_day_first(panel_model, detector, capsys):
    tmp, data, ck = panel_model
    dmy = tmp / "dmy.csv"
    pd.read_csv(data).assign(ds=lambda f: pd.to_datetime(f["ds"]).dt.strftime("%d/%m/%Y")) \
        .to_csv(dmy, index=False)
    a = _predict(ck, data, tmp / "iso_f.csv")
    b = _predict(ck, dmy, tmp / "dmy_f.csv")
    pd.testing.assert_frame_equal(a, b)  # both series, the same dates (not Jan 2 = Feb 1)
    assert "warning" not in capsys.readouterr().err
    tmp, data, ck = detector  # 5-minute readings over two days: 01/01 and 02/01 both fit
    dmy = tmp / "dmy.csv"
    pd.read_csv(data).assign(timestamp=lambda f: pd.to_datetime(f["timestamp"])
                             .dt.strftime("%d/%m/%Y %H:%M")).to_csv(dmy, index=False)
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(dmy), "--quiet"]) == 0


def test_anomaly_plot_of_an_unknown_kind_is_refused_before_the_scores_are_written(detector,
                                                                                   capsys):
    tmp, data, ck = detector
    out = tmp / "never.csv"
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(data), "--out",
                 str(out), "--plot", str(tmp / "scores.txt")]) == 2
    assert "expected a file ending in .png, .svg, .pdf" in capsys.readouterr().err
    assert not out.exists()


def test_anomaly_evaluate_json_is_valid_json_without_anomalies(detector, capsys):
    import json

    tmp, data, ck = detector
    calm = tmp / "calm.csv"
    pd.read_csv(data).assign(label=0).to_csv(calm, index=False)
    out = tmp / "m.json"
    assert main(["anomaly", "evaluate", "--checkpoint", str(ck), "--data", str(calm), "--json",
                 str(out)]) == 0
    metrics = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(c))
    assert metrics["roc_auc"] is None and metrics["anomalies"] == 0


def test_a_semicolon_file_is_named_as_such(detector, tmp_path, capsys):
    tmp, data, ck = detector
    semi = tmp_path / "semi.csv"
    semi.write_text(data.read_text().replace(",", ";"))
    hint = "the file seems separated by ';', and rnnkit reads commas: save it as comma-separated"
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(semi)]) == 2
    assert capsys.readouterr().err.rstrip().endswith(hint)
    assert main(["regress", "train", "--csv", str(semi), "--target", "value", "--window", "3",
                 "--checkpoint", str(tmp_path / "ck")]) == 2
    assert capsys.readouterr().err.rstrip().endswith(hint)
    assert main(["forecast", "train", "--csv", str(semi), "--time-col", "timestamp",
                 "--mode", "segrnn", "--checkpoint", str(tmp_path / "ck")]) == 2
    assert capsys.readouterr().err.rstrip().endswith(hint)
    assert main(["forecast", "train", "--csv", str(semi), "--id-col", "id",
                 "--checkpoint", str(tmp_path / "ck")]) == 2
    assert capsys.readouterr().err.rstrip().endswith(hint)


def test_anomaly_score_of_an_interrupted_run_says_to_resume(detector, tmp_path, capsys):
    tmp, data, _ = detector
    (tmp_path / "ck" / "training").mkdir(parents=True)  # what a killed `anomaly train` leaves
    assert main(["anomaly", "score", "--checkpoint", str(tmp_path / "ck"), "--data",
                 str(data)]) == 2
    assert "holds an interrupted training run and no model yet; finish it with rnnkit anomaly " \
           "train --resume" in capsys.readouterr().err


def test_forecast_many_series_name_an_empty_file(panel_model, tmp_path, capsys):
    _, _, ck = panel_model
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["forecast", "predict", "--checkpoint", str(ck), "--csv", str(empty)]) == 2
    assert capsys.readouterr().err == (f"rnnkit forecast predict: error: {empty} is empty; "
                                       "expected a header row and the data rows\n")
