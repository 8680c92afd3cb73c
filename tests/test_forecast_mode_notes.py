"""A setting given to ``rnnkit forecast train`` that its mode does not read (``--norm`` in mode
auto, ``--ema`` in mode direct, ``--quantiles`` beside ``--output point``) is not silently
dropped: training proceeds and one ``note:`` line on stderr names them, as ``rnnkit classify
train`` does for the other input kind's settings. Which mode reads what is ``MODE_ONLY``,
held here to the help comments' mode prefixes."""

import re
import sys
from dataclasses import fields

import pytest
from forecast_helpers import table_and_wide

from rnnkit.apps import forecast
from rnnkit.apps.forecast.auto import train_panel
from rnnkit.apps.forecast.config import MODE_ONLY, PANEL_MODES, TABLE_MODES, mode_notes
from rnnkit.apps.forecast.pipeline import train_forecaster
from rnnkit.cli.config_flags import field_comments, flag_name
from rnnkit.cli.main import main

MODES = PANEL_MODES + TABLE_MODES


def test_mode_only_settings_are_exactly_those_whose_help_names_their_modes():
    comments = field_comments(forecast.Config)
    prefixed = {}  # "auto/rnn" -> fields whose help starts "auto/rnn:"
    for name, text in comments.items():
        head = re.match(r"([a-z]+(?:/[a-z]+)*): ", text)
        if head and set(head[1].split("/")) <= set(MODES):
            prefixed.setdefault(head[1], []).append(name)
    assert {k: sorted(v) for k, v in MODE_ONLY.items()} == \
        {k: sorted(v) for k, v in prefixed.items()}


@pytest.mark.parametrize("mode", MODES)
def test_the_defaults_give_no_note_in_any_mode(mode):
    config = forecast.Config(mode=mode)
    assert config.unread() == {} and mode_notes(config) == []


def test_the_note_names_the_settings_and_who_reads_them():
    auto = forecast.Config(mode="auto", norm="revin", split="0.6,0.2,0.2", segment_length=12)
    assert mode_notes(auto, spell=flag_name) == [
        "--split, --norm (for the one-table modes segrnn, direct, recursive) and "
        "--segment-length (for mode segrnn) are not read in mode auto; training ignores them"]
    rnn = forecast.Config(mode="rnn", methods="snaive")
    assert mode_notes(rnn) == ["methods (for mode auto) is not read in mode rnn; training "
                               "ignores it"]
    assert mode_notes(forecast.Config(mode="direct", ema=0.9, quantiles=[0.2, 0.5, 0.8])) == [
        "ema (for the many-series modes auto, rnn) and quantiles (for output quantile) are "
        "not read in mode direct with output point; training ignores them"]


def test_quantiles_are_read_with_output_quantile_only():
    given = forecast.Config(mode="segrnn", quantiles=(0.2, 0.5, 0.8))
    assert given.unread() == {"output quantile": ["quantiles"]}
    assert forecast.Config(mode="segrnn", output="quantile", quantiles=(0.2, 0.5, 0.8)) \
        .unread() == {}
    assert forecast.Config(mode="segrnn", quantiles=[0.1, 0.5, 0.9]).unread() == {}  # default
    assert forecast.Config(mode="auto", quantiles=(0.2, 0.5, 0.8)).unread() == {
        "segrnn/direct/recursive": ["quantiles"]}


def test_settings_that_would_change_what_trains_are_still_refused():
    with pytest.raises(ValueError, match="ensemble needs mode auto or rnn"):
        forecast.Config(mode="direct", ensemble=2).check()
    with pytest.raises(ValueError, match="id_col needs mode auto or rnn"):
        forecast.Config(mode="segrnn", id_col="id").check()


# ------------------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(a one-table CSV, a wide table of 4 series as CSV)."""
    return table_and_wide(tmp_path_factory.mktemp("notes"), 120, 40)


def _notes(argv, capsys) -> list[str]:
    assert main(argv) == 0
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]


def test_a_table_run_trains_and_notes_the_many_series_settings(data, tmp_path, capsys):
    argv = ["forecast", "train", "--csv", str(data[0]), "--time-col", "date", "--target",
            "load", "--mode", "direct", "--lookback", "12", "--horizon", "4", "--hidden-size",
            "4", "--epochs", "1", "--checkpoint", str(tmp_path / "ck"), "--quiet"]
    assert _notes(argv + ["--ema", "0.9", "--window-weight", "relative", "--quantiles", "0.2",
                          "0.5", "0.8"], capsys) == [
        "note: --ema, --window-weight (for the many-series modes auto, rnn) and --quantiles "
        "(for --output quantile) are not read in mode direct with --output point; training "
        "ignores them"]
    assert (tmp_path / "ck").is_dir()


def test_a_many_series_run_notes_the_table_settings_and_its_python_api_too(data, tmp_path,
                                                                          capsys):
    argv = ["forecast", "train", "--csv", str(data[1]), "--horizon", "4", "--period", "4",
            "--methods", "snaive", "--quiet"]
    ck = ["--checkpoint", str(tmp_path / "ck")]
    assert _notes(argv + ck, capsys) == []  # nothing given that auto ignores: nothing said
    ck = ["--checkpoint", str(tmp_path / "ck2")]
    assert _notes(argv + ck + ["--norm", "revin", "--features", "target"], capsys) == [
        "note: --features, --norm (for the one-table modes segrnn, direct, recursive) are not "
        "read in mode auto; training ignores them"]
    config = forecast.Config(horizon=4, period=4, methods="snaive", segment_length=8)
    result = forecast.run(config, str(data[1]), tmp_path / "api", quiet=True)
    assert result["notes"] == ["segment_length (for mode segrnn) is not read in mode auto; "
                               "training ignores it"]


# --------------------------------------------------- what training reads, against MODE_ONLY
_FIELDS = {f.name for f in fields(forecast.Config)}


class _Recording(forecast.Config):
    """A Config that records the fields training code reads (not its own methods, which
    read every field to check or store them)."""

    def __getattribute__(self, name):
        if name in _FIELDS:
            caller = sys._getframe(1).f_code.co_filename
            if not caller.endswith(("dataclasses.py", "config.py", "config_dict.py")):
                object.__getattribute__(self, "__dict__").setdefault("read", set()).add(name)
        return object.__getattribute__(self, name)


# read but without effect in that mode: rnn is the one method (no statsforecast fit to run,
# no other method to switch to); Forecaster takes segment_length in every mode, uses it in segrnn
_PASSED_ALONG = {"rnn": {"jobs", "switch_margin"}, "direct": {"segment_length"}}


def _not_for(mode: str) -> set[str]:
    return {n for modes, names in MODE_ONLY.items() if mode not in modes.split("/")
            for n in names}


def test_training_never_reads_a_setting_its_mode_is_noted_to_ignore(data, tmp_path):
    """The notes say true things: many-series runs (an ensemble of two, so their own settings
    are read too) and a table run leave the other family's settings alone."""
    panel = {"horizon": 4, "period": 4, "hidden_size": 4, "epochs": 1, "ensemble": 2,
             "ensemble_lookbacks": "1,1.5"}
    runs = [_Recording(mode="auto", methods="rnn,snaive", **panel),
            _Recording(mode="rnn", **panel)]
    for i, config in enumerate(runs):
        train_panel(config, str(data[1]), tmp_path / f"panel{i}", quiet=True)
    table = _Recording(mode="direct", time_col="date", target="load", lookback=12, horizon=4,
                       hidden_size=4, epochs=1)
    train_forecaster(str(data[0]), tmp_path / "table", table, quiet=True, device="cpu")
    for config in runs + [table]:
        read = config.__dict__["read"]
        assert {"hidden_size", "epochs", "horizon"} <= read  # the recording works
        assert (read - _PASSED_ALONG.get(config.mode, set())) & _not_for(config.mode) == set()
    assert {"ensemble_combine", "window_weight", "val_windows"} <= runs[1].__dict__["read"]
    assert {"methods", "switch_margin"} <= runs[0].__dict__["read"]
    assert {"norm", "split", "features"} <= table.__dict__["read"]
