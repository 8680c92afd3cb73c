"""Every metric in one place: classification, point forecasts, translation.

Classification (labels as integer ids)
--------------------------------------
Classification metrics: accuracy, per-class and macro F1, the confusion matrix and its plot.

``confusion[i, j]`` counts examples of true class ``i`` predicted as class ``j``. For class
``c``: precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2PR / (P + R), taken as 0
when undefined (a class never predicted and never present), as scikit-learn's
``zero_division=0``. Macro-F1 is the unweighted mean over the classes.

Example:
    >>> cm = confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], num_classes=3)
    >>> accuracy([0, 1, 1, 2], [0, 1, 2, 2]), round(macro_f1(cm), 3)
    (0.75, 0.778)

Point forecasts (arrays of the same shape (..., H, T))
------------------------------------------------------
Point-forecast metrics, all over arrays of the same shape (..., H, T):

    MAE   = mean |y - yhat|                 MSE  = mean (y - yhat)^2       RMSE = sqrt(MSE)
    MAPE  = 100 mean |y - yhat| / |y|       (over y != 0 only; nan if every y is 0)
    sMAPE = 200 mean |y - yhat| / (|y| + |yhat|)        (0/0 counts as 0)
    MASE  = MAE / mean |y_t - y_{t-m}| over the training series, per channel then averaged
            (Hyndman & Koehler 2006; m = the seasonal period, 1 for the naive scale).

``mae``, ``mse``, ``rmse`` and ``smape`` take ``axis=``: ``None`` (a float over everything)
or an axis to keep the others (``smape(y, f, axis=1)`` of (S, H) arrays: one value per
series, as the M3 competition averages them). ``series_scale(history, m)``: one series' MASE
denominator (with fallbacks for short or flat histories), for per-series MASE.

MAPE and sMAPE only mean something on a ratio scale with a true zero (not on standardised
values). Every forecast metric takes NumPy arrays or tensors and returns a float (with
``axis=``: an array).

Translation
-----------
``bleu``: sacrebleu's corpus BLEU (0-100); ``exact_match``: the share of hypotheses equal to
their reference.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

__all__ = [
    # classification
    "accuracy", "confusion_matrix", "per_class_f1", "macro_f1", "classification_report",
    "format_confusion", "plot_confusion",
    # point forecasts
    "mae", "mse", "rmse", "mape", "smape", "mase", "mase_scale", "series_scale", "METRICS",
    "all_metrics",
    # translation
    "bleu", "exact_match",
]


# ---------------------------------------------------------------------------- classification

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
    """Unweighted mean of the per-class F1 scores over the classes that occur, as targets or
    as predictions (scikit-learn's ``f1_score(average="macro")``): a class absent from both
    is not a 0 in the mean (one class, every example right: 1.0, not 1 / C)."""
    cm = np.asarray(cm, dtype=np.float64)
    present = (cm.sum(0) + cm.sum(1)) > 0
    return float(per_class_f1(cm)[present].mean()) if present.any() else 0.0


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


# ---------------------------------------------------------------------------- point forecasts

def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _pair(y, yhat):
    y, yhat = _np(y), _np(yhat)
    if y.shape != yhat.shape:
        raise ValueError(f"metrics: expected forecasts of the actuals' shape {y.shape}, "
                         f"got {yhat.shape}")
    return y, yhat


def _reduce(values: np.ndarray, axis):
    """The mean over everything (a float) or along ``axis`` (an array: per series, per step)."""
    return float(np.mean(values)) if axis is None else np.mean(values, axis=axis)


def mae(y, yhat, axis=None):
    y, yhat = _pair(y, yhat)
    return _reduce(np.abs(y - yhat), axis)


def mse(y, yhat, axis=None):
    y, yhat = _pair(y, yhat)
    return _reduce((y - yhat) ** 2, axis)


def rmse(y, yhat, axis=None):
    return np.sqrt(mse(y, yhat, axis)) if axis is not None else float(np.sqrt(mse(y, yhat)))


def mape(y, yhat) -> float:
    y, yhat = _pair(y, yhat)
    keep = y != 0
    if not keep.any():
        return float("nan")
    return float(100 * np.mean(np.abs(y - yhat)[keep] / np.abs(y[keep])))


def smape(y, yhat, axis=None):
    y, yhat = _pair(y, yhat)
    den = np.abs(y) + np.abs(yhat)
    ratio = np.divide(np.abs(y - yhat), den, out=np.zeros_like(den), where=den > 0)
    return 200 * _reduce(ratio, axis)


def series_scale(history, period: int = 1) -> float:
    """MASE's denominator for one series: the in-sample MAE of its seasonal naive forecast
    (lag ``period``; lag 1 when the history is not longer than a season and one step). A flat
    history (``flat_history``) gets 1e-3 of its mean absolute value (at least 1e-12) instead
    of ~0; a history of one value gets 1."""
    y = _np(history).reshape(-1)
    s = _naive_mae(y, period)
    if s is None:
        return 1.0
    return max(float(np.mean(np.abs(y))) * 1e-3, 1e-12) if _flat(s, y) else s


def flat_history(history, period: int = 1) -> bool:
    """Whether MASE is undefined after ``history``: its seasonal naive forecast is exact in
    sample (a constant series, all zeros), so ``series_scale`` gives a floor, and one such
    series' MASE (errors over ~0) would outweigh every other series in a mean."""
    y = _np(history).reshape(-1)
    s = _naive_mae(y, period)
    return s is not None and _flat(s, y)


def _flat(naive_mae: float, y: np.ndarray) -> bool:
    """An in-sample naive error that is rounding: at most 1e-12, or 1e-9 of the level (a
    season repeated exactly at 1e9 leaves ~1e-7 of float64 rounding)."""
    return naive_mae <= max(1e-12, 1e-9 * float(np.mean(np.abs(y))))


def _naive_mae(y: np.ndarray, period: int) -> float | None:
    """The in-sample MAE of the seasonal naive forecast (``series_scale``'s lags); None for
    a history too short to have one."""
    m = period if len(y) > period + 1 else 1
    if len(y) <= m:
        return None
    return float(np.mean(np.abs(y[m:] - y[:-m])))


def mase_scale(train: np.ndarray, period: int = 1) -> np.ndarray:
    """Per-channel in-sample MAE of the seasonal naive forecast on the training series (N, T)."""
    train = _np(train)
    if train.ndim == 1:
        train = train[:, None]
    m = max(1, int(period))
    if len(train) <= m:
        raise ValueError(f"MASE: the training series ({len(train)} rows) must be longer than the "
                         f"period {m}")
    return np.mean(np.abs(train[m:] - train[:-m]), axis=0)


def mase(y, yhat, scale) -> float:
    """MAE per channel (last axis) divided by ``scale`` (from ``mase_scale``), averaged."""
    y, yhat = _pair(y, yhat)
    per_channel = np.abs(y - yhat).reshape(-1, y.shape[-1]).mean(0)
    return float(np.mean(per_channel / np.maximum(_np(scale), 1e-12)))


METRICS = ("MAE", "MSE", "RMSE", "MAPE", "sMAPE", "MASE")


def all_metrics(y, yhat, scale=None) -> dict[str, float]:
    """Every metric in ``METRICS``; MASE needs the training ``scale`` (else nan)."""
    return {"MAE": mae(y, yhat), "MSE": mse(y, yhat), "RMSE": rmse(y, yhat),
            "MAPE": mape(y, yhat), "sMAPE": smape(y, yhat),
            "MASE": mase(y, yhat, scale) if scale is not None else float("nan")}


# -------------------------------------------------------------------------------- translation
def bleu(hypotheses: Sequence[str], references: Sequence[str], tokenize: str = "none") -> float:
    """Corpus BLEU (0–100) of ``hypotheses`` against one reference each, via sacrebleu."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"bleu: expected one reference per hypothesis, got "
                         f"{len(hypotheses)} hypotheses and {len(references)} references")
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)],
                                       tokenize=tokenize, force=True).score)


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Share (0–1) of hypotheses equal to their reference, whitespace-normalised."""
    if len(hypotheses) != len(references):
        raise ValueError(f"exact_match: expected one reference per hypothesis, got "
                         f"{len(hypotheses)} hypotheses and {len(references)} references")
    if not hypotheses:
        return 0.0
    same = sum(h.split() == r.split() for h, r in zip(hypotheses, references, strict=True))
    return same / len(hypotheses)
