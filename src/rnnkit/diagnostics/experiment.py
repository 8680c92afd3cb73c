"""Cells compared on a long-dependency task: train with ``rnnkit.fit``, trace, diagnose.

The experiment behind ``rnnkit diagnose --task``, ``benchmarks/long_range.py`` and the demo.
Each cell gets the same model shape (``SequenceRegressor`` with the last state for the adding
problem, ``SequenceTagger`` for the copy task), the same seeded stream of fresh batches
(``TaskStream``: one "epoch" is ``eval_every`` optimizer steps) and the same fixed test set.
``fit``'s ``batch_end`` callback gives the training loss and the global gradient norm before
clipping at every step; its validation pass every epoch gives the test loss, from which
"steps to solve" (first evaluation below the task's threshold) is read.

Cells (``CELLS``): ``rnn-tanh`` (Elman), ``rnn-relu``, ``irnn`` (ReLU with identity recurrent
weights, Le et al. 2015), ``lstm``, ``gru``, each with the library's default initialisation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from torch import nn
from torch.utils.data import DataLoader

from ..data.tasks import Task, TaskStream, get_task
from ..models import SequenceRegressor, SequenceTagger
from ..runtime import check_memory, seed_everything
from ..train import NonFiniteError, fit
from ..validate import positive_int
from .analysis import Diagnosis, analyze

__all__ = ["CELLS", "RunResult", "parse_cells", "build_model", "train_on_task",
           "compare_cells", "exploding_gradients"]

# cell name -> the models' cell and activation arguments
CELLS: dict[str, dict] = {
    "rnn-tanh": {"cell": "rnn", "activation": "tanh"},
    "rnn-relu": {"cell": "rnn", "activation": "relu"},
    "irnn": {"cell": "irnn"},
    "lstm": {"cell": "lstm"},
    "gru": {"cell": "gru"},
}


def parse_cells(spec: str | Sequence[str]) -> list[str]:
    """``"rnn-tanh,lstm"`` -> ["rnn-tanh", "lstm"], with a clear error for unknown names."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n]
    unknown = [n for n in names if n not in CELLS]
    if unknown or not names:
        got = ", ".join(repr(n) for n in unknown) if unknown else "nothing"
        raise ValueError(f"unknown cell(s) {got}; expected a comma-separated list of "
                         f"{', '.join(CELLS)}")
    return names


def build_model(cell: str, task: str | Task, hidden_size: int = 64,
                num_layers: int = 1) -> nn.Module:
    """The task's model for a cell: ``SequenceRegressor`` (adding) or ``SequenceTagger`` (copy).

    Example:
        >>> build_model("lstm", "adding", 16)(torch.randn(4, 30, 2)).shape
        torch.Size([4, 1])
    """
    task = get_task(task) if isinstance(task, str) else task
    parse_cells([cell])
    cls = SequenceTagger if task.per_step else SequenceRegressor
    return cls(task.input_size, hidden_size, task.output_size, num_layers=num_layers,
               **CELLS[cell])


@dataclass
class RunResult:
    """One training run: per-step traces, periodic test loss, and the verdict."""

    label: str
    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)  # training batch loss per step
    grad_norm: list[float] = field(default_factory=list)  # before clipping, per step
    clipped: list[bool] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    solved_at: int | None = None  # first evaluation step with test loss below the threshold
    diverged_at: int | None = None  # fit gave up on non-finite losses/gradients here
    skipped: int = 0  # steps fit skipped for a non-finite loss or gradient
    planned: int = 0  # the steps asked for (a time budget may end the run before them)
    seconds: float = 0.0
    initial: Diagnosis | None = None
    final: Diagnosis | None = None
    model: nn.Module | None = field(default=None, repr=False)  # the trained model

    @property
    def final_test_loss(self) -> float:
        return self.test_loss[-1] if self.test_loss else float("nan")

    @property
    def trained(self) -> int:
        """Optimizer steps taken (skipped ones included)."""
        return self.step[-1] if self.step else 0

    def curves(self) -> dict:
        return {"step": self.step, "loss": self.loss, "grad_norm": self.grad_norm,
                "eval_step": self.eval_step, "test_loss": self.test_loss}

    def to_dict(self) -> dict:
        out = {"label": self.label, "final_test_loss": self.final_test_loss,
               "solved_at": self.solved_at, "diverged_at": self.diverged_at,
               "skipped": self.skipped, "steps_trained": self.trained,
               "steps_planned": self.planned, "seconds": round(self.seconds, 2),
               "clipped_share": float(np.mean(self.clipped)) if self.clipped else 0.0,
               **self.curves()}
        for when in ("initial", "final"):
            d = getattr(self, when)
            out[when] = d.to_dict() if d is not None else None
        return out


def train_on_task(model: nn.Module, task: str | Task, length: int, *, steps: int,
                  batch_size: int = 50, lr: float = 1e-3, optimizer: str = "adam",
                  clip_norm: float | None = None, eval_every: int = 50, test_size: int = 500,
                  seed: int = 0, device: str = "cpu", time_budget: float | None = None,
                  stop_when_solved: bool = False, label: str = "",
                  log: Callable[[str], None] | None = None) -> RunResult:
    """Train ``model`` with ``rnnkit.fit`` on fresh batches of a generated task.

    ``steps`` optimizer steps (rounded up to a multiple of ``eval_every``), one new seeded
    batch each; the test loss on ``test_size`` fixed sequences every ``eval_every`` steps.
    ``stop_when_solved`` ends the run at the first evaluation under the task's threshold;
    ``time_budget`` (seconds) ends it when time is up. fit skips a step with a non-finite loss
    or gradient and gives up after 5 in a row (``diverged_at``).
    """
    task = get_task(task) if isinstance(task, str) else task
    # steps=0 was "fit: epochs must be a positive integer"; eval_every=0 evaluated every step
    steps = positive_int("steps", steps, "diagnostics")
    eval_every = positive_int("eval_every", eval_every, "diagnostics")
    eval_every = max(1, min(eval_every, steps))
    epochs = math.ceil(steps / eval_every)
    stream = TaskStream(task.name, length, batch_size=batch_size, batches=eval_every, seed=seed)
    test = task.generate(test_size, length, seed=seed + 7_777_777)
    result = RunResult(label, planned=epochs * eval_every)

    def callback(event: str, info: dict):
        if event == "batch_end":
            result.step.append((info["epoch"] - 1) * eval_every + info["step"])
            result.loss.append(info["loss"])
            result.grad_norm.append(info["grad_norm"])
            result.clipped.append(bool(info["clipped"]))
        elif event == "epoch_end":
            step = info["epoch"] * eval_every
            result.eval_step.append(step)
            result.test_loss.append(info["val_loss"])
            result.skipped += info["skipped"]
            if result.solved_at is None and info["val_loss"] < task.solved_below:
                result.solved_at = step
            if log:
                log(f"  {label or 'model'} step {step:5d}  test {task.loss} "
                    f"{info['val_loss']:.4g}  |grad| max {info['grad_norm_max']:.3g}")
            return stop_when_solved and result.solved_at is not None
        return None

    batches = _Counted(DataLoader(stream, batch_size=None))
    start = time.perf_counter()
    try:
        fit(model, batches, val_data=test, epochs=epochs,
            batch_size=test_size, loss=task.loss, optimizer=optimizer, lr=lr,
            clip_norm=clip_norm, seed=seed, device=device, progress=False, shuffle=False,
            time_budget=time_budget, callbacks=[callback])
    except NonFiniteError:  # raised mid-epoch: that epoch's row (and skip count) never came
        done = len(result.eval_step) * eval_every
        result.diverged_at = done + batches.yielded
        result.skipped += batches.yielded - sum(1 for s in result.step if s > done)
        if log:
            log(f"  {label or 'model'} gave up at step {result.diverged_at}: non-finite "
                "losses or gradients")
    result.seconds = time.perf_counter() - start
    if log and result.diverged_at is None and result.solved_at is None and \
            result.trained < result.planned:
        log(f"  {label or 'model'} stopped by the time budget after {result.trained} of "
            f"{result.planned} steps")
    return result


class _Counted:
    """The batches fit iterates, counting those handed out in the latest pass."""

    def __init__(self, loader):
        self.loader, self.yielded = loader, 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        self.yielded = 0
        for batch in self.loader:
            self.yielded += 1
            yield batch


def compare_cells(task: str, length: int, cells: Sequence[str], *, steps: int = 500,
                  hidden_size: int = 64, batch_size: int = 50, lr: float = 1e-3,
                  clip_norm: float | None = 1.0, eval_every: int = 50, test_size: int = 500,
                  diag_size: int = 100, seed: int = 0, device: str = "cpu",
                  time_budget: float | None = None, stop_when_solved: bool = False,
                  jacobians: bool = True, probes: int | None = None,
                  log: Callable[[str], None] | None = None,
                  on_result: Callable[[dict[str, RunResult]], None] | None = None
                  ) -> dict[str, RunResult]:
    """Train one model per cell on the same data; diagnose each before and after training.

    The diagnosis (``analyze``, in float64 so that vanished gradients show as tiny numbers
    rather than underflow to zero) runs on ``diag_size`` fixed sequences (apart from the test
    set), at initialisation (``initial``) and after training (``final``). ``time_budget``
    is per cell; ``on_result(results_so_far)`` is called as each cell finishes (the CLI
    writes a partial report there, so a long comparison shows results as it goes).
    """
    task_obj = get_task(task)
    cells = parse_cells(cells)
    steps = positive_int("steps", steps, "diagnostics")
    for name, value in (("length", length), ("diag_size", diag_size), ("test_size", test_size),
                        ("batch_size", batch_size)):
        positive_int(name, value, "diagnostics")
    # the generated sets, before generating them (length=10**9 was an allocator traceback):
    # a few floats per step and sequence (inputs, targets, masks)
    check_memory(f"diagnostics: {diag_size + test_size + batch_size} sequences of {length} "
                 "steps", (diag_size + test_size + batch_size) * length * 16 * 4)
    x_diag, y_diag = task_obj.generate(diag_size, length, seed=seed + 99_991)
    results = {}
    for name in cells:
        seed_everything(seed)
        model = build_model(name, task_obj, hidden_size)
        initial = analyze(model, x_diag, y_diag, loss=task_obj.loss, float64=True,
                          jacobians=jacobians, probes=probes)
        if log:
            log(f"{name}: {steps} steps on {task} T={length}")
        run = train_on_task(model, task_obj, length, steps=steps, batch_size=batch_size, lr=lr,
                            clip_norm=clip_norm, eval_every=eval_every, test_size=test_size,
                            seed=seed, device=device, time_budget=time_budget,
                            stop_when_solved=stop_when_solved, label=name, log=log)
        model.cpu()
        run.initial = initial
        run.final = analyze(model, x_diag, y_diag, loss=task_obj.loss, float64=True,
                            jacobians=jacobians, probes=probes)
        run.model = model
        results[name] = run
        if on_result is not None:
            on_result(dict(results))
    return results


def exploding_gradients(task: str = "adding", length: int = 100, *, steps: int = 300,
                        hidden_size: int = 64, batch_size: int = 50, optimizer: str = "sgd",
                        lr: float = 0.01, clip_norm: float = 1.0, cell: str = "irnn",
                        eval_every: int = 25, seed: int = 0, device: str = "cpu",
                        log: Callable[[str], None] | None = None) -> dict[str, RunResult]:
    """The same ReLU RNN (same initial weights, same batches) trained without and with
    ``clip_norm``: the loss curves and gradient-norm traces of both.

    The default is Pascanu et al. (2013)'s setting: plain SGD, where a gradient spike becomes
    a step of the same size (Adam would divide most of it away), on an identity-initialised
    ReLU RNN, whose activations and gradients can grow without bound.
    """
    task_obj = get_task(task)
    runs = {}
    for label, clip in (("no clipping", None), (f"clip_norm={clip_norm:g}", clip_norm)):
        seed_everything(seed)
        model = build_model(cell, task_obj, hidden_size)
        if log:
            log(f"{cell} {label}: {steps} steps of {optimizer} lr {lr:g} on {task} T={length}")
        runs[label] = train_on_task(model, task_obj, length, steps=steps, batch_size=batch_size,
                                    optimizer=optimizer, lr=lr, clip_norm=clip,
                                    eval_every=eval_every, seed=seed, device=device,
                                    label=label, log=log)
    return runs
