"""Turn what users pass to ``fit`` into re-iterable batches of ``(inputs, target)``.

Accepted: ``(X, y)`` with NumPy arrays, tensors or nested lists (``X`` may also be a tuple or
dict of arrays, e.g. ``(x, lengths)``), a ``torch.utils.data.Dataset`` yielding
``(inputs, target)``, or a ``DataLoader`` or any re-iterable of ``(inputs, target)`` batches
(a list of batches, ``StreamBatches``), used as it is. Arrays are checked up front: same
number of samples, not empty, numeric, finite.
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from .loss_view import loss_units, real_steps

__all__ = ["Arrays", "Chunks", "as_tensor", "coerce", "split_tail", "to_device", "call_model",
           "tree_cat", "try_first_batch", "check_pair", "first_batch", "all_batches", "pieces",
           "length", "detach", "loader_inputs"]


def as_tensor(a, what: str, keep_float64: bool = False) -> Tensor:
    """A numeric tensor: floats become float32 (float64 stays so with ``keep_float64``: a
    float64 model's data), ints int64, bools float32."""
    if isinstance(a, Tensor):
        t = a.detach()
    else:
        try:
            arr = np.asarray(a)
        except ValueError as e:  # ragged nested lists
            raise ValueError(f"{what} must be a numeric array, got ragged input ({e})") from None
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{what} must be numeric, got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.dtype == torch.bool:
        t = t.float()
    elif t.is_floating_point():
        if t.dtype == torch.float64 and not keep_float64:
            big = torch.isfinite(t) & (t.abs() > torch.finfo(torch.float32).max)
            if bool(big.any()):  # float32 would make them inf: say so, not "NaN or Inf"
                raise ValueError(f"{what} holds {float(t[big][0]):g}, beyond float32's range "
                                 f"(±{torch.finfo(torch.float32).max:.4g}); rescale it")
            t = t.float()
    elif t.is_complex():
        raise ValueError(f"{what} must be real, got {t.dtype}")
    else:
        t = t.long()
    if t.dim() == 0:
        raise ValueError(f"{what} must have a sample dimension, got a scalar")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{what} contains {bad} NaN or Inf value(s)")
    return t


def _leaves(tree) -> list:
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in _leaves(v)]
    if isinstance(tree, (tuple, list)):
        return [x for v in tree for x in _leaves(v)]
    return [tree]


def _map(fn, tree):
    if isinstance(tree, dict):
        return {k: _map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_map(fn, v) for v in tree)
    return fn(tree)


def to_device(tree, device, float64: bool = False):
    """Every tensor of ``tree`` on ``device``; ``float64`` (a float64 model): float32 ones
    as float64 too, as arrays are read for it (a DataLoader's float32 batches met torch's
    "expected Double but found Float" there)."""
    if float64:
        return _map(lambda t: t.to(device, torch.float64, non_blocking=True)
                    if isinstance(t, Tensor) and t.dtype == torch.float32
                    else t.to(device, non_blocking=True) if isinstance(t, Tensor) else t, tree)
    return _map(lambda t: t.to(device, non_blocking=True) if isinstance(t, Tensor) else t, tree)


def tree_cat(trees: list):
    """Concatenate a list of same-structured batches along dim 0."""
    first = trees[0]
    if isinstance(first, dict):
        return {k: tree_cat([t[k] for t in trees]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(tree_cat(list(parts)) for parts in zip(*trees, strict=True))
    return torch.cat(trees) if isinstance(first, Tensor) else first


def call_model(model, inputs, *extra):
    """``model(x)``, ``model(*x)`` or ``model(**x)``; returns the prediction and the rest."""
    if isinstance(inputs, dict):
        out = model(**inputs) if not extra else model(**inputs, state=extra[0])
    elif isinstance(inputs, (tuple, list)):
        out = model(*inputs, *extra)
    else:
        out = model(inputs, *extra)
    if isinstance(out, (tuple, list)):
        return out[0], tuple(out[1:])
    return out, ()


def loader_inputs(batches, model):
    """The inputs of each batch from a user's Dataset/DataLoader, for ``predict``, as Keras
    reads them: ``(inputs,)`` or ``(inputs, target)`` give ``inputs`` (itself a tuple such as
    ``(x, lengths)`` where the model takes one); anything else is the inputs whole.

    A pair ``(x, lengths)`` cannot be told from ``(x, labels)``: both are a batch and a 1-D
    integer tensor. It is read as ``(x, target)``, as in ``fit``; where the model does take
    ``lengths`` a warning says so once, rather than the lengths being dropped in silence."""
    warned = not _takes_lengths(model)  # nothing to warn of: the model takes no lengths
    for batch in batches:
        if not isinstance(batch, (tuple, list)) or len(batch) not in (1, 2):
            yield batch
            continue
        if len(batch) == 2 and not warned and _looks_like_lengths(*batch):
            warned = True
            warnings.warn("predict: the data yields pairs, read as (inputs, target): the "
                          f"second item is not passed to {type(model).__name__}, whose forward "
                          "takes lengths; to pass lengths, yield ((x, lengths),) or ((x, "
                          "lengths), y)", stacklevel=3)
        yield batch[0]


def _takes_lengths(model) -> bool:
    try:
        return "lengths" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _looks_like_lengths(x, second) -> bool:
    return (isinstance(x, Tensor) and isinstance(second, Tensor) and x.dim() >= 2
            and second.dim() == 1 and not second.is_floating_point() and len(second) == len(x))


class Arrays:
    """Mini-batches over in-memory tensors, by index (no per-sample collate)."""

    def __init__(self, X, y, batch_size: int, shuffle: bool, generator: torch.Generator | None):
        self.X, self.y, self.batch_size = X, y, batch_size
        self.shuffle, self.generator = shuffle, generator
        self.n = len(y)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        order = (torch.randperm(self.n, generator=self.generator) if self.shuffle
                 else torch.arange(self.n))
        for idx in order.split(self.batch_size):
            yield _map(lambda t, idx=idx: t.index_select(0, idx), self.X), self.y[idx]

    def take(self, idx: Tensor) -> Arrays:
        return Arrays(_map(lambda t: t.index_select(0, idx), self.X), self.y.index_select(0, idx),
                      self.batch_size, self.shuffle, self.generator)


class Chunks:
    """tbptt over arrays ``X`` (B, N, ...), ``y`` (B, N, ...): consecutive k-step chunks."""

    def __init__(self, X: Tensor, y: Tensor, k: int):
        self.X, self.y, self.k = X, y, k

    def __len__(self) -> int:
        return math.ceil(self.X.shape[1] / self.k)

    def __iter__(self):
        yield from zip(self.X.split(self.k, dim=1), self.y.split(self.k, dim=1), strict=True)


def _arrays(data, what: str, batch_size: int, shuffle: bool, generator, tbptt: int | None,
            keep_float64: bool = False):
    if len(data) != 2:
        raise ValueError(f"{what} must be a pair (X, y), got a sequence of {len(data)} items")
    X, y = data
    X = _map(lambda a: as_tensor(a, f"{what}: X", keep_float64), X) \
        if isinstance(X, (tuple, dict)) else as_tensor(X, f"{what}: X", keep_float64)
    y = as_tensor(y, f"{what}: y", keep_float64)
    sizes = {len(t) for t in _leaves(X)}
    if len(sizes) != 1:
        raise ValueError(f"{what}: the inputs in X have different numbers of samples: "
                         f"{sorted(sizes)}")
    (n,) = sizes
    if n != len(y):
        raise ValueError(f"{what}: X and y must have the same number of samples, "
                         f"got {n} and {len(y)}")
    if n == 0:
        raise ValueError(f"{what} is empty (0 samples)")
    if tbptt:
        if not isinstance(X, Tensor) or X.dim() < 2 or y.dim() < 2 or X.shape[1] != y.shape[1]:
            raise ValueError(f"{what}: tbptt needs X (B, N, ...) and y (B, N, ...) streams of "
                             f"equal length N, got {_shape(X)} and {tuple(y.shape)}")
        return Chunks(X, y, tbptt)
    return Arrays(X, y, batch_size, shuffle, generator)


def _shape(x):
    return tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__


def coerce(data, what: str, *, batch_size: int, shuffle: bool, generator, tbptt: int | None,
           keep_float64: bool = False):
    """Batches for ``data`` (see the module docstring); raises ValueError naming the problem.
    ``keep_float64``: float64 arrays stay float64 (for a float64 model)."""
    if isinstance(data, DataLoader):
        if hasattr(data.dataset, "__len__") and len(data.dataset) == 0:
            raise ValueError(f"{what} is empty (its DataLoader's dataset has 0 samples)")
        return data
    if isinstance(data, Dataset):
        if hasattr(data, "__len__") and len(data) == 0:
            raise ValueError(f"{what} is empty (the Dataset has 0 samples)")
        check_finite_samples(data, what)
        if isinstance(data, torch.utils.data.IterableDataset):  # read in its own order:
            return DataLoader(data, batch_size=batch_size)  # (shuffle=True was torch's error)
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle and not tbptt,
                          generator=generator)
    if isinstance(data, tuple) or (isinstance(data, list) and not (
            data and all(isinstance(b, tuple) for b in data))):
        return _arrays(data, what, batch_size, shuffle, generator, tbptt, keep_float64)
    if hasattr(data, "__iter__") and not isinstance(data, (str, bytes, dict, np.ndarray, Tensor)):
        if iter(data) is data:
            raise ValueError(f"{what} is a one-shot iterator; pass something iterable once per "
                             "epoch (a list of batches, a DataLoader, StreamBatches)")
        return data  # an iterable of (inputs, target) batches, e.g. StreamBatches
    raise ValueError(f"{what} must be (X, y) arrays, a Dataset, a DataLoader or an iterable "
                     f"of (inputs, target) batches, got {type(data).__name__}")


def check_finite_samples(data: Dataset, what: str) -> None:
    """A map-style Dataset's samples are read once up front: the first one holding a NaN or
    inf (inputs or target) is refused naming its index, instead of its batch being skipped
    as a non-finite loss every epoch. Iterable datasets are not read ahead."""
    if isinstance(data, torch.utils.data.IterableDataset) or not hasattr(data, "__len__"):
        return
    for i in range(len(data)):
        bad = _nonfinite(data[i])
        if bad:
            raise ValueError(f"{what}: sample {i} holds {bad}; fit refuses non-finite inputs "
                             "and targets (clean or drop that sample)")


def _nonfinite(item) -> str | None:
    if isinstance(item, (tuple, list)):
        return next((b for b in map(_nonfinite, item) if b), None)
    if isinstance(item, dict):
        return next((b for b in map(_nonfinite, item.values()) if b), None)
    if isinstance(item, float):
        item = np.float64(item)
    if isinstance(item, (Tensor, np.ndarray, np.floating)):
        t = torch.as_tensor(item) if not isinstance(item, Tensor) else item
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return "NaN" if bool(torch.isnan(t).any()) else "inf"
    return None


def split_tail(batches, fraction: float, generator):
    """Hold out the last ``fraction`` of samples (Keras's validation_split): (train, val)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fit: val_split must lie in [0, 1), got {fraction!r}")
    if isinstance(batches, Arrays):
        n_val = int(round(batches.n * fraction))
        if n_val < 1 or n_val >= batches.n:
            raise ValueError(f"fit: val_split={fraction} of {batches.n} samples leaves an empty "
                             "training or validation set")
        idx = torch.arange(batches.n)
        val = batches.take(idx[batches.n - n_val:])
        val.shuffle = False
        return batches.take(idx[: batches.n - n_val]), val
    if isinstance(batches, DataLoader) and isinstance(batches.dataset, Dataset) and hasattr(
            batches.dataset, "__len__") and batches.batch_size is not None:
        n = len(batches.dataset)
        n_val = int(round(n * fraction))
        if n_val < 1 or n_val >= n:
            raise ValueError(f"fit: val_split={fraction} of {n} samples leaves an empty "
                             "training or validation set")
        shuffle = not isinstance(batches.sampler, torch.utils.data.SequentialSampler)
        bs = batches.batch_size
        train = DataLoader(Subset(batches.dataset, range(n - n_val)), batch_size=bs,
                           shuffle=shuffle, generator=generator)
        val = DataLoader(Subset(batches.dataset, range(n - n_val, n)), batch_size=bs)
        return train, val
    if isinstance(batches, Chunks):  # tbptt's streams: arrays given, but no samples to split
        raise ValueError("fit: val_split cannot split tbptt's streams (each is one long "
                         "sequence); pass val_data instead")
    raise ValueError("fit: val_split needs (X, y) arrays or a Dataset; pass val_data instead")


def first_batch(batches):
    if isinstance(batches, Arrays):
        return next(iter(batches.take(torch.arange(min(batches.n, batches.batch_size)))))
    return next(iter(batches))


def check_pair(batch, what: str):
    """``batch`` as ``(inputs, target)``, the layout ``fit`` and ``evaluate`` read (Keras's);
    any other layout is one ValueError saying which to yield (was "too many values to
    unpack")."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch
    if isinstance(batch, dict):
        got = f"a dict with keys {', '.join(map(repr, batch))}"
    elif isinstance(batch, (tuple, list)) and len(batch) == 1:
        got = "(inputs,) with no target"
    elif isinstance(batch, (tuple, list)):
        got = f"{len(batch)} items"
    else:
        got = f"a {type(batch).__name__}"
    raise ValueError(f"{what}: each batch must be a pair (inputs, target), got {got}; yield "
                     "(x, y), ((x, lengths), y) or ({'x': x, 'lengths': lengths}, y)")


def try_first_batch(model, batches, loss_fn, dev, tbptt, what: str = "train_data",
                    float64: bool = False):
    """Run the model and loss once (no grad) so shape and rank errors surface up front
    (``what``: "train_data" or "val_data", named in the error)."""
    inputs, target = check_pair(first_batch(pieces(batches, tbptt)), f"fit: {what}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            inputs, target = to_device(inputs, dev, float64), to_device(target, dev, float64)
            pred, rest = call_model(model, inputs, None) if tbptt else call_model(model, inputs)
            if not isinstance(pred, torch.Tensor):  # a dict or None: AttributeError deep in
                raise ValueError(f"returned {type(pred).__name__}; expected a tensor (or a "
                                 "tuple whose first item is one)")  # the loss before
            pred, target = real_steps(model, pred, target, inputs)
            value = loss_fn(*loss_units(model, pred, target))
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                got = (f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor)
                       else type(value).__name__)
                raise ValueError(f"the loss returned {got}; expected one number as a tensor "
                                 "(a loss with reduction='mean' or 'sum')")
    except (ValueError, RuntimeError, TypeError, IndexError, AttributeError) as e:
        raise ValueError(f"fit: {type(model).__name__} rejects the first batch of {what}: "
                         f"{str(e).strip().splitlines()[0]}") from e
    finally:
        model.train(was_training)
    if tbptt and not rest:  # trained chunk by chunk from a zero state, without a word
        raise ValueError(f"fit: tbptt needs a model called model(x, state) -> (pred, state) "
                         f"that carries its state across chunks; {type(model).__name__} "
                         f"returned {type(pred).__name__} alone")


def all_batches(batches, dev, limit: int = 100):
    """The training data in one (inputs, target) pair, for ``model.adapt``."""
    if isinstance(batches, (Arrays, Chunks)):
        return to_device(batches.X, dev), to_device(batches.y, dev)
    parts = []
    for i, batch in enumerate(batches):
        if i == limit:
            break
        parts.append(batch)
    inputs, target = tree_cat([p[0] for p in parts]), tree_cat([p[1] for p in parts])
    return to_device(inputs, dev), to_device(target, dev)


def pieces(batches, tbptt):
    """The batches, with tbptt chunks longer than k cut into k-step pieces."""
    if not tbptt or isinstance(batches, Chunks):
        return batches
    return _Cut(batches, tbptt)


class _Cut:
    def __init__(self, batches, k):
        self.batches, self.k = batches, k

    def __iter__(self):
        for x, y in self.batches:
            yield from zip(x.split(self.k, dim=1), y.split(self.k, dim=1), strict=True)


def length(batches) -> int | None:
    try:
        return len(batches)
    except TypeError:
        return None


def detach(state):
    if isinstance(state, (tuple, list)):
        return type(state)(detach(s) for s in state)
    return state.detach() if isinstance(state, Tensor) else state
