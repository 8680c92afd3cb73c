"""Training by backpropagation through time: ``fit``, ``predict``, ``evaluate``.

One visible loop with a few hooks, in the spirit of minGPT's trainer and Lightning Fabric's
examples: read it top to bottom to know what a step does. Truncated BPTT for stateful streams
follows char-rnn / Zaremba et al. (2014): the state is carried across consecutive chunks and
detached at each chunk boundary, so gradients reach back at most one chunk.

The one obvious way is the function ``rnnkit.fit(model, data, ...)``; models stay plain
``nn.Module``s with no ``.fit`` of their own. Helpers live in ``rnnkit.training``.
"""

from __future__ import annotations

import csv
import inspect
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import clip_grad_value_, clip_grads_with_norm_, get_total_norm
from torch.optim.lr_scheduler import ReduceLROnPlateau
from tqdm.auto import tqdm

from .checkpoint import (
    another_rank,
    atomic_write,
    check_folder,
    plain_numbers,
    registered_models,
    save,
    writing,
)
from .runtime import check_seed, evaluating, resolve_device, seed_everything
from .training.data import (
    Arrays,
    all_batches,
    as_tensor,
    call_model,
    check_pair,
    coerce,
    detach,
    first_batch,
    length,
    loader_inputs,
    pieces,
    split_tail,
    to_device,
    try_first_batch,
)
from .training.distributed import start as start_distributed
from .training.loss_view import loss_units, real_steps
from .training.losses import MetricSum, get_loss, get_metrics
from .training.options import OPTIMIZERS, SCHEDULES, check_options, make_optimizer, make_schedule
from .training.resume_check import check_same_run
from .training.start_notice import say_pending
from .training.state import check_same_settings, read_state, restore, set_rng_state, write_epoch
from .validate import flag, non_negative_float, positive_int

__all__ = ["fit", "predict", "evaluate", "History", "NonFiniteError", "OPTIMIZERS", "SCHEDULES"]

log = logging.getLogger("rnnkit.train")
LOG_EVERY = 10.0  # seconds between two epoch lines when stderr is not a terminal
_FINAL_STOPS = ("early_stopping", "callback")  # a resumed run that ended this way stays ended


@dataclass
class History:
    """Per-epoch rows (``history["train_loss"]`` is a column) and every step's gradient norm."""

    rows: list[dict] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)  # global norm before clipping, per step
    stop_reason: str | None = None  # None | "early_stopping" | "time_budget" | "callback"
    best_epoch: int | None = None  # epoch with the lowest monitored loss
    # a resume of a run that had already finished (fit's own, or an application's): nothing
    # was trained (the verbs then say so once instead of reporting a training); not written
    # with the history
    already_finished: bool = False

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: str | int):
        return self.rows[key] if isinstance(key, int) else [r.get(key) for r in self.rows]

    def to_dict(self) -> dict:
        return {"rows": self.rows, "grad_norms": self.grad_norms,
                "stop_reason": self.stop_reason, "best_epoch": self.best_epoch}

    def write(self, folder: str | os.PathLike) -> None:
        """``history.json`` (everything) and ``history.csv`` (the rows), atomically; by
        rank 0 alone in a torch.distributed group (every rank holds the same history)."""
        if another_rank():
            return
        folder = Path(folder)  # a str was "'str' / 'str'"
        atomic_write(folder / "history.json",
                     lambda p: p.write_text(json.dumps(self.to_dict(), indent=1), "utf-8"))
        keys = list(dict.fromkeys(k for r in self.rows for k in r))

        def write_csv(p: Path) -> None:
            with p.open("w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=keys)
                w.writeheader()
                w.writerows(self.rows)
        atomic_write(folder / "history.csv", write_csv)

    def plot(self, path: str | os.PathLike) -> Path:
        """The loss curves (and metrics) per epoch as a PNG at ``path``; returns ``path``.
        Under torchrun only rank 0 writes (as ``rnnkit.save``)."""
        from .training.plot import plot_history

        return Path(path) if another_rank() else plot_history(self, path)


class NonFiniteError(RuntimeError):
    """Training stopped after ``max_nonfinite`` non-finite losses or gradients in a row."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


def fit(model: nn.Module, train_data, *, val_data=None, val_split: float = 0.0,
        epochs: int = 10, batch_size: int = 32, loss="mse", optimizer="adam", lr: float = 1e-3,
        weight_decay: float = 0.0, schedule=None, clip_norm: float | None = None,
        clip_value: float | None = None, early_stopping: int | None = None,
        min_delta: float = 0.0, restore_best: bool = True, checkpoint_dir=None,
        resume: bool = False, callbacks=(), seed: int | None = 0, device="auto",
        progress: bool = True, tbptt: int | None = None, shuffle: bool = True,
        max_nonfinite: int = 5, time_budget: float | None = None, metrics=(),
        extras: dict | None = None, monitor=None, mode: str = "min",
        save_best=None, distributed="auto") -> History:
    """Train ``model`` on ``train_data`` by backpropagation through time; returns a History.

    Data: ``(X, y)`` NumPy arrays / tensors (``X`` may be a tuple or dict of arrays, e.g.
    ``(x, lengths)``), a ``Dataset`` yielding ``(inputs, target)``, or a ``DataLoader``. A
    batch's Tensor ``inputs`` is called as ``model(inputs)``, a tuple as ``model(*inputs)``, a
    dict as ``model(**inputs)``. The model returns a Tensor or a tuple whose first element is
    the prediction. Arrays are checked before anything runs or is written (same sample count,
    not empty, numeric, finite), and the model is tried on the first batch so that a wrong
    rank or shape is a ``ValueError`` naming it.

    Args:
        val_data / val_split: validation data, or the last ``val_split`` share of arrays.
        loss: "mse" | "mae" | "huber" | "cross_entropy" ((B, C) with (B,), or (B, T, C) with
            (B, T); target -100 ignored) | "bce" (logits) | callable(pred, target).
        optimizer: "adam" | "adamw" | "sgd" | "rmsprop" (torch.optim, with ``lr`` and
            ``weight_decay``) or an Optimizer instance (built after moving the model).
        schedule: None | "cosine" (to 0 over ``epochs``) | "step" (x0.1 every epochs//3) |
            "plateau" (x0.5 after 2 epochs without improvement) | a scheduler instance;
            stepped once per epoch (plateau on the monitored loss).
        clip_norm / clip_value: clip the global gradient norm / each gradient value. The
            global norm is recorded every step (``history.grad_norms``); rows report how often
            clipping fired (``clipped``, a share of steps).
        monitor / mode: what picks the best epoch: None (val_loss, or train_loss without
            validation), a key of the epoch's row ("val_accuracy", ...), or a callable
            ``monitor(model) -> float`` run after each epoch (its value joins the row under
            the function's name, e.g. a ``def val_bleu(model)``); ``mode`` "min" or "max".
            Ties go to the lower loss (val_loss, else train_loss).
        early_stopping: patience in epochs without a better epoch: the monitored value
            improving by more than ``min_delta``, or (a tie) the same value at a lower loss;
            so a held-out accuracy stuck at its best while the loss falls does not stop a run
            (``rnnkit.apps.translate`` counts only a higher BLEU for its own patience).
        restore_best: with ``early_stopping``, ``monitor`` or ``save_best``, the best epoch's
            weights are in the model when ``fit`` returns.
        save_best: a checkpoint folder that holds the best epoch's model (``rnnkit.save``, with
            ``extras`` plus ``epoch`` and the monitored value), rewritten when it improves. It
            may be ``checkpoint_dir``: then the model there is the best, not the last.
        checkpoint_dir: after every epoch, writes the model (``rnnkit.save``, registered models
            only, with ``extras``), ``history.csv`` / ``history.json`` and ``resume/``.
        resume: continue the run stored in ``checkpoint_dir`` exactly (weights, optimizer,
            scheduler, RNG states, epoch, history); starts afresh when none is stored
            (saying so on stderr, even when ``progress`` is off).
        callbacks: ``callback(event, info)`` for events "batch_end" (info: epoch, step, loss,
            grad_norm, clipped, model), "epoch_end" (the row's keys, model, history) and
            "train_end"; returning True from "epoch_end" stops training.
        seed: seeds Python, NumPy, torch and the shuffling generator (None: leave them).
            Afterwards the global generators go on from a seed drawn from their state before
            the call, so models built after one fit and the next differ (with every fit
            re-seeding them to ``seed``, a loop ``m = Model(); fit(m)`` built the same
            weights every time after the first), and a seeded script stays repeatable.
            The model's initial weights were drawn when it was built, from torch's global
            generator: call ``torch.manual_seed`` before building it for a repeatable run.
        device: "auto" (CUDA when present), "cpu", "cuda:1"...; the model is moved there.
        progress: a tqdm bar over steps; False when quiet.
        tbptt: k for stateful streams: ``train_data`` yields consecutive chunks ``(x, y)`` of B
            parallel streams in order (arrays ``X`` (B, N, ...) are cut into k-step chunks;
            longer chunks are cut too). The model is called ``model(x, state) -> (pred,
            state)``; the state is carried across chunks, detached at each chunk boundary and
            reset to None at each epoch start. Validation is stateful the same way.
        max_nonfinite: a non-finite loss or gradient skips the step (logged, counted in
            ``skipped``); this many in a row raise ``NonFiniteError``, and ``checkpoint_dir``
            keeps the last good epoch.
        time_budget: seconds; training stops cleanly after the step that exceeds it. That
            epoch ends there (its row counts the steps taken) and is stored as done: resuming
            goes on from the next epoch, so a run stopped by its budget and resumed is not
            the run that was never stopped (a kill and ``resume`` is); to train in exact
            chunks, stop at an epoch's end (``epochs``) instead.
        metrics: names ("accuracy", "mae", "mse", "rmse") or callables(pred, target) -> float,
            reported per epoch for training and validation (``val_`` prefix).
        extras: a JSON-able dict saved with the model checkpoint
            (``rnnkit.checkpoint.load_extras``).
        distributed: "auto" (data-parallel with DistributedDataParallel when launched by
            ``torchrun`` / ``rnnkit launch`` with WORLD_SIZE > 1), True (must be so launched)
            or False. ``batch_size`` is then the global batch, split across processes: N
            processes x ``batch_size/N`` rows take the steps one process takes with
            ``batch_size``; tbptt streams are split the same way. Rank 0 alone writes the
            checkpoint and history; see ``rnnkit.training.distributed``.

    Returns:
        ``History``: rows with epoch, train_loss, val_loss (None without validation),
        metrics, lr, grad_norm_mean, grad_norm_max, clipped, skipped, steps, seconds.

    Before the first epoch of a fresh run, a model with an ``adapt(inputs, target)`` method and
    a false ``adapted`` attribute is given the training data once (all of it for arrays, the
    first 100 batches otherwise), e.g. ``SequenceRegressor(standardize=True)``'s statistics.

    Example:
        >>> model = rnnkit.SequenceRegressor(1, 10, cell="rnn", activation="relu")
        >>> history = rnnkit.fit(model, (X, y), epochs=200, progress=False)
        >>> rnnkit.predict(model, [[[98.0], [99.0], [100.0]]])
    """
    # 1. every option and the data are checked before the model or the disk is touched
    if not isinstance(model, nn.Module):  # was "'function' object has no attribute 'to'"
        raise ValueError(f"fit: model must be a torch.nn.Module, got {type(model).__name__}")
    check_seed(seed, "fit")
    # where the global generators go on from after training (see ``seed``): drawn from
    # their state now, before this call seeds them
    carry_on = None if seed is None else int(torch.randint(0, 2**62, (1,)))
    if callable(callbacks):  # one function: a list of one (was "not iterable")
        callbacks = [callbacks]
    # resume="no" resumed and shuffle="no" shuffled (bool("no") is True)
    resume, shuffle = flag("resume", resume, "fit"), flag("shuffle", shuffle, "fit")
    restore_best, progress = flag("restore_best", restore_best, "fit"), flag("progress",
                                                                             progress, "fit")
    # NumPy integers are integers (np.int64(4) was "must be a positive integer, got 4")
    epochs, batch_size = positive_int("epochs", epochs, "fit"), positive_int("batch_size",
                                                                             batch_size, "fit")
    max_nonfinite = positive_int("max_nonfinite", max_nonfinite, "fit")
    early_stopping = None if early_stopping is None else positive_int(
        "early_stopping", early_stopping, "fit")
    tbptt = None if tbptt is None else positive_int("tbptt", tbptt, "fit")
    check_options(epochs, batch_size, lr, clip_norm, clip_value, early_stopping, tbptt,
                   max_nonfinite, time_budget, val_split, callbacks, resume, checkpoint_dir)
    # min_delta NaN stopped after one epoch, -1 never; weight_decay "0.1" was a TypeError
    # inside the optimizer; extras that JSON cannot hold failed at the first epoch's save,
    # after training, leaving an empty checkpoint_dir
    weight_decay = non_negative_float("weight_decay", weight_decay, "fit")
    min_delta = non_negative_float("min_delta", min_delta, "fit")
    if extras is not None:
        if not isinstance(extras, dict):
            raise ValueError(f"fit: extras must be a dict, got {type(extras).__name__}")
        extras = plain_numbers(extras)
        try:
            json.dumps(extras, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"fit: extras must be JSON-serialisable: {e}") from None
    loss_fn, metric_fns = get_loss(loss), get_metrics(metrics)
    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(0 if seed is None else seed)  # shuffling, saved on resume
    f64 = _is_float64(model)  # float64 data stays float64 for a float64 model
    train = coerce(train_data, "fit: train_data", batch_size=batch_size,
                   shuffle=shuffle and not tbptt, generator=gen, tbptt=tbptt, keep_float64=f64)
    val = None if val_data is None else coerce(val_data, "fit: val_data", batch_size=batch_size,
                                               shuffle=False, generator=None, tbptt=tbptt,
                                               keep_float64=f64)
    if val_split:
        if val is not None:
            raise ValueError("fit: pass val_data or val_split, not both")
        train, val = split_tail(train, val_split, gen)
    run_dir = check_folder(checkpoint_dir, "fit: checkpoint_dir") if checkpoint_dir is not None \
        else None
    best_dir, monitor_name = _check_monitor(monitor, mode, save_best, model)
    keep_best = restore_best and (early_stopping is not None or monitor is not None
                                  or best_dir is not None)
    run, dev = start_distributed(distributed, dev)  # one process, or one of several
    model.to(dev)
    try_first_batch(model, train, loss_fn, dev, tbptt, float64=f64)
    if val is not None:  # a wrong val_data failed only after the first epoch's training
        try_first_batch(model, val, loss_fn, dev, tbptt, "val_data", float64=f64)
    opt = make_optimizer(optimizer, model, lr, weight_decay)
    sched = make_schedule(schedule, opt, epochs)
    params = [p for g in opt.param_groups for p in g["params"]]
    generators = {"shuffle": gen}
    if isinstance(train, torch.utils.data.DataLoader):  # and a sampler's own, saved on resume
        for name, owner in (("loader", train), ("sampler", train.sampler),
                            ("batch_sampler", train.batch_sampler)):
            if isinstance(getattr(owner, "generator", None), torch.Generator):
                generators[name] = owner.generator

    # 2. a fresh start, or the stored run continued exactly
    history, best_value, best_weights, bad_epochs, start = History(), math.inf, None, 0, 0
    best_loss = math.inf  # breaks ties of the monitored value
    stored = read_state(run_dir) if resume and run_dir is not None else None
    if resume and run_dir is not None and stored is None and run.is_main:
        # a restarted group (torchrun --max-restarts) killed before its first epoch lands here;
        # said even when quiet: the resume asked for does not happen
        print(f"fit: nothing to resume in {run_dir}; starting afresh", file=sys.stderr,
              flush=True)
    settings = _settings(optimizer, lr, weight_decay, schedule, batch_size, loss,
                         clip_norm, clip_value, tbptt, shuffle, train)
    if stored is not None:
        check_same_run(run_dir, extras, skip=(monitor_name,))  # not other data or settings
        check_same_settings(run_dir, stored, settings)  # nor other lr, schedule, batches...
        history = History(**stored["history"])
        if stored["epoch"] > epochs and history.stop_reason not in _FINAL_STOPS:
            # was silent: nothing trained, and a model of more epochs saved as of fewer
            raise ValueError(f"fit: the run in {run_dir} has trained {stored['epoch']} epochs, "
                             f"more than epochs={epochs}; resume with at least "
                             f"{stored['epoch']}, or start afresh without resuming")
        best_value, best_weights = stored["best_value"], stored["best_weights"]
        best_value, best_loss = best_value if isinstance(best_value, (tuple, list)) \
            else (best_value, math.inf)
        bad_epochs, start = stored["bad_epochs"], stored["epoch"]
        restore(run_dir, model, opt, sched, stored)
        _replan_cosine(sched, opt, epochs)
        set_rng_state(stored["rng"], generators)
        if history.stop_reason in _FINAL_STOPS:
            start = epochs
        history.stop_reason = None if start < epochs else history.stop_reason
        history.already_finished = start >= epochs  # nothing left to train: say so to callers
    else:
        if callable(getattr(model, "adapt", None)) and getattr(model, "adapted", True) is not True \
                and not bool(model.adapted):
            model.adapt(*all_batches(train, dev))  # e.g. standardisation statistics
        seed_everything(seed)
        gen.manual_seed(0 if seed is None else seed)

    # one writer per run_dir for the whole run (checkpoint.writing): a second one is refused
    writer = writing(run_dir, "fit").acquire() if run_dir is not None and run.is_main else None
    try:
        # 3. the loop (under torchrun: this rank's share of every batch, the model in DDP)
        train, val = run.shard(train), run.shard(val, train=False)
        net = run.wrap(model, opt)
        run.seed(seed, start)
        t_begin, steps_per_epoch = time.perf_counter(), length(train)
        # a log file (or a notebook) gets lines, not a bar: the first and the last epoch, and
        # between them at most one every LOG_EVERY seconds (200 short epochs: not 200 lines)
        lines = progress and not _is_terminal(sys.stderr)
        last_line = None
        bar = tqdm(total=(epochs - start) * steps_per_epoch if steps_per_epoch else None,
                   disable=not progress or lines or start >= epochs or not run.is_main, unit="step",
                   desc="fit", leave=False)
        nonfinite_run, trained_any = 0, False
        if run.is_main:
            say_pending()  # e.g. the CLI's "this run replaces the model in DIR"
        for epoch in range(start, epochs):
            model.train()
            run.epoch(epoch)
            t0, state = time.perf_counter(), None  # tbptt: every epoch starts from a zero state
            loss_sum, n_sum, norms, clipped, skipped = 0.0, 0, [], 0, 0
            sums = MetricSum(metric_fns)
            for step, (inputs, target) in enumerate(pieces(train, tbptt)):
                inputs, target = to_device(inputs, dev, f64), to_device(target, dev, f64)
                if tbptt:
                    pred, rest = run.forward(net, inputs, state)
                    state = detach(rest[0]) if rest else None  # truncate: no gradient past here
                else:
                    pred, _ = run.forward(net, inputs)
                pred, target = real_steps(model, pred, target, inputs)
                loss_t = loss_fn(*loss_units(model, pred, target))
                loss_v, n, finite = run.step(loss_t, target, loss_fn)  # summed over processes
                opt.zero_grad(set_to_none=True)
                norm, bad = None, "loss"
                if finite:
                    run.backward(loss_t)
                    norm = float(get_total_norm([p.grad for p in params if p.grad is not None]))
                    bad = None if math.isfinite(norm) else "gradient"
                if bad:  # skip the step: weights and optimizer state stay as they were
                    skipped, nonfinite_run, state = skipped + 1, nonfinite_run + 1, None
                    log.warning("fit: non-finite %s at epoch %d step %d; step skipped (%d in "
                                "a row)", bad, epoch + 1, step + 1, nonfinite_run)
                    if nonfinite_run >= max_nonfinite:
                        bar.close()
                        kept = (f"; {run_dir} keeps the last good epoch ({len(history)})"
                                if run_dir is not None and len(history) else "")
                        raise NonFiniteError(
                            f"fit: stopped after {nonfinite_run} non-finite losses or gradients in "
                            f"a row (epoch {epoch + 1}, step {step + 1}){kept}; lower lr, set "
                            "clip_norm, or check the data", history)
                    continue
                nonfinite_run = 0
                fired = bool(clip_norm is not None and norm > clip_norm)
                if fired:
                    clip_grads_with_norm_(params, clip_norm, torch.tensor(norm))
                if clip_value is not None:
                    fired |= any(bool(p.grad.abs().max() > clip_value) for p in params
                                 if p.grad is not None)
                    clip_grad_value_(params, clip_value)
                opt.step()
                trained_any = True
                loss_sum, n_sum, clipped = loss_sum + loss_v * n, n_sum + n, clipped + fired
                norms.append(norm)
                run.update(sums, pred, target)
                bar.update(1)
                _emit(callbacks, "batch_end", {"epoch": epoch + 1, "step": step + 1, "loss": loss_v,
                                               "grad_norm": norm, "clipped": fired, "model": model})
                if time_budget is not None and run.any(time.perf_counter() - t_begin > time_budget):
                    history.stop_reason = "time_budget"
                    break

            # end of epoch: validate, record, schedule, stop early, call back, checkpoint
            steps = len(norms) + skipped
            if skipped and not trained_any:  # fewer steps than max_nonfinite, none of them taken
                bar.close()
                raise NonFiniteError(
                    f"fit: every step so far had a non-finite loss or gradient ({skipped} in "
                    f"epoch {epoch + 1}); nothing was trained: lower lr, set clip_norm, or check "
                    "the data", history)
            row = {"epoch": epoch + 1, "train_loss": loss_sum / n_sum if n_sum else math.nan,
                   **run.result(sums)}
            row["val_loss"] = None
            if val is not None:
                v = _evaluate(model, val, loss_fn, metric_fns, dev, tbptt, run)
                row.update({"val_loss": v.pop("loss"), **{f"val_{k}": x for k, x in v.items()}})
            row.update(lr=opt.param_groups[0]["lr"],
                       grad_norm_mean=float(np.mean(norms)) if norms else math.nan,
                       grad_norm_max=float(np.max(norms)) if norms else math.nan,
                       clipped=clipped / steps if steps else 0.0, skipped=skipped, steps=steps,
                       seconds=round(time.perf_counter() - t0, 4))
            history.rows.append(row)
            history.grad_norms.extend(norms)
            loss_now = row["val_loss"] if val is not None else row["train_loss"]
            value = run.agree(_monitored(monitor, monitor_name, row, model, loss_now))  # rank 0's
            key = value if mode == "min" else -value  # lower is better
            key = math.inf if math.isnan(key) else key  # NaN never counts as an improvement
            if isinstance(sched, ReduceLROnPlateau):
                sched.step(key)
            elif sched is not None:
                sched.step()
            if key < best_value - min_delta or (key == best_value and loss_now < best_loss):
                best_value, best_loss, history.best_epoch, bad_epochs = key, loss_now, epoch + 1, 0
                if keep_best:
                    best_weights = {k: t.detach().cpu().clone()
                                    for k, t in model.state_dict().items()}
                if best_dir is not None and run.is_main:
                    save(_savable(model), best_dir, extras={**(extras or {}), "epoch": epoch + 1,
                                                           monitor_name: value})
            else:
                bad_epochs += 1
            if early_stopping is not None and bad_epochs >= early_stopping:
                history.stop_reason = "early_stopping"
            if run.any(any(r is True for r in _emit(callbacks, "epoch_end",
                                            {**row, "model": model, "history": history}))):
                history.stop_reason = "callback"
            done = history.stop_reason is not None or epoch + 1 == epochs
            if done and best_weights is not None and history.best_epoch != epoch + 1:
                model.load_state_dict(best_weights)  # restore_best
            if run_dir is not None and run.is_main:
                write_epoch(run_dir, model, opt, sched, history, generators, extras, epoch + 1,
                            (best_value, best_loss), best_weights, bad_epochs,
                            save_model=best_dir is None or best_dir.resolve() != run_dir.resolve(),
                            settings=settings)
            summary = f"epoch {epoch + 1}/{epochs} loss {row['train_loss']:.4g}" + (
                f" val {row['val_loss']:.4g}" if row["val_loss"] is not None else "")
            bar.set_postfix_str(summary)
            now = time.perf_counter()
            if lines and run.is_main and (last_line is None or done or
                                          now - last_line >= LOG_EVERY):
                left = "" if done else "; " + tqdm.format_interval(  # as the bar's "<mm:ss"
                    (now - t_begin) / (epoch + 1 - start) * (epochs - epoch - 1)) + " left"
                print(f"fit: {summary} ({row['seconds']:.1f} s{left})", file=sys.stderr,
                      flush=True)
                last_line = now
            if history.stop_reason is not None:
                break
        bar.close()
    finally:  # on any exception too, not only NonFiniteError: no lock is left held
        writer and writer.release()
    run.finish()
    _emit(callbacks, "train_end", {"model": model, "history": history})
    seed_everything(carry_on)
    return history


# ------------------------------------------------------------------------------ helpers
def _check_monitor(monitor, mode, save_best, model):
    """``(save_best folder or None, the monitored value's name)``, checked up front."""
    if mode not in ("min", "max"):
        raise ValueError(f"fit: mode must be 'min' or 'max', got {mode!r}")
    if monitor is None:
        name = "loss"
    elif callable(monitor):
        name = getattr(monitor, "__name__", "monitor")
        name = "monitor" if name.startswith("<") else name
    elif isinstance(monitor, str) and monitor:
        name = monitor
    else:
        raise ValueError(f"fit: monitor must be a row key or a callable, got {monitor!r}")
    best_dir = None
    if save_best is not None:
        best_dir = check_folder(save_best, "fit: save_best")
        if not isinstance(_savable(model), tuple(registered_models().values())):
            raise ValueError(f"fit: save_best needs a registered model (rnnkit.register_model), "
                             f"got {type(model).__name__}")
    return best_dir, name


def _settings(optimizer, lr, weight_decay, schedule, batch_size, loss, clip_norm,
              clip_value, tbptt, shuffle, train) -> dict:
    """fit's own settings that a resumed run must share, as JSON values. Optimizers,
    schedules and losses given as objects are compared by kind only ("a function", "an
    SGD"): a function's name says nothing of what it computes, but "mse" then a callable
    is another loss (it passed before). Not ``epochs``: a resumed run may be given more
    (``resume_check.MAY_CHANGE``)."""
    def kind(value):
        if isinstance(value, str):
            return value
        return "a function" if inspect.isfunction(value) or inspect.ismethod(value) \
            else f"a {type(value).__name__}"

    out = {"optimizer": kind(optimizer), "loss": kind(loss)}
    if schedule is None or isinstance(schedule, str):
        out["schedule"] = schedule
    if not isinstance(optimizer, torch.optim.Optimizer):  # an instance carries its own
        out.update(lr=float(lr), weight_decay=float(weight_decay))
    out.update(batch_size=batch_size, tbptt=tbptt, shuffle=bool(shuffle), clip_norm=clip_norm,
               clip_value=clip_value)
    if isinstance(train, Arrays):
        out["train_samples"] = train.n
    return out


def _savable(model: nn.Module) -> nn.Module:
    """The registered model inside a wrapper that keeps it as ``.module`` (autocast, DDP)."""
    while type(model) not in registered_models().values() and isinstance(
            getattr(model, "module", None), nn.Module):
        model = model.module
    return model


def _monitored(monitor, name, row, model, loss_now) -> float:
    """The value that picks the best epoch, as a float."""
    if monitor is None:
        value = loss_now
    elif callable(monitor):
        value = row[name] = float(monitor(model))
    else:
        value = row.get(monitor)
        if value is None:
            raise ValueError(f"fit: monitor {monitor!r} is not in the epoch's row; it has "
                             f"{', '.join(k for k, v in row.items() if v is not None)}")
    return float(value)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _emit(callbacks, event, info) -> list:
    return [cb(event, info) for cb in callbacks]


def _evaluate(model, batches, loss_fn, metric_fns, dev, tbptt, run=None) -> dict:
    loss_sum, n_sum, state, sums = 0.0, 0, None, MetricSum(metric_fns)
    f64 = _is_float64(model)
    with evaluating(model):
        for inputs, target in pieces(batches, tbptt):
            inputs, target = to_device(inputs, dev, f64), to_device(target, dev, f64)
            if tbptt:
                pred, rest = call_model(model, inputs, state)
                state = rest[0] if rest else None
            else:
                pred, _ = call_model(model, inputs)
            pred, target = real_steps(model, pred, target, inputs)
            loss_sum += float(loss_fn(*loss_units(model, pred, target))) * len(target)
            n_sum += len(target)
            sums.update(pred, target)
    if run is not None:  # the shares of all processes
        loss_sum, n_sum = run.sum(loss_sum, n_sum)
        return {"loss": loss_sum / n_sum if n_sum else math.nan, **run.result(sums)}
    return {"loss": loss_sum / n_sum if n_sum else math.nan, **sums.result()}


def _is_float64(model) -> bool:
    """Whether the model computes in float64 (its first floating parameter): its float64
    data is then kept as it is (rounded to float32 first, a .double() model's predictions
    were off by ~1e-9 from model(x))."""
    p = next((p for p in model.parameters() if p.is_floating_point()), None) \
        if isinstance(model, nn.Module) else None
    return p is not None and p.dtype == torch.float64


def _model_device(model, device, owner: str):
    if not isinstance(model, nn.Module):  # was "'function' object has no attribute ..."
        raise ValueError(f"{owner}: model must be a torch.nn.Module, got {type(model).__name__}")
    if device is not None:
        return resolve_device(device)
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def evaluate(model: nn.Module, data, *, loss="mse", metrics=(), batch_size: int = 256,
             device=None, tbptt: int | None = None) -> dict[str, float]:
    """Mean loss and metrics of ``model`` on ``data`` (as for ``fit``): ``{"loss": ...}``."""
    loss_fn, metric_fns = get_loss(loss, "evaluate"), get_metrics(metrics, "evaluate")
    batch_size = positive_int("batch_size", batch_size, "evaluate")  # 0 was torch's split error
    if tbptt is not None:  # 0 ran without tbptt, -1 was torch's split error
        tbptt = positive_int("tbptt", tbptt, "evaluate")
    dev = _model_device(model, device, "evaluate")
    batches = coerce(data, "evaluate: data", batch_size=batch_size, shuffle=False,
                     generator=None, tbptt=tbptt, keep_float64=_is_float64(model))
    check_pair(first_batch(pieces(batches, tbptt)), "evaluate: data")
    model.to(dev)
    return _evaluate(model, batches, loss_fn, metric_fns, dev, tbptt)


def _replan_cosine(sched, opt, epochs: int) -> None:
    """A resumed run given more ``epochs`` (allowed): the cosine schedule planned over the
    first total would sit at 0 for an epoch and then rise again, so it is planned over the
    new total, the learning rate set to that curve's value at the epoch reached (the same
    run resumed with the same epochs is untouched: exact resume)."""
    if not isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingLR) or \
            sched.T_max == epochs:
        return
    sched.T_max = epochs
    at = min(sched.last_epoch, epochs)
    for group, base in zip(opt.param_groups, sched.base_lrs, strict=True):
        group["lr"] = sched.eta_min + (base - sched.eta_min) * (1 + math.cos(math.pi * at /
                                                                            epochs)) / 2
    sched._last_lr = [g["lr"] for g in opt.param_groups]


def predict(model: nn.Module, X, *, batch_size: int = 256, device=None):
    """The model's predictions for ``X``, batched, in eval mode without gradients.

    ``X``: an array / tensor / nested list of inputs, a tuple or dict of them (``(x,
    lengths)``), or a Dataset / DataLoader yielding ``inputs``, ``(inputs,)`` or ``(inputs,
    target)`` (Keras' reading: a pair is inputs and target, so lengths go as ``((x,
    lengths),)``).
    Returns a NumPy array, or a CPU tensor when ``X`` is a tensor (or tuple/dict of them).
    ``device``: None keeps the model where it is.
    """
    batch_size = positive_int("batch_size", batch_size, "predict")  # 0 was torch's split error
    dev = _model_device(model, device, "predict")
    f64 = _is_float64(model)  # a float64 model's float64 data is not rounded to float32
    if isinstance(X, (torch.utils.data.Dataset, torch.utils.data.DataLoader)):
        loader = X if isinstance(X, torch.utils.data.DataLoader) else \
            torch.utils.data.DataLoader(X, batch_size=batch_size)
        batches, as_numpy = loader_inputs(loader, model), True
    else:
        leaves = list(X.values()) if isinstance(X, dict) else list(X) if isinstance(X, tuple) \
            else [X]
        as_numpy = not all(isinstance(t, Tensor) for t in leaves)
        conv = {k: as_tensor(v, f"predict: X[{k!r}]", f64) for k, v in X.items()} if isinstance(
            X, dict) else tuple(as_tensor(v, "predict: X", f64) for v in X) if isinstance(
            X, tuple) else as_tensor(X, "predict: X", f64)
        sizes = [len(t) for t in (conv.values() if isinstance(conv, dict) else conv
                                  if isinstance(conv, tuple) else [conv])]
        if len(set(sizes)) > 1:  # (x, lengths) of different lengths: an IndexError deep down
            raise ValueError(f"predict: the inputs in X have different numbers of samples: "
                             f"{sizes}")
        n = sizes[0]
        if n == 0:
            raise ValueError("predict: X is empty (0 samples)")
        dummy = torch.zeros(n)
        batches = (b for b, _ in Arrays(conv, dummy, batch_size, False, None))
    with evaluating(model.to(dev)):
        outs = [call_model(model, to_device(b, dev, f64))[0].cpu() for b in batches]
    if not outs:  # an empty Dataset or DataLoader: torch.cat's "expected a non-empty list"
        raise ValueError("predict: X is empty (0 samples)")
    out = torch.cat(outs)
    if as_numpy and out.dtype in (torch.bfloat16, torch.float16):
        out = out.float()  # NumPy has no bfloat16 (and float16 loses nothing as float32)
    return out.numpy() if as_numpy else out
