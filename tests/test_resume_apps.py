"""``--resume`` continues exactly for translate, forecast and anomaly (issue 13).

Each verb is run once straight through, and once interrupted right after an epoch's
checkpoint was written (``fit``'s ``write_epoch`` raises ``KeyboardInterrupt`` then, as a
Ctrl-C or a kill at that moment would leave the folder) and finished with ``--resume``: the
per-epoch losses and the saved weights must be equal, bit for bit. (Random SIGKILLs at any
moment, with subprocesses: ``tests/test_kill_resume.py``, marked slow.)
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from forecast_helpers import seasonal_series, write_csv

import rnnkit
from rnnkit.cli.main import main
from rnnkit.data.parallel import reversal_pairs
from rnnkit.demos.anomaly import heartbeats, sensor_stream

FIT = importlib.import_module("rnnkit.train")  # the module (rnnkit.train may be a name)


def _rows(history: Path) -> list[tuple]:
    rows = json.loads(history.read_text())["rows"]
    return [(r.get("member"), r["epoch"], r["train_loss"], r.get("val_loss")) for r in rows]


def _same_weights(a: Path, b: Path) -> None:
    wa, wb = rnnkit.load(a).state_dict(), rnnkit.load(b).state_dict()
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def _interrupted_then_resumed(monkeypatch, args: list[str], tmp_path: Path, after: int,
                              history: str = "history.json") -> tuple[Path, Path]:
    """Train ``args`` into tmp/full straight; into tmp/cut interrupted after epoch ``after``,
    then resumed. Returns the two folders."""
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main([*args, "--checkpoint", str(full)]) == 0
    real = FIT.write_epoch

    def write_then_die(run_dir, *a, **kw):
        real(run_dir, *a, **kw)
        if a[6] == after:  # the epoch just written
            raise KeyboardInterrupt

    monkeypatch.setattr(FIT, "write_epoch", write_then_die)
    assert main([*args, "--checkpoint", str(cut)]) == 130  # "rnnkit: interrupted"
    monkeypatch.setattr(FIT, "write_epoch", real)
    assert main([*args, "--checkpoint", str(cut), "--resume"]) == 0
    assert _rows(cut / history) == _rows(full / history)
    _same_weights(full, cut)
    return full, cut


def test_translate_resume_equals_an_uninterrupted_run(monkeypatch, tmp_path, capsys):
    src, tgt = reversal_pairs(200, vocab=6, min_len=2, max_len=5, seed=0)
    val_src, val_tgt = reversal_pairs(20, vocab=6, min_len=2, max_len=5, seed=1)
    files = {}
    for name, lines in (("src", src), ("tgt", tgt), ("val-src", val_src), ("val-tgt", val_tgt)):
        files[name] = tmp_path / f"{name}.txt"
        files[name].write_text("".join(s + "\n" for s in lines), encoding="utf-8")
    args = ["translate", "train", *[x for k, p in files.items() for x in (f"--{k}", str(p))],
            "--hidden-size", "16", "--embedding-dim", "8", "--epochs", "3", "--min-freq", "1",
            "--max-len", "8", "--quiet"]
    full, cut = _interrupted_then_resumed(monkeypatch, args, tmp_path, after=1)
    assert json.loads((full / "config.json").read_text())["extras"]["val_bleu"] == \
        json.loads((cut / "config.json").read_text())["extras"]["val_bleu"]


def test_forecast_resume_equals_an_uninterrupted_run(monkeypatch, tmp_path):
    path = write_csv(tmp_path / "s.csv", seasonal_series(300, noise=0.3))
    args = ["forecast", "train", "--csv", str(path), "--time-col", "date", "--target", "load",
            "--mode", "direct", "--lookback", "24", "--horizon", "6", "--hidden-size", "8",
            "--epochs", "4", "--batch-size", "32", "--quiet"]
    _interrupted_then_resumed(monkeypatch, args, tmp_path, after=2)


@pytest.mark.parametrize("layout", ["stream", "sequences"])
def test_anomaly_resume_equals_an_uninterrupted_run(monkeypatch, tmp_path, layout):
    if layout == "stream":
        data = tmp_path / "sensor.csv"
        sensor_stream(n=400, seed=2, faults=(("spike", 300, 3),)).to_csv(data, index=False)
        extra = ["--chunk", "16", "--window", "16", "--learning-fraction", "0.5"]
    else:
        labels, values = heartbeats(40, length=16, abnormal=0.2, seed=3)
        frame = pd.DataFrame(values)
        frame.insert(0, "label", labels)
        data = tmp_path / "beats.csv"
        frame.to_csv(data, index=False, header=False)
        extra = ["--layout", "sequences", "--detector", "reconstruct"]
    args = ["anomaly", "train", "--data", str(data), "--hidden-size", "8", "--epochs", "4",
            "--quiet", *extra]
    full, cut = _interrupted_then_resumed(monkeypatch, args, tmp_path, after=2)
    assert not (cut / "training").exists()  # the resumable state goes once the run is saved
    a, b = rnnkit.open(full), rnnkit.open(cut)
    drop = {"config"}  # it names the folder
    assert {k: v for k, v in a.meta.items() if k not in drop} == \
        {k: v for k, v in b.meta.items() if k not in drop}  # threshold, scales: same weights
    assert np.array_equal(a.score_file(data)["score"], b.score_file(data)["score"])


STATE = importlib.import_module("rnnkit.training.state")


@pytest.mark.parametrize("app", ["textgen", "translate"])
def test_killed_between_history_and_resume_state(monkeypatch, tmp_path, app):
    """A kill after epoch 2's history.json was written but before its resume state: the
    resume continues from epoch 1's state, and the lr schedule must count epoch 1's steps
    (the state's history), not history.json's two (seen as a kill_resume failure: the
    resumed run's first epoch came out different)."""
    if app == "textgen":
        text = tmp_path / "t.txt"
        text.write_text("the quick brown fox jumps over the lazy dog. " * 60)
        args = ["textgen", "train", "--text", str(text), "--hidden-size", "16",
                "--embedding-dim", "8", "--seq-len", "8", "--batch-size", "8", "--epochs", "3",
                "--sample-length", "0", "--quiet"]
    else:
        src, tgt = reversal_pairs(120, vocab=6, min_len=2, max_len=5, seed=0)
        val_src, val_tgt = reversal_pairs(20, vocab=6, min_len=2, max_len=5, seed=1)
        files = []
        for name, lines in (("src", src), ("tgt", tgt), ("val-src", val_src),
                            ("val-tgt", val_tgt)):
            path = tmp_path / f"{name}.txt"
            path.write_text("".join(s + "\n" for s in lines), encoding="utf-8")
            files += [f"--{name}", str(path)]
        args = ["translate", "train", *files, "--hidden-size", "16", "--embedding-dim", "8",
                "--epochs", "3", "--min-freq", "1", "--max-len", "8", "--quiet"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main([*args, "--checkpoint", str(full)]) == 0
    real = STATE.write_state

    def die_at_epoch_two(run_dir, epoch, state):
        if epoch == 2:  # history.json already says 2 epochs
            raise KeyboardInterrupt
        real(run_dir, epoch, state)

    monkeypatch.setattr(STATE, "write_state", die_at_epoch_two)
    assert main([*args, "--checkpoint", str(cut)]) == 130
    assert len(json.loads((cut / "history.json").read_text())["rows"]) == 2
    monkeypatch.setattr(STATE, "write_state", real)
    assert main([*args, "--checkpoint", str(cut), "--resume"]) == 0
    assert _rows(cut / "history.json") == _rows(full / "history.json")
    _same_weights(full, cut)
