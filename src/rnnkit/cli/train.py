"""``rnnkit train``: many-to-one regression on a CSV, a thin layer over ``rnnkit.fit``.

Two kinds of CSV:

- one series (``--window N``): the rows are time steps; windows of N rows of the target
  (plus ``--features`` columns) predict the target's next value;
- sequences (no ``--window``): each row is one sample; its other numeric columns, in file
  order (or ``--features``), are the steps of a univariate sequence and ``--target`` is the
  value to predict.

The model standardises inputs and target with the training data's statistics (stored in the
checkpoint), so raw values of any scale work. Every input is checked before anything is
written; ``--checkpoint DIR`` then holds the model, ``history.csv`` and the resume state.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .common import UsageError, add_common, examples, new_parser

EXAMPLES = (
    "rnnkit train --csv series.csv --target value --window 3 --checkpoint runs/next",
    "rnnkit train --csv prices.csv --target close --features open,volume --window 30 "
    "--cell gru --hidden 64 --epochs 100 --checkpoint runs/prices",
    "rnnkit train --csv sequences.csv --target y --cell lstm --checkpoint runs/seq --quiet",
)
CELLS = ("lstm", "gru", "rnn")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def register(subparsers) -> None:
    p = new_parser(subparsers, "train", help="train a sequence regressor on a CSV file",
                   epilog=examples(*EXAMPLES), description=__doc__.split("\n\n")[0].strip("`"))
    p.add_argument("--csv", required=True, help="the CSV file (header row, numeric columns)")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--window", type=_positive_int, default=None,
                   help="steps per input window over a single series (omit: one row = one "
                        "sequence)")
    p.add_argument("--features", default=None,
                   help="comma-separated input columns (default: the target for --window, "
                        "every other column otherwise)")
    p.add_argument("--checkpoint", required=True, help="folder to write the model into")
    p.add_argument("--cell", choices=CELLS, default="lstm", help="recurrent cell (lstm)")
    p.add_argument("--hidden", type=_positive_int, default=32, help="hidden size (32)")
    p.add_argument("--layers", type=_positive_int, default=1, help="stacked layers (1)")
    p.add_argument("--epochs", type=_positive_int, default=100, help="epochs (100)")
    p.add_argument("--lr", type=_positive_float, default=3e-3, help="Adam learning rate (3e-3)")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="batch size (32)")
    p.add_argument("--val-split", type=float, default=0.0,
                   help="share of the last samples held out for validation (0)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run stored in --checkpoint (after a kill)")
    add_common(p)
    p.set_defaults(run=run)


def load_samples(path: str, target: str, window: int | None, features: list[str] | None):
    """(X, y, info) from a CSV, as ``rnnkit train`` reads it; ``info`` goes into extras."""
    from ..data.csv_table import csv_header, read_csv_columns
    from ..data.windows import make_windows

    header = csv_header(path)
    if target not in header:
        raise UsageError(f"CSV {path} has no column {target!r}; its columns are: "
                         f"{', '.join(header)}")
    if window is not None:
        inputs = features or [target]
        cols = read_csv_columns(path, list(dict.fromkeys([target, *inputs])))
        table = np.stack([cols[c] for c in inputs], axis=1)  # (N, F)
        if len(table) <= window:
            raise UsageError(f"--window {window} is too long for the series: {path} has "
                             f"{len(table)} rows, and one window needs {window + 1} (its steps "
                             "and the value after them)")
        X, _ = make_windows(table, window)
        _, y = make_windows(cols[target], window)  # (n, 1)
        info = {"mode": "window", "window": window, "features": inputs}
    else:
        inputs = features or [c for c in header if c != target]
        if not inputs:
            raise UsageError(f"CSV {path} has only the target column {target!r}; give "
                             "--window N to window it as a series")
        cols = read_csv_columns(path, [*inputs, target])
        X = np.stack([cols[c] for c in inputs], axis=1)[:, :, None].astype(np.float32)
        y = cols[target][:, None].astype(np.float32)
        info = {"mode": "rows", "features": inputs}
    info["target"] = target
    return X, y, info


def run(args) -> int:
    import torch

    import rnnkit
    from rnnkit.train import NonFiniteError

    from ..runtime import resolve_device

    features = [c.strip() for c in args.features.split(",")] if args.features else None
    if features is not None and (not all(features) or len(set(features)) != len(features)):
        raise UsageError(f"--features must be distinct comma-separated column names, "
                         f"got {args.features!r}")
    if not 0.0 <= args.val_split < 1.0:
        raise UsageError(f"--val-split must lie in [0, 1), got {args.val_split}")
    resolve_device(args.device)
    X, y, info = load_samples(args.csv, args.target, args.window, features)
    torch.manual_seed(args.seed)  # the initial weights
    model = rnnkit.SequenceRegressor(X.shape[2], args.hidden, 1, cell=args.cell,
                                     num_layers=args.layers, standardize=True)
    if not args.quiet:
        print(f"rnnkit train: {len(X)} samples of {X.shape[1]} steps x {X.shape[2]} features "
              f"from {args.csv}; SequenceRegressor(cell={args.cell}, hidden={args.hidden}, "
              f"layers={args.layers}); epochs={args.epochs} lr={args.lr} "
              f"batch_size={args.batch_size} seed={args.seed}", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        history = rnnkit.fit(model, (X, y), epochs=args.epochs, lr=args.lr,
                             batch_size=args.batch_size, val_split=args.val_split,
                             checkpoint_dir=args.checkpoint, resume=args.resume, seed=args.seed,
                             device=args.device, progress=not args.quiet, extras=info)
    except NonFiniteError as e:
        print(f"rnnkit train: error: {e}", file=sys.stderr)
        return 1
    last = history.rows[-1]
    val = f", val_loss {last['val_loss']:.4g}" if last["val_loss"] is not None else ""
    print(f"trained {len(history)} epochs in {time.perf_counter() - t0:.1f} s: train_loss "
          f"{last['train_loss']:.4g}{val}; checkpoint in {args.checkpoint}")
    return 0
