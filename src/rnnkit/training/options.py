"""fit's options: checked up front, and the optimizer / LR schedule built from their names."""

from __future__ import annotations

import math
import warnings

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

__all__ = ["OPTIMIZERS", "SCHEDULES", "check_options", "make_optimizer", "make_schedule"]

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
              "rmsprop": torch.optim.RMSprop}
SCHEDULES = ("cosine", "step", "plateau")


def check_options(epochs, batch_size, lr, clip_norm, clip_value, early_stopping, tbptt,
                   max_nonfinite, time_budget, val_split, callbacks, resume, checkpoint_dir):
    def positive_int(name, v, allow_none=False):
        if allow_none and v is None:
            return
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"fit: {name} must be a positive integer, got {v!r}")

    def positive(name, v, allow_none=True):
        if allow_none and v is None:
            return
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:
            raise ValueError(f"fit: {name} must be a positive number, got {v!r}")

    positive_int("epochs", epochs)
    positive_int("batch_size", batch_size)
    positive_int("max_nonfinite", max_nonfinite)
    positive_int("early_stopping", early_stopping, allow_none=True)
    positive_int("tbptt", tbptt, allow_none=True)
    positive("lr", lr, allow_none=False)
    if lr > 1e4:  # an update lr times a gradient overflows float32 (a RuntimeError mid-step)
        raise ValueError(f"fit: lr {lr:g} is far above any learning rate that trains; "
                         "expected at most 1e4 (usual values 1e-4 to 1e-1)")
    positive("clip_norm", clip_norm)
    positive("clip_value", clip_value)
    positive("time_budget", time_budget)
    if not isinstance(val_split, (int, float)) or not 0.0 <= val_split < 1.0:
        raise ValueError(f"fit: val_split must lie in [0, 1), got {val_split!r}")
    for cb in callbacks:
        if not callable(cb):
            raise ValueError(f"fit: callbacks must be callables(event, info), got {cb!r}")
    if resume and checkpoint_dir is None:
        raise ValueError("fit: resume=True needs checkpoint_dir (where the run was stored)")


def make_optimizer(optimizer, model, lr, weight_decay):
    if isinstance(optimizer, torch.optim.Optimizer):
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        if not any(id(p) in held for p in model.parameters()):
            # trained nothing: every step's "gradient norm" was that of no gradient (NaN),
            # each step skipped as non-finite
            raise ValueError(f"fit: the optimizer instance holds none of "
                             f"{type(model).__name__}'s parameters (built for another model?)")
        ignored = [f"{n}={v:g}" for n, v, default in (("lr", lr, 1e-3),
                                                      ("weight_decay", weight_decay, 0.0))
                   if v != default]
        if ignored:  # were dropped without a word
            warnings.warn(f"fit: {', '.join(ignored)} ignored: the optimizer instance keeps "
                          "its own (set them where you build it)", stacklevel=3)
        return optimizer
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise ValueError(f"fit: unknown optimizer {optimizer!r}; expected one of "
                         f"{', '.join(OPTIMIZERS)} or a torch.optim.Optimizer")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"fit: {type(model).__name__} has no trainable parameters")
    return OPTIMIZERS[optimizer](params, lr=lr, weight_decay=weight_decay)


def make_schedule(schedule, opt, epochs):
    if isinstance(schedule, (LRScheduler, ReduceLROnPlateau)) and schedule.optimizer is not opt:
        # it stepped another optimizer's lr: the row's lr never changed
        raise ValueError(f"fit: the schedule instance drives another optimizer than fit's "
                         f"(a {type(schedule.optimizer).__name__} of its own); "
                         "build it on the optimizer you pass as optimizer=")
    if schedule is None or isinstance(schedule, (LRScheduler, ReduceLROnPlateau)):
        return schedule
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    if schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.1)
    if schedule == "plateau":
        return ReduceLROnPlateau(opt, factor=0.5, patience=2)
    raise ValueError(f"fit: unknown schedule {schedule!r}; expected None, "
                     f"{', '.join(SCHEDULES)} or an LR scheduler instance")
