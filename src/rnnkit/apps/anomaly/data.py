"""Reading and checking the anomaly application's two inputs: one stream, or many sequences.

Bad input is refused with one line naming what was wrong and where (file lines count the
header as line 1): a stream shorter than the window, gaps and repeated timestamps (unless
``allow_gaps``), missing readings (unless ``fill``, which reports the lines it filled),
non-numeric cells, sequences of unequal length.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...data.classification import names_row
from ...data.csv_table import row_index_column
from ...data.timeseries import parse_dates, separator_hint
from ...data.ts_file import is_ts, read_ts

__all__ = ["Stream", "Sequences", "read_stream", "read_sequences", "lines_text",
           "calendar_features"]

log = logging.getLogger("rnnkit.anomaly")


def lines_text(lines, limit: int = 5) -> str:
    """``"3, 7, 9 (and 4 more)"``."""
    lines = [int(x) for x in lines]
    shown = ", ".join(str(x) for x in lines[:limit])
    return shown + (f" (and {len(lines) - limit} more)" if len(lines) > limit else "")


@dataclass
class Stream:
    """One long series: ``values`` (N, F) in time order, with times and optional labels."""

    values: np.ndarray  # (N, F) float64
    columns: list[str]  # the value columns
    times: np.ndarray | None = None  # (N,) as written in the file (None: row numbers)
    time_col: str | None = None
    labels: np.ndarray | None = None  # (N,) 0/1
    lines: np.ndarray | None = None  # (N,) file line of each row
    source: str = ""
    filled: list[int] = field(default_factory=list)  # lines whose NaN readings were filled
    covariates: np.ndarray | None = None  # (N, C) known inputs (calendar), or None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def inputs(self) -> np.ndarray:
        """What the model reads per reading: the values, then the covariates (N, F + C)."""
        return self.values if self.covariates is None else np.hstack([self.values,
                                                                      self.covariates])


def calendar_features(times, source: str = "the data") -> np.ndarray:
    """(N, 4): sin/cos of the time of day and of the day of the week of each timestamp.

    Numbers are Unix times, in seconds or milliseconds by their size (1.7e9 is 2023 in
    seconds; read as nanoseconds it was 1970-01-01 00:00:01.7 for every row); other numbers
    (step counts) are refused."""
    series = pd.Series(times)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numbers = series.astype(float)
        for unit, low, high in (("s", 1e8, 1e10), ("ms", 1e11, 1e13)):
            if len(numbers) and numbers.between(low, high).all():
                return _calendar(pd.to_datetime(numbers, unit=unit))
        raise ValueError(f"calendar features need dates; {source} has numeric times "
                         f"({numbers.iloc[0]:g}, ...) that are no Unix time in seconds or "
                         "milliseconds")
    parsed = parse_dates(times, errors="coerce")
    if parsed.isna().any():
        i = int(np.argmax(parsed.isna().to_numpy()))
        raise ValueError(f"calendar features need dates; {source} has "
                         f"{pd.Series(times).iloc[i]!r} at row {i + 1}")
    return _calendar(parsed)


def _calendar(parsed: pd.Series) -> np.ndarray:
    day = (parsed.dt.hour * 3600 + parsed.dt.minute * 60 + parsed.dt.second).to_numpy() / 86400
    week = (parsed.dt.dayofweek.to_numpy() + day) / 7
    angles = 2 * np.pi * np.stack([day, week], 1)  # (N, 2)
    return np.concatenate([np.sin(angles), np.cos(angles)], 1)


@dataclass
class Sequences:
    """Many short series of one length: ``values`` (N, T, 1), one per row, with labels."""

    values: np.ndarray  # (N, T, 1) float64
    labels: np.ndarray | None = None  # (N,) as text, or None
    lines: np.ndarray | None = None
    source: str = ""


def _frame(source, what: str, header="infer") -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        # times kept as the index (a DatetimeIndex) become the first column; any other
        # index (a row id) is dropped, not taken for the time column
        keep = isinstance(source.index, pd.DatetimeIndex)
        return source.reset_index(drop=not keep), "the frame"
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"anomaly: expected a CSV path or a pandas DataFrame of {what}, got "
                         f"{type(source).__name__} (pd.DataFrame(...) wraps an array)")
    path = os.fspath(source)
    if not path:
        raise ValueError(f"anomaly: no data given; expected {what}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder; expected a CSV file of {what}")
    if not os.path.exists(path):  # as the other verbs say it (was "[Errno 2] No such file")
        raise FileNotFoundError(f"no such CSV file: {path}")
    try:
        frame = pd.read_csv(path, header=header, sep=None if path.endswith(".tsv") else ",",
                            engine="python" if path.endswith(".tsv") else "c",
                            skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty; expected {what}") from None
    filled = np.flatnonzero(frame.notna().any(axis=1).to_numpy())
    frame = frame.iloc[:filled[-1] + 1 if len(filled) else 0]  # blank lines at the end: none
    if frame.empty:
        raise ValueError(f"{path} has no data rows; expected {what}")
    return frame, path


def _numeric(frame: pd.DataFrame, columns, source: str, offset: int) -> np.ndarray:
    """The columns as float64 (NaN for empty cells); non-numeric cells are refused."""
    out = np.empty((len(frame), len(columns)))
    for j, c in enumerate(columns):
        col = pd.to_numeric(frame[c], errors="coerce")
        bad = col.isna() & frame[c].notna() & (frame[c].astype(str).str.strip() != "")
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise ValueError(f"column {c!r} is not numeric: {frame[c].iloc[i]!r} at line "
                             f"{i + offset} of {source}{separator_hint([c])}")
        out[:, j] = col.to_numpy(dtype=np.float64)
    if not np.isfinite(out[~np.isnan(out)]).all():
        i = int(np.argmax(np.isinf(out).any(1)))
        raise ValueError(f"infinite reading at line {i + offset} of {source}")
    # the model reads float32: a reading past its range is inf there, and the likelihood's
    # baseline NaN for hundreds of rows after it
    huge = np.abs(np.nan_to_num(out)) > np.finfo(np.float32).max
    if huge.any():
        i, j = (int(k[0]) for k in np.nonzero(huge))
        raise ValueError(f"reading {out[i, j]:g} at line {i + offset} of {source} is beyond "
                         f"float32's range (±{np.finfo(np.float32).max:.3g}); rescale the "
                         "column")
    return out


def _fill_nan(values: np.ndarray, how: str | None, lines: np.ndarray, source: str,
              what: str = "readings", within_rows: bool = False) -> list[int]:
    """Fill NaNs in place: down each column of a stream (N, F), or along each row of
    sequences (``within_rows``: (N, T), one sequence per row, never from its neighbours)."""
    bad = np.isnan(values).any(axis=tuple(range(1, values.ndim)))
    if not bad.any():
        return []
    where = lines[bad]
    if how is None:
        raise ValueError(f"missing {what} in {source} at lines {lines_text(where)}; fix the "
                         "file or pass --fill ffill|interpolate")
    flat = values.T if within_rows else values  # a view: filled in place
    for j in range(flat.shape[1]):
        col = flat[:, j]
        nan = np.isnan(col)
        if nan.all():
            whose = f"the sequence at line {lines[j]}" if within_rows else "a value column"
            raise ValueError(f"anomaly: {whose} of {source} has no readings at all")
        idx = np.arange(len(col))
        if how == "interpolate":
            col[nan] = np.interp(idx[nan], idx[~nan], col[~nan])
        else:  # ffill; leading NaNs take the first reading
            keep = np.where(nan, 0, idx)
            np.maximum.accumulate(keep, out=keep)
            first = int(np.argmax(~nan))
            keep[: first] = first
            col[:] = col[keep]
    log.warning("anomaly: filled missing %s (%s) at lines %s of %s", what, how,
                lines_text(where), source)
    return [int(x) for x in where]


def _check_times(times: pd.Series, lines: np.ndarray, source: str, allow_gaps: bool) -> None:
    parsed = parse_dates(times, errors="coerce") \
        if not pd.api.types.is_numeric_dtype(times) else times.astype(float)
    if parsed.isna().any():
        i = int(np.argmax(parsed.isna().to_numpy()))
        raise ValueError(f"cannot read the timestamp {times.iloc[i]!r} at line {lines[i]} of "
                         f"{source}; expected dates like 2014-04-01 00:00:00 or numbers")
    step = np.diff(parsed.to_numpy())
    if len(step) == 0:
        return
    zero = np.zeros((), dtype=step.dtype)
    if allow_gaps:
        return
    if (step < zero).any():
        i = int(np.argmax(step < zero))
        raise ValueError(f"timestamps are not sorted: line {lines[i + 1]} comes before line "
                         f"{lines[i]} in time in {source}; sort the file or pass "
                         "--allow-gaps to take rows in file order")
    if (step == zero).any():
        i = int(np.argmax(step == zero))
        raise ValueError(f"repeated timestamp {times.iloc[i]} at lines {lines[i]} and "
                         f"{lines[i + 1]} of {source}; pass --allow-gaps to take rows in order")
    values, counts = np.unique(step, return_counts=True)
    usual = values[np.argmax(counts)]
    off = step != usual
    if off.any():
        i = int(np.argmax(off))
        raise ValueError(f"gap in the timestamps between lines {lines[i]} and {lines[i + 1]} "
                         f"of {source} ({times.iloc[i]} -> {times.iloc[i + 1]}; "
                         f"{int(off.sum())} uneven steps); pass --allow-gaps to take rows in "
                         "order")


STEPS = "none"  # a checkpoint's time column when it was trained on rows as steps
# columns taken as 0/1 labels without --label-col (NAB-style files call them is_anomaly);
# never read as values
LABEL_NAMES = ("label", "is_anomaly", "anomaly")


def read_stream(source, config, *, min_rows: int, labels: bool | None = None) -> Stream:
    """Read and check a stream CSV (or DataFrame) as ``config`` describes it.

    ``labels``: True requires the label column, None uses it when present.
    """
    frame, name = _frame(source, "a stream (a time column and value columns)")
    cols = [str(c) for c in frame.columns]
    frame.columns = cols
    # a file of one column: no time column, the rows are the steps (as forecast without one)
    steps = (config.time_col is None and len(cols) == 1) or config.time_col == STEPS
    time_col = None if steps else config.time_col if config.time_col is not None else cols[0]
    label_col = config.label_col or next((c for c in LABEL_NAMES if c in cols), None)
    for what, c in (("time", time_col), ("label", label_col)):
        if c is not None and c not in cols:
            if what == "label" and labels is None and config.label_col is None:
                label_col = None  # the default "label" column may be absent; a named one not
                continue
            raise ValueError(f"{what} column {c!r} not found in {name}; its columns are: "
                             f"{', '.join(cols)}{separator_hint(cols)}")
    if labels and label_col is None:
        raise ValueError(f"{name} has no label column; pass --label-col (0/1 per row)")
    index = row_index_column(cols)  # the time column when none is named, else no value
    value_cols = list(config.value_cols) or [c for c in cols if c not in (time_col, label_col,
                                                                          index)]
    implicit = labels is None and config.label_col is None  # the default "label", optional
    missing = [c for c in value_cols if c not in cols]
    if missing:
        raise ValueError(f"value column(s) {', '.join(missing)} not found in {name}; its "
                         f"columns are: {', '.join(cols)}{separator_hint(cols)}")
    if not value_cols:
        raise ValueError(f"{name} has no value column besides the time column {time_col!r}"
                         f"{separator_hint(cols)}")
    lines = np.arange(len(frame)) + 2
    try:
        values = _numeric(frame, value_cols, name, 2)
    except ValueError as e:  # the times in another column than the first (after an index)
        if config.time_col is not None or config.value_cols or time_col is None:
            raise
        raise ValueError(f"{e}; the first column, {time_col!r}, was taken as the time: if "
                         "this column holds the times, name it with --time-col") from None
    if time_col is not None:
        _check_times(frame[time_col], lines, name, config.allow_gaps)
    if len(frame) < min_rows:
        raise ValueError(f"the stream in {name} has {len(frame)} readings, shorter than the "
                         f"window ({min_rows}); give a longer stream (a model trained with a "
                         "smaller --window reads shorter ones)")
    filled = _fill_nan(values, config.fill, lines, name)
    y = None
    if label_col is not None:
        lab = pd.to_numeric(frame[label_col], errors="coerce").to_numpy()
        if np.isnan(lab).any() or not np.isin(lab, (0, 1)).all():
            i = int(np.argmax(np.isnan(lab) | ~np.isin(lab, (0, 1))))
            bad = frame[label_col].iloc[i]
            shown = (bad.item() if hasattr(bad, 'item') else bad)
            if implicit:  # scoring and training do not need them: a column named label
                log.warning("anomaly: column %r holds %r at line %d of %s, not 0/1 labels; "
                            "not used", label_col, shown, lines[i], name)  # (not an error)
                lab = None
            else:
                raise ValueError(f"label column {label_col!r} holds {shown!r} at line "
                                 f"{lines[i]} of {name}; expected 0 or 1")
        y = None if lab is None else lab.astype(np.int64)
    times = frame[time_col].to_numpy() if time_col is not None else np.arange(len(frame))
    cov = calendar_features(times, name) if getattr(config, "calendar", False) else None
    return Stream(values=values, columns=value_cols, times=times, time_col=time_col,
                  labels=y, lines=lines, source=name, filled=filled, covariates=cov)


def read_sequences(source, config, *, length: int | None = None) -> Sequences:
    """Read sequences, one per row, label first (UCR layout) or in ``config.label_col``, or
    from a file in the archive's .ts format (one feature, one length; its labels).

    ``length``: the trained length; rows of ``length`` values carry no label, rows of
    ``length + 1`` values carry one. Any other width is refused.
    """
    if isinstance(source, (str, os.PathLike)) and _ts_file(source):
        return _ts_sequences(os.fspath(source), length)
    frame, name = _frame(source, "sequences, one per row", header=None)
    first = frame.iloc[0].astype(str).str.strip()
    has_header = config.label_col is not None and config.label_col in set(first)
    second = (["" if pd.isna(v) else str(v).strip() for v in frame.iloc[1]]
              if len(frame) > 1 else None)
    cells = ["" if pd.isna(v) else c for v, c in zip(frame.iloc[0], first, strict=True)]
    offset = 1
    if (has_header or names_row(cells, second)
            or pd.to_numeric(first.iloc[1:], errors="coerce").isna().all()):
        frame = frame.iloc[1:].reset_index(drop=True)
        frame.columns = cells
        offset = 2
        if frame.empty:
            raise ValueError(f"{name} has a header and no sequences; expected one sequence "
                             "per row")
        if row_index_column(cells) is not None and frame.shape[1] > 1:
            frame = frame.iloc[:, 1:]
    cols = list(frame.columns)
    lines = np.arange(len(frame)) + offset
    width = len(cols)
    if length is not None and width not in (length, length + 1):
        raise ValueError(f"{name} holds sequences of length {width - 1} (plus a label) or "
                         f"{width}; the model was trained on sequences of length {length}")
    if length is not None and width == length:
        label_idx = None
    elif config.label_col is not None and has_header:
        label_idx = cols.index(config.label_col)
    elif config.label_col in ("first", "last"):  # by place, as classify's --ucr reads rows
        label_idx = 0 if config.label_col == "first" else width - 1
    elif config.label_col is not None:  # no header: a column number (was taken as 0)
        try:
            label_idx = int(config.label_col)
        except ValueError:
            label_idx = -1
        if not 0 <= label_idx < width:
            raise ValueError(f"--label-col {config.label_col}: {name} has no header, so it "
                             f"names a column by its number, 0 to {width - 1}, or by its "
                             "place, first or last")
    else:
        label_idx = 0
    value_cols = [c for k, c in enumerate(cols) if k != label_idx]
    if len(value_cols) < 2:
        raise ValueError(f"{name} has sequences of length {len(value_cols)}; expected at least "
                         "2 values per row after the label")
    values = _numeric(frame, value_cols, name, offset)
    # a row shorter than the others reads as NaNs at its end: unequal lengths, not gaps
    present = ~np.isnan(values)
    ends = values.shape[1] - np.argmax(present[:, ::-1], axis=1)  # after the last reading
    short = present.any(axis=1) & (ends < values.shape[1])
    if short.any():
        i = int(np.argmax(short))
        raise ValueError(f"the sequence at line {lines[i]} of {name} has {int(ends[i])} values "
                         f"and the others {values.shape[1]}: sequences must have one length "
                         "(a missing last reading: write it)")
    _fill_nan(values, config.fill, lines, name, "values", within_rows=True)
    labels = None
    if label_idx is not None:
        labels = frame[cols[label_idx]].astype(str).str.strip().to_numpy()
        labels = np.array([_label_text(v) for v in labels], dtype=object)
    return Sequences(values=values[:, :, None], labels=labels, lines=lines, source=name)


def _ts_file(path) -> bool:
    """Whether ``path`` is a file in the archive's .ts format (judged by its first 64 KiB)."""
    try:
        with open(path, "rb") as f:
            return is_ts(f.read(1 << 16).decode("utf-8", errors="replace"))
    except OSError:
        return False  # missing or a folder: _frame says so


def _ts_sequences(path: str, length: int | None) -> Sequences:
    """A .ts file's series (``rnnkit.data.ts_file``) as sequences: one feature, one length."""
    table = read_ts(path)
    if table.values.shape[2] != 1:
        raise ValueError(f"{path} holds {table.values.shape[2]} features per step; anomaly "
                         "sequences have one")
    if (table.lengths != table.values.shape[1]).any():
        i = int(np.argmax(table.lengths != table.values.shape[1]))
        raise ValueError(f"the sequence at line {table.lines[i]} of {path} has "
                         f"{table.lengths[i]} values and the longest {table.values.shape[1]}: "
                         "sequences must have one length")
    if length is not None and table.values.shape[1] != length:
        raise ValueError(f"{path} holds sequences of length {table.values.shape[1]}; the model "
                         f"was trained on sequences of length {length}")
    labels = None if table.labels is None else np.array(table.labels, dtype=object)
    return Sequences(values=table.values.astype(np.float64), labels=labels, lines=table.lines,
                     source=path)


def _label_text(v: str) -> str:
    """``"1.0"`` and ``"1"`` are the same class."""
    try:
        f = float(v)
    except ValueError:
        return v
    return str(int(f)) if f.is_integer() else v
