"""``rnnkit anomaly train|score|evaluate``: a round trip, and bad input exits 2 writing nothing."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from rnnkit.cli.main import main
from rnnkit.demos.anomaly import heartbeats, sensor_stream

FAST = ["--hidden-size", "8", "--epochs", "3", "--chunk", "16", "--window", "16",
        "--learning-fraction", "0.5", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("anomaly_cli")
    data = tmp / "sensor.csv"
    sensor_stream(n=500, seed=2, faults=(("spike", 400, 3),)).to_csv(data, index=False)
    ck = tmp / "ck"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["anomaly", "train", "--data", str(data), "--checkpoint", str(ck),
                     "--holdoff", "5", *FAST]) == 0
    (tmp / "train.out").write_text(printed.getvalue())
    return tmp, data, ck


def test_train_line_counts_one_value_column_in_the_singular(run):
    tmp, _, ck = run
    line = (tmp / "train.out").read_text()
    assert line.startswith("trained a forecast detector on 250 readings of 1 value column: "
                           "final loss "), line


def test_round_trip_score_and_evaluate(run, capsys):
    tmp, data, ck = run
    assert (ck / "history.png").read_bytes()[:4] == b"\x89PNG"
    out, png = tmp / "scores.csv", tmp / "scores.png"
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(data),
                 "--out", str(out), "--plot", str(png)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["timestamp", "temperature", "score", "likelihood", "flag",
                                   "label"]
    assert png.stat().st_size > 1000
    online = tmp / "online.csv"
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(data), "--online",
                 "--out", str(online)]) == 0
    np.testing.assert_allclose(pd.read_csv(online)["score"], frame["score"], rtol=1e-4,
                               atol=1e-5)
    plain = tmp / "plain.csv"  # the seasonal signal (on by default) off
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(data),
                 "--seasonal-min-ac", "none", "--out", str(plain)]) == 0
    assert (pd.read_csv(plain)["likelihood"] <= frame["likelihood"] + 1e-9).all()
    assert (pd.read_csv(plain)["likelihood"] < frame["likelihood"] - 1e-6).any()
    capsys.readouterr()
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(data),
                 "--seasonal-min-ac", "2", "--out", str(tmp / "bad.csv")]) == 2
    assert "error: --seasonal-min-ac must lie in [0, 1]" in capsys.readouterr().err
    assert not (tmp / "bad.csv").exists()
    level = tmp / "level.csv"  # the level signal (off by default) on
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(data),
                 "--level-window", "50", "--out", str(level)]) == 0
    assert (pd.read_csv(level)["likelihood"] >= frame["likelihood"] - 1e-9).all()
    capsys.readouterr()
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(data),
                 "--level-window", "0", "--out", str(tmp / "bad.csv")]) == 2
    assert "error: --level-window must be a positive integer" in capsys.readouterr().err
    assert not (tmp / "bad.csv").exists()
    assert main(["anomaly", "evaluate", "--checkpoint", str(ck), "--data", str(data),
                 "--threshold", "0.999"]) == 0
    printed = capsys.readouterr().out
    for key in ("precision", "recall", "f1", "roc_auc", "pr_auc"):
        assert key in printed


def test_sequences_round_trip(tmp_path, capsys):
    labels, values = heartbeats(60, length=24, abnormal=0.2, seed=3)
    frame = pd.DataFrame(values)
    frame.insert(0, "label", labels)
    path = tmp_path / "beats.csv"
    frame.to_csv(path, index=False, header=False)
    ck = tmp_path / "beats"
    assert main(["anomaly", "train", "--layout", "sequences", "--detector", "reconstruct",
                 "--data", str(path), "--checkpoint", str(ck), "--epochs", "3",
                 "--hidden-size", "8", "--quiet"]) == 0
    out = tmp_path / "scored.csv"
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(path), "--out",
                 str(out), "--plot", str(tmp_path / "beats.png"), "--quiet"]) == 0
    assert list(pd.read_csv(out).columns) == ["line", "label", "score", "flag"]
    assert (tmp_path / "beats.png").exists()


def _bad(tmp_path, values, times=None, column="value"):
    times = times or list(pd.date_range("2026-01-01", periods=len(values), freq="h").astype(str))
    path = tmp_path / "bad.csv"
    pd.DataFrame({"timestamp": times, column: values}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("case,message", [
    ("constant", "column 'value' is always 1, nothing to learn"),
    ("short", "has 8 readings, shorter than the window (16)"),
    ("gap", "gap in the timestamps between lines 31 and 32"),
    ("duplicate", "repeated timestamp 2026-01-02 05:00:00 at lines 31 and 32"),
    ("nan", "missing readings in"),
])
def test_bad_stream_exits_2_and_writes_nothing(tmp_path, capsys, case, message):
    times = list(pd.date_range("2026-01-01", periods=80, freq="h").astype(str))
    values = list(np.sin(np.arange(80.0)))
    if case == "constant":
        values = [1.0] * 80
    elif case == "short":
        values, times = values[:8], times[:8]
    elif case == "gap":
        times = times[:30] + times[31:] + ["2026-02-01 00:00:00"]
    elif case == "duplicate":
        times = times[:30] + [times[29]] + times[30:79]
    else:
        values[40] = float("nan")
    path = _bad(tmp_path, values, times)
    ck = tmp_path / "ck"
    assert main(["anomaly", "train", "--data", str(path), "--checkpoint", str(ck), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnkit anomaly train: error: ") and message in err
    assert len(err.splitlines()) == 1
    assert not ck.exists()


def test_score_refuses_bad_input_writing_nothing(run, tmp_path, capsys):
    _, _, ck = run
    values = list(np.sin(np.arange(80.0)))
    values[10] = float("nan")
    out = tmp_path / "o.csv"
    path = _bad(tmp_path, values, column="temperature")
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(path), "--out",
                 str(out)]) == 2
    assert "at lines 12; fix the file or pass --fill" in capsys.readouterr().err
    assert not out.exists()
    assert main(["anomaly", "score", "--checkpoint", str(ck), "--data", str(path), "--out",
                 str(out), "--fill", "interpolate"]) == 0
    assert out.exists()
    assert main(["anomaly", "evaluate", "--checkpoint", str(ck), "--data", str(path),
                 "--fill", "ffill"]) == 2
    assert "has no label column" in capsys.readouterr().err


def test_demo_part_detects_the_injected_faults(tmp_path, capsys):
    assert main(["demo", "--only", "anomaly", "--out", str(tmp_path), "--quiet"]) == 0
    printed = capsys.readouterr().out
    # the app's defaults; the flag elsewhere is a reading 63 after the learning period,
    # above the range of its 540 readings (Config.extreme_margin); 3/4 without the seasonal
    # signal (the stuck sensor)
    assert "detected 4/4 injected faults (spike, level shift, stuck sensor, noise burst), " \
           "1 flag elsewhere" in printed
    assert "precision 1.00, recall 1.00" in printed
    for name in ("sensor.csv", "sensor_scores.csv", "sensor_scores.png", "beats_scores.png"):
        assert (tmp_path / "anomaly" / name).exists()
