"""``rnnkit forecast train|predict|evaluate``: time-series forecasting from a CSV file.

A thin layer over ``rnnkit.forecast.pipeline``: parse, check every path and option, then call
the function. Bad input exits with one line and writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import UsageError, add_common, examples, new_parser

EXAMPLES = (
    "rnnkit forecast train --csv ETTh1.csv --time-col date --target OT --features all "
    "--lookback 96 --horizon 96 --cell gru --split 8640,2880,2880 --checkpoint runs/etth1",
    "rnnkit forecast train --csv sales.csv --time-col day --target units --horizon 14 "
    "--output quantile --calendar --checkpoint runs/sales",
    "rnnkit forecast predict --checkpoint runs/etth1 --csv ETTh1.csv --out forecast.csv "
    "--plot forecast.png",
    "rnnkit forecast predict --checkpoint runs/etth1 --csv ETTh1.csv --origin "
    "'2018-02-01 00:00:00' --plot backtest.png",
    "rnnkit forecast evaluate --checkpoint runs/etth1 --csv ETTh1.csv",
)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def register(subparsers) -> None:
    from ..data.timeseries import FILLS
    from ..models.forecaster import MODES, NORMS, OUTPUTS, POINT_LOSSES

    p = new_parser(subparsers, "forecast",
                   help="forecast time series from a CSV: train, predict, evaluate",
                   epilog=examples(*EXAMPLES))
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    t = new_parser(actions, "train", help="train a forecaster on a CSV and save a checkpoint",
                   epilog=examples(EXAMPLES[0], EXAMPLES[1]))
    t.add_argument("--csv", required=True, help="the CSV file, one row per time step")
    t.add_argument("--checkpoint", required=True, help="folder for the trained model")
    t.add_argument("--time-col", default=None, help="timestamp column (default: none)")
    t.add_argument("--target", default="all", help="column(s) to forecast: OT, a,b or all")
    t.add_argument("--features", default="all",
                   help="input columns: all (default), target, or a,b,c")
    t.add_argument("--lookback", type=int, default=96, help="history steps per forecast (96)")
    t.add_argument("--horizon", type=int, default=24, help="steps to forecast (24)")
    t.add_argument("--split", default="0.7,0.1,0.2",
                   help="train,val,test in time order: fractions (0.7,0.1,0.2) or row counts")
    t.add_argument("--fill", choices=FILLS, default=None,
                   help="fill missing values (default: refuse them, naming their lines)")
    t.add_argument("--calendar", action="store_true",
                   help="add calendar covariates (hour, weekday, day of year) from --time-col")
    t.add_argument("--period", type=_positive_int, default=None,
                   help="seasonal period for the seasonal-naive baseline (default: detected)")
    t.add_argument("--mode", choices=MODES, default="segrnn",
                   help="segrnn (default; Lin et al. 2023), direct head, or recursive")
    t.add_argument("--cell", default="gru", help="gru (default), lstm or rnn")
    t.add_argument("--hidden-size", type=_positive_int, default=128)
    t.add_argument("--layers", type=_positive_int, default=1, dest="num_layers")
    t.add_argument("--segment-length", type=_positive_int, default=24,
                   help="SegRNN segment length (24)")
    t.add_argument("--dropout", type=float, default=0.1)
    t.add_argument("--norm", choices=NORMS, default="last",
                   help="per-window normalisation: last value (default), revin, none")
    t.add_argument("--output", choices=OUTPUTS, default="point",
                   help="point, or gaussian / quantile for prediction intervals")
    t.add_argument("--quantiles", default="0.1,0.5,0.9",
                   help="quantile levels for --output quantile (must include 0.5)")
    t.add_argument("--loss", choices=POINT_LOSSES, default="mae", dest="point_loss",
                   help="training loss for point forecasts (mae)")
    t.add_argument("--epochs", type=_positive_int, default=30)
    t.add_argument("--batch-size", type=_positive_int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--patience", type=_positive_int, default=5,
                   help="early stopping on the validation loss (epochs)")
    t.add_argument("--time-budget", type=float, default=None,
                   help="stop training cleanly after this many seconds")
    add_common(t)
    t.set_defaults(run=run_train)

    pr = new_parser(actions, "predict", help="forecast the steps after a CSV's last row",
                    epilog=examples(EXAMPLES[2], EXAMPLES[3]))
    pr.add_argument("--checkpoint", required=True)
    pr.add_argument("--csv", required=True, help="history to forecast from (the model's columns)")
    pr.add_argument("--out", default=None, help="write the forecast to this CSV")
    pr.add_argument("--plot", default=None, help="write a plot (.png, .svg or .pdf)")
    pr.add_argument("--origin", default=None,
                    help="first forecast step: a timestamp or row number inside the file "
                         "(default: after the last row); actuals are shown where known")
    pr.add_argument("--level", type=float, default=None,
                    help="interval level for gaussian models (default 0.8)")
    add_common(pr)
    pr.set_defaults(run=run_predict)

    ev = new_parser(actions, "evaluate",
                    help="metrics of the model and the baselines on the test split",
                    epilog=examples(EXAMPLES[4]))
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--csv", required=True)
    ev.add_argument("--part", choices=("test", "val"), default="test",
                    help="which split to score (test)")
    ev.add_argument("--standardised", action="store_true",
                    help="score on the standardised scale (the ETT papers' protocol)")
    add_common(ev)
    ev.set_defaults(run=run_evaluate)
    p.set_defaults(run=lambda args: _no_action(p))


def _no_action(parser) -> int:
    parser.print_help()
    return 2


def _config(args):
    from ..forecast.pipeline import ForecastConfig

    try:
        quantiles = tuple(float(q) for q in args.quantiles.split(","))
    except ValueError:
        raise UsageError(f"--quantiles expects numbers like 0.1,0.5,0.9, got "
                         f"{args.quantiles!r}") from None
    if args.lookback < 1:
        raise UsageError(f"--lookback must be a positive integer, got {args.lookback}")
    if args.horizon < 1:
        raise UsageError(f"--horizon must be a positive integer, got {args.horizon}")
    if not 0 <= args.dropout < 1:
        raise UsageError(f"--dropout must lie in [0, 1), got {args.dropout}")
    return ForecastConfig(
        lookback=args.lookback, horizon=args.horizon, time_col=args.time_col,
        target=args.target, features=args.features, split=args.split, fill=args.fill,
        calendar=args.calendar, period=args.period, mode=args.mode, cell=args.cell,
        hidden_size=args.hidden_size, num_layers=args.num_layers,
        segment_length=args.segment_length, dropout=args.dropout, norm=args.norm,
        output=args.output, quantiles=quantiles, point_loss=args.point_loss,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, patience=args.patience, time_budget=args.time_budget,
        seed=args.seed)


def _input_file(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return p


def _checkpoint_dir(path: str) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"no checkpoint folder at {path}")
    return p


def _output_file(path: str | None, what: str, suffixes=None) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{what} {path} is a folder; expected a file name")
    if not p.parent.is_dir():
        raise UsageError(f"{what} {path}: the folder {p.parent} does not exist")
    if suffixes and p.suffix.lower() not in suffixes:
        raise UsageError(f"{what} {path}: expected a file ending in {', '.join(suffixes)}")
    return p


def run_train(args) -> int:
    from ..forecast.pipeline import train_forecaster

    csv_path = _input_file(args.csv)
    config = _config(args)
    result = train_forecaster(csv_path, args.checkpoint, config, device=args.device,
                              quiet=args.quiet)
    ev = result["evaluation"]
    print(f"\ntest split ({ev.windows} windows, {ev.units} units):")
    print(ev.table())
    if ev.coverage is not None:
        print(f"{ev.level:.0%} intervals hold {ev.coverage:.1%} of the test actuals")
    for line in ev.verdicts():
        print(line)
    print(f"saved {result['checkpoint']}/ (trained in {result['seconds']:.1f} s)")
    return 0


def run_predict(args) -> int:
    from ..forecast.metrics import all_metrics
    from ..forecast.pipeline import predict_forecast, write_forecast_csv
    from ..forecast.plot import PLOT_SUFFIXES, plot_forecast

    _checkpoint_dir(args.checkpoint)
    csv_path = _input_file(args.csv)
    out = _output_file(args.out, "--out")
    plot = _output_file(args.plot, "--plot", PLOT_SUFFIXES)
    if args.level is not None and not 0 < args.level < 1:
        raise UsageError(f"--level must lie in (0, 1), got {args.level}")
    pred = predict_forecast(args.checkpoint, csv_path, origin=args.origin, level=args.level,
                            device=args.device)
    if out is not None:
        write_forecast_csv(pred, out)
    if plot is not None:
        plot_forecast(plot, pred.columns, pred.history_times, pred.history, pred.times,
                      pred.point, pred.lower, pred.upper, pred.actual, pred.level,
                      title=f"{len(pred.times)}-step forecast from {csv_path.name}")
    if not args.quiet or (out is None and plot is None):
        _print_prediction(pred)
    if pred.actual is not None:
        import numpy as np

        known = ~np.isnan(pred.actual).any(1)
        m = all_metrics(pred.actual[known], pred.point[known])
        print(f"against the {int(known.sum())} known actuals: MAE {m['MAE']:.4g}, "
              f"RMSE {m['RMSE']:.4g}")
    for path in (out, plot):
        if path is not None:
            print(f"wrote {path}")
    return 0


def _print_prediction(pred, rows: int = 6) -> None:
    import numpy as np

    from ..data.timeseries import format_time

    shown = list(range(min(rows, len(pred.times))))
    if len(pred.times) > rows:
        shown.append(len(pred.times) - 1)
    width = 26 if pred.lower is not None else 12
    print(f"{pred.time_col:<20}" + "".join(f"  {c:>{width}}" for c in pred.columns))
    for k in shown:
        if k == shown[-1] and len(pred.times) > rows:
            print("...")
        t = pred.times[k]
        label = format_time(t) if isinstance(t, np.datetime64) else f"{t:g}"
        cells = ""
        for j in range(len(pred.columns)):
            v = f"{pred.point[k, j]:.4g}"
            if pred.lower is not None:
                v += f" [{pred.lower[k, j]:.4g}, {pred.upper[k, j]:.4g}]"
            cells += f"  {v:>{width}}"
        print(f"{label:<20}{cells}")


def run_evaluate(args) -> int:
    from ..forecast.pipeline import evaluate_forecaster

    _checkpoint_dir(args.checkpoint)
    csv_path = _input_file(args.csv)
    ev = evaluate_forecaster(args.checkpoint, csv_path, part=args.part,
                             standardised=args.standardised, device=args.device)
    print(f"{args.part} split of {csv_path.name}: {ev.text()}")
    return 0
