"""The metric table: the model next to every baseline on the same windows, and a plain line
for each baseline the model does not beat."""

from __future__ import annotations

import math
from pathlib import Path

from ...metrics import METRICS

__all__ = ["metric_table", "verdict_lines"]


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.4f}" if abs(v) < 1000 else f"{v:.4g}"


def metric_table(rows: dict[str, dict[str, float]], model: str = "forecaster",
                 metrics=METRICS) -> str:
    """Aligned table, one row per method; the last column is the MSE ratio to the model."""
    name_w = max(len(n) for n in rows) + 2
    head = f"{'method':<{name_w}}" + "".join(f"{m:>10}" for m in metrics) + f"{'MSE/model':>11}"
    lines = [head, "-" * len(head)]
    ref = rows[model]["MSE"] if model in rows else math.nan
    for name, vals in rows.items():
        ratio = vals["MSE"] / ref if ref and not math.isnan(ref) else math.nan
        lines.append(f"{name:<{name_w}}" + "".join(f"{_fmt(vals.get(m)):>10}" for m in metrics)
                     + f"{_fmt(ratio):>11}")
    return "\n".join(lines)


def verdict_lines(rows: dict[str, dict[str, float]], model: str = "forecaster") -> list[str]:
    """One line per baseline at least as good as the model on MSE or MAE, or one line saying
    the model beats them all."""
    mine = rows[model]
    lines = []
    for name, vals in rows.items():
        if name == model:
            continue
        worse = [m for m in ("MSE", "MAE") if vals[m] <= mine[m]]
        if worse:
            detail = ", ".join(f"{m} {mine[m]:.4f} vs {vals[m]:.4f}" for m in worse)
            lines.append(f"WARNING: the {model} loses to the {name} baseline ({detail}); "
                         "prefer the baseline or retrain")
    if not lines:
        best = min((n for n in rows if n != model), key=lambda n: rows[n]["MSE"], default=None)
        if best is not None:
            gain = 100 * (1 - mine["MSE"] / rows[best]["MSE"])
            lines.append(f"the {model} beats every baseline on MSE and MAE (MSE {gain:.1f} % "
                         f"below the best baseline, {best})")
    return lines


# ----------------------------------------------------------------------- many series
PANEL_METRICS = ("sMAPE", "MASE", "MAE", "RMSE")


def panel_table(overall: dict[str, dict[str, float]], reference: str = "auto") -> str:
    """One row per method (sMAPE and MASE averaged over series; MAE, RMSE over all steps),
    best MASE first; the last column is the MASE ratio to ``reference``."""
    name_w = max(len(n) for n in overall) + 2
    head = (f"{'method':<{name_w}}" + "".join(f"{m:>10}" for m in PANEL_METRICS)
            + f"{'MASE/' + reference:>12}")
    ref = overall.get(reference, {}).get("MASE", math.nan)
    lines = [head, "-" * len(head)]
    def mase(n):  # NaN (every series flat) last
        return overall[n]["MASE"] if not math.isnan(overall[n]["MASE"]) else math.inf

    for name in sorted(overall, key=mase):
        vals = overall[name]
        ratio = vals["MASE"] / ref if ref and not math.isnan(ref) else math.nan
        lines.append(f"{name:<{name_w}}" + "".join(f"{_fmt(vals[m]):>10}" for m in
                                                    PANEL_METRICS) + f"{_fmt(ratio):>12}")
    return "\n".join(lines)


def choice_lines(state, limit: int = 10) -> list[str]:
    """Which method each series got and why: one line when every series has the default,
    else the counts and a line per series (the first ``limit``)."""
    from collections import Counter

    lines = [f"default method: {state.default}, {state.default_reason}"]
    if state.switch_reason:
        lines.append(state.switch_reason)
    counts = Counter(state.choice.values())
    plain = ("the default", state.default_reason)  # nothing to add to the default's line
    if all(m == state.default and state.reason.get(sid) in plain
           for sid, m in state.choice.items()):
        n = len(state.choice)
        return lines + [f"methods chosen: {state.default} for {'the' if n == 1 else 'all'} {n} "
                        f"series (the default)"]
    lines.append("methods chosen: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    shown = list(state.choice.items())
    for sid, method in shown[:limit]:
        lines.append(f"  {sid}: {method}, {state.reason[sid]}")
    if len(shown) > limit:
        left = [s for s, m in shown[limit:] if m != state.default]
        lines.append(f"  ... {len(shown) - limit} more series"
                     + (f"; not on the default: {', '.join(left[:limit])}" if left else ""))
    return lines


def panel_verdict(overall: dict[str, dict[str, float]]) -> str:
    """A line saying whether ``auto`` beats each of its single methods on the test part."""
    auto = overall.get("auto")
    if auto is None:
        return ""
    from .auto import METHODS

    worse = [n for n in METHODS if n in overall and overall[n]["MASE"] < auto["MASE"]]
    if worse:
        return ("WARNING: auto loses to " + ", ".join(f"{n} (MASE {overall[n]['MASE']:.4f} vs "
                                                      f"{auto['MASE']:.4f})" for n in worse)
                + " on the test part")
    shown = [n for n in METHODS if n in overall]
    return f"auto is at least as good as each of {', '.join(shown)} on the test part (MASE)"


# ---------------------------------------------------------------- what the verbs print
def train_text(result: dict) -> str:
    """What ``rnnkit forecast train`` prints after training (either kind)."""
    if result["kind"] == "table":
        ev = result["evaluation"]
        lines = [f"\ntest split ({ev.windows} windows, {ev.units} units):", ev.table()]
        if ev.note:
            lines.append(ev.note)
        if ev.coverage is not None:
            lines.append(f"{ev.level:.0%} intervals hold {ev.coverage:.1%} of the test actuals")
        lines += ev.verdicts()
    else:
        lines = []
        test = result["test"]
        if test is not None:
            lines += [f"\ntest part: the last {test['horizon']} steps of {test['series']} "
                      f"series (MASE with period {test['period']})",
                      panel_table(test["overall"]), panel_verdict(test["overall"])]
        lines += choice_lines(result["state"])
    lines.append(f"kept {result['checkpoint']}/ as it was (the run had already finished)"
                 if result.get("finished") else
                 f"saved {result['checkpoint']}/ (trained in {result['seconds']:.1f} s)")
    return "\n".join(line for line in lines if line)


def evaluation_text(metrics: dict, source) -> str:
    """What ``rnnkit forecast evaluate`` prints for a many-series model."""
    return "\n".join([f"{source}: the last {metrics['horizon']} steps of {metrics['series']} "
                      f"series (MASE with period {metrics['period']})",
                      panel_table(metrics["overall"]), panel_verdict(metrics["overall"])])


def frame_text(frame, rows: int = 8) -> str:
    """The first rows of a forecast frame (and how many there are)."""
    text = frame.head(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}")
    more = len(frame) - rows
    return text + (f"\n... {more} more rows" if more > 0 else "")


def actuals_line(frame) -> str:
    known = frame[frame["actual"].notna()]
    err = known["forecast"] - known["actual"]
    return (f"against the {len(known)} known actuals: MAE {err.abs().mean():.4g}, "
            f"RMSE {(err ** 2).mean() ** 0.5:.4g}")


def write_frame(frame, path) -> None:
    """A forecast frame as CSV, atomically."""
    from ...checkpoint import atomic_write

    atomic_write(path, lambda p: frame.to_csv(p, index=False, float_format="%.6g"))


def plot_prediction(predictor, data, path, origin=None, level=None) -> None:
    """History, forecast, interval and actuals of a table model's forecast as an image."""
    from .pipeline import predict_with
    from .plot import plot_forecast

    if predictor.kind != "table":
        raise ValueError("--plot: many-series models write no plot; use --out for the table")
    pred = predict_with(predictor.model, predictor.spec, data, origin=origin, level=level,
                        device=predictor.device)
    plot_forecast(path, pred.columns, pred.history_times, pred.history, pred.times, pred.point,
                  pred.lower, pred.upper, pred.actual, pred.level,
                  title=f"{len(pred.times)}-step forecast from {Path(data).name}")
