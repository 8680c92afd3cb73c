"""Inputs (and targets) for diagnosing a trained checkpoint, read from .npz, .npy or .csv.

See ``rnnkit diagnose --help`` for the formats.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

__all__ = ["load_data"]


class DataError(ValueError):
    """A data file that cannot be diagnosed on: one line, naming the file."""


def load_data(path: str, limit: int | None = None):
    """``(x, y or None, lengths or None)`` tensors from a .npz, .npy or .csv file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no data file {path}")
    try:
        x, y, lengths = _read(p, path)
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        # a damaged .npz (BadZipFile), a text file named .npy, an object array ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{path}: cannot be read as {p.suffix.lower()} data: "
                        f"{reason[:200]}") from None
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: inputs must be numeric, got dtype {x.dtype}")
    if x.ndim not in (2, 3) or x.shape[0] < 1 or x.shape[1] < 2:
        raise DataError(f"{path}: expected inputs of shape (N, T, I) or (N, T) with T >= 2, "
                         f"got {x.shape}")
    n = x.shape[0] if limit is None else min(limit, x.shape[0])
    for name, a in (("targets", y), ("lengths", lengths)):
        if a is not None and (a.ndim == 0 or a.shape[0] != x.shape[0]):
            raise DataError(f"{path}: {name} hold {a.shape[0] if a.ndim else 'no'} sequences "
                            f"but inputs hold {x.shape[0]}")
    if y is not None and y.dtype.kind not in "biuf":
        raise DataError(f"{path}: targets must be numeric, got dtype {y.dtype}")
    if lengths is not None and (lengths.dtype.kind not in "iu" or lengths.ndim != 1):
        raise DataError(f"{path}: lengths must be integers, one per sequence, got dtype "
                        f"{lengths.dtype} and shape {lengths.shape}")

    def as_t(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a[:n]))
        return t.long() if a.dtype.kind in "biu" else t.float()

    x_t = as_t(x)
    if x_t.is_floating_point() and not bool(torch.isfinite(x_t).all()):
        raise DataError(f"{path}: inputs contain NaN or Inf")
    y_t = None if y is None else as_t(y)
    if y_t is not None and y_t.is_floating_point() and not bool(torch.isfinite(y_t).all()):
        raise DataError(f"{path}: targets contain NaN or Inf")
    return x_t, y_t, None if lengths is None else torch.from_numpy(lengths[:n]).long()


def _read(p: Path, path: str):
    """``(x, y or None, lengths or None)`` arrays as the file holds them."""
    suffix = p.suffix.lower()
    y = lengths = None
    if suffix == ".npz":  # (opened here: np.load leaves a damaged zip's file open)
        with open(p, "rb") as handle, np.load(handle, allow_pickle=False) as f:
            keys = set(f.files)
            key = "x" if "x" in keys else "inputs" if "inputs" in keys else None
            if key is None:
                raise DataError(f"{path}: expected an array named x (or inputs), found "
                                 f"{', '.join(sorted(keys)) or 'none'}")
            x = f[key]
            y = f["y"] if "y" in keys else f["targets"] if "targets" in keys else None
            lengths = f["lengths"] if "lengths" in keys else None
    elif suffix == ".npy":
        with open(p, "rb") as handle:
            x = np.load(handle, allow_pickle=False)
    elif suffix == ".csv":
        x = _read_csv(p)[None]  # one sequence: (1, T, I)
    else:
        raise DataError(f"{path}: unknown data format {suffix or '(none)'}; expected .npz, "
                         ".npy or .csv")
    return x, y, lengths


def _read_csv(p: Path) -> np.ndarray:
    lines = [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if lines:
        try:
            [float(v) for v in lines[0].split(",")]
        except ValueError:
            lines = lines[1:]  # a header
    try:
        rows = [[float(v) for v in ln.split(",")] for ln in lines]
    except ValueError as e:
        raise DataError(f"{p}: every value must be a number ({e})") from None
    if not rows or len({len(r) for r in rows}) != 1:
        raise DataError(f"{p}: expected a row per time step with the same number of columns")
    return np.asarray(rows, dtype=np.float32)
