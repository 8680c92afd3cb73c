"""What a many-series run says about the table's layout, and how it names a bad number.

A newcomer's run (2026): several series in long format, trained without --id-col/--time-col,
were read as one series with rows as steps, in silence; the summary then printed 'difference
+0.000 +- inf'. Now one `note:` line on stderr (under --quiet too) names the column that looks
like series ids and the one of dates, and the flags to pass; an ordinary one-series table says
nothing. A value that is not a number was Python's 'could not convert string to float'; now the
file, the column and the data row are named, in the long and the wide formats."""

import numpy as np
import pandas as pd
import pytest

from rnnkit.apps import forecast
from rnnkit.apps.forecast.panel import read_panel
from rnnkit.cli.main import main


def _long(series: int = 3, n: int = 12, by_date: bool = False) -> pd.DataFrame:
    """``series`` monthly series in long format (Nixtla's unique_id, ds, y), one block each;
    ``by_date``: the rows sorted by date, the series interleaved."""
    rng = np.random.default_rng(0)
    frames = [pd.DataFrame({"unique_id": f"store_{i}",
                            "ds": pd.date_range("2020-01-01", periods=n, freq="MS").strftime(
                                "%Y-%m-%d"),
                            "y": 50 + 10 * i + np.arange(n) + rng.normal(0, 1, n).round(2)})
              for i in range(series)]
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values(["ds", "unique_id"], kind="stable") if by_date else frame


def _train(path, capsys, *flags) -> tuple[list[str], str]:
    """(the `note:` lines on stderr, stdout) of a quiet, quick train (seasonal naive only)."""
    argv = ["forecast", "train", "--csv", str(path), "--target", "y", "--horizon", "2",
            "--methods", "snaive", "--checkpoint", str(path.parent / "ck"), "--quiet", *flags]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    return [line for line in err.splitlines() if line.startswith("note:")], out


def test_long_format_without_id_and_time_columns_is_noted(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    _long().to_csv(path, index=False)
    notes, _ = _train(path, capsys)
    assert notes == ["note: column 'unique_id' repeats 3 values in runs, as series ids do, "
                     "and column 'ds' holds dates; neither is read, so all 36 rows are one "
                     "series. If the file holds several series, pass --id-col unique_id "
                     "--time-col ds"]
    assert _train(path, capsys, "--id-col", "unique_id", "--time-col", "ds")[0] == []


def test_a_column_of_dates_left_unread_is_noted_with_or_without_the_ids(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    _long().to_csv(path, index=False)
    date_note = ("note: column 'ds' holds dates but is not read without --time-col: rows are "
                 "read as steps, so the dates set neither the seasonal period nor the "
                 "forecasts' times; to use them, pass --time-col ds")
    assert _train(path, capsys, "--id-col", "unique_id")[0] == [date_note]
    _long().drop(columns="ds").to_csv(path, index=False)  # ids only
    assert _train(path, capsys)[0] == [
        "note: column 'unique_id' repeats 3 values in runs, as series ids do; it is not read, "
        "so all 36 rows are one series. If the file holds several series, pass --id-col "
        "unique_id"]


def test_interleaved_series_sorted_by_date_are_noted_too():
    frame = _long(by_date=True)
    notes = read_panel(frame, target="y").notes
    assert notes[0].startswith("column 'unique_id' repeats 3 values, each once per date, as "
                               "series ids do, and column 'ds' holds dates;")


def test_the_python_api_returns_the_note(tmp_path):
    config = forecast.Config(target="y", horizon=2, methods="snaive")
    said = []
    result = forecast.run(config, _long(), tmp_path / "ck", quiet=True, log=said.append)
    assert result["notes"][0].startswith("column 'unique_id' repeats 3 values in runs")
    assert said == [f"note: {result['notes'][0]}"]


@pytest.mark.parametrize("extra", [
    {},  # numbers and dates only
    {"weekday": lambda n: [("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[i % 7]
                           for i in range(n)]},  # a category that cycles: no runs
    {"phase": lambda n: ["warm"] * (n // 2) + ["cold"] * (n - n // 2)},  # runs, dates unique
])
def test_an_ordinary_one_series_table_gives_no_note(tmp_path, capsys, extra):
    n = 30
    frame = pd.DataFrame({"ds": pd.date_range("2021-01-01", periods=n, freq="D").strftime(
        "%Y-%m-%d"), "y": np.arange(n) + np.sin(np.arange(n)), "price": np.arange(n) % 5})
    for name, make in extra.items():
        frame[name] = make(n)
    path = tmp_path / "one.csv"
    frame.to_csv(path, index=False)
    notes, out = _train(path, capsys, "--time-col", "ds")
    assert notes == [] and "default method: snaive" in out
    notes, _ = _train(path, capsys)  # the dates unread: said; no column taken for ids
    assert len(notes) == 1 and notes[0].startswith("note: column 'ds' holds dates but is not ")


def test_a_time_column_without_the_id_column_names_the_ids_in_the_duplicate_error(tmp_path,
                                                                                   capsys):
    path = tmp_path / "sales.csv"
    _long().to_csv(path, index=False)
    assert main(["forecast", "train", "--csv", str(path), "--time-col", "ds", "--target", "y",
                 "--horizon", "2", "--checkpoint", str(tmp_path / "ck")]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "error: duplicate (id, time) rows: series 'y' at 2020-01-01 00:00:00 appears 3 times; "
        "expected one row per series and time; column 'unique_id' repeats 3 values in runs, "
        "as series ids do: if the file holds several series, pass --id-col unique_id")
    assert not (tmp_path / "ck").exists()


# ---------------------------------------------------------------- a value that is no number
@pytest.mark.parametrize("text, flags, message", [
    ("ds,y\n2020-01-01,abc\n2020-01-02,2\n2020-01-03,3\n2020-01-04,4\n",
     ["--time-col", "ds", "--target", "y"], "F.csv: column 'y', data row 1: 'abc' is not a number"),
    ("ds,y\n2020-01-01,1\n2020-01-02,2\n2020-01-03,x\n2020-01-04,4\n",  # --target all
     ["--time-col", "ds"], "F.csv: column 'y', data row 3: 'x' is not a number"),
    ("id,ds,y\na,2020-01-01,1\na,2020-01-02,2\na,2020-01-03,1e\nb,2020-01-01,1\n"
     "b,2020-01-02,2\nb,2020-01-03,3\n", ["--id-col", "id", "--time-col", "ds", "--target", "y"],
     "F.csv: column 'y', data row 3: '1e' is not a number"),
    ("id,ds,y,price\na,2020-01-01,1,1\na,2020-01-02,2,1\na,2020-01-03,3,1\nb,2020-01-01,1,2\n"
     "b,2020-01-02,2,oops\nb,2020-01-03,3,2\n",
     ["--id-col", "id", "--time-col", "ds", "--target", "y", "--covariates", "price"],
     "F.csv: column 'price', data row 5: 'oops' is not a number"),
    ("ds,y\n2020-01-01,abc\n2020-01-02,2\n2020-01-03,3\n2020-01-04,4\n",  # a table mode
     ["--time-col", "ds", "--target", "y", "--mode", "direct", "--lookback", "1"],
     "F.csv: column 'y', data row 1 (line 2): 'abc' is not a number"),
])
def test_a_value_that_is_not_a_number_is_named_with_file_column_and_row(tmp_path, capsys, text,
                                                                        flags, message):
    path = tmp_path / "F.csv"
    path.write_text(text)
    assert main(["forecast", "train", "--csv", str(path), "--horizon", "1", "--checkpoint",
                 str(tmp_path / "ck"), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"rnnkit forecast train: error: {tmp_path}/{message}"
    assert not (tmp_path / "ck").exists()


def test_a_data_frame_is_named_as_the_table():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["1", "two", "3"]})
    with pytest.raises(ValueError, match=r"^the table: column 'b', data row 2: 'two' is not a "
                                         r"number$"):
        read_panel(frame, target="a,b")
    assert read_panel(frame.assign(b=["1", "", "3"]), target="a,b", fill="zero").ids == [
        "a", "b"]  # an empty cell is a missing value, filled
