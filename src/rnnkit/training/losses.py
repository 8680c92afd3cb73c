"""Losses and metrics by name, with the shape checks that keep broadcasting bugs out.

Losses take ``(pred, target)`` and return a scalar tensor (mean over elements):

- ``"mse"``, ``"mae"``, ``"huber"`` (delta 1): ``pred`` and ``target`` of the same number of
  elements (``(B, 1)`` vs ``(B,)`` is fine; ``(B, 1)`` vs ``(B, 3)`` is an error, not a
  silent broadcast).
- ``"cross_entropy"``: logits ``(B, C)`` with class ids ``(B,)``, or ``(B, T, C)`` with
  ``(B, T)`` (flattened); ids equal to -100 are ignored (padding), as in torch.
- ``"bce"``: logits (any shape) with 0/1 targets of as many elements (``with_logits``).

Metrics return ``(sum, count)`` so that epoch values are exact means over elements:
``"accuracy"`` (argmax for (.., C) logits with C > 1, ``logit > 0`` otherwise; -100 ignored),
``"mae"``, ``"mse"``, ``"rmse"`` (aggregated as sqrt of the mean square). A callable metric
``fn(pred, target) -> float`` is averaged over batches weighted by batch size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

__all__ = ["LOSSES", "METRICS", "get_loss", "get_metrics", "MetricSum"]

IGNORE = -100


def _same_size(name: str, pred: Tensor, target: Tensor) -> Tensor:
    if pred.shape != target.shape:
        if pred.numel() != target.numel():
            raise ValueError(f"loss {name!r}: prediction of shape {tuple(pred.shape)} does not "
                             f"match target of shape {tuple(target.shape)}")
        target = target.reshape(pred.shape)
    return target.to(pred.dtype)


def _flat_logits(name: str, pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    if target.is_floating_point():
        raise ValueError(f"loss {name!r}: targets must be integer class ids, got {target.dtype}")
    if pred.dim() != target.dim() + 1 or pred.shape[:-1] != target.shape:
        raise ValueError(f"loss {name!r}: expected logits (B, C) with targets (B,) or (B, T, C) "
                         f"with (B, T), got {tuple(pred.shape)} and {tuple(target.shape)}")
    logits, ids = pred.reshape(-1, pred.shape[-1]), target.reshape(-1)
    C = logits.shape[-1]
    bad = (ids != IGNORE) & ((ids < 0) | (ids >= C))
    if bool(bad.any()):  # torch: "Target 4 is out of bounds" on a CPU, a device assert on CUDA
        raise ValueError(f"loss {name!r}: class ids must lie in [0, {C}) for logits of {C} "
                         f"classes (or be {IGNORE}, ignored), got {int(ids[bad][0])}")
    return logits, ids


def mse(pred, target):
    return F.mse_loss(pred, _same_size("mse", pred, target))


def mae(pred, target):
    return F.l1_loss(pred, _same_size("mae", pred, target))


def huber(pred, target):
    return F.huber_loss(pred, _same_size("huber", pred, target), delta=1.0)


def cross_entropy(pred, target):
    logits, ids = _flat_logits("cross_entropy", pred, target)
    return F.cross_entropy(logits, ids, ignore_index=IGNORE)


def bce(pred, target):
    target = _same_size("bce", pred, target)
    if bool(((target < 0) | (target > 1)).any()):  # trained on silently: a meaningless loss
        raise ValueError(f"loss 'bce': targets must lie in [0, 1] (0/1 labels or "
                         f"probabilities), got values from {float(target.min()):g} to "
                         f"{float(target.max()):g}; class ids need loss='cross_entropy'")
    return F.binary_cross_entropy_with_logits(pred, target)


LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mse": mse, "mae": mae, "huber": huber, "cross_entropy": cross_entropy, "bce": bce}


def get_loss(loss, owner: str = "fit") -> Callable[[Tensor, Tensor], Tensor]:
    """A loss by name or a callable; ``owner`` ("fit", "evaluate") starts the error."""
    if callable(loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]
    raise ValueError(f"{owner}: unknown loss {loss!r}; expected one of {', '.join(LOSSES)} "
                     "or a callable(pred, target)")


# ------------------------------------------------------------------------------- metrics
def _accuracy(pred: Tensor, target: Tensor) -> tuple[float, int]:
    if target.is_floating_point() and bool(((target != 0) & (target != 1)).any()):
        # a regression target gave a number: (pred > 0) compared with target.long()
        raise ValueError("metric 'accuracy': targets must be class ids or 0/1 labels, got "
                         f"values such as {float(target[(target != 0) & (target != 1)][0]):g}; "
                         "for regression use 'mae', 'mse' or 'rmse'")
    if pred.dim() == target.dim() + 1 and pred.shape[-1] > 1:
        guess = pred.argmax(-1)
    else:
        guess = (pred.reshape(target.shape) > 0).long()
    keep = target != IGNORE
    return float((guess[keep] == target[keep].long()).sum()), int(keep.sum())


def _abs(pred, target):
    diff = pred - _same_size("mae", pred, target)
    return float(diff.abs().sum()), diff.numel()


def _square(pred, target):
    diff = pred - _same_size("mse", pred, target)
    return float((diff * diff).sum()), diff.numel()


# name -> (sum/count function, finish applied to the mean)
METRICS = {"accuracy": (_accuracy, None), "mae": (_abs, None), "mse": (_square, None),
           "rmse": (_square, lambda m: m ** 0.5)}


class MetricSum:
    """Running exact means of several metrics over batches."""

    def __init__(self, metrics: dict):
        self.metrics = metrics
        self.sums = dict.fromkeys(metrics, 0.0)
        self.counts = dict.fromkeys(metrics, 0)

    def update(self, pred: Tensor, target: Tensor) -> None:
        pred, target = pred.detach(), target.detach()
        for name, fn in self.metrics.items():
            if name in METRICS and fn is METRICS[name]:
                s, c = fn[0](pred, target)
            else:
                s, c = float(fn(pred, target)) * len(target), len(target)
            self.sums[name] += s
            self.counts[name] += c

    def result(self, prefix: str = "") -> dict[str, float]:
        out = {}
        for name, fn in self.metrics.items():
            mean = self.sums[name] / self.counts[name] if self.counts[name] else float("nan")
            finish = fn[1] if name in METRICS and fn is METRICS[name] else None
            out[prefix + name] = finish(mean) if finish else mean
        return out


def get_metrics(metrics, owner: str = "fit") -> dict:
    """Names or callables → {name: metric}; unknown names are an error (``owner``: its start)."""
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    out = {}
    for m in metrics:
        if isinstance(m, str):
            if m not in METRICS:
                raise ValueError(f"{owner}: unknown metric {m!r}; expected one of "
                                 f"{', '.join(METRICS)} or a callable(pred, target) -> float")
            out[m] = METRICS[m]
        elif callable(m):
            out[getattr(m, "__name__", f"metric{len(out)}")] = m
        else:
            raise ValueError(f"{owner}: a metric must be a name or a callable, got {m!r}")
    return out
