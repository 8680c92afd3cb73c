"""rnnkit.fit / predict / evaluate: learning, clipping, early stopping, tbptt, resume, errors."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.train import NonFiniteError

ROOT = Path(__file__).resolve().parents[1]


def sum_task(n=64, T=5, seed=0):
    """X (n, T, 1) uniform, y (n, 1) = sum over time: needs memory of every step."""
    g = np.random.default_rng(seed)
    X = g.uniform(-1, 1, size=(n, T, 1)).astype(np.float32)
    return X, X.sum(1)


def small(cell="lstm", **kw):
    torch.manual_seed(0)
    return rnnkit.SequenceRegressor(1, 8, cell=cell, **kw)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------ learning
@pytest.mark.parametrize("cell", ["rnn", "irnn", "lstm", "gru"])
def test_loss_decreases_for_every_cell(cell):
    X, y = sum_task()
    h = rnnkit.fit(small(cell), (X, y), epochs=20, lr=1e-2, progress=False)
    assert h["train_loss"][-1] < 0.25 * h["train_loss"][0]
    assert len(h.grad_norms) == 20 * 2  # 64 samples / batch 32, one norm per step
    assert all(np.isfinite(h.grad_norms))


def test_history_rows_files_and_metrics(tmp_path):
    X, y = sum_task()
    h = rnnkit.fit(small(), (X, y), epochs=3, val_split=0.25, metrics=["mae", "rmse"],
                   checkpoint_dir=tmp_path / "run", progress=False)
    row = h[-1]
    for key in ("epoch", "train_loss", "val_loss", "mae", "val_mae", "rmse", "val_rmse", "lr",
                "grad_norm_mean", "grad_norm_max", "clipped", "skipped", "steps", "seconds"):
        assert key in row, key
    assert row["steps"] == 2  # 48 training samples after the split, batch 32
    stored = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [r["train_loss"] for r in stored["rows"]] == h["train_loss"]
    header = (tmp_path / "run" / "history.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["epoch", "train_loss", "mae"]
    assert rnnkit.load(tmp_path / "run").config == small().config


def test_history_plot_writes_a_png(tmp_path):
    X, y = sum_task()
    h = rnnkit.fit(small(), (X, y), epochs=3, val_split=0.25, metrics=["mae"], progress=False)
    png = h.plot(tmp_path / "history.png")
    assert png == tmp_path / "history.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.png"]  # no temporary left
    empty = rnnkit.History().plot(tmp_path / "empty.png")  # no rows: a figure that says so
    assert empty.stat().st_size > 0


@pytest.mark.parametrize("event", ["batch_end", "epoch_end"])
def test_an_exception_mid_run_releases_the_folder_lock(tmp_path, event):
    """Not only NonFiniteError: any exception leaves the checkpoint folder writable."""
    from rnnkit import checkpoint

    def boom(name, info):
        if name == event and info["epoch"] == 2:
            raise KeyboardInterrupt  # as a Ctrl-C mid-run
    run = tmp_path / "run"
    X, y = sum_task()
    with pytest.raises(KeyboardInterrupt):
        rnnkit.fit(small(), (X, y), epochs=5, callbacks=[boom], checkpoint_dir=run,
                   progress=False)
    assert not (run / checkpoint.LOCK).exists()
    assert str(run.resolve()) not in checkpoint._HELD
    h = rnnkit.fit(small(), (X, y), epochs=5, checkpoint_dir=run, resume=True, progress=False)
    assert len(h) == 5 and h[0]["epoch"] == 1  # epoch 1 kept, 2..5 trained on resume


def test_val_mae_matches_evaluate():
    X, y = sum_task()
    model = small()
    h = rnnkit.fit(model, (X, y), val_data=(X[:20], y[:20]), epochs=2, metrics=["mae"],
                   progress=False)
    ev = rnnkit.evaluate(model, (X[:20], y[:20]), loss="mse", metrics=["mae"])
    assert ev["loss"] == pytest.approx(h[-1]["val_loss"], rel=1e-5)
    assert ev["mae"] == pytest.approx(h[-1]["val_mae"], rel=1e-5)


def test_predict_matches_input_kind_and_model_call():
    X, _ = sum_task(10)
    model = small().eval()
    out_np = rnnkit.predict(model, X, batch_size=3)
    out_t = rnnkit.predict(model, torch.from_numpy(X))
    assert isinstance(out_np, np.ndarray) and isinstance(out_t, torch.Tensor)
    with torch.no_grad():
        ref = model(torch.from_numpy(X))
    torch.testing.assert_close(out_t, ref)
    np.testing.assert_allclose(out_np, ref.numpy(), rtol=1e-6)


def test_tuple_inputs_reach_the_model_with_lengths():
    X, y = sum_task(32, T=6)
    lengths = np.full(32, 6)
    lengths[::2] = 3
    X[::2, 3:] = 0.0
    y = X.sum(1)
    model = small(pooling="mean")
    h = rnnkit.fit(model, ((X, lengths), y), epochs=2, progress=False)
    assert len(h) == 2
    pred = rnnkit.predict(model, (torch.from_numpy(X), torch.from_numpy(lengths)))
    alone = rnnkit.predict(model, torch.from_numpy(X[:1, :3]))
    torch.testing.assert_close(pred[:1], alone)


def test_dataset_and_dataloader_inputs():
    X, y = sum_task(40)
    ds = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    h1 = rnnkit.fit(small(), ds, epochs=2, batch_size=8, val_split=0.25, progress=False)
    assert h1[-1]["steps"] == 4 and h1[-1]["val_loss"] is not None
    loader = torch.utils.data.DataLoader(ds, batch_size=10, shuffle=True)
    h2 = rnnkit.fit(small(), loader, epochs=2, progress=False)
    assert h2[-1]["steps"] == 4


def test_cross_entropy_sequence_targets_ignore_padding():
    torch.manual_seed(0)
    tagger = rnnkit.SequenceTagger(2, 8, output_size=3)
    X = np.random.default_rng(0).normal(size=(16, 5, 2)).astype(np.float32)
    y = (X[..., 0] > 0).astype(np.int64)
    y[:, -1] = -100  # padding: ignored
    h = rnnkit.fit(tagger, (X, y), epochs=3, loss="cross_entropy", metrics=["accuracy"],
                   lr=1e-2, progress=False)
    assert 0.0 <= h[-1]["accuracy"] <= 1.0 and h["train_loss"][-1] < h["train_loss"][0]


def test_schedules_change_the_lr():
    X, y = sum_task(32)
    h = rnnkit.fit(small(), (X, y), epochs=4, schedule="cosine", lr=0.01, progress=False)
    assert h["lr"][0] == pytest.approx(0.01) and h["lr"][-1] < h["lr"][0]
    h = rnnkit.fit(small(), (X, y), epochs=6, schedule="step", lr=0.01, progress=False)
    assert h["lr"] == pytest.approx([0.01, 0.01, 0.001, 0.001, 1e-4, 1e-4])


# ------------------------------------------------------------------------------ clipping
def test_clip_norm_bounds_the_applied_gradient():
    X, y = sum_task()
    applied = []

    def after_step(event, info):
        if event == "batch_end":  # the gradients the optimizer has just used
            grads = [p.grad for p in info["model"].parameters() if p.grad is not None]
            applied.append(float(torch.nn.utils.get_total_norm(grads)))

    h = rnnkit.fit(small(), (X, y * 10), epochs=3, clip_norm=0.5, callbacks=[after_step],
                   progress=False)
    assert max(applied) <= 0.5 * (1 + 1e-5)
    raw = np.array(h.grad_norms)
    assert (raw > 0.5).any()  # clipping had something to do
    np.testing.assert_allclose(np.minimum(raw, 0.5), applied, rtol=1e-5)
    assert sum(r["clipped"] * r["steps"] for r in h.rows) == pytest.approx((raw > 0.5).sum())


def test_clip_value_bounds_each_gradient():
    X, y = sum_task()
    biggest = []

    def after_step(event, info):
        if event == "batch_end":
            biggest.append(max(float(p.grad.abs().max()) for p in info["model"].parameters()))

    h = rnnkit.fit(small(), (X, y * 10), epochs=2, clip_value=0.01, callbacks=[after_step],
                   progress=False)
    assert max(biggest) <= 0.01 + 1e-9
    assert all(r["clipped"] == 1.0 for r in h.rows)


# ------------------------------------------------------------------------ early stopping
def test_early_stopping_restores_the_best_weights():
    X, y = sum_task()
    snapshots = {}

    def keep(event, info):
        if event == "epoch_end":
            snapshots[info["epoch"]] = weights(info["model"])

    model = small()
    # validation targets of the opposite sign: the better the fit, the worse the val loss
    h = rnnkit.fit(model, (X, y), val_data=(X, -y), epochs=30, lr=1e-2, early_stopping=2,
                   callbacks=[keep], progress=False)
    assert h.stop_reason == "early_stopping" and len(h) < 30
    best = h.best_epoch
    assert h["val_loss"][best - 1] == min(h["val_loss"])
    assert best < len(h)
    for k, v in weights(model).items():
        torch.testing.assert_close(v, snapshots[best][k], rtol=0, atol=0)
    assert any(not torch.equal(v, snapshots[len(h)][k]) for k, v in weights(model).items())


def test_callback_can_stop_and_time_budget_stops_cleanly():
    X, y = sum_task()
    h = rnnkit.fit(small(), (X, y), epochs=50, progress=False,
                   callbacks=[lambda e, i: e == "epoch_end" and i["epoch"] == 3])
    assert len(h) == 3 and h.stop_reason == "callback"
    h = rnnkit.fit(small(), (X, y), epochs=10_000, time_budget=0.3, progress=False)
    assert h.stop_reason == "time_budget" and 1 <= len(h) < 10_000


# --------------------------------------------------------------------------------- tbptt
class Echo(nn.Module):
    """Predicts the input bit ``delay`` steps back; counts the autograd graph it builds."""

    def __init__(self):
        super().__init__()
        self.rnn = rnnkit.RNN("gru", 1, 16)
        self.head = nn.Linear(16, 1)
        self.graph_sizes, self.incoming = [], []

    def forward(self, x, state=None):
        self.incoming.append(state)
        out, state = self.rnn(x, state)
        pred = self.head(out).squeeze(-1)
        if pred.requires_grad:
            self.graph_sizes.append(_graph_size(pred.grad_fn))
        return pred, state


def _graph_size(fn) -> int:
    seen, todo = set(), [fn]
    while todo:
        f = todo.pop()
        if f is None or f in seen:
            continue
        seen.add(f)
        todo += [g for g, _ in f.next_functions]
    return len(seen)


def echo_streams(B=16, N=400, delay=3, seed=0):
    bits = np.random.default_rng(seed).integers(0, 2, size=(B, N)).astype(np.float32)
    y = np.zeros_like(bits)
    y[:, delay:] = bits[:, :-delay]
    return bits[..., None], y


def head_accuracy(model, X, y, k, delay, carry):
    """Accuracy on the first ``delay`` steps of each chunk: answerable only from the past."""
    hits, state = [], None
    with torch.no_grad():
        for s in range(0, X.shape[1], k):
            pred, new = model(torch.from_numpy(X[:, s:s + k]), state if carry else None)
            state = new
            if s:
                hits.append(((pred[:, :delay] > 0.5).numpy() == (y[:, s:s + delay] > 0.5)).mean())
    return float(np.mean(hits))


def test_tbptt_carries_state_across_chunks_and_detaches():
    k, delay = 4, 3
    X, y = echo_streams(delay=delay)
    torch.manual_seed(0)
    model = Echo()
    h = rnnkit.fit(model, (X, y), tbptt=k, epochs=6, lr=1e-2, loss="mse", progress=False)
    assert len(h.grad_norms) == 6 * (400 // k)
    # state carried: every chunk but the first of an epoch gets the previous chunk's state,
    # detached (no grad_fn), and the graph of each step stays the size of one chunk
    chunks = 400 // k
    incoming = model.incoming[1:1 + chunks]  # [0] is fit's first-batch check
    assert incoming[0] is None and model.incoming[1 + chunks] is None  # reset every epoch
    assert all(s is not None and s.grad_fn is None and not s.requires_grad for s in incoming[1:])
    sizes = model.graph_sizes  # one per training chunk: constant, however many came before
    assert len(sizes) == 6 * chunks and len(set(sizes[1:chunks])) == 1
    assert max(sizes) == sizes[1], "the autograd graph grew across chunks"
    Xv, yv = echo_streams(seed=1, delay=delay)
    model.eval()
    assert head_accuracy(model, Xv, yv, k, delay, carry=True) > 0.95

    # the same model trained on the same chunks as independent sequences cannot learn it
    torch.manual_seed(0)
    plain = Echo()
    chunks_x = np.concatenate([X[:, s:s + k] for s in range(0, 400, k)])
    chunks_y = np.concatenate([y[:, s:s + k] for s in range(0, 400, k)])
    rnnkit.fit(plain, (chunks_x, chunks_y), epochs=6, lr=1e-2, batch_size=16, shuffle=False,
               loss="mse", progress=False)
    plain.eval()
    assert head_accuracy(plain, Xv, yv, k, delay, carry=False) < 0.7


def test_tbptt_validation_is_stateful_and_stream_batches_work():
    X, y = echo_streams(B=4, N=40)
    torch.manual_seed(0)
    model = Echo()
    chunks = [(torch.from_numpy(X[:, s:s + 8]), torch.from_numpy(y[:, s:s + 8]))
              for s in range(0, 40, 8)]
    h = rnnkit.fit(model, chunks, val_data=chunks, tbptt=4, epochs=1, loss="mse",
                   progress=False)
    assert h[-1]["steps"] == 10  # 8-step chunks cut into 4-step pieces
    assert h[-1]["val_loss"] is not None


# -------------------------------------------------------------------------------- resume
RESUME_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np, torch
    import rnnkit
    torch.set_num_threads(1)
    g = np.random.default_rng(0)
    X = g.uniform(-1, 1, size=(64, 5, 1)).astype(np.float32); y = X.sum(1)
    torch.manual_seed(0)
    model = rnnkit.SequenceRegressor(1, 8, cell="lstm", dropout=0.0, num_layers=2)
    calls = [0]
    def loss(p, t):
        calls[0] += 1
        if calls[0] == int(sys.argv[2]):  # killed in the middle of an epoch, no clean-up
            os.kill(os.getpid(), signal.SIGKILL)
        return ((p - t) ** 2).mean()
    rnnkit.fit(model, (X, y), epochs=6, loss=loss, schedule="cosine", seed=3,
               checkpoint_dir=sys.argv[1], resume=len(sys.argv) > 3, progress=False)
""")


def _resume_model():
    torch.manual_seed(0)
    return rnnkit.SequenceRegressor(1, 8, cell="lstm", dropout=0.0, num_layers=2)


def test_killed_and_resumed_run_ends_with_the_same_weights(tmp_path):
    X, y = sum_task()
    mse = lambda p, t: ((p - t) ** 2).mean()  # noqa: E731
    reference = _resume_model()
    ref = rnnkit.fit(reference, (X, y), epochs=6, loss=mse, schedule="cosine", seed=3,
                     checkpoint_dir=tmp_path / "ref", progress=False)

    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT)
    run_dir = tmp_path / "run"
    # 1 first-batch check + 2 steps per epoch: call 9 is epoch 4's second step
    proc = subprocess.run([sys.executable, str(script), str(run_dir), "9"], capture_output=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-500:]
    stored = json.loads((run_dir / "resume" / "state.json").read_text())
    assert stored["epoch"] == 3

    resumed = _resume_model()
    h = rnnkit.fit(resumed, (X, y), epochs=6, loss=mse, schedule="cosine", seed=3,
                   checkpoint_dir=run_dir, resume=True, progress=False)
    for k, v in weights(reference).items():
        torch.testing.assert_close(weights(resumed)[k], v, rtol=0, atol=0)
    assert h["train_loss"] == ref["train_loss"] and h["lr"] == ref["lr"]
    assert h.grad_norms == ref.grad_norms
    # a finished run resumes to nothing
    again = rnnkit.fit(resumed, (X, y), epochs=6, loss=mse, schedule="cosine", seed=3,
                       checkpoint_dir=run_dir, resume=True, progress=False)
    assert len(again) == 6
    files = {p.suffix for p in (run_dir / "resume").iterdir()}
    assert files == {".json", ".safetensors"}


def test_resume_needs_a_checkpoint_dir_and_a_fitting_model(tmp_path):
    X, y = sum_task()
    with pytest.raises(ValueError, match=r"fit: resume=True needs checkpoint_dir"):
        rnnkit.fit(small(), (X, y), epochs=1, resume=True, progress=False)
    rnnkit.fit(small(), (X, y), epochs=1, checkpoint_dir=tmp_path, progress=False)
    other = rnnkit.SequenceRegressor(1, 4)
    with pytest.raises(ValueError, match=r"cannot resume from .*: the stored weights do not "
                                         r"fit SequenceRegressor"):
        rnnkit.fit(other, (X, y), epochs=2, checkpoint_dir=tmp_path, resume=True,
                   progress=False)


def test_resume_with_nothing_stored_starts_afresh_and_says_so(tmp_path, capsys):
    X, y = sum_task()
    fresh = rnnkit.fit(small(), (X, y), epochs=2, checkpoint_dir=tmp_path / "a", progress=False)
    capsys.readouterr()
    h = rnnkit.fit(small(), (X, y), epochs=2, checkpoint_dir=tmp_path / "b", resume=True,
                   progress=True)
    assert f"fit: nothing to resume in {tmp_path / 'b'}; starting afresh" in \
        capsys.readouterr().err
    assert h["train_loss"] == fresh["train_loss"]  # the same run as without resume=True
    rnnkit.fit(small(), (X, y), epochs=3, checkpoint_dir=tmp_path / "b", resume=True,
               progress=True)
    assert "nothing to resume" not in capsys.readouterr().err


# -------------------------------------------------------------------- non-finite values
def test_non_finite_loss_skips_the_step_and_is_logged(caplog):
    X, y = sum_task()
    calls = [0]

    def flaky(p, t):
        calls[0] += 1
        loss = ((p - t) ** 2).mean()
        return loss * float("nan") if calls[0] in (3, 6) else loss

    model = small()
    with caplog.at_level(logging.WARNING, logger="rnnkit.train"):
        h = rnnkit.fit(model, (X, y), epochs=3, loss=flaky, progress=False)
    assert sum(h["skipped"]) == 2 and len(h.grad_norms) == 3 * 2 - 2
    assert "non-finite loss at epoch 1 step 2; step skipped" in caplog.text
    assert all(torch.isfinite(v).all() for v in weights(model).values())


def test_non_finite_in_a_row_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    X, y = sum_task()
    calls = [0]

    def diverging(p, t):
        calls[0] += 1
        loss = ((p - t) ** 2).mean()
        return loss + float("inf") if calls[0] > 7 else loss  # fine for 3 epochs

    model = small()
    with pytest.raises(NonFiniteError, match=r"fit: stopped after 2 non-finite losses or "
                                             r"gradients in a row \(epoch 4, step 2\); .* keeps "
                                             r"the last good epoch \(3\)") as err:
        rnnkit.fit(model, (X, y), epochs=10, loss=diverging, max_nonfinite=2,
                   checkpoint_dir=tmp_path, progress=False)
    assert len(err.value.history) == 3
    assert json.loads((tmp_path / "resume" / "state.json").read_text())["epoch"] == 3
    saved = rnnkit.load(tmp_path)
    for k, v in saved.state_dict().items():
        torch.testing.assert_close(v, model.state_dict()[k])  # no step after epoch 3 applied


def test_nonfinite_gradient_is_skipped():
    X, y = sum_task()

    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            scale = torch.sqrt(self.w - 1) if self.calls == 3 else self.w  # inf gradient
            return x.sum(1) * scale

    model = Bad()
    h = rnnkit.fit(model, (X, y), epochs=2, progress=False)
    assert sum(h["skipped"]) == 1 and torch.isfinite(model.w).all()


# ----------------------------------------------------------------------------- bad input
BAD_INPUTS = [
    (lambda X, y: (X[:, :, 0], y), r"SequenceRegressor rejects the first batch of train_data: "
                                   r"SequenceRegressor: expected x of shape \(B, T, 1\), "
                                   r"got \(32, 5\)"),
    (lambda X, y: (X, y[:-1]), r"fit: train_data: X and y must have the same number of "
                               r"samples, got 64 and 63"),
    (lambda X, y: (np.where(np.arange(64)[:, None, None] == 5, np.nan, X), y),
     r"fit: train_data: X contains 5 NaN or Inf value\(s\)"),
    (lambda X, y: (X, np.where(np.arange(64)[:, None] == 7, np.inf, y)),
     r"fit: train_data: y contains 1 NaN or Inf value\(s\)"),
    (lambda X, y: (X[:0], y[:0]), r"fit: train_data is empty \(0 samples\)"),
    (lambda X, y: (X.astype(str), y), r"fit: train_data: X must be numeric, got dtype <U"),
    (lambda X, y: X, r"fit: train_data must be \(X, y\) arrays, a Dataset, a DataLoader or an "
                     r"iterable of \(inputs, target\) batches, got ndarray"),
]


@pytest.mark.parametrize("make, message", BAD_INPUTS)
def test_bad_data_is_a_clear_error_and_writes_nothing(tmp_path, make, message):
    X, y = sum_task()
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        rnnkit.fit(small(), make(X, y), epochs=1, checkpoint_dir=run_dir, progress=False)
    assert not run_dir.exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"loss": "mse2"}, r"fit: unknown loss 'mse2'; expected one of mse, mae, huber, "
                       r"cross_entropy, bce or a callable"),
    ({"optimizer": "adamax"}, r"fit: unknown optimizer 'adamax'; expected one of adam, adamw, "
                              r"sgd, rmsprop or a torch.optim.Optimizer"),
    ({"schedule": "linear"}, r"fit: unknown schedule 'linear'"),
    ({"metrics": ["f1"]}, r"fit: unknown metric 'f1'"),
    ({"epochs": 0}, r"fit: epochs must be a positive integer, got 0"),
    ({"lr": -1}, r"fit: lr must be a positive number, got -1"),
    ({"clip_norm": 0}, r"fit: clip_norm must be a positive number, got 0"),
    ({"val_split": 1.5}, r"fit: val_split must lie in \[0, 1\), got 1.5"),
    ({"val_split": 0.2, "val_data": "x"}, r"fit: val_data must be"),
    ({"device": "tpu"}, r"unknown device 'tpu'"),
    ({"loss": "cross_entropy"}, r"loss 'cross_entropy': targets must be integer class ids"),
])
def test_bad_options_are_clear_errors_and_write_nothing(tmp_path, kwargs, message):
    X, y = sum_task()
    kwargs = dict(kwargs)
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        rnnkit.fit(small(), (X, y), epochs=kwargs.pop("epochs", 1), checkpoint_dir=run_dir,
                   progress=False, **kwargs)
    assert not run_dir.exists()


def test_target_shape_mismatch_is_not_broadcast():
    X, y = sum_task()
    with pytest.raises(ValueError, match=r"loss 'mse': prediction of shape \(32, 1\) does not "
                                         r"match target of shape \(32, 2\)"):
        rnnkit.fit(small(), (X, np.repeat(y, 2, axis=1)), epochs=1, progress=False)


# ------------------------------------------------------------------- the seeds' example
def _example():
    spec = importlib.util.spec_from_file_location("next_number", ROOT / "examples" /
                                                  "next_number.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_next_number_example_predicts_101_for_five_seeds():
    example = _example()
    predictions = [example.next_number(seed)[2] for seed in range(5)]
    assert all(abs(p - 101) <= 0.5 for p in predictions), predictions


def test_three_sample_variant_learns_the_order():
    preds = _example().three_samples(seed=0)
    assert preds[0] < preds[1] < preds[2]
    assert np.abs(preds - np.array([4, 5, 6])).max() < 1.0


def test_progress_bar_runs_on_stderr(capsys):
    X, y = sum_task(32)
    rnnkit.fit(small(), (X, y), epochs=2, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "fit" in captured.err


def test_a_log_file_s_epoch_lines_say_the_time_left(capsys, monkeypatch):
    """Lines, not a bar, when stderr is not a terminal (here: captured); every one but the
    last says the time the epochs left will take, as tqdm's bar does."""
    import rnnkit.train as train_module

    monkeypatch.setattr(train_module, "LOG_EVERY", 0.0)  # a line every epoch
    X, y = sum_task(32)
    rnnkit.fit(small(), (X, y), epochs=3, progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fit:")]
    assert len(lines) == 3
    assert all(re.fullmatch(r"fit: epoch [12]/3 loss \S+ \(\d+\.\d s; \d\d:\d\d left\)", line)
               for line in lines[:2]), lines
    assert re.fullmatch(r"fit: epoch 3/3 loss \S+ \(\d+\.\d s\)", lines[2]), lines[2]
