"""Regression: windows of a series, or rows of features, in; one value out (the seeds' first
example, ``[i, i+1, i+2] -> i+3``).

The application of ``rnnkit regress train|predict|evaluate`` (``rnnkit train``/``predict``
are aliases), in the ``rnnkit.apps`` shape. Two kinds of CSV:

- one series (``window`` set): the rows are time steps; windows of ``window`` rows of the
  target (plus ``features`` columns) predict the target's next value;
- sequences (no ``window``): each row is one sample; its other numeric columns, in file order
  (or ``features``), are the steps of a univariate sequence and ``target`` is the value to
  predict.

The model (``SequenceRegressor(standardize=True)``) standardises inputs and target with the
training data's statistics (stored in the checkpoint), so raw values of any scale work. Its
loss is computed in those standardised units: the train/val losses reported are MSEs of the
standardised target (1: no better than its mean); ``evaluate`` gives raw units.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .. import checkpoint
from ..config_dict import config_from_dict
from ..data.csv_table import csv_header, read_csv_columns, row_index_column
from ..data.timeseries import separator_hint
from ..data.windows import make_windows
from ..metrics import mae, mse
from ..models.regressor import SequenceRegressor
from ..runtime import evaluating, resolve_device, seed_everything
from ..train import History, fit, predict
from ..validate import positive_float, positive_int
from .base import Predictor, check_task_folder, load_checkpoint, register_app
from .extras_check import check_field, check_size, reading_extras
from .finished import say_finished, spent_epochs

__all__ = ["TASK", "Config", "train", "load", "RegressPredictor", "read_samples",
           "predictions_csv"]

TASK = "regress"
CELLS = ("lstm", "gru", "rnn")


@dataclass
class Config:
    """Everything that defines a regression run (stored in the checkpoint)."""

    target: str = ""  # the CSV column to predict
    window: int | None = None  # steps per input window over one series (None: a row = a sequence)
    features: list[str] | None = None  # input columns (None: the target with a window, else
    # every other column but an unnamed first one, a row index); "a,b" works too
    cell: str = "lstm"  # recurrent cell: lstm | gru | rnn
    hidden_size: int = 32  # H of each layer
    num_layers: int = 1  # stacked recurrent layers
    epochs: int = 100  # passes over the samples
    minutes: float | None = None  # wall-clock budget (with epochs: whichever ends first)
    lr: float = 3e-3  # Adam's learning rate
    batch_size: int = 32  # samples per batch
    val_split: float = 0.0  # share of the last samples held out; > 0 keeps the best epoch

    def __post_init__(self):
        if isinstance(self.features, str):
            self.features = [self.features]
        if self.features is not None:  # "a,b" and ["a", "b"] alike
            self.features = [c.strip() for f in self.features for c in str(f).split(",")]

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting out of range."""
        if not isinstance(self.target, str) or not self.target:
            raise ValueError(f"target must name the CSV column to predict (--target), got "
                             f"{self.target!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("hidden_size", "num_layers", "epochs", "batch_size"):
            positive_int(name, getattr(self, name))
        if self.window is not None:
            positive_int("window", self.window)
        if self.minutes is not None:
            positive_float("minutes", self.minutes)
        positive_float("lr", self.lr)
        if not 0.0 <= self.val_split < 1.0:
            raise ValueError(f"val_split must lie in [0, 1), got {self.val_split!r}")
        if self.features is not None and (not self.features or not all(self.features)
                                          or len(set(self.features)) != len(self.features)):
            raise ValueError(f"features must be distinct column names, got {self.features!r}")
        if self.window is None and self.features and self.target in self.features:
            raise ValueError(f"features include the target {self.target!r}: with rows of "
                             "features (no window) the model would read the value it predicts; "
                             "leave it out, or give a window to read its past values")

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        return config_from_dict(cls, d)


# ------------------------------------------------------------------------------------ data
def read_samples(path: str | Path, config: Config):
    """``(X, y, info)`` from a CSV, as training reads it; ``info`` goes into the extras."""
    header = csv_header(path)
    target, window = config.target, config.window
    if target not in header:
        raise ValueError(f"CSV {path} has no column {target!r}; its columns are: "
                         f"{', '.join(header)}{separator_hint(header)}")
    if window is not None:
        inputs = config.features or [target]
        cols = read_csv_columns(path, list(dict.fromkeys([target, *inputs])))
        table = np.stack([cols[c] for c in inputs], axis=1)  # (N, F)
        if len(table) <= window:
            raise ValueError(f"window {window} is too long for the series: {path} has "
                             f"{len(table)} rows, and one window needs {window + 1} (its steps "
                             "and the value after them)")
        X, _ = make_windows(table, window)
        _, y = make_windows(cols[target], window)  # (n, 1)
        return X, y, {"mode": "window", "window": window, "features": inputs, "target": target}
    index = row_index_column(header)
    inputs = config.features or [c for c in header if c not in (target, index)]
    if not inputs:
        raise ValueError(f"CSV {path} has only the target column {target!r}; give a window "
                         "to window it as a series")
    try:
        cols = read_csv_columns(path, [*inputs, target])
    except ValueError as e:  # every other column by default: a date or name column among them
        if config.features is None and "non-numeric" in str(e):
            raise ValueError(f"{e}; without --features every column but the target is an "
                             "input: name the input columns with --features a,b, or give a "
                             "--window to read the target as a series") from None
        raise
    X = np.stack([cols[c] for c in inputs], axis=1)[:, :, None].astype(np.float32)
    y = cols[target][:, None].astype(np.float32)
    return X, y, {"mode": "rows", "features": inputs, "target": target}


# -------------------------------------------------------------------------------- training
def train(config: Config, csv: str | Path, checkpoint_dir: str | Path, *, seed: int = 0,
          device: str = "auto", quiet: bool = False, resume: bool = False,
          log: Callable[[str], None] | None = None) -> History:
    """Train a ``SequenceRegressor`` on the CSV ``csv``; write ``checkpoint_dir``.

    Every input is checked before anything is written. The folder then holds the model (the
    last epoch's, or with ``val_split`` the best epoch's by validation loss),
    ``history.csv``, ``history.png`` and the resume state (``resume`` continues it exactly).
    """
    config.check()
    log = log or print
    resolve_device(device)
    ckpt = checkpoint.check_folder(checkpoint_dir)
    check_task_folder(ckpt, TASK)
    X, y, info = read_samples(csv, config)
    seed_everything(seed)  # the initial weights
    model = SequenceRegressor(X.shape[2], config.hidden_size, 1, cell=config.cell,
                              num_layers=config.num_layers, standardize=True)
    if not quiet:
        log(f"regress: {len(X)} samples of {X.shape[1]} steps x {X.shape[2]} features from "
            f"{csv}; {config.num_layers}x{config.hidden_size} {config.cell}; "
            f"epochs={config.epochs} lr={config.lr} batch_size={config.batch_size} seed={seed}")
    spent = spent_epochs(ckpt, config.minutes, "regress", "minutes") if resume else None
    history = fit(model, (X, y), epochs=spent or config.epochs, lr=config.lr,
                  batch_size=config.batch_size, val_split=config.val_split, checkpoint_dir=ckpt,
                  resume=resume, seed=seed, device=device, progress=not quiet,
                  time_budget=None if config.minutes is None else config.minutes * 60,
                  save_best=ckpt if config.val_split else None,
                  extras={"task": TASK, **info, "regress": asdict(config)})
    if history.already_finished:  # the stored run was complete: nothing to redo
        say_finished(TASK, ckpt, len(history))
        return history
    history.plot(ckpt / "history.png")
    return history


# ------------------------------------------------------------------------------- predicting
class RegressPredictor(Predictor):
    """A trained regressor and how its inputs are read.

    ``predict(X) -> np.ndarray`` (one value per sample): ``X`` ready windows/sequences
    (N, T, F); or a series (N,) / (N, F) or a table (``pandas.DataFrame``, dict of columns)
    which is windowed as in training — window mode: every full window, the last predicting
    the value after the series (N - window + 1 values); row mode: one value per row.
    ``stream(readings) -> Iterator[float]``: one prediction per reading — window mode: of the
    value after the last ``window`` readings (NaN until that many were seen), equal to
    ``predict`` on the series; row mode: the readings are the steps of one sequence, the state
    carried, each value the prediction for the prefix so far.
    ``evaluate(X, y)`` or ``evaluate(table)``: ``{"mse", "rmse", "mae", "n"}``.
    """

    task = TASK

    def __init__(self, model, config, info: dict, path=None):
        super().__init__(model, config, path)
        self.mode, self.window = info["mode"], info.get("window")
        self.features, self.target = list(info["features"]), info["target"]

    def inputs(self, X) -> np.ndarray:
        """Model inputs (N, T, F) from ready inputs, a series or a table."""
        if isinstance(X, (str, Path)):  # was "could not convert string to float"
            raise ValueError(f"predict takes values or a table, not a file name ({X!s}); "
                             "for a CSV use predict_csv(path)")
        if hasattr(X, "columns") or isinstance(X, dict):
            missing = [c for c in self.features if c not in X]
            if missing:
                raise ValueError(f"the table lacks the column(s) {', '.join(missing)} the "
                                 "model reads")
            X = np.stack([np.asarray(X[c], dtype=np.float32) for c in self.features], 1)
        X = np.asarray(X, dtype=np.float32)
        if X.size == 0:  # was numpy's "cannot reshape array of size 0"
            raise ValueError("predict: no values given (an empty array)")
        if X.ndim == 3:
            return X
        if self.mode == "rows":
            return X.reshape(len(X), -1, 1)
        series = X.reshape(len(X), -1)
        if len(series) < self.window:
            raise ValueError(f"the model's window ({self.window}) is longer than the series "
                             f"({len(series)} rows)")
        return make_windows(np.concatenate([series, series[-1:]]), self.window)[0]

    def predict(self, X) -> np.ndarray:
        """One value per sample of ``X`` (see the class docstring for what ``X`` may be)."""
        return predict(self.model, self.inputs(X))[:, 0]

    def stream(self, readings: Iterable) -> Iterator[float]:
        if self.mode == "window":
            buffer: list[np.ndarray] = []
            for r in readings:
                buffer = (buffer + [np.asarray(r, dtype=np.float32).reshape(-1)])[-self.window:]
                yield (float(self.predict(np.stack(buffer)[None])[0])
                       if len(buffer) == self.window else math.nan)
            return
        yield from self._stream_steps(readings)

    def _stream_steps(self, readings: Iterable) -> Iterator[float]:
        m, state = self.model, None
        with evaluating(m):
            for r in readings:
                x = torch.as_tensor(np.asarray(r, dtype=np.float32).reshape(1, 1, -1))
                x = (x - m.x_mean) / m.x_std if m.standardize else x
                outputs, state = m.rnn(x, state)
                y = m.head(outputs[:, -1])
                yield float((y * m.y_std + m.y_mean if m.standardize else y)[0, 0])

    def evaluate(self, X, y=None) -> dict[str, float]:
        """``{"mse", "rmse", "mae", "n"}`` of ``predict(X)`` against ``y``, or against the
        target column of the table ``X``."""
        if y is None:
            if not (hasattr(X, "columns") or isinstance(X, dict)) or self.target not in X:
                raise ValueError(f"evaluate: pass y, or a table with the target column "
                                 f"{self.target!r}")
            y = np.asarray(X[self.target], dtype=np.float64)
            y = y[self.window:] if self.mode == "window" else y
        pred = self.predict(X)[:len(y)]
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        return {"mse": mse(y, pred), "rmse": math.sqrt(mse(y, pred)), "mae": mae(y, pred),
                "n": len(y)}

    def predict_csv(self, path: str | Path):
        """``(row numbers, predictions, actual values or None)`` for a CSV: window mode, one
        row per window (the data row it predicts, 1-based; one past the last is the next,
        unseen value); row mode, one per input row."""
        header = csv_header(path)
        has_target = self.target in header
        cols = read_csv_columns(path, list(dict.fromkeys(
            self.features + ([self.target] if has_target else []))))
        pred = self.predict(cols)
        if self.mode == "rows":
            return np.arange(1, len(pred) + 1), pred, cols[self.target] if has_target else None
        rows = np.arange(self.window, self.window + len(pred)) + 1
        actual = np.append(cols[self.target][self.window:], np.nan) if has_target else None
        return rows, pred, actual


def predictions_csv(rows, pred, actual, target: str) -> str:
    """The CSV text ``rnnkit regress predict`` writes: row, prediction (7 significant
    digits: float32), and the actual target value where known."""
    lines = ["row,prediction" + (f",{target}" if actual is not None else "")]
    for i in range(len(rows)):
        a = "" if actual is None else "," + ("" if np.isnan(actual[i]) else repr(float(actual[i])))
        lines.append(f"{int(rows[i])},{pred[i]:.7g}{a}")
    return "\n".join(lines) + "\n"


def load(path: str | Path, device: str = "cpu") -> RegressPredictor:
    """The ``RegressPredictor`` of a regression checkpoint (0.1.0 ``rnnkit train`` ones too)."""
    model, extras = load_checkpoint(
        path, SequenceRegressor, device, app="regress",
        accepts=lambda e: {"mode", "target", "features"} <= set(e),
        refused="was not written by rnnkit regress train (its extras lack mode/target/features)")
    mode, window, features = extras["mode"], extras.get("window"), extras["features"]
    check_field(path, "mode", mode, mode in ("window", "rows"), "'window' or 'rows'")
    check_field(path, "window", window, mode == "rows" or (
        type(window) is int and window >= 1), "a positive whole number of steps")
    check_field(path, "features", features, isinstance(features, list) and bool(features) and all(
        isinstance(f, str) for f in features), "a list of column names")
    check_field(path, "target", extras["target"], isinstance(extras["target"], str),
                "a column name")
    check_size(path, "features", len(features) if mode == "window" else 1, model, "input_size")
    stored = extras.get("regress") or {"target": extras["target"], "window": window,
                                       "features": features}
    with reading_extras(path, "regress config"):
        config = Config.from_dict(stored)
    return RegressPredictor(model, config, extras, path)


register_app(TASK, load)
