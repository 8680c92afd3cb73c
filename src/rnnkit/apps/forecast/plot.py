"""Forecast plots: history, forecast, interval band and the actuals where they are known.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend switch), one
panel per target channel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_forecast", "PLOT_SUFFIXES"]

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def plot_forecast(path: str | Path, columns: list[str], history_t, history, forecast_t, point,
                  lower=None, upper=None, actual=None, level: float | None = None,
                  title: str = "") -> Path:
    """Write a PNG with one panel per column.

    Args:
        columns: T channel names.
        history_t, history: (N,) times and (N, T) values before the forecast.
        forecast_t, point: (H,) times and (H, T) point forecasts.
        lower, upper: (H, T) interval bounds or None; ``level`` labels the band.
        actual: (H, T) the true values where known (NaN where not) or None.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    history, point = np.asarray(history, float), np.asarray(point, float)
    n = len(columns)
    fig = Figure(figsize=(10, 2.6 * n + 0.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for j, (ax, name) in enumerate(zip(axes, columns, strict=True)):
        ax.plot(history_t, history[:, j], color="0.35", lw=1.0, label="history")
        if lower is not None and upper is not None:
            band = f"{level:.0%} interval" if level else "interval"
            ax.fill_between(forecast_t, np.asarray(lower)[:, j], np.asarray(upper)[:, j],
                            color="tab:blue", alpha=0.2, lw=0, label=band)
        if actual is not None and np.isfinite(np.asarray(actual, float)[:, j]).any():
            ax.plot(forecast_t, np.asarray(actual, float)[:, j], color="black", lw=1.0,
                    label="actual")
        ax.plot(forecast_t, point[:, j], color="tab:blue", lw=1.6, label="forecast")
        ax.axvline(forecast_t[0], color="0.6", ls=":", lw=1)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if j == 0:
            ax.legend(loc="upper left", fontsize=8, ncol=4)
    if title:
        axes[0].set_title(title)
    if np.issubdtype(np.asarray(forecast_t).dtype, np.datetime64):
        fig.autofmt_xdate()
    fig.tight_layout()
    from ...checkpoint import atomic_write  # whole or not at all, its folder made

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"  # the name's, not the temporary file's
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format=fmt))
    return path
