"""Many series in long format (``id, time, value`` rows; Nixtla's ``unique_id, ds, y``), read
and checked for forecasting, and the seasonal period from the timestamps' frequency.

``read_panel`` takes a CSV or Parquet path or a pandas DataFrame:

- long format: ``id_col`` names the series column, ``time_col`` the timestamps, ``target`` the
  value column; each series has its own length and start;
- without ``id_col``: a wide table, every ``target`` column (``"all"``: every numeric
  column) becomes one series named after its column.

Checks (one line each): a duplicate ``(id, time)`` row and a horizon below 1 are refused;
unsorted rows are sorted and said once; series with missing target values (unless ``fill``),
irregular timestamps, one row only, or fewer than ``min_length`` rows are skipped with one
warning naming them; when no series is left it is an error. Trailing rows with an empty target
but known covariates are the known future of that series (used by ``predict``). A target or
covariate cell that is neither a number nor empty is refused naming the file, the column and
its data row.

``Panel.notes``: without ``id_col``, a text column that looks like series ids (its values in
runs, or once per date, the dates repeating), and without ``time_col``, a column of dates, are
said in one line with the flags to pass (``train_panel`` logs it as ``note: ...``); a table of
one series (its dates unique) gives none. ``table_notes`` says the same of a one-table run
(modes segrnn, direct, recursive), which reads its CSV elsewhere (``prepare``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...data.csv_table import FLOAT32_MAX, row_index_column

__all__ = ["Series", "Panel", "read_panel", "read_table", "table_notes", "period_from_freq",
           "frequency", "future_index"]

PARQUET = (".parquet", ".pq")


@dataclass
class Series:
    """One series: its id, times, target values and known covariates."""

    id: str
    times: np.ndarray  # (n,) datetime64[ns] or float steps
    y: np.ndarray  # (n,) float64, no NaN
    static: dict = field(default_factory=dict)  # static column -> category (str)
    future: dict = field(default_factory=dict)  # covariate column -> values (n + known future)

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Panel:
    """The series of one table, their frequency and what was said about the input."""

    series: list[Series]
    freq: str | None  # pandas offset alias (``"MS"``, ``"h"``) or None for numeric steps
    step: float | None  # numeric time step (numeric times), else None
    period: int  # seasonal period (1: none)
    warnings: list[str] = field(default_factory=list)
    id_col: str | None = None
    time_col: str | None = None
    target: str = "y"
    notes: list[str] = field(default_factory=list)  # what the table seems to hold besides

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.series]

    def by_id(self) -> dict[str, Series]:
        return {s.id: s for s in self.series}


def read_table(source, columns: list[int] | None = None):
    """A DataFrame from a DataFrame, a ``.csv`` or a ``.parquet`` path; ``columns``: only
    these, by position (a CSV reads no other)."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source.copy() if columns is None else source.iloc[:, columns].copy()
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() in PARQUET:
        frame = pd.read_parquet(path)
        return frame if columns is None else frame.iloc[:, columns]
    try:
        frame = pd.read_csv(path, usecols=columns)
    except pd.errors.EmptyDataError:  # pandas says "No columns to parse from file"
        raise ValueError(f"{path} is empty; expected a header row and the data rows") from None
    if frame.empty:
        raise ValueError(f"{path} has a header but no data rows")
    return frame


def period_from_freq(freq: str | None) -> int | None:
    """The usual seasonal period of a pandas frequency: 24 hourly, 7 daily, 5 business-daily,
    52 weekly, 12 monthly, 4 quarterly, 1 yearly; sub-hourly: the steps in a day. None for an
    unknown frequency."""
    if not freq:
        return None
    import pandas as pd

    off = pd.tseries.frequencies.to_offset(freq)
    code = off.rule_code.split("-")[0].upper()
    by_code = {"D": 7, "B": 5, "W": 52, "MS": 12, "ME": 12, "M": 12, "SMS": 24, "QS": 4,
               "QE": 4, "Q": 4, "YS": 1, "YE": 1, "Y": 1, "A": 1, "AS": 1, "BMS": 12, "BME": 12}
    if off.n == 1 and code in by_code:
        return by_code[code]
    try:
        seconds = pd.Timedelta(off).total_seconds()
    except (ValueError, TypeError):
        return None
    if 0 < seconds < 3600 and 3600 % seconds == 0 and seconds >= 60:
        return int(86400 // seconds) if seconds >= 900 else int(3600 // seconds)
    if 0 < seconds <= 86400 and 86400 % seconds == 0:
        return int(86400 // seconds)
    return None


def frequency(times) -> str | None:
    """The pandas frequency of sorted datetimes (None when they are irregular)."""
    import pandas as pd

    idx = pd.DatetimeIndex(times)
    if len(idx) < 3:
        return None
    try:
        return pd.infer_freq(idx)
    except (ValueError, TypeError):
        return None


def future_index(last, freq: str | None, step: float | None, horizon: int) -> np.ndarray:
    """The ``horizon`` timestamps after ``last``."""
    import pandas as pd

    if freq is None:
        return float(last) + (step or 1.0) * np.arange(1, horizon + 1)
    return pd.date_range(pd.Timestamp(last), periods=horizon + 1, freq=freq)[1:].to_numpy()


def _columns(frame, names, what: str) -> list[str]:
    if names is None or names == "":
        return []
    names = [s.strip() for s in names.split(",")] if isinstance(names, str) else list(names)
    missing = [c for c in names if c not in frame.columns]
    if missing:
        from ...data.timeseries import separator_hint

        raise ValueError(f"{what} column(s) {', '.join(map(repr, missing))} not found; the "
                         f"table's columns are: {', '.join(map(str, frame.columns))}"
                         f"{separator_hint(list(frame.columns))}")
    return names


def _mostly_numbers(col) -> bool:
    """A text column whose filled cells are more than half numbers: values with a typo."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(col) or not (pd.api.types.is_object_dtype(col)
                                                  or pd.api.types.is_string_dtype(col)):
        return False
    text = col.dropna().astype(str).str.strip()
    text = text[text != ""]
    return bool(len(text)) and pd.to_numeric(text, errors="coerce").notna().mean() > 0.5


def _numbers(frame, col, where: str):
    """Column ``col`` as float64 (empty cells NaN); a cell that is not a number is named
    with ``where`` (the file), the column and its data row (1: the row after the header)."""
    import pandas as pd

    values = frame[col]
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=np.float64)
    parsed = pd.to_numeric(values, errors="coerce")
    bad = (parsed.isna() & values.notna()
           & (values.astype(str).str.strip() != "")).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{where}: column {col!r}, data row {row + 1}: "
                         f"{values.iloc[row]!r} is not a number")
    return parsed.to_numpy(dtype=np.float64)


def _to_long(frame, id_col, time_col, target, where: str = "the table"):
    """(frame with columns id, time, y, ...), the target name."""
    import pandas as pd

    if id_col is not None:
        _columns(frame, [id_col], "id")
        if target in (None, "all"):
            if "y" not in frame.columns:
                raise ValueError("name the value column with --target (long format has one "
                                 f"value column); the table's columns are: "
                                 f"{', '.join(map(str, frame.columns))}")
            target = "y"
        _columns(frame, [target], "target")
        frame = frame.assign(**{target: _numbers(frame, target, where)})
        return frame.rename(columns={id_col: "__id", target: "__y"}), target
    # every numeric column; a column of numbers with a typo in it is one too, and its typo is
    # named below, not the column left out in silence; not a written row index
    index = row_index_column(list(frame.columns))
    keep = [c for c in frame.columns if c != time_col and (c != index or target not in
                                                            (None, "all"))]
    cols = ([c for c in keep if pd.api.types.is_numeric_dtype(frame[c])
             or _mostly_numbers(frame[c])] if target in (None, "all")
            else _columns(frame, target, "target"))
    if not cols:
        raise ValueError("the table has no numeric column to forecast")
    base = frame[[time_col]] if time_col else pd.DataFrame(index=frame.index)
    parts = []
    for c in cols:
        part = base.copy()
        part["__id"], part["__y"] = str(c), _numbers(frame, c, where)
        parts.append(part)
    return pd.concat(parts, ignore_index=True), ",".join(map(str, cols))


def _times(frame, time_col):
    import pandas as pd

    from ...data.timeseries import parse_dates

    if time_col is None:  # rows are steps, per series
        return frame.groupby("__id", sort=False).cumcount().astype(float).to_numpy(), False
    col = frame[time_col]
    if pd.api.types.is_integer_dtype(col) and len(col) and col.between(10000101, 99991231).all():
        ymd = pd.to_datetime(col.astype(str), format="%Y%m%d", errors="coerce")
        if ymd.notna().all():  # 20240131: a date written as a number (as steps: gaps of 70)
            return ymd.to_numpy(), True
    if pd.api.types.is_numeric_dtype(col):
        return col.astype(float).to_numpy(), False
    try:  # one format for the column (13/01/2024 reads day first), evenly spaced per series
        parsed = parse_dates(col, groups=frame["__id"])
    except (ValueError, TypeError):
        bad = next(v for v in col if pd.isna(pd.to_datetime(v, errors="coerce")))
        raise ValueError(f"cannot read the timestamp {bad!r} in column {time_col!r}; expected "
                         "dates like 2020-01-31 or numbers") from None
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.to_numpy(), True


def _names(ids, limit: int = 5) -> str:
    shown = ", ".join(map(str, ids[:limit]))
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def read_panel(source, *, id_col: str | None = None, time_col: str | None = None,
               target: str | None = "all", static=None, covariates=None,
               fill: str | None = None, min_length: int = 2, period: int | None = None,
               warn=None) -> Panel:
    """Read and check the series of ``source`` (see the module docstring).

    ``min_length``: series with fewer target values are skipped (warned by name); ``warn``:
    called with each warning line (default: collected in ``Panel.warnings`` only).
    """
    from ...data.timeseries import FILLS

    if fill is not None and fill not in FILLS:
        raise ValueError(f"unknown fill strategy {fill!r}; expected one of {', '.join(FILLS)}")
    frame = read_table(source)
    static_cols = _columns(frame, static, "static")
    cov_cols = _columns(frame, covariates, "covariate")
    if time_col is not None:  # named in the user's columns, not the long table's __id/__y
        _columns(frame, [time_col], "time")
    where = "the table" if _is_frame(source) else str(source)
    long, target_name = _to_long(frame, id_col, time_col, target, where)
    _roles_apart(id_col, time_col, target_name if id_col else None, static_cols, cov_cols)
    for c in cov_cols if id_col is not None else ():  # long format: the file's own rows
        long[c] = _numbers(long, c, where)
    used = {id_col, time_col, *static_cols, *cov_cols, *target_name.split(",")} - {None}
    long["__id"] = long["__id"].astype(str)
    times, dated = _times(long, time_col)
    long["__t"] = times
    warnings: list[str] = []
    dup = long.duplicated(["__id", "__t"], keep=False)
    if dup.any():
        row = long[dup].iloc[0]
        same = (long["__id"] == row["__id"]) & (long["__t"] == row["__t"])
        ids = _id_column(frame, used, frame[time_col]) if id_col is None else None
        hint = (f"; column {ids[0]!r} {ids[1]}, as series ids do: if the file holds several "
                f"series, pass --id-col {ids[0]}" if ids else "")
        raise ValueError(f"duplicate (id, time) rows: series {row['__id']!r} at {row['__t']} "
                         f"appears {int(same.sum())} times; expected one row per series and "
                         f"time{hint}")
    notes = _layout_notes(frame, used, id_col, time_col, target_name)
    ordered = long.groupby("__id", sort=False)["__t"].apply(
        lambda t: bool(t.is_monotonic_increasing)).all()
    if not ordered:
        warnings.append("the rows were not sorted by time within each series; sorted them")
    first_seen = {k: i for i, k in enumerate(dict.fromkeys(long["__id"]))}
    long = long.assign(__order=long["__id"].map(first_seen)).sort_values(
        ["__order", "__t"], kind="stable")
    series, skipped = _split_series(long, dated, static_cols, cov_cols, fill)
    freq, step = None, None
    if not series:
        _nothing_left(skipped)
    if dated:
        freq = _common_freq(series, skipped)
    elif time_col is not None:
        step = _common_step(series, skipped)
    else:
        step = 1.0
    short = [s.id for s in series if len(s) < max(2, min_length)]
    if short:
        skipped.setdefault(f"fewer than {max(2, min_length)} values", []).extend(short)
        series = [s for s in series if len(s) >= max(2, min_length)]
    for why, ids in skipped.items():
        if ids:
            warnings.append(f"skipped {len(ids)} series ({why}): {_names(ids)}")
    if not series:
        _nothing_left(skipped)
    if period is None:
        period = period_from_freq(freq) or 1
    for line in warnings:
        if warn is not None:
            warn(line)
    return Panel(series, freq, step, int(period), warnings, id_col, time_col, target_name,
                 notes)


def _is_frame(source) -> bool:
    import pandas as pd

    return isinstance(source, pd.DataFrame)


# ------------------------------------------------- columns the user may have meant to name
def _dates_column(frame, used) -> str | None:
    """The first column not ``used`` whose values read as dates (a spread sample of up to
    50 texts that are not numbers and parse as at least two different dates), else None."""
    import warnings

    import pandas as pd

    for c in frame.columns:
        if c in used:
            continue
        col = frame[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            return c
        if not pd.api.types.is_object_dtype(col) and not pd.api.types.is_string_dtype(col):
            continue
        text = col.dropna().astype(str).str.strip()
        text = text[text != ""]
        if len(text) < 2:
            continue
        sample = text.iloc[np.unique(np.linspace(0, len(text) - 1, 50).astype(int))]
        if not sample.str.contains(r"\d").all() or \
                pd.to_numeric(sample, errors="coerce").notna().any():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
            except (ValueError, TypeError, OverflowError):
                continue
        if parsed.notna().all() and parsed.nunique() > 1:
            return c
    return None


def _id_column(frame, used, dates=None) -> tuple[str, str] | None:
    """(name, how it looks) of the first column not ``used`` that looks like series ids: text,
    no empty cell, 2 or more values each on at least two rows, and either each value in one
    run of rows (one block per series) or, with ``dates``, one row per value and date; with
    ``dates`` the dates must repeat (several series at the same times) and never twice for a
    value. A table of one series (its dates unique) has none."""
    import pandas as pd

    if dates is not None and (dates.is_unique or dates.isna().any()):
        return None  # one timeline: one series
    for c in frame.columns:
        col = frame[c]
        if c in used or pd.api.types.is_numeric_dtype(col) or \
                pd.api.types.is_datetime64_any_dtype(col) or col.isna().any():
            continue
        values = col.astype(str)
        k = int(values.nunique())
        if k < 2 or 2 * k > len(values):
            continue
        if dates is not None and pd.DataFrame({"i": values.to_numpy(),
                                               "d": dates.to_numpy()}).duplicated().any():
            continue
        runs = int((values != values.shift()).sum())
        if runs == k:
            return c, f"repeats {k} values in runs"
        if dates is not None:
            return c, f"repeats {k} values, each once per date"
    return None


def _layout_notes(frame, used, id_col, time_col, target, panel: bool = True) -> list[str]:
    """One line when the table seems to hold what was not named: without ``id_col``, a column
    that looks like series ids (``_id_column``: the rows of several series would be read as
    one); without ``time_col``, a column of dates (rows are read as steps). ``[]`` when
    neither, or when both were named. ``panel`` False: a one-table run, whose modes take no
    id column, so its advice for several series is a many-series mode."""
    if id_col is not None and time_col is not None:
        return []
    dates = _dates_column(frame, used) if time_col is None else None
    ids = None
    if id_col is None and time_col is None:
        ids = _id_column(frame, used, None if dates is None else frame[dates])
    values = target.split(",")
    one = "one series" if len(values) == 1 else \
        f"one series per value column ({', '.join(values)})"
    if ids is not None:
        both = f", and column {dates!r} holds dates" if dates else ""
        flags = ("" if panel else "--mode auto ") + f"--id-col {ids[0]}" + (
            f" --time-col {dates}" if dates else "")
        why = "" if panel else " (a one-table mode reads one series)"
        return [f"column {ids[0]!r} {ids[1]}, as series ids do{both}; "
                f"{'neither is' if dates else 'it is not'} read, so all {len(frame)} rows are "
                f"{one}. If the file holds several series, pass {flags}{why}"]
    if dates is not None:
        return [f"column {dates!r} holds dates but is not read without --time-col: rows are "
                f"read as steps, so the dates set neither the seasonal period nor the "
                f"forecasts' times; to use them, pass --time-col {dates}"]
    return []


def table_notes(source, *, time_col: str | None = None, target="all",
                features="all") -> list[str]:
    """``Panel.notes`` for a one-table run (modes segrnn, direct, recursive) of ``source``:
    it reads ``time_col`` and the ``target`` and ``features`` columns (``"all"``, names as
    ``a,b``; features also ``"target"``), and a column left unread that looks like series ids
    or dates is said (``_layout_notes``). ``[]`` with ``time_col`` (these modes take no id
    column) or when pandas cannot read the file: the table reader says what is wrong. Of a
    CSV it reads the header, then only the columns left unread (none: nothing more), since the
    run itself reads the file again."""
    if time_col is not None:
        return []

    def names(arg) -> list[str]:
        parts = arg.split(",") if isinstance(arg, str) else list(arg)
        return [str(c).strip() for c in parts]

    try:
        whole = _unless_csv(source)  # a DataFrame or a parquet file: read once, whole
        every = [str(c).strip() for c in  # as the table reader names them
                 (whole.columns if whole is not None else _csv_header(source))]
        targets = every if target in (None, "all") else names(target)
        inputs = every if features == "all" else targets if features == "target" else \
            names(features)
        used = {*targets, *inputs}
        unread = [i for i, c in enumerate(every) if c not in used]
        if not unread:
            return []
        frame = read_table(whole if whole is not None else source, columns=unread)
    except (OSError, ValueError):
        return []
    frame.columns = [every[i] for i in unread]
    return _layout_notes(frame, used, None, None, ",".join(targets), panel=False)


def _unless_csv(source):
    """A DataFrame itself, a parquet file read whole, or None for a CSV path (read by its
    columns instead)."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source  # read_table copies only the columns taken from it
    return read_table(source) if Path(source).suffix.lower() in PARQUET else None


def _csv_header(path) -> list[str]:
    """A CSV's column names as pandas reads them (a repeated one gets ``.1``), no rows."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        return list(pd.read_csv(path, nrows=0).columns)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty") from None


def _roles_apart(id_col, time_col, target, static_cols, cov_cols) -> None:
    """A column has one role: the id, time and target columns are neither static nor
    covariates, and no column is both."""
    taken = {c: role for c, role in ((id_col, "id"), (time_col, "time"), (target, "target"))
             if c is not None}
    for cols, what in ((static_cols, "static"), (cov_cols, "covariate")):
        for c in cols:
            if c in taken:
                raise ValueError(f"{what} column {c!r} is already the {taken[c]} column; "
                                 f"a column has one role")
    both = sorted(set(static_cols) & set(cov_cols))
    if both:
        raise ValueError(f"column {both[0]!r} is named both static and covariate; a column "
                         "has one role")


def _nothing_left(skipped) -> None:
    raise ValueError("no series can be forecast: " + "; ".join(
        f"{len(ids)} {why}" for why, ids in skipped.items() if ids))


def _split_series(long, dated, static_cols, cov_cols, fill):
    series, skipped = [], {"missing target values": [], "one row only": []}
    for key, g in long.groupby("__id", sort=False):
        y = g["__y"].to_numpy(dtype=np.float64)  # numbers: _to_long named any other cell
        big = np.isfinite(y) & (np.abs(y) > FLOAT32_MAX)
        if big.any():  # the network computes in float32, the classical methods overflow
            raise ValueError(f"series {key!r} holds {y[big][0]:g}, beyond float32's range "
                             f"(±{FLOAT32_MAX:.4g}); rescale the target")
        if len(g) == 1:
            skipped["one row only"].append(key)
            continue
        known = np.isfinite(y)
        last = len(y) if known.all() else int(np.nonzero(known)[0][-1]) + 1 if known.any() else 0
        future_rows = bool(cov_cols) and last < len(y)  # trailing empty targets: known future
        core = y[:last] if future_rows else y
        if not np.isfinite(core).all():
            if fill is None or not np.isfinite(core).any():
                skipped["missing target values"].append(key)
                continue
            core = _fill(core, fill)
        st = {c: str(g[c].iloc[0]) for c in static_cols}
        fut = {c: g[c].to_numpy(dtype=np.float64) for c in cov_cols}
        if any(not np.isfinite(v).all() for v in fut.values()):
            skipped.setdefault("missing covariate values", []).append(key)
            continue
        t = g["__t"].to_numpy()
        series.append(Series(str(key), t[:len(core)], core, st, fut))
    return series, skipped


def _fill(y: np.ndarray, how: str) -> np.ndarray:
    from ...data.timeseries import _fill as fill_column

    return fill_column(y, how)


def _common_freq(series, skipped) -> str | None:
    """One pandas frequency for all series; series that do not follow it are skipped."""
    freqs = [frequency(s.times) for s in series]
    known = [f for f in freqs if f]
    if not known:
        if series and all(len(s) < 3 for s in series):
            return None
        raise ValueError("irregular timestamps: no series has evenly spaced times (fill the "
                         "gaps so every series has one row per step)")
    freq = max(set(known), key=known.count)
    bad = [s.id for s, f in zip(series, freqs, strict=True) if f != freq and len(s) >= 3]
    if bad:
        skipped.setdefault(f"irregular timestamps, expected a step of {freq}", []).extend(bad)
        series[:] = [s for s in series if s.id not in set(bad)]
    return freq


def _common_step(series, skipped) -> float:
    steps = [np.diff(s.times.astype(float)) for s in series]
    allsteps = np.concatenate([d for d in steps if len(d)]) if steps else np.ones(1)
    step = float(np.median(allsteps)) if len(allsteps) else 1.0
    bad = [s.id for s, d in zip(series, steps, strict=True) if len(d) and not np.allclose(d, step)]
    if bad:
        skipped.setdefault(f"irregular timestamps, expected a step of {step:g}", []).extend(bad)
        series[:] = [s for s in series if s.id not in set(bad)]
    return step
