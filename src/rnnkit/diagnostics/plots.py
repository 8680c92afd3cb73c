"""PNG plots of gradient flow and training runs (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_gradient_flow", "plot_runs"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _positive(values) -> np.ndarray:
    """Zeros and non-finite values cannot sit on a log axis: show them as gaps."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


def plot_gradient_flow(curves: Mapping[str, Sequence[float]] | Mapping[str, Mapping],
                       path, title: str | None = None, ylabel: str = "‖∂L/∂h_t‖",
                       xlabel: str = "time step t") -> Path:
    """Per-step norms on a log scale, one line per label (a cell kind, a checkpoint ...).

    ``curves`` maps label -> values (T,), or panel title -> {label -> values} for several
    panels side by side (e.g. "at initialisation" and "after training").

    Example:
        >>> plot_gradient_flow({"rnn-tanh": d.layers[0].grad_norm}, "flow.png")  # doctest: +SKIP
    """
    panels = curves if curves and all(isinstance(v, Mapping) for v in curves.values()) \
        else {title or "": curves}
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False,
                             sharey=True)
    for ax, (panel_title, lines) in zip(axes[0], panels.items(), strict=True):
        for label, values in lines.items():
            v = _positive(values)
            ax.plot(np.arange(1, len(v) + 1), v, label=label, linewidth=1.4)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(True, which="major", alpha=0.3)
        if panel_title:
            ax.set_title(panel_title, fontsize=10)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel(ylabel)
    if title and len(panels) > 1:
        fig.suptitle(title, fontsize=11)
    return _save(fig, plt, path)


def plot_runs(runs: Mapping[str, Mapping[str, Sequence[float]]], path,
              baseline: float | None = None, title: str | None = None,
              loss_label: str = "loss", loss_x: str = "training step") -> Path:
    """Loss curves (left) and gradient-norm traces (right) of training runs, side by side.

    Each run is a dict with ``step``, ``loss`` (training loss per step) and ``grad_norm``
    (the global gradient norm before clipping, per step); optional ``eval_step`` and
    ``test_loss`` are drawn as a thicker line. ``baseline`` draws a dashed horizontal line
    (e.g. the adding problem's 1/6). A run's ``grad_step`` (default ``step``) places its
    gradient norms when they are per step and its losses per epoch (``loss_x="epoch"``).
    """
    plt = _pyplot()
    fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(10.4, 3.6))
    for i, (label, run) in enumerate(runs.items()):
        color = f"C{i}"
        steps = np.asarray(run["step"])
        ax_loss.plot(steps, _positive(run["loss"]), color=color, alpha=0.35, linewidth=0.8)
        if run.get("eval_step"):
            ax_loss.plot(run["eval_step"], _positive(run["test_loss"]), color=color,
                         linewidth=1.8, label=f"{label} (test)",
                         marker="o" if len(run["eval_step"]) <= 30 else None, markersize=3)
        else:
            ax_loss.lines[-1].set_label(label)
            ax_loss.lines[-1].set_alpha(0.9)
        grad_steps = run.get("grad_step") or steps
        ax_grad.plot(grad_steps, _positive(run["grad_norm"]), color=color, linewidth=0.8,
                     label=label)
    if baseline is not None:
        ax_loss.axhline(baseline, color="grey", linestyle="--", linewidth=1,
                        label=f"baseline {baseline:.4g}")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel(loss_x)
    ax_loss.set_ylabel(loss_label)
    ax_loss.set_title("loss (thin: training)", fontsize=10)
    ax_grad.set_yscale("log")
    ax_grad.set_xlabel("training step")
    ax_grad.set_ylabel("‖∇θ L‖ before clipping")
    ax_grad.set_title("gradient norm", fontsize=10)
    for ax in (ax_loss, ax_grad):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, plt, path)


def _save(fig, plt, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
