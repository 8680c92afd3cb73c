"""Time series tables for forecasting: a validated CSV reader, chronological splits, a
per-channel standard scaler fitted on the training rows only, and calendar covariates.

Everything here is plain NumPy (no pandas): the reader refuses what a forecaster cannot use
— missing values (with their line numbers, unless a ``fill`` strategy is given), non-numeric
columns, unparseable / unsorted / duplicated timestamps, constant columns, unknown target
columns — with one line that says what was expected and what was found.

Example:
    >>> ts = read_timeseries("ETTh1.csv", time_col="date", target="OT")
    >>> split = chronological_split(len(ts), (8640, 2880, 2880))
    >>> scaler = StandardScaler(ts.columns).fit(ts.values[: split.train[1]])
    >>> z = scaler.transform(ts.values)                     # (N, C), train mean 0, std 1
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .csv_table import row_index_column

__all__ = [
    "TimeSeries", "read_timeseries", "FILLS", "Split", "chronological_split", "StandardScaler",
    "calendar_features", "infer_step", "future_times", "format_time", "parse_dates",
    "separator_hint",
]

MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}
FILLS = ("ffill", "bfill", "interpolate", "zero")
_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%d.%m.%Y %H:%M",
                 "%d.%m.%Y", "%Y%m%d")


@dataclass
class TimeSeries:
    """A table of numeric channels over time, as read from a CSV file."""

    columns: list[str]  # channel names, in file order (the model's input channels)
    values: np.ndarray  # (N, C) float64, no missing values left
    target: list[str]  # the columns to forecast (a subset of ``columns``)
    times: np.ndarray | None = None  # (N,) datetime64[s] or float64 steps; None: row numbers
    time_col: str | None = None
    lines: np.ndarray | None = None  # (N,) the file line each row came from, for messages
    source: str = ""
    filled: dict[str, int] = field(default_factory=dict)  # column -> values filled

    def __len__(self) -> int:
        return len(self.values)

    @property
    def target_index(self) -> list[int]:
        return [self.columns.index(c) for c in self.target]

    @property
    def has_dates(self) -> bool:
        return self.times is not None and np.issubdtype(self.times.dtype, np.datetime64)


def separator_hint(header) -> str:
    """``"; is the file separated by ';'? ..."`` when a one-column header holds another
    separator (a semicolon CSV from a spreadsheet), else ``""``."""
    if len(header) == 1:
        sep = next((c for c in (";", "\t", "|") if c in str(header[0])), None)
        if sep is not None:
            return (f"; the file seems separated by {sep!r}, and rnnkit reads commas: save it "
                    "as comma-separated")
    return ""


def _columns_arg(value, header: list[str], what: str, source: str,
                 listed: list[str] | None = None) -> list[str]:
    """The columns ``value`` names (a list, or names separated by commas), each one of
    ``header``; a missing one is named with the file's columns (``listed``: all of them,
    where ``header`` leaves the time column out)."""
    names = [s.strip() for s in value.split(",")] if isinstance(value, str) else list(value)
    if not names or any(not n for n in names):
        raise ValueError(f"expected {what} as a column name or a comma-separated list, "
                         f"got {value!r}")
    listed = header if listed is None else listed
    for n in names:
        if n in listed and n not in header:
            raise ValueError(f"{what} column {n!r} is the time column of {source}")
        if n not in header:
            raise ValueError(f"{what} column {n!r} not found in {source}; its columns are: "
                             f"{', '.join(listed)}{separator_hint(listed)}")
    return names


def _parse_time(text: str):
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _TIME_FORMATS:
            try:
                t = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            return None
    if t.tzinfo is not None:  # aware: compare in UTC, store naive
        t = t.astimezone(timezone.utc).replace(tzinfo=None)
    return t


def _lines_text(lines, limit: int = 5) -> str:
    shown = ", ".join(str(x) for x in lines[:limit])
    return shown + (f" (and {len(lines) - limit} more)" if len(lines) > limit else "")


def _fill(col: np.ndarray, how: str) -> np.ndarray:
    """Fill NaNs in one column; ``ffill``/``bfill`` fall back to the other at the ends."""
    col = col.copy()
    bad = np.isnan(col)
    if bad.all():
        return col
    idx = np.arange(len(col))
    if how == "zero":
        col[bad] = 0.0
    elif how == "interpolate":
        col[bad] = np.interp(idx[bad], idx[~bad], col[~bad])  # ends hold the nearest value
    else:
        order = idx if how == "ffill" else idx[::-1]
        last = math.nan
        for i in order:
            if bad[i]:
                col[i] = last
            else:
                last = col[i]
        rest = np.isnan(col)  # leading (ffill) or trailing (bfill) gaps: take the other way
        if rest.any():
            col[rest] = np.interp(idx[rest], idx[~rest], col[~rest])
    return col


def read_timeseries(path: str | Path, *, time_col: str | None = None, target="all",
                    features="all", fill: str | None = None, allow_constant: bool = False,
                    missing_hint: str | None = None) -> TimeSeries:
    """Read and validate a CSV of time series, one row per time step.

    Args:
        path: the CSV file (header row first).
        time_col: the timestamp column (ISO dates, or numbers); None: rows are time steps.
        target: a column name, a comma-separated list, or ``"all"`` (every channel).
        features: the input channels: ``"all"`` (every column but the time column and an
            unnamed first one, a written row index),
            ``"target"`` (the target columns only) or a comma-separated list (targets are
            always added).
        fill: None refuses missing values, naming their lines; or one of ``FILLS``.
        allow_constant: accept constant columns (reading for a model whose scaler was fitted
            on its training data: nothing is standardised with this file's statistics).
        missing_hint: what the missing-values error advises (default: pass --fill ...).
    """
    source = str(path)
    if fill is not None and fill not in FILLS:
        raise ValueError(f"unknown fill strategy {fill!r}; expected one of {', '.join(FILLS)}")
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a BOM is not the header
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise ValueError(f"{source} is empty; expected a header row and one row per step")
        header = [h.strip() for h in header]
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise ValueError(f"{source} repeats column name(s) {', '.join(dup)} in its header")
        rows, lines = [], []
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue  # blank line
            if len(row) != len(header):
                raise ValueError(f"{source} line {reader.line_num}: expected {len(header)} "
                                 f"fields like the header, got {len(row)}")
            rows.append(row)
            lines.append(reader.line_num)
    if time_col is not None and time_col not in header:
        raise ValueError(f"time column {time_col!r} not found in {source}; its columns are: "
                         f"{', '.join(header)}{separator_hint(header)}")
    index = row_index_column(header)
    channels_all = [h for h in header if h not in (time_col, index)]
    if not channels_all:
        raise ValueError(f"{source} has no columns besides the time column {time_col!r}")
    targets = (channels_all if target == "all"
               else _columns_arg(target, channels_all, "target", source, header))
    if features == "all":
        columns = channels_all
    elif features == "target":
        columns = list(targets)
    else:
        chosen = _columns_arg(features, channels_all, "feature", source, header)
        columns = [c for c in channels_all if c in chosen or c in targets]
    if not rows:
        raise ValueError(f"{source} has a header but no data rows")

    lines_arr = np.asarray(lines)
    values = np.empty((len(rows), len(columns)), dtype=np.float64)
    missing: dict[str, list[int]] = {}
    for j, name in enumerate(columns):
        k = header.index(name)
        for i, row in enumerate(rows):
            cell = row[k].strip()
            if cell.lower() in MISSING:
                values[i, j] = math.nan
                missing.setdefault(name, []).append(lines[i])
                continue
            try:
                values[i, j] = float(cell)
            except ValueError:
                hint = ("; leave it out with --features" if features == "all" and name not in
                        targets else "")
                if time_col is None and isinstance(_parse_time(cell), datetime):
                    hint = f"; is it the time column? pass --time-col {name}"
                raise ValueError(f"{source}: column {name!r}, data row {i + 1} (line "
                                 f"{lines[i]}): {cell!r} is not a number{hint}") from None
            if not math.isfinite(values[i, j]):
                raise ValueError(f"column {name!r} holds {cell!r} at line {lines[i]} of "
                                 f"{source}; expected finite numbers")
    filled = {}
    if missing:
        if fill is None:
            where = "; ".join(f"{name} at lines {_lines_text(ls)}" for name, ls in
                              missing.items())
            hint = missing_hint or f"pass --fill {'|'.join(FILLS)}"
            raise ValueError(f"missing values in {source}: {where}; fix the file or {hint}")
        for name, ls in missing.items():
            j = columns.index(name)
            if len(ls) == len(rows):
                raise ValueError(f"column {name!r} has no values at all in {source}")
            values[:, j] = _fill(values[:, j], fill)
            filled[name] = len(ls)

    times = None
    if time_col is not None:
        k = header.index(time_col)
        parsed = []
        for i, row in enumerate(rows):
            t = _parse_time(row[k])
            if t is None:
                raise ValueError(f"cannot read the timestamp {row[k]!r} at line {lines[i]} of "
                                 f"{source}; expected ISO dates like 2016-07-01 00:00:00 "
                                 "or numbers")
            parsed.append(t)
        kinds = {type(t) for t in parsed}
        if len(kinds) > 1:
            i = next(i for i, t in enumerate(parsed) if type(t) is not type(parsed[0]))
            raise ValueError(f"time column {time_col!r} mixes dates and numbers (line "
                             f"{lines[i]} of {source})")
        times = (np.array(parsed, dtype="datetime64[s]") if kinds == {datetime}
                 else np.array(parsed, dtype=np.float64))
        step = np.diff(times)
        zero = np.zeros((), dtype=step.dtype)
        if (step == zero).any():
            i = int(np.argmax(step == zero))
            raise ValueError(f"duplicated timestamp {format_time(times[i])} at lines "
                             f"{lines[i]} and {lines[i + 1]} of {source}; expected one row "
                             "per time step")
        if (step < zero).any():
            i = int(np.argmax(step < zero))
            raise ValueError(f"timestamps are not sorted: line {lines[i + 1]} "
                             f"({format_time(times[i + 1])}) comes after line {lines[i]} "
                             f"({format_time(times[i])}) in {source}; sort the file by "
                             f"{time_col}")
    for j, name in enumerate(columns):
        if not allow_constant and len(rows) > 1 and np.all(values[:, j] == values[0, j]):
            raise ValueError(f"column {name!r} is constant (every row is {values[0, j]:g}) in "
                             f"{source}: it cannot be standardised; leave it out with "
                             "--features")
    return TimeSeries(columns=columns, values=values, target=list(targets), times=times,
                      time_col=time_col, lines=lines_arr, source=source, filled=filled)


def parse_dates(values, errors: str = "raise", groups=None):
    """A pandas Series of datetimes from a column of date texts, read with one format for the
    whole column where one fits: month first or day first (``13/01/2024`` makes ``01/02/2024``
    the 1st of February; where both fit, month first unless only day first gives evenly
    spaced times), else each value on its own. ``groups`` (one key per value: a long table's
    series ids): times are evenly spaced when each series' own are. Times with a zone
    (``+02:00``, ``Z``; mixed offsets across a daylight-saving change too) come back as UTC
    without one: steps and gaps are then counted in real time, and they compare with numbers
    and naive times (a zone-aware column was "'<' not supported between Timedelta and
    int")."""
    import warnings

    import pandas as pd

    def naive(parsed):
        if pd.api.types.is_datetime64_any_dtype(parsed) and \
                getattr(parsed.dt, "tz", None) is not None:
            return parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        return parsed

    values = pd.Series(values)
    if groups is not None:
        keys = pd.Series(groups).to_numpy()

        def regular(parsed) -> bool:  # per series (rows in any order), not the whole column
            every = [_evenly_spaced(np.sort(p.to_numpy()))
                     for _, p in parsed.groupby(keys, sort=False) if len(p) >= 3]
            return bool(every) and all(every)
    else:
        regular = _evenly_spaced
    readings = []
    for kwargs in ({}, {"dayfirst": True}):
        try:
            with warnings.catch_warnings():  # "could not infer format": parsed one by one
                warnings.simplefilter("ignore")
                parsed = pd.to_datetime(values, **kwargs)
        except (ValueError, TypeError, OverflowError):
            continue
        if pd.api.types.is_datetime64_any_dtype(parsed):  # not objects (mixed time zones)
            parsed = naive(parsed)
            if not len(values) or regular(parsed) or str(values.iloc[0]).strip()[:4].isdigit():
                return parsed  # evenly spaced, or year first (ISO): no day-first reading
            readings.append(parsed)
    if readings:
        return next((p for p in readings if regular(p)), readings[0])  # month first: ties
    try:  # mixed offsets (+01:00 then +02:00): one instant each, in UTC
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return naive(pd.to_datetime(values, errors=errors, format="mixed", utc=True))
    except (ValueError, TypeError, OverflowError):
        return pd.to_datetime(values, errors=errors, format="mixed")


def _evenly_spaced(times) -> bool:
    """Whether pandas finds one frequency in ``times`` (evenly spaced, in order)."""
    import pandas as pd

    try:
        return len(times) >= 3 and pd.infer_freq(pd.DatetimeIndex(times)) is not None
    except (ValueError, TypeError):
        return False


def format_time(t) -> str:
    """A timestamp as text: ISO for dates (``2016-07-01 05:00:00``), ``%g`` for numbers."""
    if isinstance(t, np.datetime64):
        return str(t.astype("datetime64[s]")).replace("T", " ")
    return f"{float(t):g}"


# ----------------------------------------------------------------------------------- splits
@dataclass(frozen=True)
class Split:
    """Row ranges ``[start, end)`` of the train, validation and test splits, in time order.

    Validation and test windows take their look-back from the rows just before their start;
    their forecast targets lie inside their own range only.
    """

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]

    def to_dict(self) -> dict:
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}

    @classmethod
    def from_dict(cls, d: dict) -> Split:
        return cls(tuple(d["train"]), tuple(d["val"]), tuple(d["test"]))


def chronological_split(n_rows: int, split=(0.7, 0.1, 0.2)) -> Split:
    """Cut ``n_rows`` into consecutive train / validation / test ranges.

    ``split`` holds three fractions of the rows (``0.7, 0.1, 0.2``; they may sum to less than
    one, leaving the last rows unused) or three row counts (``8640, 2880, 2880``, ETTh1's 12/4/4
    months). A zero validation size gives an empty validation range.
    """
    parts = [s.strip() for s in split.split(",")] if isinstance(split, str) else list(split)
    try:
        nums = [float(p) for p in parts]
    except (TypeError, ValueError):
        nums = []
    if len(nums) != 3 or any(x < 0 or not math.isfinite(x) for x in nums):
        raise ValueError(f"expected the split as three non-negative fractions (0.7,0.1,0.2) "
                         f"or three row counts (8640,2880,2880), got {split!r}")
    if all(x <= 1 for x in nums):  # fractions of the rows
        if sum(nums) > 1 + 1e-9:
            raise ValueError(f"split fractions must sum to at most 1, got {split!r}")
        n_train = int(n_rows * nums[0])
        n_val = int(n_rows * nums[1])
        n_test = int(n_rows * nums[2]) if sum(nums) < 1 - 1e-9 else n_rows - n_train - n_val
    else:
        n_train, n_val, n_test = (int(x) for x in nums)
        if n_train + n_val + n_test > n_rows:
            raise ValueError(f"the split {n_train}+{n_val}+{n_test} rows needs "
                             f"{n_train + n_val + n_test} rows, the data has {n_rows}")
    a, b = n_train, n_train + n_val
    return Split((0, a), (a, b), (b, b + n_test))


# ----------------------------------------------------------------------------------- scaler
class StandardScaler:
    """Per-channel standardisation ``z = (x - mean) / std`` with statistics from training rows.

    Fit it on the training split only (``fit(values[train_start:train_end])``), so no
    validation or test value leaks into the inputs. ``std`` is the population std (ddof 0).
    """

    def __init__(self, columns: list[str] | None = None):
        self.columns = list(columns) if columns is not None else None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.n_rows = 0

    def fit(self, values: np.ndarray) -> StandardScaler:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or len(values) < 2:
            raise ValueError(f"StandardScaler: expected training values of shape (N >= 2, C), "
                             f"got {values.shape}")
        if self.columns is None:
            self.columns = [str(i) for i in range(values.shape[1])]
        if len(self.columns) != values.shape[1]:
            raise ValueError(f"StandardScaler: expected {len(self.columns)} columns, got "
                             f"{values.shape[1]}")
        mean, std = values.mean(0), values.std(0)
        flat = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
        if flat.any():
            j = int(np.argmax(flat))
            raise ValueError(f"StandardScaler: column {self.columns[j]!r} is constant over the "
                             f"{len(values)} training rows (value {mean[j]:g}); it cannot be "
                             "standardised, leave it out with --features")
        self.mean, self.std, self.n_rows = mean, std, len(values)
        return self

    def _check(self, x: np.ndarray, index) -> tuple[np.ndarray, np.ndarray]:
        if self.mean is None:
            raise ValueError("StandardScaler: call fit() first")
        mean, std = (self.mean, self.std) if index is None else (self.mean[index],
                                                                  self.std[index])
        if np.shape(x)[-1] != len(mean):
            raise ValueError(f"StandardScaler: expected {len(mean)} channels in the last "
                             f"dimension, got shape {np.shape(x)}")
        return mean, std

    def transform(self, x, index=None):
        """Standardise ``x`` (..., C); ``index`` picks a subset of the fitted channels."""
        mean, std = self._check(x, index)
        return (x - mean) / std

    def inverse_transform(self, z, index=None):
        """Back to the original units; works on torch tensors and NumPy arrays alike."""
        mean, std = self._check(z, index)
        return z * std + mean

    def scale(self, index=None) -> np.ndarray:
        """The per-channel std: multiply standardised spreads (interval widths) by it."""
        return self.std if index is None else self.std[index]

    def to_dict(self) -> dict:
        return {"columns": self.columns, "mean": self.mean.tolist(), "std": self.std.tolist(),
                "n_rows": self.n_rows}

    @classmethod
    def from_dict(cls, d: dict) -> StandardScaler:
        """Rebuild a scaler saved with ``to_dict``; a malformed one (columns not names, mean
        or std not one finite number per column, a std that is not positive) is a
        ``ValueError`` naming the field."""
        if not isinstance(d, dict):
            raise ValueError(f"StandardScaler.from_dict: expected a dict, got {type(d).__name__}")
        columns = d.get("columns")
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise ValueError(f"StandardScaler.from_dict: columns must be a list of column "
                             f"names, got {columns!r:.80}")
        for key in ("mean", "std"):
            v = d.get(key)
            if not isinstance(v, list) or len(v) != len(columns) or not all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                    for x in v):
                raise ValueError(f"StandardScaler.from_dict: {key} must list one finite number "
                                 f"per column ({len(columns)}), got {v!r:.80}")
        bad = next((i for i, x in enumerate(d["std"]) if x <= 0), None)
        if bad is not None:
            raise ValueError(f"StandardScaler.from_dict: std of column {columns[bad]!r} is "
                             f"{d['std'][bad]!r}; a standard deviation must be positive")
        s = cls(columns)
        s.mean, s.std = np.asarray(d["mean"], float), np.asarray(d["std"], float)
        n_rows = d.get("n_rows", 0)
        if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 0:
            raise ValueError(f"StandardScaler.from_dict: n_rows must be a whole number >= 0, "
                             f"got {n_rows!r:.40}")
        s.n_rows = n_rows
        return s


# ------------------------------------------------------------------------ calendar features
_SECOND = {"minute": 60, "hour": 3600, "day": 86400}


def infer_step(times: np.ndarray):
    """The typical spacing of ``times``: the median difference (timedelta64 or float)."""
    if times is None or len(times) < 2:
        raise ValueError("need at least two timestamps to infer the time step")
    d = np.diff(times)
    if np.issubdtype(d.dtype, np.timedelta64):
        return np.timedelta64(int(np.median(d.astype("timedelta64[s]").astype(np.int64))), "s")
    return float(np.median(d))


def future_times(last, step, horizon: int) -> np.ndarray:
    """The ``horizon`` timestamps after ``last``, ``step`` apart."""
    return last + step * np.arange(1, horizon + 1)


def calendar_features(times: np.ndarray, step=None) -> tuple[np.ndarray, list[str]]:
    """Sin/cos encodings of the calendar cycles finer than a year that the step can resolve.

    hour of day (step < 1 day), day of week (step < 7 days), day of year (always), each as
    ``sin(2 pi phase)`` and ``cos(2 pi phase)``: smooth, bounded, and the same for a timestamp
    whatever split it lies in (no statistics, so no leakage). Returns ``(N, K)`` and names.
    """
    if times is None or not np.issubdtype(np.asarray(times).dtype, np.datetime64):
        raise ValueError("calendar covariates need a time column of dates (--time-col)")
    times = np.asarray(times, dtype="datetime64[s]")
    step = infer_step(times) if step is None else step
    step_s = int(np.asarray(step).astype("timedelta64[s]").astype(np.int64))
    secs = times.astype(np.int64)  # seconds since 1970-01-01 (a Thursday)
    cycles = []
    if step_s < _SECOND["day"]:
        cycles.append(("hour_of_day", (secs % 86400) / 86400.0))
    if step_s < 7 * _SECOND["day"]:
        cycles.append(("day_of_week", ((secs // 86400 + 3) % 7) / 7.0))  # Monday = 0
    year_start = times.astype("datetime64[Y]").astype("datetime64[s]")
    cycles.append(("day_of_year", (times - year_start).astype(np.int64) / (365.25 * 86400)))
    cols, names = [], []
    for name, phase in cycles:
        cols += [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]
        names += [f"{name}_sin", f"{name}_cos"]
    return np.stack(cols, 1).astype(np.float64), names
