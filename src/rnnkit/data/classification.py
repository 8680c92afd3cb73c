"""Data for sequence classification: readers, labels, padding and batching.

Three input layouts, each read with one-line errors that name the file, line and option:

- ``read_text_csv``: a CSV with a header, a text column and a label column;
- ``read_text_files``: one text file per class, one example per line (the label is the part
  of the file name that differs between the files: ``pos.txt``/``neg.txt`` and
  ``rt-polarity.pos``/``rt-polarity.neg`` both give ``pos`` and ``neg``);
- ``read_ucr``: numeric sequences in the UCR archive's layout, one series per row, the label
  first and then the time steps, separated by commas, tabs or spaces. Shorter series are
  padded with trailing ``NaN`` (the archive's convention); anything else ragged is an error.
  (The archive's other layout, ``.ts``, multivariate and of unequal lengths: ``ts_file``.)
- ``read_series_csv``: multivariate series of any lengths in long format, one row per
  (series, step): an id column, an optional time column, a label column and F feature
  columns (sensor channels, motion axes, audio features); ``parse_series_csv`` reads the
  same from text (a CSV sent to the server).

``LabelEncoder`` maps label strings to ids ``0..C-1`` and back (saved as JSON in a
checkpoint); ``SequenceDataset`` + ``collate`` turn variable-length examples into right-padded
batches ``((inputs, lengths), targets)``, the form ``rnnkit.fit`` calls as
``model(inputs, lengths)``.

Example:
    >>> texts, labels = read_text_files(["pos.txt", "neg.txt"], encoding="latin-1")
    >>> enc = LabelEncoder().fit(labels)            # classes ['pos', 'neg']
    >>> tok = WordTokenizer(min_freq=2).fit(texts)
    >>> data = SequenceDataset([tok.encode(t) for t in texts], enc.encode(labels))
    >>> loader = DataLoader(data, batch_size=32, shuffle=True, collate_fn=collate)
"""

from __future__ import annotations

import csv
import io
import math
import os
import zlib
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from .csv_table import row_index_column
from .rows_fast import read_rows_fast
from .text import check_encoding
from .timeseries import separator_hint

__all__ = ["read_text_csv", "read_text_files", "read_ucr", "parse_ucr", "read_series_csv",
           "parse_series_csv",
           "SERIES_COLUMN_NAMES", "SeriesTable",
           "labels_from_file_names", "names_row",
           "LabelEncoder", "SequenceDataset", "collate", "make_loader", "stratified_folds",
           "stratified_split", "balanced_class_weights", "subword_ids", "SUBWORD_ORDERS",
           "SUBWORDS_PER_WORD"]

PathLike = str | os.PathLike


# ------------------------------------------------------------------------------ reading
def _read(path: PathLike, encoding: str) -> str:
    """A whole file as text; errors name the file and, for bad bytes, ``--encoding``."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"file {str(p)!r} not found")
    if p.is_dir():
        raise ValueError(f"{str(p)!r} is a folder; expected a file")
    check_encoding(encoding)
    data = p.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        raise ValueError(f"cannot decode {str(p)!r} as {encoding}: byte 0x{data[e.start]:02x} "
                         f"at offset {e.start}; pass the file's encoding with --encoding "
                         "(e.g. --encoding latin-1)") from None
    # a byte-order mark (Excel's "CSV UTF-8", Notepad) is not part of the first header or line
    return text.removeprefix("\ufeff")


@contextmanager
def _field_limit(limit: int):
    """csv's field size limit raised to ``limit`` for the block, then put back (left raised,
    it let every later CSV reader in the process take cells past 128 KiB)."""
    old = csv.field_size_limit(max(csv.field_size_limit(), limit))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def read_text_csv(path: PathLike, text_col: str, label_col: str | None = None,
                  encoding: str = "utf-8") -> tuple[list[str], list[str] | None]:
    """Texts (and labels, when ``label_col`` is given) from a CSV with a header row.

    Raises ``ValueError`` for a missing column (listing the columns there are), an empty text
    or label (naming its line), or a file without data rows.
    """
    source = str(path)
    content = _read(path, encoding)
    # a text may be longer than csv's 128 KiB field limit; no field is longer than the file
    with _field_limit(len(content) + 1):  # restored after: a global of the csv module
        reader = csv.reader(io.StringIO(content, newline=""))
        header = [h.strip() for h in next(reader, [])]
        if not any(header):
            raise ValueError(f"{source} is empty; expected a header row naming the columns")
        for option, col in (("--text-col", text_col), ("--label-col", label_col)):
            if col is not None and col not in header:
                raise ValueError(f"column {col!r} ({option}) not found in {source}; its columns "
                                 f"are: {', '.join(header)}{separator_hint(header)}")
        ti = header.index(text_col)
        li = header.index(label_col) if label_col is not None else None
        texts, labels = [], []
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue  # blank line
            line = reader.line_num
            if len(row) != len(header):
                raise ValueError(f"{source} line {line}: expected {len(header)} fields like the "
                                 f"header, got {len(row)}")
            if not row[ti].strip():
                raise ValueError(f"empty text in column {text_col!r} at line {line} of {source}")
            texts.append(row[ti])
            if li is not None:
                if not row[li].strip():
                    raise ValueError(f"empty label in column {label_col!r} at line {line} of "
                                     f"{source}")
                labels.append(row[li].strip())
        if not texts:
            raise ValueError(f"{source} has a header but no data rows")
    return texts, (labels if li is not None else None)


def labels_from_file_names(paths: Sequence[PathLike]) -> list[str]:
    """One label per file: the dot-separated parts of the names that differ between files.

    ``pos.txt, neg.txt`` -> ``pos, neg``; ``rt-polarity.pos, rt-polarity.neg`` -> ``pos,
    neg``; names with different numbers of parts fall back to the name without its suffix.
    """
    names = [Path(p).name for p in paths]
    parts = [n.split(".") for n in names]
    if len(paths) > 1 and len({len(p) for p in parts}) == 1:
        keep = [i for i in range(len(parts[0])) if len({p[i] for p in parts}) > 1]
        labels = [".".join(p[i] for i in keep) for p in parts]
    else:
        labels = [Path(n).stem or n for n in names]
    if len(set(labels)) != len(labels) or not all(labels):
        labels = names
    return labels


def read_text_files(paths: Sequence[PathLike], encoding: str = "utf-8",
                    labels: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Examples from one file per class, one example per non-blank line.

    ``labels`` names the classes in file order (default: ``labels_from_file_names``). A file
    holding no examples, or two files given the same label, is an error.
    """
    paths = list(paths)
    if not paths:
        raise ValueError("expected one text file per class, got none")
    if labels is None:
        labels = labels_from_file_names(paths)
    labels = [str(lab) for lab in labels]
    if len(labels) != len(paths):
        raise ValueError(f"expected one label per text file: {len(paths)} files, "
                         f"{len(labels)} labels")
    if len(set(labels)) != len(labels):
        raise ValueError(f"each text file needs its own label, got {', '.join(labels)}")
    texts, out_labels = [], []
    for path, label in zip(paths, labels, strict=True):
        lines = [line for line in _read(path, encoding).splitlines() if line.strip()]
        if not lines:
            raise ValueError(f"text file {str(path)!r} holds no examples (every line is empty)")
        texts += lines
        out_labels += [label] * len(lines)
    return texts, out_labels


def _label_text(cell: str) -> str:
    """UCR labels are numbers written many ways (1, 1.0, 1.0000e+00): one spelling each. A
    whole number stays as written (codes 007 and 7 are two labels, not one)."""
    if cell.lstrip("+-").isdigit():
        return cell
    try:
        v = float(cell)
    except ValueError:
        return cell
    return str(int(v)) if math.isfinite(v) and v == int(v) else cell


def read_ucr(path: PathLike, encoding: str = "utf-8", label: str | None = None
             ) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Numeric sequences in the UCR layout: ``(values (N, T) float32, lengths (N,), labels)``.

    Each row is ``label, x_1, ..., x_T``, separated by commas, tabs or whitespace (no header;
    a first row none of whose steps is a number, or that ``names_row`` finds to be names, is
    taken as one and skipped; under a header an unnamed first column, the row index pandas'
    ``to_csv`` and R's ``write.csv`` write, is left out). Every row must
    have the same number of fields; a shorter series ends in ``NaN`` padding, which becomes
    its length. ``NaN`` before the end of a series, or a row with no values, is an error.
    ``label`` says where each row's label is (``parse_ucr``: first, last, none, or a column
    named in a header row).
    """
    return parse_ucr(_read(path, encoding), source=str(path), label=label)


# where a row's label is, besides a column named in a header row (None: "first", checked)
LABEL_PLACES = ("first", "last", "none")


def parse_ucr(text: str, source: str = "the UCR file", label: str | None = None
              ) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """``read_ucr`` from the file's text; ``source`` names it in messages.

    ``label``: ``"first"`` (the archive's layout), ``"last"`` (as in many exported CSVs of
    heartbeats: the values, then the class), ``"none"`` (unlabelled rows, for prediction;
    labels come back ``None``), or the label column's name in the file's header row. ``None``
    is ``"first"``, refusing a first column that holds no class labels but measurements
    (numbers, some fractional, more different ones than half the rows: a file whose label is
    elsewhere or missing would otherwise train a class per row, or lose each series' first
    step); given as ``"first"``, the column is taken as it is.
    """
    from .ts_file import is_ts  # (ts_file builds on this module)

    if is_ts(text):
        raise ValueError(f"{source} is in the archive's .ts format (@ tags), not label-then-"
                         "values rows; read it with rnnkit.data.ts_file.read_ts (the CLI's "
                         "--ucr reads both)")
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not lines:
        raise ValueError(f"{source} is empty; expected one series per row: label, then values")
    first = lines[0][1]
    delimiter = "," if "," in first else ("\t" if "\t" in first else None)

    def fields(line: str) -> list[str]:  # (R's write.csv quotes names and row names)
        return [f.strip().strip('"') for f in line.split(delimiter)] if delimiter else \
            line.split()

    head = fields(first)
    header_row = names_row(head, fields(lines[1][1]) if len(lines) > 1 else None)
    # an unnamed first column under a header: the row index pandas' to_csv and R's write.csv
    # add by default, not a step of each series
    skip = 1 if header_row and row_index_column(head) is not None else 0
    head = head[skip:]
    width = len(head)
    if label in (None, *LABEL_PLACES):
        at = {None: 0, "first": 0, "last": width - 1, "none": None}[label]
        steps = [f for i, f in enumerate(head) if i != at]
        # a header row (one row alone: when no step is a number)
        data = lines[1:] if header_row or not any(_is_float(f) for f in steps) else lines
    else:  # a column named in the header
        if label not in head:
            raise ValueError(f"column {label!r} (--label-col) not found in the first row of "
                             f"{source}, {', '.join(head[:8])}{', ...' if width > 8 else ''}"
                             "; name the label column as the header does, or give its place: "
                             "--label-col first or last")
        at, data = head.index(label), lines[1:]
    if not data:
        raise ValueError(f"{source} has a header but no series")
    need = 1 if at is None else 2
    if width < need:
        raise ValueError(f"{source} line {data[0][0]}: expected a label and at least one "
                         "value, got one field")
    read = read_rows_fast(text, data, delimiter, skip, width, at)
    if read is None:  # something to report, or NaN padding: row by row
        rows = ((n, fields(line)[skip:]) for n, line in data)
        read = _read_rows(rows, len(data), data[0][0], width, at, source, label)
    values, lengths, raw_labels = read
    if at is None:
        return values, lengths, None
    if label is None:
        _check_first_column(raw_labels, source)
    return values, lengths, [_label_text(c) for c in raw_labels]


def _read_rows(rows, count: int, first_line: int, width: int, at: int | None, source: str,
               label: str | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``parse_ucr``'s rows one by one (``(line number, fields)``, ``count`` of them): NaN
    padding read as shorter series, and each problem named with its line."""
    need = 1 if at is None else 2
    values = np.empty((count, width - need + 1), dtype=np.float32)
    lengths = np.empty(count, dtype=np.int64)
    raw_labels = []
    layout = {None: "numeric values", 0: "the label first and then numeric values"}.get(
        at, "numeric values and the label")
    for i, (n, row) in enumerate(rows):
        if len(row) != width:
            raise ValueError(
                f"ragged rows in {source}: line {n} has {len(row) - need + 1} values, line "
                f"{first_line} has {width - need + 1}; every series must have the same number "
                "of columns (pad shorter series with trailing NaN)")
        cells = row if at is None else row[:at] + row[at + 1:]
        if at is not None:
            if not row[at]:
                raise ValueError(f"empty label at line {n} of {source}")
            raw_labels.append(row[at])
        try:
            row_values = np.array([float(f) for f in cells], dtype=np.float64)
        except ValueError:
            bad = next(f for f in cells if not _is_float(f))
            raise ValueError(f"{source} line {n}: {bad!r} is not a number; expected {layout}"
                             + ("" if label is not None else " (a label elsewhere in the "
                                "row: --label-col last, or its header name)")) from None
        big = np.isfinite(row_values) & (np.abs(row_values) > np.finfo(np.float32).max)
        if big.any():
            raise ValueError(f"{source} line {n}: value {cells[int(np.argmax(big))]} "
                             "overflows float32, which the models compute in; rescale the data")
        values[i] = row_values
        nan = np.isnan(values[i])
        length = int(len(nan) - np.argmax(~nan[::-1])) if not nan.all() else 0
        if length == 0:
            raise ValueError(f"{source} line {n}: the series has no values (all NaN)")
        if nan[:length].any() or np.isinf(values[i, :length]).any():
            raise ValueError(f"{source} line {n}: missing or infinite value inside the series "
                             "(only trailing NaN padding is allowed)")
        values[i, length:] = 0.0
        lengths[i] = length
    return values, lengths, raw_labels


def _check_first_column(cells: list[str], source: str) -> None:
    """Refuse a first column of measurements where the layout says labels (see ``parse_ucr``):
    every cell a number, some fractional, more different ones than half the rows."""
    try:
        numbers = [float(c) for c in cells]
    except ValueError:
        return  # named classes
    fractional = any(math.isfinite(v) and v != int(v) for v in numbers)
    distinct = len(set(cells))
    if fractional and distinct > len(cells) / 2:
        raise ValueError(
            f"{source}: the first column, where this layout keeps each series' label, holds "
            f"{distinct} different numbers for {len(cells)} series ({cells[0]}, ...), values "
            "rather than class labels; a file with the label in its last column: --label-col "
            "last; in a column named in a header row: --label-col NAME; no labels (predict): "
            "--label-col none; the first column as it is: --label-col first")


class SeriesTable(NamedTuple):
    """What ``read_series_csv`` returns."""

    values: np.ndarray  # (N, Tmax, F) float32, right-padded with 0
    lengths: np.ndarray  # (N,) int64 steps per series
    labels: list[str] | None  # one per series (None without a label column)
    ids: list[str]  # the series' ids, in the order they first appear in the file
    features: list[str]  # the F feature columns, in the order of ``values[..., f]``


def read_series_csv(path: PathLike, id_col: str, label_col: str | None = None,
                    time_col: str | None = None, feature_cols: Sequence[str] | None = None,
                    encoding: str = "utf-8") -> SeriesTable:
    """Multivariate series of any lengths from a long-format CSV file with a header row:
    the file's text read by ``parse_series_csv`` (which says what it checks), its messages
    naming the file.
    """
    return parse_series_csv(_read(path, encoding), id_col, label_col, time_col, feature_cols,
                            source=str(path))


# how parse_series_csv's messages name the columns it is given: the CLI's flags by default
SERIES_COLUMN_NAMES = {"id": "--id-col", "label": "--label-col", "time": "--time-col",
                       "features": "--feature-cols"}


def parse_series_csv(text: str, id_col: str, label_col: str | None = None,
                     time_col: str | None = None, feature_cols: Sequence[str] | None = None,
                     *, source: str = "the CSV", label_optional: bool = False,
                     max_values: int | None = None,
                     column_names: dict[str, str] | None = None) -> SeriesTable:
    """Multivariate series of any lengths from long-format CSV text with a header row.

    One row per (series, step): ``id_col`` names the series, ``time_col`` (optional) orders
    its rows (numbers or dates; without it, file order), ``label_col`` (optional) holds its
    label, the same on every row of a series, and ``feature_cols`` (default: every other
    column holding numbers, but an unnamed first column, a written row index) its F values at
    that step. Series come out in the order their ids
    first appear, right-padded to the longest.

    Raises ``ValueError`` with one line for a missing or empty file, an unknown column
    (listing the columns there are), a non-numeric, missing or infinite feature value or a
    series whose rows disagree on its label (naming the series and column), two rows of one
    series at the same time, no feature columns, and a padded table too large for memory or,
    with ``max_values``, holding more numbers than that (refused before it is allocated).
    ``source`` names the text in messages, ``column_names`` the columns' roles (default: the
    CLI's flags, ``SERIES_COLUMN_NAMES``); with ``label_optional`` a CSV without
    ``label_col`` is read unlabelled.

    Example:
        >>> t = parse_series_csv("series,step,ax\na,0,0.5\na,1,0.7\nb,0,-1\n", "series",
        ...                      time_col="step")
        >>> t.values.shape, t.ids, t.features       # (2, 2, 1), ['a', 'b'], ['ax']
    """
    import pandas as pd

    from ..runtime import check_memory

    flag = {**SERIES_COLUMN_NAMES, **(column_names or {})}
    if not text.strip():
        raise ValueError(f"{source} is empty; expected a header row naming the columns")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                            skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"{source} is not a readable CSV: "
                         f"{str(e).strip().splitlines()[-1]}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    header = list(frame.columns)
    if not len(frame):
        raise ValueError(f"{source} has a header but no data rows")
    if label_optional and label_col not in header:
        label_col = None
    special = {flag["id"]: id_col, flag["label"]: label_col, flag["time"]: time_col}
    chosen = [(flag["features"], c) for c in feature_cols or ()]
    for option, col in [*special.items(), *chosen]:
        if col is not None and col not in header:
            raise ValueError(f"column {col!r} ({option}) not found in {source}; its columns "
                             f"are: {', '.join(header)}{separator_hint(header)}")
    named = [c for c in special.values() if c is not None]
    if len(set(named)) != len(named):
        raise ValueError(f"{flag['id']}, {flag['label']} and {flag['time']} must be different "
                         f"columns, got "
                         f"{', '.join(f'{o} {c}' for o, c in special.items() if c is not None)}")
    if feature_cols is not None:
        features = [str(c) for c in feature_cols]
        twice = [c for c in dict.fromkeys(features) if features.count(c) > 1]
        if twice:
            raise ValueError(f"{flag['features']} names {twice[0]!r} twice")
        taken = [c for c in features if c in named]
        if taken:
            option = next(o for o, c in special.items() if c == taken[0])
            raise ValueError(f"column {taken[0]!r} is the {option}; it cannot also be a "
                             f"feature ({flag['features']})")
    else:  # every other column holding numbers, but a written row index
        index = row_index_column(header)
        features = [c for c in header if c not in named and c != index
                    and pd.to_numeric(frame[c], errors="coerce").notna().any()]
    if not features:
        raise ValueError(f"no feature columns in {source}: no column other than "
                         f"{', '.join(named)} holds numbers (columns: {', '.join(header)}); "
                         f"name them with {flag['features']}")

    ids = frame[id_col].str.strip()
    if (ids == "").any():
        raise ValueError(f"empty series id in column {id_col!r} ({source}, data row "
                         f"{int(np.argmax((ids == '').to_numpy())) + 1})")
    codes, uniques = pd.factorize(ids)  # series numbers in order of first appearance
    names = [str(u) for u in uniques]
    lengths = np.bincount(codes, minlength=len(names)).astype(np.int64)  # (N,)
    n, longest, width = len(names), int(lengths.max()), len(features)
    if max_values is not None and n * longest * width > max_values:
        raise ValueError(f"{source}: {n} series of up to {longest} steps x {width} features "
                         f"would be {n * longest * width} numbers padded to the longest, more "
                         f"than the limit of {max_values}")

    values = np.empty((len(frame), len(features)), dtype=np.float64)  # (rows, F)
    for f, col in enumerate(features):
        column = pd.to_numeric(frame[col].str.strip(), errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(column)
        if bad.any():
            row = int(np.argmax(bad))
            raw = frame[col].iloc[row]
            what = "missing" if not raw.strip() else f"{raw!r} is not a finite number"
            raise ValueError(f"{source}: series {names[codes[row]]!r}, column {col!r}: value "
                             f"{what}; features must be numbers")
        big = np.abs(column) > np.finfo(np.float32).max
        if big.any():
            row = int(np.argmax(big))
            raise ValueError(f"{source}: series {names[codes[row]]!r}, column {col!r}: value "
                             f"{frame[col].iloc[row]} overflows float32, which the models "
                             "compute in; rescale the data")
        values[:, f] = column

    order = np.argsort(codes, kind="stable")  # rows grouped by series, file order within
    if time_col is not None:
        times = _times(frame[time_col], time_col, source, names, codes, flag["time"])
        order = np.lexsort((times, codes))  # by series, then time (stable for ties)
        same = (np.diff(codes[order]) == 0) & (np.diff(times[order]) == 0)
        if same.any():
            row = order[int(np.argmax(same))]
            raise ValueError(f"{source}: series {names[codes[row]]!r} has two rows at "
                             f"{time_col} {frame[time_col].iloc[row].strip()!r}")

    labels = None
    if label_col is not None:
        cells = frame[label_col].str.strip()
        if (cells == "").any():
            row = int(np.argmax((cells == "").to_numpy()))
            raise ValueError(f"{source}: series {names[codes[row]]!r} has an empty label in "
                             f"column {label_col!r}")
        cells = cells.map(_label_text)  # 1, 1.0 and 1.0e0 are one label
        first = cells.groupby(codes, sort=True).first()  # (N,) one label per series
        differ = (cells.to_numpy() != first.to_numpy()[codes])
        if differ.any():
            row = int(np.argmax(differ))
            raise ValueError(f"{source}: series {names[codes[row]]!r} has rows labelled "
                             f"{first.iloc[codes[row]]!r} and {cells.iloc[row]!r} in column "
                             f"{label_col!r}; a series has one label")
        labels = first.tolist()

    check_memory(f"read_series_csv: {n} series of up to {longest} steps x {width} features "
                 f"from {source}", 4.0 * n * longest * width)
    padded = np.zeros((n, longest, width), dtype=np.float32)  # (N, Tmax, F)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    sorted_codes = codes[order]
    steps = np.arange(len(order)) - starts[sorted_codes]  # each row's step in its series
    padded[sorted_codes, steps] = values[order]
    return SeriesTable(padded, lengths, labels, names, features)


def _times(column, name: str, source: str, ids: list[str], codes: np.ndarray,
           option: str = "--time-col") -> np.ndarray:
    """A time column as sortable numbers: the numbers themselves, or dates in nanoseconds."""
    import pandas as pd

    cells = column.str.strip()
    numbers = pd.to_numeric(cells, errors="coerce")
    if numbers.notna().all() and np.isfinite(numbers.to_numpy(np.float64)).all():
        return numbers.to_numpy(np.float64)
    dates = pd.to_datetime(cells, errors="coerce", format="mixed")
    if dates.notna().all():
        return dates.to_numpy().astype("datetime64[ns]").astype(np.int64)
    as_numbers = numbers.notna().sum() >= dates.notna().sum()  # what the column mostly holds
    bad = ~np.isfinite(numbers.to_numpy(np.float64)) if as_numbers else dates.isna().to_numpy()
    row = int(np.argmax(bad))
    raise ValueError(f"{source}: series {ids[codes[row]]!r}, column {name!r} ({option}): "
                     f"{column.iloc[row]!r} is neither a number nor a date")


def names_row(first: list[str], second: list[str] | None) -> bool:
    """Whether a file's first row names its columns, judged against its second. Its numbers,
    if any, must count 0, 1, 2, ... (or from 1: the names pandas gives an array's columns);
    then it is names if one of its names (not a number) stands over a number, or if it counts
    at least three where the second row holds other values. An empty first cell, the name of
    an index column, counts as neither name nor number."""
    if second is None or len(second) != len(first):
        return False  # (one row, or ragged rows: reported as such)
    numbers = [float(a) for a in first if a and _is_float(a)]
    if numbers and not any(numbers == list(range(start, start + len(numbers)))
                           for start in (0, 1)):
        return False
    if any(a and not _is_float(a) and b and _is_float(b)
           for a, b in zip(first, second, strict=True)):
        return True
    return len(numbers) >= 3 and first != second


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------- labels
def _sort_key(label: str):
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


class LabelEncoder:
    """Label strings <-> class ids ``0..C-1``; saved as JSON (``to_dict`` / ``from_dict``).

    ``fit`` keeps the order of ``classes`` when given, else sorts the labels (numerically when
    they are numbers). ``encode`` refuses labels never seen in training, naming them.
    """

    def __init__(self, classes: Sequence[str] | None = None):
        self.classes: list[str] = [str(c) for c in classes] if classes is not None else []

    def fit(self, labels: Sequence[str], order: Sequence[str] | None = None) -> LabelEncoder:
        counts = Counter(str(lab) for lab in labels)
        if not counts:
            raise ValueError("expected labelled examples, got none")
        if len(counts) < 2:
            (only, n), = counts.items()
            raise ValueError(f"expected at least 2 classes to learn from, got only {only!r} "
                             f"({n} examples)")
        if len(counts) == sum(counts.values()) >= 8:  # an id or row-number column, as a rule
            shown = ", ".join(list(counts)[:3])
            raise ValueError(f"every one of the {len(counts)} examples has a label of its own "
                             f"({shown}, ...), so no class has two examples to learn from; is "
                             "that the label column (--label-col)?")
        if order is not None:
            order = [str(c) for c in order]
            self.classes = [c for c in dict.fromkeys(order) if c in counts]
        else:
            self.classes = sorted(counts, key=_sort_key)
        return self

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def encode(self, labels: Sequence[str]) -> Tensor:
        """Class ids (N,) long; unknown labels raise ``ValueError`` naming them."""
        index = {c: i for i, c in enumerate(self.classes)}
        labels = [str(lab) for lab in labels]
        unseen = list(dict.fromkeys(lab for lab in labels if lab not in index))
        if unseen:
            shown = ", ".join(repr(u) for u in unseen[:5]) + (" ..." if len(unseen) > 5 else "")
            raise ValueError(f"label(s) never seen in training: {shown}; the model knows "
                             f"{', '.join(self.classes)}")
        return torch.tensor([index[lab] for lab in labels], dtype=torch.long)

    def decode(self, ids) -> list[str]:
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return [self.classes[int(i)] for i in ids]

    def to_dict(self) -> dict:
        return {"type": "LabelEncoder", "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: dict) -> LabelEncoder:
        if not isinstance(d, dict) or d.get("type") != "LabelEncoder":
            raise ValueError(f"LabelEncoder.from_dict: expected type 'LabelEncoder', got "
                             f"{d.get('type') if isinstance(d, dict) else type(d).__name__!r}")
        classes = d.get("classes")
        if not isinstance(classes, list) or len(classes) < 2 or not all(
                isinstance(c, str) for c in classes):
            raise ValueError(f"LabelEncoder.from_dict: classes must be a list of at least two "
                             f"class names, got {classes!r:.80}")
        if len(set(classes)) != len(classes):
            raise ValueError(f"LabelEncoder.from_dict: classes lists a class twice: "
                             f"{classes!r:.80}")
        return cls(classes)

    def __repr__(self) -> str:
        return f"LabelEncoder(classes={self.classes!r})"


def balanced_class_weights(targets: Tensor, num_classes: int) -> list[float]:
    """``N / (C * count_c)`` per class (scikit-learn's "balanced"): rare classes weigh more."""
    counts = torch.bincount(torch.as_tensor(targets), minlength=num_classes).double()
    return (counts.sum() / (num_classes * counts.clamp(min=1))).tolist()


# ---------------------------------------------------------------------------- subwords
SUBWORD_ORDERS = (3, 4, 5)  # character n-gram lengths, as fastText's 3..6 (one less: short texts)
SUBWORDS_PER_WORD = 24  # K: a word's n-gram ids, padded with 0 (or cut) to this many


def subword_ids(word: str, buckets: int, orders: Sequence[int] = SUBWORD_ORDERS,
                k: int = SUBWORDS_PER_WORD) -> list[int]:
    """The hashed character n-grams of ``"<word>"`` (fastText, Bojanowski et al. 2017), as
    ``k`` ids in ``1..buckets`` padded with 0. CRC-32 hashing: the same ids on every machine.

    Example:
        >>> subword_ids("fun", 1000)[:3]   # "<fu", "fun", "un>" ...
    """
    marked = f"<{word}>"
    grams = [marked[i:i + n] for n in orders for i in range(len(marked) - n + 1)]
    ids = [zlib.crc32(g.encode("utf-8")) % buckets + 1 for g in grams[:k]]
    return ids + [0] * (k - len(ids))


# ---------------------------------------------------------------------------- batching
class SequenceDataset(Dataset):
    """Variable-length examples: token-id lists, or (T_i, F) / (T_i,) numeric arrays.

    Item ``i`` is ``(sequence, target)``; ``collate`` pads a list of items into a batch.
    """

    def __init__(self, sequences: Sequence, targets: Sequence[int] | Tensor | None = None):
        self.sequences = [self._as_tensor(s) for s in sequences]
        for i, s in enumerate(self.sequences):
            if s.shape[0] == 0:
                raise ValueError(f"SequenceDataset: example {i} is empty; every sequence "
                                 "needs at least one step")
        n = len(self.sequences)
        self.targets = (torch.as_tensor(targets, dtype=torch.long) if targets is not None
                        else torch.full((n,), -100, dtype=torch.long))
        if len(self.targets) != n:
            raise ValueError(f"SequenceDataset: {n} sequences but {len(self.targets)} targets")

    @staticmethod
    def _as_tensor(s) -> Tensor:
        t = torch.as_tensor(np.asarray(s))
        if t.is_floating_point():
            t = t.float()
            return t.unsqueeze(-1) if t.dim() == 1 else t  # (T, F)
        return t.long()  # token ids (T,)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int):
        return self.sequences[i], self.targets[i]


def collate(items) -> tuple[tuple[Tensor, Tensor], Tensor]:
    """Right-pad ``(sequence, target)`` items: ``((inputs (B, T[, F]), lengths (B,)), (B,))``."""
    seqs, targets = zip(*items, strict=True)
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.long)
    T = int(lengths.max())
    inputs = seqs[0].new_zeros((len(seqs), T, *seqs[0].shape[1:]))  # pad with 0 (<pad>)
    for i, s in enumerate(seqs):
        inputs[i, : s.shape[0]] = s
    return (inputs, lengths), torch.stack(targets)


def make_loader(dataset: Dataset, batch_size: int = 32, shuffle: bool = False,
                seed: int | None = None) -> DataLoader:
    """A DataLoader with ``collate``; ``seed`` makes the shuffling reproducible."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
                      generator=generator)


# ------------------------------------------------------------------------------ splits
def stratified_folds(targets, k: int, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint index sets covering ``0..N-1``, each class spread evenly over them."""
    targets = np.asarray(targets)
    if not isinstance(k, int) or k < 2 or k > len(targets):
        raise ValueError(f"stratified_folds: k must be an integer in [2, {len(targets)}], "
                         f"got {k!r}")
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for c in np.unique(targets):
        idx = rng.permutation(np.flatnonzero(targets == c))
        for j, i in enumerate(idx):
            folds[(j + offset) % k].append(int(i))
        offset += len(idx)
    return [np.sort(np.array(f, dtype=np.int64)) for f in folds]


def stratified_split(targets, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)`` with about ``fraction`` of each class held out, never a
    class's every example (the model would never see it: a class of one is all kept)."""
    targets = np.asarray(targets)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"stratified_split: fraction must lie in (0, 1), got {fraction!r}")
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(targets):
        idx = rng.permutation(np.flatnonzero(targets == c))
        held.append(idx[: min(int(round(len(idx) * fraction)), len(idx) - 1)])
    held_out = np.sort(np.concatenate(held))
    keep = np.setdiff1d(np.arange(len(targets)), held_out)
    return keep, held_out
