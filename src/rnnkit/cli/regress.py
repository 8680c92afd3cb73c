"""``rnnkit regress train|predict|evaluate``: many-to-one regression on a CSV.

A thin layer over ``rnnkit.apps.regress``: the training flags are built from its ``Config``;
each action parses, calls the application, prints. ``rnnkit train`` and ``rnnkit predict``
(the articles' first example) are the same actions under their 0.1.0 names.
"""

from __future__ import annotations

import sys
import time

from .common import (
    add_common,
    add_training_flags,
    examples,
    new_parser,
    no_action,
    out_file,
)
from .config_flags import config_from_args

TRAIN_EXAMPLES = (
    "rnnkit regress train --csv examples/data/series.csv --target value --window 3 "
    "--checkpoint runs/next",
    "rnnkit regress train --csv $RNNKIT_DATA/ett/ETTh1.csv --target OT --features HUFL,MUFL,OT "
    "--window 24 --cell gru --hidden-size 64 --epochs 5 --checkpoint runs/ett",
    "rnnkit regress train --csv $RNNKIT_DATA/ett/ETTh1.csv --target OT "
    "--features HUFL,HULL,MUFL,MULL,LUFL,LULL --epochs 5 --checkpoint runs/ett-rows --quiet",
)
PREDICT_EXAMPLES = (
    "rnnkit regress predict --checkpoint runs/next --csv examples/data/series.csv",
    "rnnkit regress predict --checkpoint runs/ett --csv $RNNKIT_DATA/ett/ETTh1.csv "
    "--out predictions.csv",
)
EVALUATE_EXAMPLES = (
    "rnnkit regress evaluate --checkpoint runs/next --csv examples/data/series.csv",)


def register(subparsers) -> None:
    p = new_parser(subparsers, "regress", help="train and use a sequence regressor on a CSV",
                   epilog=examples(*TRAIN_EXAMPLES, *PREDICT_EXAMPLES, *EVALUATE_EXAMPLES))
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    add_train(actions, "train", TRAIN_EXAMPLES)
    add_predict(actions, "predict", PREDICT_EXAMPLES)
    e = new_parser(actions, "evaluate", help="MSE, RMSE and MAE of a checkpoint on a CSV file",
                   epilog=examples(*EVALUATE_EXAMPLES))
    e.add_argument("--checkpoint", required=True, metavar="DIR", help="a regress checkpoint")
    e.add_argument("--csv", required=True, help="the CSV file, with the target column")
    add_common(e)
    e.set_defaults(run=run_evaluate)
    p.set_defaults(run=lambda args: no_action(p))


def add_train(subparsers, name: str, lines) -> None:
    from ..apps.regress import Config

    p = new_parser(subparsers, name, help="train a sequence regressor on a CSV file",
                   epilog=examples(*lines),
                   description="Windows of a series, or rows of features, in; one value out.")
    p.add_argument("--csv", required=True, help="the CSV file (header row, numeric columns)")
    add_training_flags(p, Config, "folder to write the model into")
    p.set_defaults(run=run_train)


def add_predict(subparsers, name: str, lines) -> None:
    p = new_parser(subparsers, name, help="predict with a trained checkpoint on a CSV file",
                   epilog=examples(*lines),
                   description="One row per window (the data row it predicts; one past the "
                               "last is the next, unseen value) or per input row.")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="a regress checkpoint")
    p.add_argument("--csv", required=True, help="the CSV file, with the columns trained on")
    p.add_argument("--out", default=None, help="CSV file to write (default: standard output)")
    add_common(p)
    p.set_defaults(run=run_predict)


def _say(args, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def run_train(args) -> int:
    from ..apps import regress
    from ..train import NonFiniteError

    config = config_from_args(regress.Config, args)
    t0 = time.perf_counter()
    try:
        history = regress.train(config, args.csv, args.checkpoint, seed=args.seed,
                                device=args.device, quiet=args.quiet, resume=args.resume,
                                log=lambda s: _say(args, s))
    except NonFiniteError as e:
        print(f"rnnkit {args.verb}: error: {e}", file=sys.stderr)
        return 1
    if history.already_finished:  # resume of a finished run: its note is said
        return 0
    last = history.rows[-1]
    val = f", val_loss {last['val_loss']:.4g}" if last["val_loss"] is not None else ""
    print(f"trained {len(history)} epoch{'' if len(history) == 1 else 's'} in "
          f"{time.perf_counter() - t0:.1f} s: train_loss "
          f"{last['train_loss']:.4g}{val} (standardised MSE; regress evaluate gives raw "
          f"units); checkpoint in {args.checkpoint}")
    return 0


def run_predict(args) -> int:
    from ..apps import regress

    out = out_file(args.out, "--out")  # a folder that cannot be made: said before the work
    predictor = regress.load(args.checkpoint, device=args.device)
    rows, pred, actual = predictor.predict_csv(args.csv)
    text = regress.predictions_csv(rows, pred, actual, predictor.target)
    if out is None:
        sys.stdout.write(text)
    else:
        from ..checkpoint import atomic_write

        # a full disk or any write error leaves no truncated file (and an old one as it was)
        atomic_write(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        _say(args, f"wrote {len(rows)} predictions to {out}")
    if predictor.mode == "window":
        _say(args, f"next {predictor.target} after the last row: {pred[-1]:.6g}")
    return 0


def run_evaluate(args) -> int:
    from ..apps import regress
    from ..data.csv_table import read_csv_columns

    predictor = regress.load(args.checkpoint, device=args.device)
    table = read_csv_columns(args.csv, list(dict.fromkeys([*predictor.features,
                                                           predictor.target])))
    result = predictor.evaluate(table)
    print(f"MSE {result['mse']:.6g}, RMSE {result['rmse']:.6g}, MAE {result['mae']:.6g} on "
          f"{result['n']} predictions of {predictor.target} in {args.csv}")
    return 0
