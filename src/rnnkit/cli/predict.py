"""``rnnkit predict``: predictions of a ``rnnkit train`` checkpoint for a CSV file.

For a windowed series the output has one row per window — the row it predicts (``row``, the
data row number; one past the last row is the next, unseen value), the prediction, and the
actual value when the CSV has it. For a CSV of sequences it has one row per input row.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np

from .common import UsageError, add_common, examples, new_parser

EXAMPLES = (
    "rnnkit predict --checkpoint runs/next --csv series.csv",
    "rnnkit predict --checkpoint runs/prices --csv prices.csv --out predictions.csv --quiet",
)


def register(subparsers) -> None:
    p = new_parser(subparsers, "predict", help="predict with a trained checkpoint on a CSV file",
                   epilog=examples(*EXAMPLES), description=__doc__.split("\n\n")[0].strip("`"))
    p.add_argument("--checkpoint", required=True, help="folder written by rnnkit train")
    p.add_argument("--csv", required=True, help="the CSV file, with the columns trained on")
    p.add_argument("--out", default=None, help="CSV file to write (default: standard output)")
    p.add_argument("--batch-size", type=int, default=256, help="batch size (256)")
    add_common(p)
    p.set_defaults(run=run)


def _rows(model, extras: dict, path: str):
    """(row numbers, predictions, actual values or None) for ``path``."""
    import rnnkit

    from ..data.csv_table import csv_header, read_csv_columns
    from ..data.windows import make_windows

    target, features = extras["target"], extras["features"]
    header = csv_header(path)
    has_target = target in header
    cols = read_csv_columns(path, list(dict.fromkeys(features + ([target] if has_target else []))))
    if extras["mode"] == "window":
        window = extras["window"]
        table = np.stack([cols[c] for c in features], axis=1)  # (N, F)
        if len(table) < window:
            raise UsageError(f"the checkpoint's window ({window}) is longer than the series: "
                             f"{path} has {len(table)} rows")
        X = make_windows(np.concatenate([table, table[-1:]]), window)[0]  # every window + last
        rows = np.arange(window, len(table) + 1) + 1  # the data row each window predicts
        actual = None
        if has_target:
            actual = np.append(cols[target][window:], np.nan)
    else:
        X = np.stack([cols[c] for c in features], axis=1)[:, :, None].astype(np.float32)
        rows = np.arange(1, len(X) + 1)
        actual = cols[target] if has_target else None
    pred = rnnkit.predict(model, X.astype(np.float32))[:, 0]
    return rows, pred, actual


def run(args) -> int:
    import rnnkit
    from rnnkit.checkpoint import load_extras

    from ..runtime import resolve_device

    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer, got {args.batch_size}")
    device = resolve_device(args.device)
    extras = load_extras(args.checkpoint)
    if not {"mode", "target", "features"} <= set(extras):
        raise UsageError(f"{args.checkpoint} was not written by rnnkit train (its extras lack "
                         "mode/target/features)")
    if args.out is not None and Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a file name")
    model = rnnkit.load(args.checkpoint, device=str(device))
    rows, pred, actual = _rows(model, extras, args.csv)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["row", "prediction", *([extras["target"]] if actual is not None else [])])
    for i in range(len(rows)):
        a = [] if actual is None else ["" if np.isnan(actual[i]) else repr(float(actual[i]))]
        w.writerow([int(rows[i]), f"{pred[i]:.7g}", *a])  # float32 predictions: 7 digits
    if args.out is None:
        sys.stdout.write(buf.getvalue())
    else:
        Path(args.out).write_text(buf.getvalue(), encoding="utf-8")
        if not args.quiet:
            print(f"wrote {len(rows)} predictions to {args.out}", file=sys.stderr)
    if extras["mode"] == "window" and not args.quiet:
        print(f"next {extras['target']} after the last row: {pred[-1]:.6g}", file=sys.stderr)
    return 0
