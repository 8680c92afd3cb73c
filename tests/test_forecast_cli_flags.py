"""``rnnkit forecast train``'s flags as a newcomer meets them: a refusal names the flag and
lists what ``--help`` offers (``--cell``, ``--fill``), a setting a mode cannot honour is
refused, not ignored (``--output`` in modes auto and rnn), and ``--patience 0`` turns early
stopping off, as in ``rnnkit classify train``."""

import re

import pytest
from forecast_helpers import table_and_wide

import rnnkit
from rnnkit.apps import forecast
from rnnkit.apps.forecast.auto import train_panel
from rnnkit.apps.forecast.config import CELLS
from rnnkit.cli.config_flags import field_comments
from rnnkit.cli.main import main

PREFIX = "rnnkit forecast train: error: "


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(a one-table CSV, a wide table of 4 series as CSV)."""
    return table_and_wide(tmp_path_factory.mktemp("flags"), 200, 48)


def _table_args(data, tmp_path):
    return ["forecast", "train", "--csv", str(data[0]), "--time-col", "date", "--target", "load",
            "--mode", "direct", "--lookback", "24", "--horizon", "6", "--hidden-size", "8",
            "--checkpoint", str(tmp_path / "ck"), "--quiet"]


def _panel_args(data, tmp_path):
    return ["forecast", "train", "--csv", str(data[1]), "--horizon", "4", "--period", "4",
            "--hidden-size", "8", "--checkpoint", str(tmp_path / "ck"), "--quiet"]


def _refused(argv, tmp_path, capsys) -> str:
    """The one error line of ``argv`` (exit 2, nothing written)."""
    before = sorted(tmp_path.iterdir())
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(PREFIX), err
    assert sorted(tmp_path.iterdir()) == before
    return err[0][len(PREFIX):]


# ------------------------------------------------------------------------------ --cell
def test_the_help_lists_exactly_the_cells_accepted():
    said = re.findall(r"\w+", field_comments(forecast.Config)["cell"].split(":", 1)[1])
    assert [w for w in said if w != "or"] == list(CELLS)
    assert set(CELLS) <= set(rnnkit.layers.CELLS)  # each one a kind rnnkit.RNN builds
    for cell in CELLS:
        forecast.Config(cell=cell).check()


@pytest.mark.parametrize("layout", ["table", "panel"])
def test_an_unknown_cell_is_refused_naming_the_flag_and_the_cells(data, tmp_path, capsys,
                                                                  layout):
    args = (_table_args if layout == "table" else _panel_args)(data, tmp_path)
    assert _refused(args + ["--cell", "x"], tmp_path, capsys) == (
        "--cell must be one of gru, lstm, rnn, mingru, minlstm, ln_lstm, ln_gru, got 'x'")


# ------------------------------------------------------------------------------ --fill
@pytest.mark.parametrize("layout", ["table", "panel"])
def test_an_unknown_fill_is_refused_naming_the_flag(data, tmp_path, capsys, layout):
    args = (_table_args if layout == "table" else _panel_args)(data, tmp_path)
    assert _refused(args + ["--fill", "zz"], tmp_path, capsys) == (
        "--fill must be one of ffill, bfill, interpolate, zero or none, got 'zz'")


# ---------------------------------------------------------------------------- --output
@pytest.mark.parametrize("mode, output", [("auto", "quantile"), ("rnn", "quantile"),
                                          ("rnn", "gaussian")])
def test_many_series_modes_refuse_a_probabilistic_output(data, tmp_path, capsys, mode, output):
    args = _panel_args(data, tmp_path) + ["--mode", mode, "--output", output]
    assert _refused(args, tmp_path, capsys) == (
        "--output needs mode segrnn, direct or recursive (one table) for gaussian or quantile "
        "forecasts; modes auto and rnn forecast points, with intervals from their validation "
        f"errors; got output '{output}' in mode '{mode}'")
    forecast.Config(mode="segrnn", output=output).check()  # the table modes take it


def test_a_many_series_model_saved_with_output_quantile_still_loads(data, tmp_path):
    """Before the check, such a run trained points and stored the output asked for."""
    config = forecast.Config(mode="auto", methods="snaive", horizon=4, period=4,
                             output="quantile")
    train_panel(config, str(data[1]), tmp_path / "ck", quiet=True)
    p = rnnkit.open(tmp_path / "ck")
    assert p.config.output == "point"
    assert len(p.predict(str(data[1]))) == 4 * 4


# -------------------------------------------------------------------------- --patience
def _fit_calls(monkeypatch) -> list[dict]:
    calls = []
    real = rnnkit.train.fit

    def fit(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)
    monkeypatch.setattr(rnnkit.train, "fit", fit)
    return calls


@pytest.mark.parametrize("layout", ["table", "panel"])
def test_patience_0_trains_every_epoch_and_keeps_the_best(data, tmp_path, monkeypatch, layout):
    calls = _fit_calls(monkeypatch)
    args = (_table_args if layout == "table" else _panel_args)(data, tmp_path)
    if layout == "panel":
        args += ["--mode", "rnn"]
    assert main(args + ["--patience", "0", "--epochs", "3"]) == 0
    (kw,) = calls
    assert kw["early_stopping"] is None and kw["monitor"] == "val_loss"  # best epoch restored
    rows = (tmp_path / "ck" / "history.csv").read_text().strip().splitlines()[1:]
    assert len(rows) == 3


def test_patience_is_early_stopping_when_positive_and_refused_below_0(data, tmp_path,
                                                                       monkeypatch, capsys):
    assert forecast.Config(patience=2).stopping(True) == {"early_stopping": 2}
    assert forecast.Config(patience=0).stopping(False) == {"early_stopping": None,
                                                           "monitor": "train_loss"}
    assert "0: never stop early" in field_comments(forecast.Config)["patience"]
    args = _table_args(data, tmp_path) + ["--patience", "-1"]
    assert _refused(args, tmp_path, capsys) == "--patience must be a non-negative integer, got -1"
