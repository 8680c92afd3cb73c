"""What the loss and the metrics see of a batch: two optional hooks on the model.

- ``model.real_steps(pred, target, inputs) -> (pred, target)``: the elements that count, for
  the loss and the metrics alike (``SequenceTagger``: the steps before each length, so padding
  leaves every loss, not only cross-entropy's -100).
- ``model.loss_units(pred, target) -> (pred, target)``: the units the loss is computed in,
  metrics staying in the data's own (``SequenceRegressor(standardize=True)``: standardised,
  so the gradients do not scale with the data: at 1e-6 Adam's eps swallowed them and nothing
  was learned, at 1e30 the squared error overflowed float32).

A model without them is scored on ``(pred, target)`` as it is.
"""

from __future__ import annotations

__all__ = ["real_steps", "loss_units"]


def real_steps(model, pred, target, inputs):
    fn = getattr(model, "real_steps", None)
    return fn(pred, target, inputs) if callable(fn) else (pred, target)


def loss_units(model, pred, target):
    fn = getattr(model, "loss_units", None)
    return fn(pred, target) if callable(fn) else (pred, target)
