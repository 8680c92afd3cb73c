"""The UCR/UEA archive's ``.ts`` format, the one timeseriesclassification.com ships its
multivariate and unequal-length sets in (and sktime's and aeon's loaders read).

A header of ``@`` tags (``#`` and ``%`` lines are comments), then, after ``@data``, one series per
line: its features (dimensions) separated by ``:``, each a comma-separated list of values
(``?`` or ``NaN`` where missing), and the class label last when ``@classLabel true``::

    @problemName BasicMotions
    @univariate false
    @dimensions 2
    @classLabel true Standing Running
    @data
    0.1,0.3,0.2:1.5,1.4,1.6:Standing

``read_ts`` gives the same arrays as ``read_series_csv`` (right-padded with 0, a length per
series); ``read_archive`` reads either of the archive's layouts, ``.ts`` or the ``.tsv``/
``.txt`` one of ``read_ucr`` (label, then the values), telling them apart by content.

Missing values are not imputed: as in ``read_ucr``, ``NaN`` (or ``?``) at the end of every
feature of a series shortens it, anywhere else it is an error. Series with time stamps
(``@timeStamps true``) and regression targets (``@targetLabel true``) are refused with what to
do instead.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..runtime import check_memory
from .classification import PathLike, _label_text, _read, parse_ucr

__all__ = ["TsTable", "read_ts", "parse_ts", "is_ts", "read_archive"]

MISSING = ("?", "nan")  # how the format writes a missing value (aeon also reads NaN)
COMMENTS = ("#", "%")  # "%": the ARFF comment, which some archive files kept


class TsTable(NamedTuple):
    """What ``read_ts`` and ``read_archive`` return."""

    values: np.ndarray  # (N, Tmax, F) float32, right-padded with 0
    lengths: np.ndarray  # (N,) int64 steps per series
    labels: list[str] | None  # one per series; None where the file has none
    lines: np.ndarray | None = None  # (N,) the file line each series is on, for messages


def is_ts(text: str) -> bool:
    """Whether ``text`` is in the ``.ts`` format: its first line that is neither blank nor a
    comment is an ``@`` tag."""
    start = 0
    while start < len(text):  # line by line: a big file is neither split nor copied to look
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line, start = text[start:end].strip(), end + 1
        if line and not line.startswith(COMMENTS):
            return line.startswith("@")
    return False


def _header(lines: list[tuple[int, str]], source: str) -> tuple[dict, int]:
    """The tags before ``@data`` (names lower-cased, values as written) and the index in
    ``lines`` of the first data line."""
    tags = {}
    for k, (n, line) in enumerate(lines):
        if not line.startswith("@"):
            raise ValueError(f"{source} line {n}: expected an @ tag or @data before the series, "
                             f"got {line[:40]!r}")
        words = line[1:].split(None, 1)  # a tag and its value, split by any whitespace
        name, value = words[0].lower() if words else "", words[1].strip() if words[1:] else ""
        if name == "data":
            return tags, k + 1
        tags[name] = value
    raise ValueError(f"{source} has no @data line: a .ts file's series follow a line @data")


def _flag(tags: dict, name: str, spelled: str, source: str) -> bool:
    words = tags.get(name, "false").split()
    if not words or words[0].lower() not in ("true", "false"):
        raise ValueError(f"{source}: {spelled} must be true or false, got {tags[name]!r}")
    return words[0].lower() == "true"


def parse_ts(text: str, source: str = "the .ts file") -> TsTable:
    """Series from ``.ts`` text (the module's docstring says the format); ``source`` names it
    in messages. Raises ``ValueError`` with one line naming the line (and the feature and step)
    for a missing ``@data``, time stamps, regression targets, a value that is not a number or
    overflows float32, a missing value inside a series, a series whose features differ in
    length or number, a label not among ``@classLabel``'s, and a padded table larger than
    memory (refused before it is allocated)."""
    lines = [(n, s.strip()) for n, s in enumerate(text.splitlines(), 1)]
    lines = [(n, s) for n, s in lines if s and not s.startswith(COMMENTS)]
    tags, first = _header(lines, source)
    if "relation" in tags or "attribute" in tags:  # ARFF: the same @data, other rows
        raise ValueError(f"{source} is an ARFF file (@relation, @attribute), which rnnkit does "
                         "not read; give the same set's .ts or .tsv/.txt file (the archive "
                         "ships them side by side)")
    if _flag(tags, "timestamps", "@timeStamps", source):
        raise ValueError(f"{source} has time stamps (@timeStamps true), which rnnkit does not "
                         "read; give the series in a long CSV with --series-csv and --time-col")
    if _flag(tags, "targetlabel", "@targetLabel", source):
        raise ValueError(f"{source} holds regression targets (@targetLabel true), not class "
                         "labels; classify reads class labels")
    labelled = _flag(tags, "classlabel", "@classLabel", source)
    classes = [_label_text(c) for c in tags.get("classlabel", "").split()[1:]]
    declared = tags.get("dimensions", tags.get("dimension"))
    data = lines[first:]
    if not data:
        raise ValueError(f"{source} has no series after @data")

    series, labels = [], []
    width = None
    for n, line in data:
        fields = line.split(":")
        if labelled:
            label = _label_text(fields.pop().strip())
            if not label or not fields:
                raise ValueError(f"{source} line {n}: expected the features, then ':' and the "
                                 "class label (@classLabel true)")
            if classes and label not in classes:
                raise ValueError(f"{source} line {n}: label {label!r} is not one of "
                                 f"@classLabel's classes ({', '.join(classes)})")
            labels.append(label)
        if width is None:
            width = len(fields)
            if declared and declared.isdigit() and int(declared) != width:
                raise ValueError(f"{source} line {n}: {width} features, but @dimensions says "
                                 f"{declared}")
        elif len(fields) != width:
            raise ValueError(f"{source} line {n}: {len(fields)} features, line {data[0][0]} "
                             f"has {width}; every series has the same features")
        series.append(_series(fields, n, source))

    longest = max(len(s) for s in series)
    check_memory(f"read_ts: {len(series)} series of up to {longest} steps x {width} features "
                 f"from {source}", 4.0 * len(series) * longest * width)
    values = np.zeros((len(series), longest, width), dtype=np.float32)
    for i, s in enumerate(series):
        values[i, :len(s)] = s
    lengths = np.array([len(s) for s in series], dtype=np.int64)
    return TsTable(values, lengths, labels if labelled else None,
                   np.array([n for n, _ in data], dtype=np.int64))


def _series(fields: list[str], n: int, source: str) -> np.ndarray:
    """One line's features as a (T, F) float64 array, trailing missing steps cut off."""
    columns = []
    for f, field in enumerate(fields, 1):
        cells = [c.strip() for c in field.split(",")]
        column = np.empty(len(cells))
        for t, c in enumerate(cells):
            if c.lower() in MISSING:
                column[t] = math.nan
                continue
            try:
                column[t] = float(c)
            except ValueError:
                raise ValueError(f"{source} line {n}, feature {f}, step {t + 1}: {c!r} is not a "
                                 "number") from None
            if not math.isfinite(column[t]) or abs(column[t]) > np.finfo(np.float32).max:
                raise ValueError(f"{source} line {n}, feature {f}, step {t + 1}: {c} is not a "
                                 "finite float32 number; rescale the data")
        columns.append(column)
    if len({len(c) for c in columns}) > 1:
        raise ValueError(f"{source} line {n}: its features have different numbers of steps "
                         f"({', '.join(str(len(c)) for c in columns)}); every feature of a series "
                         "has one value per step")
    steps = np.stack(columns, axis=1)  # (T, F)
    missing = np.isnan(steps)
    present = np.flatnonzero(~missing.all(axis=1))
    if not present.size:
        raise ValueError(f"{source} line {n}: the series has no values (all missing)")
    steps = steps[:present[-1] + 1]  # missing at the end of every feature: a shorter series
    if np.isnan(steps).any():
        t, f = np.argwhere(np.isnan(steps))[0]
        raise ValueError(f"{source} line {n}, feature {f + 1}, step {t + 1}: missing value "
                         "inside the series (only missing values at its end, in every "
                         "feature, are read, as a shorter series); fill or drop it")
    return steps


def read_ts(path: PathLike, encoding: str = "utf-8") -> TsTable:
    """A ``.ts`` file's series (``parse_ts``, its messages naming the file)."""
    return parse_ts(_read(path, encoding), source=str(path))


def read_archive(path: PathLike, encoding: str = "utf-8", label: str | None = None
                 ) -> TsTable:
    """A UCR/UEA archive file in either of its layouts, told apart by content: ``.ts``
    (``parse_ts``) or label-then-values rows (``read_ucr``; values as (N, T, 1)). ``label``
    places the rows' label (``parse_ucr``: first, last, none, a header's name); a ``.ts``
    file says where its own is."""
    text = _read(path, encoding)
    if is_ts(text):
        return parse_ts(text, source=str(path))
    values, lengths, labels = parse_ucr(text, source=str(path), label=label)
    return TsTable(values[:, :, None], lengths, labels)
