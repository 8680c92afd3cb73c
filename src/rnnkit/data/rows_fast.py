"""Rows of numbers (one series per row, a label among them) through pandas' C parser.

``parse_ucr`` reads each row in Python: exact messages, but 12 s for a file of MIT-BIH's size
(87,554 rows of 188 numbers, 411 MB). This reads the same rows in 5 s (for 1.9 GB of memory
against 1.2), or returns ``None`` where a row needs the careful reader: ragged rows, a
cell that is not a plain number, NaN padding, an infinite or float32-overflowing value, an
empty label. The careful reader then reads the file and names the line.

The values are the careful reader's in float32, which the models compute in. (pandas' C
parser and Python's ``float`` can differ in a float64's last bit, about one value in three;
rounding to float32 removes that but where a decimal lies within one float64 step of a
float32 rounding boundary. Its exact mode, ``float_precision="round_trip"``, is as slow as
the careful reader.)
"""

from __future__ import annotations

import io

import numpy as np

from .csv_table import FLOAT32_MAX

__all__ = ["read_rows_fast"]


def read_rows_fast(text: str, lines: list[tuple[int, str]], delimiter: str | None, skip: int,
                   width: int, at: int | None):
    """``(values (N, T) float32, lengths (N,), raw labels or None)`` of the rows of ``text``
    that ``lines`` holds (``(line number, text)``: its data lines, not blank, after any
    header), or ``None`` when any row needs the careful reader.

    ``delimiter``: ``","``, ``"\\t"`` or ``None`` (runs of whitespace); ``skip``: leading
    columns to drop (a written row index); ``width``: fields per row after them; ``at``: the
    label's place among those fields (``None``: no label).
    """
    import pandas as pd

    total = skip + width
    if delimiter is None:
        if any(len(line.split()) != total for _, line in lines):
            return None
    elif any(line.count(delimiter) != total - 1 for _, line in lines):
        return None  # ragged (or a quoted delimiter): the careful reader says which line
    as_text = {i: str for i in range(skip)}
    if at is not None:
        as_text[skip + at] = str
    try:
        # bytes: pandas parses a StringIO about three times slower than the same bytes
        frame = pd.read_csv(io.BytesIO(text.encode("utf-8", "surrogatepass")), header=None,
                            skiprows=lines[0][0] - 1, skip_blank_lines=True, dtype=as_text,
                            sep=r"\s+" if delimiter is None else delimiter, engine="c",
                            keep_default_na=False, na_filter=False)
    except (ValueError, pd.errors.ParserError):
        return None  # a cell that is not a number in a column read as numbers
    if frame.shape != (len(lines), total):
        return None  # a line of spaces, or lines split otherwise than str.splitlines does
    frame = frame.iloc[:, skip:]
    value_cols = [j for j in range(width) if j != at]
    block = frame.iloc[:, value_cols]
    if not all(dtype.kind in "fiu" for dtype in block.dtypes):
        return None  # text, "NaN", "" or a quoted cell among the values
    values = block.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all() or (np.abs(values) > FLOAT32_MAX).any():
        return None  # NaN padding, an infinity or an overflow: read row by row
    labels = None
    if at is not None:
        labels = [str(c).strip() for c in frame.iloc[:, at]]
        if not all(labels):
            return None
    lengths = np.full(len(lines), len(value_cols), dtype=np.int64)
    return values.astype(np.float32), lengths, labels
