"""The metric table: the model next to every baseline on the same windows, and a plain line
for each baseline the model does not beat."""

from __future__ import annotations

import math

from .metrics import METRICS

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
