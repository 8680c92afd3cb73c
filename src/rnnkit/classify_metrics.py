"""Classification metrics: accuracy, per-class and macro F1, the confusion matrix and its plot.

``confusion[i, j]`` counts examples of true class ``i`` predicted as class ``j``. For class
``c``: precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2PR / (P + R), taken as 0
when undefined (a class never predicted and never present), as scikit-learn's
``zero_division=0``. Macro-F1 is the unweighted mean over the classes.

Example:
    >>> cm = confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], num_classes=3)
    >>> accuracy([0, 1, 1, 2], [0, 1, 2, 2]), round(macro_f1(cm), 3)
    (0.75, 0.778)
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "per_class_f1", "macro_f1", "classification_report",
           "format_confusion", "plot_confusion"]


def _ids(x) -> np.ndarray:
    return np.asarray(x.tolist() if hasattr(x, "tolist") else x, dtype=np.int64).reshape(-1)


def accuracy(target, pred) -> float:
    """Share of examples whose predicted class is the true one."""
    t, p = _ids(target), _ids(pred)
    if len(t) != len(p) or len(t) == 0:
        raise ValueError(f"accuracy: expected two equal, non-empty label lists, got {len(t)} "
                         f"and {len(p)}")
    return float((t == p).mean())


def confusion_matrix(target, pred, num_classes: int | None = None) -> np.ndarray:
    """(C, C) int counts: row = true class, column = predicted class."""
    t, p = _ids(target), _ids(pred)
    if len(t) != len(p):
        raise ValueError(f"confusion_matrix: {len(t)} targets but {len(p)} predictions")
    C = num_classes if num_classes is not None else int(max(t.max(initial=-1),
                                                            p.max(initial=-1)) + 1)
    cm = np.zeros((C, C), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    """F1 of each class from a confusion matrix (0 where precision and recall are undefined)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    denom = cm.sum(0) + cm.sum(1)  # (TP + FP) + (TP + FN)
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def macro_f1(cm: np.ndarray) -> float:
    """Unweighted mean of the per-class F1 scores."""
    return float(per_class_f1(cm).mean())


def classification_report(target, pred, classes: Sequence[str]) -> dict:
    """``{"accuracy", "macro_f1", "n", "classes", "per_class_f1", "confusion"}`` (JSON-able)."""
    cm = confusion_matrix(target, pred, num_classes=len(classes))
    return {"n": int(cm.sum()), "accuracy": accuracy(target, pred), "macro_f1": macro_f1(cm),
            "classes": list(classes), "per_class_f1": per_class_f1(cm).tolist(),
            "confusion": cm.tolist()}


def format_confusion(cm, classes: Sequence[str]) -> str:
    """The confusion matrix as an aligned text table (rows true, columns predicted)."""
    cm = np.asarray(cm)
    names = [str(c) for c in classes]
    width = max(max(len(n) for n in names), len(str(cm.max(initial=0))), 4)
    head = "true \\ pred".ljust(max(width, 11))
    lines = [head + " " + " ".join(n.rjust(width) for n in names)]
    for name, row in zip(names, cm, strict=True):
        lines.append(name.ljust(max(width, 11)) + " " + " ".join(str(v).rjust(width)
                                                                 for v in row))
    return "\n".join(lines)


def plot_confusion(cm, classes: Sequence[str], path: str | os.PathLike,
                   title: str = "Confusion matrix") -> None:
    """Save the confusion matrix as a PNG heat map with the counts written in each cell."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    cm = np.asarray(cm)
    C = len(classes)
    size = min(max(3.5, 0.6 * C + 2), 14)
    fig = Figure(figsize=(size, size * 0.85))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(C), [str(c) for c in classes], rotation=45 if C > 4 else 0, ha="right"
                  if C > 4 else "center")
    ax.set_yticks(range(C), [str(c) for c in classes])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if C <= 30:
        threshold = cm.max(initial=0) / 2
        for i in range(C):
            for j in range(C):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                        color="white" if cm[i, j] > threshold else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
