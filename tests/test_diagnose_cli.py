"""``rnnkit diagnose``: both modes write their files; bad input is one clear line, exit 2,
and nothing written."""

import json

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.cli.main import main
from rnnkit.data.tasks import adding_problem

TINY = ["--steps", "4", "--eval-every", "2", "--hidden-size", "4", "--batch-size", "8",
        "--quiet"]


def test_task_mode_writes_report(tmp_path):
    out = tmp_path / "report"
    code = main(["diagnose", "--task", "adding", "--length", "8", "--cells", "rnn-tanh,gru",
                 "--exploding", "--save-models", "--out", str(out), *TINY])
    assert code == 0
    for name in ("gradient_flow.png", "jacobians.png", "learning_curves.png", "exploding.png",
                 "report.md", "results.json"):
        assert (out / name).stat().st_size > 500, name
    report = (out / "report.md").read_text()
    assert "| rnn-tanh |" in report and "| gru |" in report and "no clipping" in report
    results = json.loads((out / "results.json").read_text())
    run = results["results"]["gru"]
    assert run["step"] == [1, 2, 3, 4] and run["eval_step"] == [2, 4]
    assert len(run["final"]["layers"][0]["grad_norm"]) == 8
    assert set(results["exploding"]) == {"no clipping", "clip_norm=1"}
    # the saved models load back and are what the report analysed
    model = rnnkit.load(out / "models" / "gru")
    assert model.config["cell"] == "gru" and model.config["hidden_size"] == 4


def test_copy_task_mode(tmp_path):
    out = tmp_path / "copy"
    assert main(["diagnose", "--task", "copy", "--length", "3", "--cells", "lstm",
                 "--out", str(out), *TINY]) == 0
    results = json.loads((out / "results.json").read_text())
    layer = results["results"]["lstm"]["final"]["layers"][0]
    assert len(layer["grad_norm"]) == 23 and set(layer["gates"]) == {"input", "forget", "output"}


def test_partial_report_after_each_cell_and_time_budget(tmp_path, monkeypatch):
    """Each finished cell's results are on disk before the next cell starts; --minutes
    shares the budget between the cells."""
    import rnnkit.diagnostics.experiment as experiment

    seen, budgets = [], []
    real_train = experiment.train_on_task

    def spy(*args, **kwargs):
        seen.append(json.loads((tmp_path / "r" / "results.json").read_text())["results"]
                    if (tmp_path / "r" / "results.json").exists() else {})
        budgets.append(kwargs["time_budget"])
        return real_train(*args, **kwargs)

    monkeypatch.setattr(experiment, "train_on_task", spy)
    assert main(["diagnose", "--task", "adding", "--length", "6", "--cells", "lstm,gru",
                 "--minutes", "0.5", "--out", str(tmp_path / "r"), *TINY]) == 0
    assert [sorted(s) for s in seen] == [[], ["lstm"]]
    assert budgets == [pytest.approx(12.0), pytest.approx(12.0)]  # 80 % of 30 s, shared


def test_minutes_must_be_a_finite_non_negative_number(tmp_path, capsys):
    assert main(["diagnose", "--task", "adding", "--minutes", "nan", "--out",
                 str(tmp_path / "r"), *TINY]) == 2
    assert "--minutes must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.fixture
def checkpoints(tmp_path):
    x, y = adding_problem(32, 10, seed=0)
    gru = rnnkit.SequenceRegressor(2, 6, cell="gru")
    rnnkit.fit(gru, (x, y), epochs=2, batch_size=16, checkpoint_dir=tmp_path / "gru",
               progress=False)
    rnnkit.save(rnnkit.SequenceRegressor(2, 5, cell="lstm", num_layers=2), tmp_path / "lstm")
    rnnkit.save(rnnkit.FeedForward(2, 3), tmp_path / "ff")
    np.savez(tmp_path / "data.npz", x=x.numpy(), y=y.numpy())
    np.save(tmp_path / "x.npy", x.numpy())
    np.savetxt(tmp_path / "one.csv", x[0].numpy(), delimiter=",", header="value,marker",
               comments="")
    return tmp_path


def test_checkpoint_mode(checkpoints, capsys):
    out = checkpoints / "out"
    code = main(["diagnose", "--checkpoint", str(checkpoints / "gru"), "--checkpoint",
                 str(checkpoints / "lstm"), "--data", str(checkpoints / "data.npz"),
                 "--limit", "16", "--out", str(out)])
    assert code == 0
    for name in ("gradient_flow.png", "jacobians.png", "learning_curves.png", "report.md"):
        assert (out / name).stat().st_size > 500, name
    report = (out / "report.md").read_text()
    assert "| gru | rnn.layer0 | gru | 6 | 10 |" in report
    assert "| lstm | rnn.layer1 | lstm | 5 | 10 |" in report
    doc = json.loads((out / "results.json").read_text())
    assert doc["loss"] == "mse" and len(doc["checkpoints"]["lstm"]["layers"]) == 2
    assert "analysed on 16 sequences" in capsys.readouterr().out


@pytest.mark.parametrize("data", ["x.npy", "one.csv"])
def test_checkpoint_mode_without_targets(checkpoints, data):
    out = checkpoints / "out"
    assert main(["diagnose", "--checkpoint", str(checkpoints / "gru"), "--data",
                 str(checkpoints / data), "--out", str(out), "--quiet"]) == 0
    doc = json.loads((out / "results.json").read_text())
    layer = doc["checkpoints"]["gru"]["layers"][0]
    assert doc["loss"] is None and layer["grad_norm"] is None and len(layer["jacobian_norm"]) == 10
    assert not (out / "gradient_flow.png").exists() and (out / "jacobians.png").exists()


BAD_TASK = [
    (["--task", "sort"], "unknown task 'sort'; expected one of adding, copy"),
    (["--task", "adding", "--cells", "lstm,transformer"],
     "unknown cell(s) 'transformer'; expected a comma-separated list of rnn-tanh, rnn-relu, "
     "irnn, lstm, gru"),
    (["--task", "adding", "--length", "1"], "--length must be at least 2, got 1"),
    (["--task", "copy", "--steps", "0"], "--steps must be a positive integer, got 0"),
    (["--task", "adding", "--data", "x.npz"], "--data goes with --checkpoint"),
    # options of the other mode were ignored, and --clip-norm 0 clipped at 1 (2026-12-02)
    (["--task", "adding", "--loss", "mae", "--limit", "3"],
     "--loss, --limit go with --checkpoint, not with --task"),
    (["--task", "adding", "--exploding", "--clip-norm", "0"],
     "--exploding trains with and without clipping at --clip-norm; give one above 0"),
    (["--task", "adding", "--out", "/proc/nope/x"], "--out /proc/nope/x: cannot make the folder"),
]


@pytest.mark.parametrize("args,message", BAD_TASK)
def test_bad_task_input(tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert main(["diagnose", *args, *([] if "--out" in args else ["--out", str(out)])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit diagnose: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_bad_checkpoint_input(checkpoints, capsys):
    out = checkpoints / "never"
    cases = [
        (["--checkpoint", str(checkpoints / "ff"), "--data", str(checkpoints / "x.npy")],
         f"checkpoint {checkpoints / 'ff'}: FeedForward has no recurrent layer (rnnkit.RNN) to "
         "diagnose"),
        (["--checkpoint", str(checkpoints / "gru")], "--checkpoint needs --data"),
        (["--checkpoint", str(checkpoints / "nope"), "--data", str(checkpoints / "x.npy")],
         f"no checkpoint folder {checkpoints / 'nope'}"),
        (["--checkpoint", str(checkpoints / "gru"), "--data", str(checkpoints / "x.txt")],
         f"no data file {checkpoints / 'x.txt'}"),
    ]
    np.save(checkpoints / "wide.npy", np.zeros((3, 10, 5), dtype=np.float32))
    cases.append((["--checkpoint", str(checkpoints / "gru"), "--data",
                   str(checkpoints / "wide.npy")],
                  "SequenceRegressor rejects --data " + str(checkpoints / "wide.npy")
                  + " of shape (3, 10, 5): SequenceRegressor: expected x of shape (B, T, 2), "
                  "got (3, 10, 5)"))
    np.savez(checkpoints / "bad.npz", inputs_wrong=np.zeros((2, 3)))
    cases.append((["--checkpoint", str(checkpoints / "gru"), "--data",
                   str(checkpoints / "bad.npz")],
                  "expected an array named x (or inputs), found inputs_wrong"))
    # task-mode options were accepted and ignored; a damaged .npz exited 1 with a crash
    # file; NaN targets gave a report without its loss columns (2026-12-02)
    gru, x_npy = str(checkpoints / "gru"), str(checkpoints / "x.npy")
    cases.append((["--checkpoint", gru, "--data", x_npy, "--steps", "5", "--exploding"],
                  "--steps, --exploding go with --task, not with --checkpoint"))
    cases.append((["--checkpoint", gru, "--data", x_npy, "--loss", "nope"],
                  "--loss 'nope': expected one of mse,"))
    (checkpoints / "damaged.npz").write_bytes(b"PK\x03\x04 not a zip at all")
    cases.append((["--checkpoint", gru, "--data", str(checkpoints / "damaged.npz")],
                  f"{checkpoints / 'damaged.npz'}: cannot be read as .npz data"))
    (checkpoints / "text.npy").write_text("1,2,3\n")
    cases.append((["--checkpoint", gru, "--data", str(checkpoints / "text.npy")],
                  f"{checkpoints / 'text.npy'}: cannot be read as .npy data"))
    x, y = adding_problem(4, 10, seed=0)
    y[1] = float("nan")
    np.savez(checkpoints / "ynan.npz", x=x.numpy(), y=y.numpy())
    cases.append((["--checkpoint", gru, "--data", str(checkpoints / "ynan.npz")],
                  "ynan.npz: targets contain NaN or Inf"))
    np.savez(checkpoints / "flen.npz", x=x.numpy(), lengths=np.array([10.0, 9.5, 8, 7]))
    cases.append((["--checkpoint", gru, "--data", str(checkpoints / "flen.npz")],
                  "flen.npz: lengths must be integers, one per sequence, got dtype float64"))
    for args, message in cases:
        assert main(["diagnose", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("rnnkit diagnose: error: ") and message in err, err
        assert not out.exists()


def test_a_time_budget_that_ends_training_early_is_shown(tmp_path, capsys, monkeypatch):
    """Cells stopped by --minutes were ranked as if they had trained every step: the report
    and the log now say how many they took (2026-12-02)."""
    import rnnkit.diagnostics.experiment as experiment

    real_fit = experiment.fit

    def short(*args, **kwargs):  # as if the budget ran out after the first epoch
        kwargs["epochs"] = 1
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(experiment, "fit", short)
    out = tmp_path / "r"
    assert main(["diagnose", "--task", "adding", "--length", "6", "--cells", "gru",
                 "--out", str(out), *TINY[:-1]]) == 0
    log = capsys.readouterr().out
    assert "up to 4 steps each (1.5 min in all)" in log
    assert "gru stopped by the time budget after 2 of 4 steps" in log
    assert "| 2 of 4 (time budget) |" in (out / "report.md").read_text()
    run = json.loads((out / "results.json").read_text())["results"]["gru"]
    assert (run["steps_trained"], run["steps_planned"]) == (2, 4)


def test_saved_models_are_bare_models(tmp_path, capsys):
    """--save-models tagged its checkpoints task "adding": `rnnkit info` showed that as their
    application and rnnkit.open called it one nobody handles (2026-12-02)."""
    out = tmp_path / "r"
    assert main(["diagnose", "--task", "adding", "--length", "6", "--cells", "gru",
                 "--save-models", "--out", str(out), *TINY]) == 0
    assert main(["info", "--checkpoint", str(out / "models" / "gru")]) == 0
    assert "bare model" in capsys.readouterr().out
    with pytest.raises(rnnkit.checkpoint.CheckpointError, match="load the bare model with "
                                                                "rnnkit.load"):
        rnnkit.open(out / "models" / "gru")


def test_help_lists_examples(capsys):
    with pytest.raises(SystemExit):
        main(["diagnose", "--help"])
    assert "rnnkit diagnose --task adding --length 200" in capsys.readouterr().out


def test_data_loader_types(checkpoints):
    from rnnkit.cli.diagnose import load_data

    x, y, lengths = load_data(str(checkpoints / "data.npz"), limit=5)
    assert x.shape == (5, 10, 2) and x.dtype == torch.float32 and y.shape == (5, 1)
    assert lengths is None
    x, y, _ = load_data(str(checkpoints / "one.csv"))
    assert x.shape == (1, 10, 2) and y is None


def test_demo_part(tmp_path, capsys, monkeypatch):
    from rnnkit.demos import diagnose

    monkeypatch.setattr(diagnose, "LENGTH", 20)
    diagnose.run(tmp_path, seed=0, quiet=True)
    assert (tmp_path / "diagnose-gradient-flow.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "rnn-tanh" in out and "irnn" in out


def test_the_report_records_every_option_it_ran_with():
    from rnnkit.cli.diagnose import _argv
    from rnnkit.cli.main import build_parser

    argv = ["diagnose", "--task", "adding", "--length", "20", "--cells", "lstm", "--hidden-size",
            "16", "--batch-size", "8", "--lr", "0.01", "--seed", "3", "--save-models", "--out",
            "d"]
    recorded = _argv(build_parser().parse_args(argv))
    again = build_parser().parse_args(recorded)
    for name in ("hidden_size", "batch_size", "lr", "seed", "save_models", "length", "cells"):
        assert getattr(again, name) == getattr(build_parser().parse_args(argv), name), name


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_info_refuses_a_device_that_is_not_here(checkpoints, capsys):
    """info --device cuda exited 0 without CUDA, where every other verb refuses it."""
    assert main(["info", "--checkpoint", str(checkpoints / "gru"), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
