"""Numeric columns from a CSV file with a header row, with errors that name file, line, column.

Used by ``rnnkit regress train`` / ``predict``; the standard library's csv module only, so no
pandas is needed. Wide files are read in time linear in their cells (columns are found by a
dict, not a list search), a UTF-8 byte-order mark before the header is dropped, and every
problem is one ``ValueError`` line: a cell too large for a number, a value that does not fit
in float32 (what the models compute in), bytes that are not text in the file's encoding.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

import numpy as np

__all__ = ["read_csv_columns", "csv_header", "row_index_column"]

FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_CELL = 128 * 1024  # csv's own default field limit; no number is this long


def _encoding(encoding: str) -> str:
    """utf-8 reads as utf-8-sig: a byte-order mark before the header is not part of it."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def _rows(path: Path, encoding: str):
    """``(line, row)`` of ``path``; csv and decoding errors become one-line ValueErrors."""
    with path.open(newline="", encoding=_encoding(encoding)) as f:
        reader = csv.reader(f)
        try:
            for row in reader:
                yield reader.line_num, row
        except csv.Error as e:
            detail = str(e)
            if "field larger than field limit" in detail:
                detail = (f"a cell is longer than {MAX_CELL // 1024} KiB; a number never is: "
                          "is the file a CSV of numbers, with its quotes closed?")
            raise ValueError(f"CSV {path}, line {reader.line_num}: {detail}") from None
        except UnicodeDecodeError as e:
            raise ValueError(f"CSV {path} is not {encoding} text (byte "
                             f"{e.object[e.start:e.start + 1]!r} near offset {e.start}); save "
                             "it as UTF-8") from None


def row_index_column(columns) -> str | None:
    """The name of a written row index among a CSV's ``columns``, or None: an unnamed first
    column ("" as the csv module reads its name, "Unnamed: 0" as pandas does), which is what
    pandas' ``to_csv`` and R's ``write.csv`` write by default. Readers leave it out of the
    columns they take by default."""
    first = str(columns[0]).strip() if len(columns) else None
    return columns[0] if first in ("", "Unnamed: 0") else None


def csv_header(path: str | os.PathLike, encoding: str = "utf-8") -> list[str]:
    """The column names of ``path`` (its first row)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such CSV file: {path}")
    header = next((row for _, row in _rows(path, encoding)), None)
    if not header or not any(h.strip() for h in header):
        raise ValueError(f"CSV {path} is empty; expected a header row of column names")
    return [h.strip() for h in header]


def read_csv_columns(path: str | os.PathLike, columns: list[str],
                     encoding: str = "utf-8") -> dict[str, np.ndarray]:
    """The named columns of ``path`` as float64 arrays, in file order.

    Raises ValueError naming the missing column (and the ones present), or the first
    non-numeric, empty, non-finite or float32-overflowing cell with its line number; a file
    with no data rows is an error.
    """
    header = csv_header(path, encoding)
    position: dict[str, int] = {}
    for i, name in enumerate(header):
        position.setdefault(name, i)  # the first of duplicated names
    missing = [c for c in columns if c not in position]
    if missing:
        shown = ", ".join(header[:50]) + (f", ... ({len(header)} in all)" if len(header) > 50
                                          else "")
        from .timeseries import separator_hint

        raise ValueError(f"CSV {path} has no column {', '.join(map(repr, missing))}; "
                         f"its columns are: {shown}{separator_hint(header)}")
    counts = Counter(header)  # once: a list count per column was quadratic in wide files
    twice = [c for c in dict.fromkeys(columns) if counts[c] > 1]
    if twice:  # the first was read in silence, the second never
        raise ValueError(f"CSV {path} has {len(twice) == 1 and 'a column' or 'columns'} "
                         f"{', '.join(map(repr, twice))} more than once (columns "
                         f"{', '.join(str(i + 1) for i, h in enumerate(header) if h in twice)}); "
                         "rename them apart")
    index = {c: position[c] for c in columns}
    values: dict[str, list[float]] = {c: [] for c in columns}
    rows = _rows(Path(path), encoding)
    next(rows)
    for line, row in rows:
        if not row or not any(cell.strip() for cell in row):
            continue  # blank line
        if any(cell.strip() for cell in row[len(header):]):  # as pandas: the columns shift
            raise ValueError(f"CSV {path}, line {line} has {len(row)} fields, the header "
                             f"{len(header)}: a stray separator, or a number written with a "
                             "thousands separator (1,234) outside quotes?")
        for c, i in index.items():
            cell = row[i].strip() if i < len(row) else ""
            try:
                v = float(cell)
            except ValueError:
                what = "an empty value" if not cell else f"a non-numeric value {cell[:40]!r}"
                raise ValueError(f"CSV {path}, line {line}: column {c!r} has {what}") \
                    from None
            if not np.isfinite(v):
                raise ValueError(f"CSV {path}, line {line}: column {c!r} is {cell[:40]}")
            if abs(v) > FLOAT32_MAX:
                raise ValueError(f"CSV {path}: value {cell[:40]} in line {line}, column {c!r} "
                                 f"overflows float32 (largest {FLOAT32_MAX:.4g}), which the "
                                 "models compute in; rescale the column")
            values[c].append(v)
    if not values[columns[0]] if columns else True:
        raise ValueError(f"CSV {path} has a header but no data rows")
    return {c: np.asarray(v, dtype=np.float64) for c, v in values.items()}
