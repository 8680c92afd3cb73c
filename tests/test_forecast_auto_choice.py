"""``--mode auto``'s choice: a combination of methods is the default when it validates best
over all series (and the JSON says so), and per-series switching is kept only where it wins
on held-out validation windows."""

import json

import numpy as np
import pandas as pd
import pytest

from rnnkit.apps import forecast
from rnnkit.apps.forecast import auto
from rnnkit.cli.main import main


def _table(n: int = 60, series: int = 5) -> pd.DataFrame:
    """A wide table: every column one positive series with a trend and a season of 4."""
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return pd.DataFrame({f"s{i}": 50 + (i + 1) * 0.5 * t + 5 * np.sin(2 * np.pi * t / 4)
                         + rng.normal(0, 1, n) for i in range(series)})


def _opposite_errors(methods, state, win, model, series, origins, linear):
    """An oracle pair: seasonal naive forecasts the truth + 2, the linear model the truth - 2,
    so each alone is 2 off at every step and their mean is exact."""
    truth = []
    for s, t in zip(series, origins, strict=True):
        part = s.y[t:t + win.H]
        truth.append(np.concatenate([part, np.full(win.H - len(part), s.y[-1])]))
    truth = np.stack(truth)
    return {"snaive": truth + 2.0, "linear": truth - 2.0}


def test_a_combination_is_chosen_when_it_validates_better_and_the_json_says_so(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(auto, "_method_forecasts", _opposite_errors)
    path = tmp_path / "wide.csv"
    _table().to_csv(path, index=False)
    ck = tmp_path / "ck"
    assert main(["forecast", "train", "--csv", str(path), "--horizon", "6", "--period", "4",
                 "--methods", "linear,snaive", "--checkpoint", str(ck), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert ("default method: mean(linear+snaive), lowest mean validation MASE over 5 series, "
            "0.000; next best ") in printed
    assert "methods chosen: mean(linear+snaive) for all 5 series (the default)\n" in printed
    assert "  s0:" not in printed  # one line for all, not one per series
    out = tmp_path / "m.json"
    assert main(["forecast", "evaluate", "--checkpoint", str(ck), "--csv", str(path), "--json",
                 str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["choice"] == {f"s{i}": "mean(linear+snaive)" for i in range(5)}
    assert metrics["default"]["method"] == "mean(linear+snaive)"
    assert metrics["default"]["reason"].startswith("lowest mean validation MASE over 5 series")
    assert metrics["reason"]["s3"] == "the default"  # why: metrics["default"]["reason"]
    val = metrics["default"]["validation_MASE"]
    assert val["mean(linear+snaive)"] == 0.0 < val["linear"] and val["snaive"] > 0
    overall = metrics["overall"]
    assert overall["auto"]["MAE"] == pytest.approx(0.0, abs=1e-9)
    assert overall["linear"]["MAE"] == pytest.approx(2.0)  # the singles: 2 off at every step
    assert overall["snaive"]["MAE"] == pytest.approx(2.0)


def test_combinations_are_the_mean_and_median_of_the_best_k():
    assert auto.combinations(["theta", "ets", "rnn", "snaive"]) == [
        "mean(ets+theta)", "mean(ets+rnn+theta)", "mean(ets+rnn+snaive+theta)",
        "median(ets+rnn+theta)", "median(ets+rnn+snaive+theta)"]
    assert auto.parts_of("median(ets+rnn+theta)") == ["ets", "rnn", "theta"]
    assert auto.parts_of("ets") == ["ets"] and not auto.is_combination("ets")
    f = {"a": np.array([[1.0, 9.0]]), "b": np.array([[2.0, 0.0]]), "c": np.array([[6.0, 3.0]])}
    both = auto._with_combos(f, ["mean(a+b+c)", "median(a+b+c)"])
    assert both["mean(a+b+c)"].tolist() == [[3.0, 4.0]]
    assert both["median(a+b+c)"].tolist() == [[2.0, 3.0]]


@pytest.mark.parametrize("first, last, on, figures", [
    # each series' best on its first window is its best on its last one too: switching wins
    (0.1, 0.1, True, "scored a mean MASE of 0.100 on the last window, against 0.550 with one "
                     "method for all, a; that is 0.450 better, more than the 0.402 it has to "
                     "beat (two standard errors)"),
    # the first window's winner loses the last one: one method for all is better
    (0.1, 1.0, False, "scored a mean MASE of 1.000 on the last window, against 0.550 with one "
                      "method for all, a; that is 0.450 worse, and switching is used only when "
                      "it is better by more than 0.402 (two standard errors)"),
])
def test_per_series_switching_only_where_it_wins_on_a_held_out_window(first, last, on, figures):
    # method a: MASE `first` then `last` on series 0-2, the mirror image on series 3-5;
    # method b: a's rows reversed (best where a is worst)
    a = np.array([[first, last]] * 3 + [[1.1 - first, 1.1 - last]] * 3)
    b = a[::-1].copy()
    got, why = auto._switch_check({"a": a, "b": b}, [[0, 6]] * 6, 6, 0.2)
    assert got is on
    assert why == (f"per-series switching {'on' if on else 'off'}: letting each series pick "
                   f"its own method on the earlier validation windows (3 of 6 series changed) "
                   f"{figures}")


def test_switching_needs_more_than_a_mean_gain_from_one_series():
    """One series of six gains a lot by switching, the rest nothing: the mean improves, by
    less than the noise of the per-series differences."""
    a = np.array([[0.5, 0.5]] * 5 + [[2.0, 2.0]])  # the common choice (mean 0.75 vs 0.833)
    b = np.array([[0.9, 0.9]] * 5 + [[0.5, 0.5]])
    got, why = auto._switch_check({"a": a, "b": b}, [[0, 6]] * 6, 6, 0.0)
    assert not got
    assert "(1 of 6 series changed) scored a mean MASE of 0.500 on the last window, against " \
           "0.750 with one method for all, a; that is 0.250 better, and switching is used only " \
           "when it is better by more than 0.500 (two standard errors)" in why


def test_switching_needs_two_windows_that_do_not_overlap():
    a = np.array([[0.1, 0.2]])
    got, why = auto._switch_check({"a": a, "b": a + 1}, [[0, 3]], 6, 0.2)  # overlapping
    assert not got and why == ("per-series switching off: checking it needs two validation "
                               "windows that do not overlap (val_windows >= 2)")


def test_switching_is_not_checked_on_one_series_and_never_says_an_infinite_interval():
    """A standard error needs two per-series differences: with one (one series, or one with a
    finite MASE) the summary said 'difference +0.000 +- inf'."""
    a = np.array([[0.5, 0.6]])
    got, why = auto._switch_check({"a": a, "b": a + 1}, [[0, 6]], 6, 0.2)
    assert not got and why == ("per-series switching off: there is one series, so the default "
                               "is already its own best")
    a = np.array([[0.5, 0.6], [np.nan, np.nan]])  # the second series: a flat history
    got, why = auto._switch_check({"a": a, "b": a + 1}, [[0, 6]] * 2, 6, 0.2)
    assert not got and why == ("per-series switching off: it is checked across series, and "
                               "only 1 series has held-out validation windows to check it on")
    assert "inf" not in why


def test_the_report_says_each_series_choice_plainly():
    """One line when every series has the default; otherwise a line per series, with one
    level of parentheses at most (a combination's name aside)."""
    from rnnkit.apps.forecast.report import choice_lines

    why = "lowest mean validation MASE over 3 series, 0.500; next best mean(a+b), 0.600"
    state = auto.PanelState(windowing={}, horizon=2, period=1, freq=None, step=1.0,
                            id_col="id", time_col=None, target="y", methods=["a", "b"],
                            default="a", default_reason=why,
                            choice={"s0": "a", "s1": "a", "s2": "a"},
                            reason={"s0": "the default", "s1": "the default",
                                    "s2": "the default"})
    assert choice_lines(state) == [f"default method: a, {why}",
                                   "methods chosen: a for all 3 series (the default)"]
    state.choice["s1"] = "b"
    state.reason["s1"] = "its validation MASE 0.100 vs 0.900 for the default a"
    state.reason["s2"] = "the default: no validation MASE, a short series or a flat history"
    assert choice_lines(state)[1:] == [
        "methods chosen: a 2, b 1", "  s0: a, the default",
        "  s1: b, its validation MASE 0.100 vs 0.900 for the default a",
        "  s2: a, the default: no validation MASE, a short series or a flat history"]


def test_the_checkpoint_is_saved_once_with_every_choice_in_it(tmp_path, monkeypatch):
    import rnnkit.train
    import rnnkit.training.state

    saves = []
    real = auto.save
    monkeypatch.setattr(auto, "save", lambda *a, **k: saves.append(a[1]) or real(*a, **k))
    for module in (rnnkit.train, rnnkit.training.state):  # fit's per-epoch and best saves
        monkeypatch.setattr(module, "save", lambda *a, **k: saves.append(a[1]))
    cfg = forecast.Config(horizon=6, period=4, methods="rnn,snaive", epochs=2, hidden_size=8)
    result = forecast.run(cfg, _table(), tmp_path / "ck", quiet=True)
    assert saves == [tmp_path / "ck"]
    assert (tmp_path / "ck" / "history.csv").is_file()
    p = forecast.load(tmp_path / "ck")
    assert p.state.choice == result["state"].choice and p.state.switch_reason


def test_resume_of_a_many_series_run_is_refused_before_anything_is_written(tmp_path):
    cfg = forecast.Config(horizon=6, period=4, methods="linear,snaive")
    with pytest.raises(ValueError, match=r"^resume: a many-series run \(mode auto or rnn\) is "
                                         r"trained and saved in one go"):
        forecast.run(cfg, _table(), tmp_path / "ck", quiet=True, resume=True)
    assert not (tmp_path / "ck").exists()


def test_a_candidate_without_a_finite_score_is_never_the_default_and_stores_as_null():
    mase = {"a": np.array([[1.0, 2.0]]), "b": np.array([[np.inf, np.nan]])}
    default, why, choice, reason, stored = auto._choose(mase, ["s0"], 0.2, switching=False)
    assert default == "a" and choice == {"s0": "a"} and stored == {"a": 1.5, "b": None}
    assert why == "lowest mean validation MASE over 1 series, 1.500; next best b, no finite score"


def test_without_statsforecast_the_baselines_fail_before_training(tmp_path, monkeypatch,
                                                                  capsys):
    """The README's sales example after `make demo` (no forecast extra) trained the network
    for 13 epochs, then failed at the ets/theta baselines: now at once, naming the extra."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "statsforecast" else real(name, *a))
    path = tmp_path / "wide.csv"
    _table().to_csv(path, index=False)
    assert main(["forecast", "train", "--csv", str(path), "--horizon", "6", "--period", "4",
                 "--checkpoint", str(tmp_path / "ck"), "--quiet"]) == 2
    assert "this needs statsforecast, which is not installed: pip install 'rnnkit[forecast]'" \
        in capsys.readouterr().err
    assert not (tmp_path / "ck").exists()
    assert main(["forecast", "train", "--csv", str(path), "--horizon", "6", "--period", "4",
                 "--methods", "linear,snaive", "--checkpoint", str(tmp_path / "ck2"),
                 "--quiet"]) == 0  # no classical baseline asked: no statsforecast needed
