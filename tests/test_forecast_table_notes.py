"""What a one-table forecast run (modes segrnn, direct, recursive) says about its input.

The many-series path notes a column of series ids or dates left unread (tests/
test_forecast_layout_notes.py); a table mode, which reads its CSV elsewhere, said nothing, and
its long-format file trained as one series in silence. Now the same note (``_layout_notes``)
comes when training starts, its advice for several series a many-series mode. And each mode's
settings (``Config.read_by_mode``) leave out what that mode does not read (``MODE_ONLY``)."""

import numpy as np
import pandas as pd
import pytest
from forecast_helpers import seasonal_series, write_csv

from rnnkit.apps import forecast
from rnnkit.apps.forecast.config import MODE_ONLY, PANEL_MODES, TABLE_MODES
from rnnkit.apps.forecast.panel import read_panel, table_notes
from rnnkit.cli.main import main

QUICK = ["--lookback", "4", "--horizon", "2", "--hidden-size", "4", "--epochs", "1"]


def _long(path, series: int = 3, n: int = 40):
    """``series`` monthly series in long format (unique_id, ds, y), one block each."""
    rng = np.random.default_rng(0)
    pd.concat([pd.DataFrame({"unique_id": f"store_{i}",
                             "ds": pd.date_range("2020-01-01", periods=n, freq="MS")
                             .strftime("%Y-%m-%d"),
                             "y": 50 + 10 * i + np.arange(n) + rng.normal(0, 1, n).round(2)})
               for i in range(series)], ignore_index=True).to_csv(path, index=False)
    return path


def _err(argv, capsys, rc: int = 0) -> list[str]:
    assert main(argv) == rc
    return capsys.readouterr().err.splitlines()


def test_a_table_mode_notes_the_ids_and_dates_it_leaves_unread(tmp_path, capsys):
    path = _long(tmp_path / "sales.csv")
    argv = ["forecast", "train", "--csv", str(path), "--target", "y", "--features", "target",
            "--mode", "direct", "--checkpoint", str(tmp_path / "ck"), "--quiet", *QUICK]
    assert _err(argv, capsys) == [
        "note: column 'unique_id' repeats 3 values in runs, as series ids do, and column 'ds' "
        "holds dates; neither is read, so all 120 rows are one series. If the file holds "
        "several series, pass --mode auto --id-col unique_id --time-col ds (a one-table mode "
        "reads one series)"]
    # the same words as the many-series path's, but for the advice
    panel = read_panel(str(path), target="y").notes[0]
    assert panel.endswith("pass --id-col unique_id --time-col ds")
    head = panel[:panel.index(" pass ")]
    assert table_notes(path, target="y", features="y")[0].startswith(head + " pass --mode auto ")


def test_a_table_mode_said_when_training_starts_not_before_a_refusal(tmp_path, capsys):
    path = _long(tmp_path / "sales.csv")
    base = ["forecast", "train", "--csv", str(path), "--target", "y", "--mode", "segrnn",
            "--checkpoint", str(tmp_path / "ck"), *QUICK]
    # every column read as an input: no column left unread to note; the reader's one line
    err = _err(base, capsys, rc=2)
    assert len(err) == 1 and "'store_0' is not a number" in err[0]
    err = _err(base + ["--features", "target", "--lookback", "500"], capsys, rc=2)
    assert len(err) == 1 and err[0].startswith("rnnkit forecast train: error: ")
    assert not (tmp_path / "ck").exists()
    err = _err(base + ["--features", "target"], capsys)  # progress: the note comes first
    first_epoch = next(i for i, line in enumerate(err) if line.startswith("fit: epoch"))
    assert err[first_epoch - 1].startswith("note: column 'unique_id' repeats 3 values")


def test_a_one_series_table_notes_only_unread_dates(tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv", seasonal_series(120))  # date, load, temp
    argv = ["forecast", "train", "--csv", str(path), "--mode", "recursive", "--quiet", *QUICK]
    assert _err(argv + ["--time-col", "date", "--checkpoint", str(tmp_path / "a")],
                capsys) == []
    assert _err(argv + ["--target", "load,temp", "--features", "target", "--checkpoint",
                        str(tmp_path / "b")], capsys) == [
        "note: column 'date' holds dates but is not read without --time-col: rows are read as "
        "steps, so the dates set neither the seasonal period nor the forecasts' times; to use "
        "them, pass --time-col date"]
    assert table_notes(path, time_col="date", target="load", features="target") == []
    assert table_notes(tmp_path / "missing.csv", target="load", features="target") == []


def test_the_notes_read_only_the_columns_the_run_leaves_unread(tmp_path, monkeypatch):
    """The run reads its own columns itself; the notes read the header, then only the rest
    (nothing more when every column is read)."""
    path = _long(tmp_path / "sales.csv")
    reads = []
    real = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: reads.append(
        (k.get("nrows"), k.get("usecols"))) or real(*a, **k))
    assert table_notes(path, target="y", features="target")[0].startswith(
        "column 'unique_id' repeats 3 values in runs")
    assert reads == [(0, None), (None, [0, 1])]  # the header, then unique_id and ds
    reads.clear()
    assert table_notes(path) == [] and reads == [(0, None)]  # every column read by the run
    frame = pd.read_csv(path)
    want = table_notes(path, target="y", features="y")
    frame.to_parquet(tmp_path / "sales.parquet")
    assert table_notes(frame, target="y", features="y") == want  # read once, whole
    assert table_notes(tmp_path / "sales.parquet", target="y", features="y") == want


# --------------------------------------------------------------- the settings a mode reads
def _others(mode: str) -> set[str]:
    return {n for modes, names in MODE_ONLY.items() if mode not in modes.split("/")
            for n in names}


@pytest.mark.parametrize("mode", PANEL_MODES + TABLE_MODES)
def test_each_mode_s_settings_leave_out_what_it_does_not_read(mode):
    config = forecast.Config(mode=mode)
    shown = config.read_by_mode()
    assert set(shown) == set(config.to_dict()) - _others(mode) - (
        set() if mode in PANEL_MODES else {"quantiles"})  # quantiles: output quantile only
    assert all(shown[k] == v for k, v in config.to_dict().items() if k in shown)
    assert {"hidden_size", "epochs", "horizon", "lookback", "mode"} <= set(shown)


def test_a_table_mode_s_settings_have_no_many_series_field():
    direct = forecast.Config(mode="direct").read_by_mode()
    assert not set(MODE_ONLY["auto/rnn"]) & set(direct) and "segment_length" not in direct
    assert {"norm", "split", "features", "output"} <= set(direct)
    segrnn = forecast.Config(mode="segrnn", output="quantile").read_by_mode()
    assert segrnn["segment_length"] == 24 and segrnn["quantiles"] == [0.1, 0.5, 0.9]
    auto = forecast.Config().read_by_mode()
    assert {"methods", "ensemble", "val_windows"} <= set(auto) and "norm" not in auto


def test_a_table_mode_run_logs_only_the_settings_it_reads(tmp_path):
    path = write_csv(tmp_path / "load.csv", seasonal_series(200))
    lines: list[str] = []
    forecast.run(forecast.Config(mode="direct", lookback=24, horizon=6, epochs=1,
                                 time_col="date",
                                 hidden_size=8), path, tmp_path / "ck", quiet=False,
                 log=lines.append)
    logged = next(line for line in lines if line.startswith("config: "))
    assert "horizon=6" in logged and "norm=" in logged
    assert "ensemble=" not in logged and "methods=" not in logged
