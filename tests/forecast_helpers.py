"""Generated series for the forecasting tests: seasonal + trend + noise, written as CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def seasonal_series(n: int = 720, period: int = 24, noise: float = 0.3, trend: float = 0.01,
                    seed: int = 0) -> np.ndarray:
    """(n, 2): a 'load' with trend + daily season + noise, a 'temp' with its own phase."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    load = 10 + trend * t + 3 * np.sin(2 * np.pi * t / period) + rng.normal(0, noise, n)
    temp = 5 + 2 * np.cos(2 * np.pi * t / period) + rng.normal(0, noise, n)
    return np.stack([load, temp], 1)


def hourly_times(n: int, start: str = "2020-01-01T00:00") -> np.ndarray:
    return np.datetime64(start, "s") + np.arange(n) * np.timedelta64(1, "h")


def write_csv(path: Path, values: np.ndarray, columns=("load", "temp"), times=None,
              time_col: str = "date", cells: dict | None = None) -> Path:
    """Write a CSV; ``cells`` overrides single cells: {(row, column_name): text}."""
    n = len(values)
    times = hourly_times(n) if times is None else times
    header = ([time_col] if time_col else []) + list(columns)
    lines = [",".join(header)]
    for i in range(n):
        row = [str(times[i]).replace("T", " ")] if time_col else []
        row += [f"{v:.6f}" for v in values[i]]
        for (r, col), text in (cells or {}).items():
            if r == i:
                row[header.index(col)] = text
        lines.append(",".join(row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def trending_panel(n: int = 64, series: int = 4, base: float = 50.0, level_step: float = 0.0):
    """A wide table (pandas): every column a positive series with a trend and a season of 4;
    column i starts at ``base + level_step * i`` (levels far apart: ``level_step`` > 0)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    t = np.arange(n)
    return pd.DataFrame({f"s{i}": base + level_step * i + (i + 1) * 0.5 * t
                         + 5 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 1, n)
                         for i in range(series)})


def table_and_wide(root: Path, table_steps: int, panel_steps: int) -> tuple[Path, Path]:
    """(a one-table CSV of ``table_steps`` rows, a wide CSV of 4 series of ``panel_steps``)
    in ``root``: one input for the table modes and one for the many-series modes."""
    table = write_csv(root / "table.csv", seasonal_series(table_steps))
    wide = root / "wide.csv"
    trending_panel(panel_steps, 4).to_csv(wide, index=False)
    return table, wide
