"""``rnnkit launch`` / ``torchrun -m rnnkit``: training verbs on several processes and machines.

Two "machines" on loopback (two launchers, ``--nnodes 2``, one process each) train the same
model as one process does; a rank killed mid-run ends the other within 60 s with one line, and
``--resume`` finishes the run from the last checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import rnnkit
from rnnkit.cli.main import main

TRAIN = ["train", "--target", "value", "--window", "4", "--hidden", "6", "--batch-size", "10",
         "--quiet"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def series(path: Path, n: int) -> Path:
    v = np.sin(np.arange(n) / 4) + 0.1 * np.random.default_rng(0).standard_normal(n)
    path.write_text("value\n" + "\n".join(f"{x:.6f}" for x in v) + "\n")
    return path


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "RNNKIT_DIST_TIMEOUT": "60",
            "PYTHONUNBUFFERED": "1"}


def rnnkit_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "rnnkit", *args]


def weights(folder: Path) -> dict:
    files = sorted(folder.glob("*.safetensors"))
    assert files, f"no weights in {folder}"
    return load_file(str(files[0]))


def test_two_machines_on_loopback_match_one_process(tmp_path):
    csv = series(tmp_path / "s.csv", 87)
    args = [*TRAIN, "--csv", str(csv), "--epochs", "2"]
    assert main([*args, "--checkpoint", str(tmp_path / "one")]) == 0
    port = free_port()
    launchers = [subprocess.Popen(
        rnnkit_cmd("launch", "--nnodes", "2", "--node-rank", str(node), "--nproc", "1",
                   "--rdzv-endpoint", f"127.0.0.1:{port}", *args,
                   "--checkpoint", str(tmp_path / "two")),
        env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for node in (0, 1)]
    outs = [p.communicate(timeout=240)[0] for p in launchers]
    assert [p.returncode for p in launchers] == [0, 0], outs
    one = json.loads((tmp_path / "one" / "history.json").read_text())
    two = json.loads((tmp_path / "two" / "history.json").read_text())
    for a, b in zip(one["rows"], two["rows"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5, abs=1e-6)
        assert b["steps"] == a["steps"]
    w1, w2 = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert w1.keys() == w2.keys()
    for k in w1:
        np.testing.assert_allclose(w2[k], w1[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert "trained 2 epochs" in outs[0]  # rank 0 prints; rank 1's stdout stays quiet
    assert "trained" not in outs[1]


def test_launch_refuses_bad_layouts(capsys):
    assert main(["launch", "--nnodes", "2", "train", "--csv", "x.csv"]) == 2
    assert capsys.readouterr().err.strip() == (
        "rnnkit launch: error: --nnodes 2 needs --rdzv-endpoint HOST:PORT (the address of the "
        "machine with --node-rank 0)")
    assert main(["launch", "--nproc", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "rnnkit launch: error: expected a verb to run, e.g. rnnkit launch --nproc 2 train "
        "--csv ...")


def _pid_of_rank(marker: str, rank: int) -> int | None:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in cmd and b"launch" not in cmd and f"RANK={rank}".encode() in environ:
            return int(proc.name)
    return None


@pytest.mark.slow
def test_killed_rank_ends_the_run_and_resume_finishes_it(tmp_path):
    csv = series(tmp_path / "s.csv", 400)
    ckpt = tmp_path / "ck"
    args = [*TRAIN, "--csv", str(csv), "--epochs", "12", "--hidden", "24",
            "--checkpoint", str(ckpt)]
    run = subprocess.Popen(rnnkit_cmd("launch", "--nproc", "2", *args), env=env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (ckpt / "history.json").exists():
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.2)
    victim = _pid_of_rank(str(ckpt), 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    _, err = run.communicate(timeout=90)
    assert time.monotonic() - killed < 60
    assert run.returncode != 0
    assert "unexpected error" not in err and "Traceback" not in err, err  # not a bug of ours
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(r"rnnkit launch: error: rank 1 \(pid \d+\) was killed by SIGKILL"
                        r"( \(and 1 other failure\))?; torchrun stopped the other processes\. "
                        r".*--resume.*", last), err
    done = json.loads((ckpt / "history.json").read_text())["rows"]
    assert 1 <= len(done) < 12
    assert rnnkit.load(ckpt) is not None  # the last checkpoint loads
    resumed = subprocess.run(rnnkit_cmd("launch", "--nproc", "2", *args, "--resume"),
                             env=env(), capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    rows = json.loads((ckpt / "history.json").read_text())["rows"]
    assert [r["epoch"] for r in rows] == list(range(1, 13))
    assert rows[: len(done)] == done


# ------------------------------------------------ found by a newcomer's run (session 17)
def test_launch_runs_training_verbs_only(capsys):
    assert main(["launch", "--nproc", "2", "regress", "predict", "--checkpoint", "x"]) == 2
    assert "runs training verbs only" in capsys.readouterr().err


def test_bad_input_under_launch_exits_2_without_resume_advice(tmp_path):
    run = subprocess.run(rnnkit_cmd("launch", "--nproc", "2", *TRAIN, "--csv",
                                    str(tmp_path / "missing.csv"), "--checkpoint",
                                    str(tmp_path / "ck")), env=env(), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "no such CSV file" in run.stderr and "--resume" not in run.stderr
    assert "OMP_NUM_THREADS" not in run.stderr  # torchrun's banner: the launcher sets it


def test_a_machine_waiting_for_its_partner_gives_up_after_rdzv_timeout(tmp_path):
    csv = series(tmp_path / "s.csv", 40)
    started = time.monotonic()
    run = subprocess.run(rnnkit_cmd("launch", "--nnodes", "2", "--node-rank", "0", "--nproc",
                                    "1", "--rdzv-endpoint", f"127.0.0.1:{free_port()}",
                                    "--rdzv-timeout", "3", *TRAIN, "--csv", str(csv),
                                    "--checkpoint", str(tmp_path / "ck")),
                         env=env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and time.monotonic() - started < 60
    assert "rnnkit launch: error: rendezvous at 127.0.0.1" in run.stderr


def test_many_series_forecast_under_launch_saves_once(tmp_path):
    """Every rank took the folder's writer lock before save skipped the others: one rank was
    refused and, when it was rank 0, the trained model was never written."""
    import pandas as pd

    months = pd.date_range("2015-01-01", periods=48, freq="MS")
    rng = np.random.default_rng(0)
    frame = pd.concat([pd.DataFrame({"id": f"s{k}", "ds": months,
                                     "y": 50 + k + 5 * np.sin(np.arange(48) * np.pi / 6)
                                     + rng.normal(0, 1, 48)}) for k in range(4)])
    frame.to_csv(tmp_path / "p.csv", index=False)
    run = subprocess.run(rnnkit_cmd("launch", "--nproc", "2", "forecast", "train", "--csv",
                                    str(tmp_path / "p.csv"), "--id-col", "id", "--time-col",
                                    "ds", "--target", "y", "--horizon", "4", "--mode", "rnn",
                                    "--epochs", "2", "--hidden-size", "8", "--dropout", "0",
                                    "--quiet", "--checkpoint", str(tmp_path / "ck")),
                         env=env(), capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "ck" / "model.safetensors").is_file()
    assert rnnkit.open(tmp_path / "ck").kind == "panel"
