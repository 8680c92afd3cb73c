"""Numeric columns from a CSV file with a header row, with errors that name file, line, column.

Used by ``rnnkit train`` / ``rnnkit predict``; the standard library's csv module only, so no
pandas is needed.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

__all__ = ["read_csv_columns", "csv_header"]


def csv_header(path: str | os.PathLike, encoding: str = "utf-8") -> list[str]:
    """The column names of ``path`` (its first row)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such CSV file: {path}")
    with path.open(newline="", encoding=encoding) as f:
        header = next(csv.reader(f), None)
    if not header or not any(h.strip() for h in header):
        raise ValueError(f"CSV {path} is empty; expected a header row of column names")
    return [h.strip() for h in header]


def read_csv_columns(path: str | os.PathLike, columns: list[str],
                     encoding: str = "utf-8") -> dict[str, np.ndarray]:
    """The named columns of ``path`` as float64 arrays, in file order.

    Raises ValueError naming the missing column (and the ones present), or the first
    non-numeric or empty cell with its line number; a file with no data rows is an error.
    """
    header = csv_header(path, encoding)
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"CSV {path} has no column {', '.join(map(repr, missing))}; "
                         f"its columns are: {', '.join(header)}")
    index = {c: header.index(c) for c in columns}
    values: dict[str, list[float]] = {c: [] for c in columns}
    with Path(path).open(newline="", encoding=encoding) as f:
        reader = csv.reader(f)
        next(reader)
        for line, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue  # blank line
            for c, i in index.items():
                cell = row[i].strip() if i < len(row) else ""
                try:
                    v = float(cell)
                except ValueError:
                    what = "an empty value" if not cell else f"a non-numeric value {cell!r}"
                    raise ValueError(f"CSV {path}, line {line}: column {c!r} has {what}") \
                        from None
                if not np.isfinite(v):
                    raise ValueError(f"CSV {path}, line {line}: column {c!r} is {cell}")
                values[c].append(v)
    if not values[columns[0]] if columns else True:
        raise ValueError(f"CSV {path} has a header but no data rows")
    return {c: np.asarray(v, dtype=np.float64) for c, v in values.items()}
