"""``History.plot``: a training run's curves as one PNG (what Keras users plot from
``history.history``), written by every training verb as ``history.png`` in its checkpoint.

Left: the training and validation loss per epoch (log scale when every value is positive).
Right: the other per-epoch numbers the rows carry — accuracy, validation metrics — or, when
there are none, the mean gradient norm. Rows with a ``member`` key (an ensemble: one ``fit``
per member, epochs restarting) give one line per member.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["plot_history"]

# per-epoch bookkeeping, not curves worth a panel of their own
_NOT_METRICS = {"epoch", "member", "train_loss", "val_loss", "lr", "grad_norm_mean",
                "grad_norm_max", "clipped", "skipped", "steps", "seconds"}


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) \
        and math.isfinite(v) else None


def _groups(rows: list[dict]) -> dict:
    out: dict = {}
    for i, row in enumerate(rows):
        out.setdefault(row.get("member"), []).append((row.get("epoch", i + 1), row))
    return out


def _curve(ax, groups: dict, key: str, label: str, style: str = "-") -> bool:
    drew = False
    for member, pairs in groups.items():
        pts = [(e, _number(r.get(key))) for e, r in pairs]
        pts = [(e, v) for e, v in pts if v is not None]
        if pts:
            name = label if member is None or len(groups) == 1 else f"{label} (member {member})"
            ax.plot(*zip(*pts, strict=True), style, marker="." if len(pts) < 30 else None,
                    label=name)
            drew = True
    return drew


def plot_history(history, path: str | os.PathLike, title: str | None = None) -> Path:
    """Write ``history``'s curves to the PNG ``path`` (atomically) and return ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed
    from matplotlib.ticker import MaxNLocator

    from ..checkpoint import atomic_write

    rows = list(history.rows)
    groups = _groups(rows)
    metrics = list(dict.fromkeys(k for r in rows for k, v in r.items()
                                 if k not in _NOT_METRICS and _number(v) is not None))
    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    loss_ax, other_ax = fig.subplots(1, 2)
    drew = _curve(loss_ax, groups, "train_loss", "train")
    drew |= _curve(loss_ax, groups, "val_loss", "validation", "--")
    values = [_number(r.get(k)) for r in rows for k in ("train_loss", "val_loss")]
    if drew and all(v is None or v > 0 for v in values):
        loss_ax.set_yscale("log")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    if not drew:
        loss_ax.text(0.5, 0.5, "no epochs recorded", ha="center", va="center",
                     transform=loss_ax.transAxes)
    if metrics:
        for k in metrics:
            _curve(other_ax, groups, k, k, "--" if k.startswith("val_") else "-")
        other_ax.set(xlabel="epoch", title="metrics")
    else:
        _curve(other_ax, groups, "grad_norm_mean", "mean gradient norm")
        other_ax.set(xlabel="epoch", title="gradient norm (before clipping)")
    for ax in (loss_ax, other_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        if ax.lines:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    best = getattr(history, "best_epoch", None)
    if best is not None and len(groups) == 1:
        for ax in (loss_ax, other_ax):
            ax.axvline(best, color="gray", lw=0.8, ls=":")
    fig.suptitle(title or f"{len(rows)} epoch{'s' if len(rows) != 1 else ''}"
                 + (f", best {best}" if best else ""))
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda p: fig.savefig(p, dpi=90, format="png"))
    return path
