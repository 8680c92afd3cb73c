"""Issue 14's kill test (slow): random SIGKILLs during ``rnnkit regress train``, ``textgen
train``, ``translate train``, ``forecast train`` and ``anomaly train`` with ``--checkpoint``.
After every kill the folder loads (``rnnkit.open``) whenever it holds a model at all, and
``--resume`` finally finishes with exactly the uninterrupted run's history and weights.

``RNNKIT_KILLS`` sets the kills per verb (default 25: 125 in all). Kill moments are drawn from
a seeded generator over the uninterrupted run's wall time, so some land while the process
starts, most while it trains or writes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("RNNKIT_KILLS", "25"))


def _run(args: list[str], kill_after: float | None = None) -> int | None:
    """Run ``rnnkit ARGS``; with ``kill_after`` SIGKILL it then (None: it finished first)."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "rnnkit", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=kill_after if kill_after is not None else 600)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        return None
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return 0


def _rows(folder: Path) -> list[tuple]:
    rows = json.loads((folder / "history.json").read_text())["rows"]
    return [(r["epoch"], r["train_loss"], r.get("val_loss")) for r in rows]


def _weights(folder: Path) -> dict:
    return rnnkit.load(folder).state_dict()


def _kill_and_resume(tmp_path: Path, args: list[str], seed: int) -> None:
    full, killed = tmp_path / "full", tmp_path / "killed"
    t0 = time.perf_counter()
    _run([*args, "--checkpoint", str(full)])
    wall = time.perf_counter() - t0
    rng = random.Random(seed)
    loads = 0
    for _ in range(KILLS):
        outcome = _run([*args, "--checkpoint", str(killed), "--resume"],
                       kill_after=rng.uniform(0.2, wall))
        if (killed / "config.json").exists() or (killed / "model.safetensors").exists():
            rnnkit.open(killed)  # the newest complete checkpoint, never a mix
            loads += 1
        if outcome == 0:  # a kill that came too late: the run ended; start it afresh
            os.rename(killed, tmp_path / f"done-{rng.random():.6f}")
    _run([*args, "--checkpoint", str(killed), "--resume"])
    assert _rows(killed) == _rows(full)
    a, b = _weights(full), _weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not list(killed.glob(".*.tmp")) and not list(killed.glob("*/.*.tmp"))
    assert loads >= 1 or KILLS < 5


def test_kills_during_regress_train_resume_to_the_same_result(tmp_path):
    series = tmp_path / "series.csv"
    values = 10 + np.sin(np.arange(600) / 7) + 0.1 * np.cos(np.arange(600) / 3)
    series.write_text("value\n" + "".join(f"{v:.6f}\n" for v in values))
    _kill_and_resume(tmp_path, ["regress", "train", "--csv", str(series), "--target", "value",
                                "--window", "8", "--hidden-size", "16", "--epochs", "25",
                                "--val-split", "0.2", "--quiet", "--threads", "1"], seed=1)


def test_kills_during_textgen_train_resume_to_the_same_result(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 120)
    _kill_and_resume(tmp_path, ["textgen", "train", "--text", str(text), "--hidden-size", "32",
                                "--embedding-dim", "8", "--seq-len", "16", "--batch-size", "8",
                                "--epochs", "6", "--sample-length", "0", "--quiet",
                                "--threads", "1"], seed=2)


def test_kills_during_translate_train_resume_to_the_same_result(tmp_path):
    from rnnkit.data.parallel import reversal_pairs

    files = []
    for name, (src, tgt) in (("train", reversal_pairs(200, vocab=6, max_len=5, seed=0)),
                             ("val", reversal_pairs(20, vocab=6, max_len=5, seed=1))):
        for side, lines in (("src", src), ("tgt", tgt)):
            path = tmp_path / f"{name}.{side}"
            path.write_text("".join(s + "\n" for s in lines), encoding="utf-8")
            files += [f"--{'val-' if name == 'val' else ''}{side}", str(path)]
    _kill_and_resume(tmp_path, ["translate", "train", *files, "--hidden-size", "16",
                                "--embedding-dim", "8", "--epochs", "6", "--min-freq", "1",
                                "--max-len", "8", "--quiet", "--threads", "1"], seed=3)


def test_kills_during_forecast_train_resume_to_the_same_result(tmp_path):
    t = np.arange(400)
    series = tmp_path / "series.csv"
    series.write_text("date,load\n" + "".join(
        f"2024-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{10 + np.sin(2 * np.pi * i / 24):.6f}\n"
        for i in t[:24 * 16]))
    _kill_and_resume(tmp_path, ["forecast", "train", "--csv", str(series), "--time-col", "date",
                                "--target", "load", "--mode", "direct", "--lookback", "24",
                                "--horizon", "6", "--hidden-size", "8", "--epochs", "8",
                                "--quiet", "--threads", "1"], seed=4)


def test_kills_during_anomaly_train_resume_to_the_same_result(tmp_path):
    from rnnkit.demos.anomaly import sensor_stream

    data = tmp_path / "sensor.csv"
    sensor_stream(n=600, seed=2, faults=(("spike", 400, 3),)).to_csv(data, index=False)
    _kill_and_resume(tmp_path, ["anomaly", "train", "--data", str(data), "--hidden-size", "8",
                                "--epochs", "10", "--chunk", "16", "--window", "16",
                                "--learning-fraction", "0.5", "--quiet", "--threads", "1"],
                     seed=5)
