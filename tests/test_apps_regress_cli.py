"""``rnnkit train`` / ``rnnkit predict`` / the next-number demo part, through ``main([...])``."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.checkpoint import load_extras
from rnnkit.cli.main import main


@pytest.fixture
def series(tmp_path):
    path = tmp_path / "series.csv"
    values = 10 + np.sin(np.arange(40) / 3)
    path.write_text("step,value,other\n" + "".join(
        f"{i},{v:.5f},{i % 3}\n" for i, v in enumerate(values)))
    return path


@pytest.fixture
def rows(tmp_path):
    path = tmp_path / "rows.csv"
    g = np.random.default_rng(0).normal(size=(24, 4))
    path.write_text("a,b,c,d,y\n" + "".join(
        ",".join(f"{v:.4f}" for v in r) + f",{r.sum():.4f}\n" for r in g))
    return path


def _read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_train_on_a_windowed_series_writes_the_checkpoint(tmp_path, series, capsys):
    ckpt = tmp_path / "run"
    code = main(["train", "--csv", str(series), "--target", "value", "--window", "5",
                 "--epochs", "3", "--hidden-size", "8", "--cell", "gru", "--checkpoint", str(ckpt),
                 "--quiet"])
    assert code == 0
    assert {p.name for p in ckpt.iterdir()} == {"config.json", "model.safetensors",
                                                 "history.csv", "history.json", "history.png",
                                                 "resume"}
    extras = load_extras(ckpt)
    assert {k: extras[k] for k in ("task", "mode", "window", "features", "target")} == {
        "task": "regress", "mode": "window", "window": 5, "features": ["value"],
        "target": "value"}
    assert extras["regress"]["hidden_size"] == 8
    config = json.loads((ckpt / "config.json").read_text())["model_config"]
    assert config["cell"] == "gru" and config["hidden_size"] == 8 and config["standardize"]
    assert len(_read(ckpt / "history.csv")) == 1 + 3
    assert "trained 3 epochs" in capsys.readouterr().out


def test_predict_writes_one_row_per_window_and_the_next_value(tmp_path, series, capsys):
    ckpt = tmp_path / "run"
    assert main(["train", "--csv", str(series), "--target", "value", "--window", "5",
                 "--features", "value,other", "--epochs", "2", "--checkpoint", str(ckpt),
                 "--quiet"]) == 0
    out = tmp_path / "pred.csv"
    assert main(["predict", "--checkpoint", str(ckpt), "--csv", str(series), "--out",
                 str(out)]) == 0
    table = _read(out)
    assert table[0] == ["row", "prediction", "value"]
    assert [r[0] for r in table[1:]] == [str(i) for i in range(6, 42)]  # rows 6..40, then 41
    assert table[-1][2] == "" and table[1][2] == f"{10 + np.sin(5 / 3):.5f}"
    # the predictions are the model's on the same windows
    model = rnnkit.load(ckpt)
    cols = np.loadtxt(series, delimiter=",", skiprows=1, dtype=np.float32)
    X = np.stack([cols[i:i + 5, 1:3] for i in range(36)])
    np.testing.assert_allclose([float(r[1]) for r in table[1:]],
                               rnnkit.predict(model, X)[:, 0], rtol=1e-5)
    assert "next value after the last row" in capsys.readouterr().err
    # without --out: the CSV goes to standard output
    assert main(["predict", "--checkpoint", str(ckpt), "--csv", str(series), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "row,prediction,value"


def test_train_and_predict_on_a_csv_of_sequences(tmp_path, rows, capsys):
    ckpt = tmp_path / "seq"
    assert main(["train", "--csv", str(rows), "--target", "y", "--epochs", "2", "--hidden-size",
                 "4", "--val-split", "0.25", "--checkpoint", str(ckpt), "--quiet"]) == 0
    assert load_extras(ckpt)["features"] == ["a", "b", "c", "d"]
    history = json.loads((ckpt / "history.json").read_text())["rows"]
    assert history[-1]["val_loss"] is not None
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(ckpt), "--csv", str(rows), "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "row,prediction,y" and len(lines) == 1 + 24


def test_resume_continues_a_stored_run(tmp_path, series):
    ckpt = tmp_path / "run"
    args = ["train", "--csv", str(series), "--target", "value", "--window", "4", "--hidden-size", "4",
            "--checkpoint", str(ckpt), "--quiet"]
    assert main(args + ["--epochs", "2"]) == 0
    assert main(args + ["--epochs", "4", "--resume"]) == 0
    rows = json.loads((ckpt / "history.json").read_text())["rows"]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]


def _write(tmp_path, text, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("make, extra, message", [
    (lambda d: _write(d, "value\n1\n2\n3\n4\n5\n6\n"), ["--target", "price", "--window", "2"],
     r"CSV .*bad.csv has no column 'price'; its columns are: value"),
    (lambda d: _write(d, "value\n1\n2\nabc\n4\n5\n"), ["--target", "value", "--window", "2"],
     r"CSV .*bad.csv, line 4: column 'value' has a non-numeric value 'abc'"),
    (lambda d: _write(d, "value,x\n1,2\n,3\n4,5\n"), ["--target", "value", "--window", "1"],
     r"CSV .*bad.csv, line 3: column 'value' has an empty value"),
    (lambda d: _write(d, "value\n1\nnan\n3\n"), ["--target", "value", "--window", "1"],
     r"CSV .*bad.csv, line 3: column 'value' is nan"),
    (lambda d: _write(d, "value\n1\n2\n3\n4\n5\n"), ["--target", "value", "--window", "5"],
     r"window 5 is too long for the series: .*bad.csv has 5 rows, and one window needs 6"),
    (lambda d: _write(d, "value\n1\n2\n3\n"), ["--target", "value", "--window", "9"],
     r"window 9 is too long for the series: .*bad.csv has 3 rows"),
    (lambda d: _write(d, ""), ["--target", "value", "--window", "2"],
     r"CSV .*bad.csv is empty; expected a header row"),
    (lambda d: _write(d, "value\n"), ["--target", "value", "--window", "2"],
     r"CSV .*bad.csv has a header but no data rows"),
    (lambda d: d / "missing.csv", ["--target", "value", "--window", "2"],
     r"no such CSV file: .*missing.csv"),
    (lambda d: _write(d, "value\n1\n2\n3\n4\n5\n6\n"),
     ["--target", "value", "--window", "2", "--features", "value,vol"],
     r"CSV .*bad.csv has no column 'vol'; its columns are: value"),
    (lambda d: _write(d, "value\n1\n2\n3\n4\n5\n6\n"), ["--target", "value"],
     r"CSV .*bad.csv has only the target column 'value'; give a window"),
    (lambda d: _write(d, "value\n1\n2\n3\n4\n5\n6\n"),
     ["--target", "value", "--window", "2", "--val-split", "1.5"],
     r"--val-split must lie in \[0, 1\), got 1.5"),
    (lambda d: _write(d, "value\n1\n2\n3\n4\n5\n6\n"),
     ["--target", "value", "--window", "2", "--device", "tpu"], r"unknown device 'tpu'"),
])
def test_train_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, make,
                                                                   extra, message):
    path = make(tmp_path)
    ckpt = tmp_path / "out"
    code = main(["train", "--csv", str(path), "--checkpoint", str(ckpt), "--quiet",
                 "--epochs", "1", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("rnnkit train: error: ")
    assert re.search(message, err), err
    assert not ckpt.exists()


def test_predict_bad_input_exits_2(tmp_path, series, capsys):
    assert main(["predict", "--checkpoint", str(tmp_path / "none"), "--csv", str(series)]) == 2
    assert capsys.readouterr().err.startswith("rnnkit predict: error: no "
                                              "checkpoint at ")
    ckpt = tmp_path / "run"
    main(["train", "--csv", str(series), "--target", "value", "--window", "3", "--features",
          "value,other", "--epochs", "1", "--hidden-size", "4", "--checkpoint", str(ckpt), "--quiet"])
    capsys.readouterr()
    short = _write(tmp_path, "value,other\n1,2\n2,3\n", "short.csv")
    assert main(["predict", "--checkpoint", str(ckpt), "--csv", str(short)]) == 2
    assert "the model's window (3) is longer than the series" in capsys.readouterr().err
    no_feature = _write(tmp_path, "value\n1\n2\n3\n4\n", "nofeat.csv")
    assert main(["predict", "--checkpoint", str(ckpt), "--csv", str(no_feature)]) == 2
    assert "has no column 'other'" in capsys.readouterr().err
    out = tmp_path / "out.csv"
    assert main(["predict", "--checkpoint", str(ckpt), "--csv", str(no_feature), "--out",
                 str(out)]) == 2
    assert not out.exists()


@pytest.mark.parametrize("verb", ["train", "predict"])
def test_help_ends_with_real_examples(capsys, verb):
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert text.rstrip().splitlines()[-1].strip().startswith(f"rnnkit {verb} --")
    assert "examples:" in text and "--checkpoint" in text
    for flag in ("--seed", "--device", "--quiet"):
        assert flag in text


def test_demo_part_trains_saves_reloads_and_plots(tmp_path, capsys):
    assert main(["demo", "--only", "next_number", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "prediction after [98, 99, 100]: 101.08   truth: 101" in out
    assert "reloaded: prediction 101.08 (identical)" in out
    png = tmp_path / "next_number_loss.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert rnnkit.load(tmp_path / "next_number").config["activation"] == "relu"


def test_regress_verbs_match_the_aliases_and_evaluate(tmp_path, series, capsys):
    ckpt = tmp_path / "run"
    assert main(["regress", "train", "--csv", str(series), "--target", "value", "--window", "4",
                 "--epochs", "2", "--hidden-size", "4", "--checkpoint", str(ckpt),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["regress", "predict", "--checkpoint", str(ckpt), "--csv", str(series)]) == 0
    new = capsys.readouterr().out
    assert main(["predict", "--checkpoint", str(ckpt), "--csv", str(series)]) == 0
    assert capsys.readouterr().out == new
    assert main(["regress", "evaluate", "--checkpoint", str(ckpt), "--csv", str(series)]) == 0
    assert re.match(r"MSE \S+, RMSE \S+, MAE \S+ on 36 predictions of value",
                    capsys.readouterr().out)


def test_predictor_stream_equals_predict(tmp_path, series, rows):
    ckpt = tmp_path / "run"
    assert main(["regress", "train", "--csv", str(series), "--target", "value", "--window", "4",
                 "--epochs", "2", "--hidden-size", "4", "--checkpoint", str(ckpt),
                 "--quiet"]) == 0
    predictor = rnnkit.open(ckpt)
    values = np.loadtxt(series, delimiter=",", skiprows=1)[:, 1]
    streamed = list(predictor.stream(values))
    assert np.isnan(streamed[:3]).all()
    np.testing.assert_allclose(streamed[3:], predictor.predict(values), rtol=1e-6)
    seq = tmp_path / "seq"
    assert main(["regress", "train", "--csv", str(rows), "--target", "y", "--epochs", "2",
                 "--hidden-size", "4", "--checkpoint", str(seq), "--quiet"]) == 0
    predictor = rnnkit.open(seq)
    x = np.loadtxt(rows, delimiter=",", skiprows=1)[0, :4]
    prefixes = [predictor.predict(x[None, :t])[0] for t in range(1, 5)]
    np.testing.assert_allclose(list(predictor.stream(x)), prefixes, rtol=1e-5, atol=1e-6)


def test_threads_flag_sets_torch_threads_and_bad_values_are_one_line(tmp_path, series, capsys):
    ckpt = tmp_path / "run"
    old = torch.get_num_threads()
    try:
        assert main(["regress", "train", "--csv", str(series), "--target", "value", "--window",
                     "4", "--epochs", "1", "--hidden-size", "4", "--checkpoint", str(ckpt),
                     "--quiet", "--threads", "2"]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["regress", "predict", "--checkpoint", str(ckpt), "--csv", str(series),
              "--threads", "0"])
    assert e.value.code == 2
    assert capsys.readouterr().err == ("rnnkit regress predict: error: argument --threads: "
                                       "expected a positive integer, got '0'\n")
