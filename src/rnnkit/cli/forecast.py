"""``rnnkit forecast train|predict|evaluate``: forecasting many series (long format) or one
table, over ``rnnkit.apps.forecast``. Flags come from ``forecast.Config``; a verb parses,
calls the application and prints what it returns. Bad input: one line, exit 2, nothing
written."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import UsageError, add_common, examples, new_parser, no_action, out_file

EXAMPLES = (
    "rnnkit forecast train --csv examples/data/sales.csv --id-col unique_id --time-col ds "
    "--target y --horizon 6 --checkpoint runs/sales",
    "rnnkit forecast predict --checkpoint runs/sales --csv examples/data/sales.csv "
    "--out forecast.csv",
    "rnnkit forecast evaluate --checkpoint runs/sales --csv examples/data/sales.csv "
    "--json metrics.json",
    "rnnkit forecast train --csv $RNNKIT_DATA/ett/ETTh1.csv --time-col date --target OT "
    "--mode segrnn --lookback 96 --horizon 96 --split 8640,2880,2880 --checkpoint runs/etth1",
    "rnnkit forecast predict --checkpoint runs/etth1 --csv $RNNKIT_DATA/ett/ETTh1.csv --origin "
    "'2018-02-01 00:00:00' --plot backtest.png",
)


def register(subparsers) -> None:
    p = new_parser(subparsers, "forecast",
                   help="forecast time series (many series or one table): train, predict, "
                        "evaluate", epilog=examples(*EXAMPLES))
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    _train_parser(actions)
    _predict_parser(actions)
    _evaluate_parser(actions)
    p.set_defaults(run=lambda args: no_action(p))


def _train_parser(actions) -> None:
    from ..apps.forecast import Config
    from .config_flags import add_config_flags

    t = new_parser(actions, "train", help="train on a CSV/Parquet file and save a checkpoint",
                   epilog=examples(EXAMPLES[0], EXAMPLES[3]))
    t.add_argument("--csv", required=True, help="the data: CSV or Parquet (.parquet)")
    t.add_argument("--checkpoint", required=True, help="folder for the trained model")
    t.add_argument("--resume", action="store_true",
                   help="continue the training stored in --checkpoint")
    add_config_flags(t, Config, skip={"seed"})
    add_common(t)
    t.set_defaults(run=run_train)


def _predict_parser(actions) -> None:
    pr = new_parser(actions, "predict", help="forecast the steps after each series' last row",
                    epilog=examples(EXAMPLES[1], EXAMPLES[4]))
    pr.add_argument("--checkpoint", required=True)
    pr.add_argument("--csv", required=True, help="history to forecast from (CSV or Parquet)")
    pr.add_argument("--out", default=None, help="write the forecast (long format) to this CSV")
    pr.add_argument("--plot", default=None,
                    help="table models: write a plot (.png, .svg or .pdf)")
    pr.add_argument("--origin", default=None,
                    help="table models: first forecast step, a timestamp or row number inside "
                         "the file (default: after the last row); actuals shown where known")
    pr.add_argument("--level", type=float, default=None,
                    help="interval level (default: the model's own, 0.8)")
    add_common(pr)
    pr.set_defaults(run=run_predict)


def _evaluate_parser(actions) -> None:
    ev = new_parser(actions, "evaluate",
                    help="metrics of the model and every baseline on the test part",
                    epilog=examples(EXAMPLES[2]))
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--csv", required=True)
    ev.add_argument("--json", default=None,
                    help="write the metrics (per method, overall and per series) as JSON")
    ev.add_argument("--part", choices=("test", "val"), default="test",
                    help="table models: which split to score (test)")
    ev.add_argument("--standardised", action="store_true",
                    help="table models: score standardised values (the ETT papers' protocol)")
    add_common(ev)
    ev.set_defaults(run=run_evaluate)


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


def run_train(args) -> int:
    from ..apps import forecast
    from .config_flags import config_from_args, flag_name

    data = _input_file(args.csv)
    config = config_from_args(forecast.Config, args, seed=args.seed).check()
    if not config.panel:  # a column of ids or dates left unread, as the many-series path says
        # when it reads the file; said once training starts (after every check), --quiet too
        from ..apps.forecast.panel import table_notes
        from ..training.start_notice import notice_at_start

        for line in table_notes(data, time_col=config.time_col, target=config.target,
                                features=config.features):
            notice_at_start(f"note: {line}")
    result = forecast.run(config, data, args.checkpoint, device=args.device, quiet=args.quiet,
                          resume=args.resume, log=_log(args.quiet))
    if result.get("history") is not None and not result.get("finished"):
        # None: `auto` chose no network; finished: a --resume of a complete run wrote nothing
        result["history"].plot(Path(args.checkpoint) / "history.png")
    # settings this mode ignores, named as typed; said under --quiet too, as classify does
    for line in forecast.mode_notes(config, spell=flag_name):
        print(f"note: {line}", file=sys.stderr)
    print(forecast.report.train_text(result))
    return 0


def _log(quiet: bool):
    """Progress on stdout (none under --quiet); warnings and notes (what the data seem to
    hold that was not named) on stderr, under --quiet too."""
    def log(line: str) -> None:
        if line.startswith(("warning: ", "note: ")):
            print(line, file=sys.stderr)
        elif not quiet:
            print(line)
    return log


def _warn(predictor) -> None:
    """What reading the data said (series skipped: missing values, too short, irregular),
    on stderr, so that a series missing from the output is never a silent surprise."""
    for line in getattr(predictor, "warnings", []):
        print(f"warning: {line}", file=sys.stderr)


def run_predict(args) -> int:
    from ..apps import forecast

    _checkpoint_dir(args.checkpoint)
    data = _input_file(args.csv)
    out = out_file(args.out, "--out")
    plot = out_file(args.plot, "--plot", forecast.plot.PLOT_SUFFIXES)
    if args.level is not None and not 0 < args.level < 1:
        raise UsageError(f"--level must lie in (0, 1), got {args.level}")
    predictor = forecast.load(args.checkpoint, device=args.device)
    frame = predictor.predict(data, origin=args.origin, level=args.level)
    _warn(predictor)
    if plot is not None:
        forecast.report.plot_prediction(predictor, data, plot, args.origin, args.level)
    if out is not None:
        forecast.report.write_frame(frame, out)
    if not args.quiet or out is None:
        print(forecast.report.frame_text(frame))
    if "actual" in frame and frame["actual"].notna().any():
        print(forecast.report.actuals_line(frame))
    for path in (out, plot):
        if path is not None:
            print(f"wrote {path}")
    return 0


def run_evaluate(args) -> int:
    from ..apps import forecast

    _checkpoint_dir(args.checkpoint)
    data = _input_file(args.csv)
    out = out_file(args.json, "--json")
    predictor = forecast.load(args.checkpoint, device=args.device)
    if predictor.kind == "panel":
        metrics = predictor.evaluate(data, args.part, args.standardised)
        _warn(predictor)
        print(forecast.report.evaluation_text(metrics, data))
    else:
        ev = forecast.evaluate_prepared(predictor.model, forecast.prepare_like(
            data, predictor.spec), args.part, args.standardised, predictor.device)
        print(f"{args.part} split of {data.name}: {ev.text()}")
        metrics = {"overall": ev.rows, "windows": ev.windows, "units": ev.units}
    if out is not None:
        forecast.write_json(metrics, out)
        print(f"wrote {out}")
    return 0
