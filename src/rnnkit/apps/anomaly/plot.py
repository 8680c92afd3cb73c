"""The PNG of a scored stream (values, score, likelihood, flagged readings) or of scored
sequences (normal vs flagged examples)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import checkpoint

__all__ = ["plot_scores"]


def plot_scores(frame: pd.DataFrame, path, *, threshold: float | None = None,
                sequences: np.ndarray | None = None, title: str = "") -> Path:
    """Draw ``frame`` (``AnomalyPredictor.predict``'s output) into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if sequences is not None:
        fig, ax = plt.subplots(figsize=(9, 4))
        flagged = frame["flag"].to_numpy().astype(bool)
        for rows, color, name in ((~flagged, "tab:blue", "normal"),
                                  (flagged, "tab:red", "flagged")):
            idx = np.flatnonzero(rows)[:20]
            for k, i in enumerate(idx):
                ax.plot(sequences[i, :, 0], color=color, alpha=0.5, lw=1,
                        label=f"{name} ({int(rows.sum())})" if k == 0 else None)
        ax.set_xlabel("step")
        ax.legend()
        ax.set_title(title or "sequences: normal vs flagged (up to 20 each)")
    else:
        reserved = {"score", "likelihood", "flag", "label"}
        time_col = frame.columns[0]
        values = [c for c in frame.columns[1:] if c not in reserved]
        x = np.arange(len(frame))
        fig, axes = plt.subplots(3, 1, figsize=(11, 7), sharex=True,
                                 gridspec_kw={"height_ratios": [3, 1, 1]})
        # several columns of their own scales (a pressure near 1013 beside a temperature
        # near 20 flattened it): each standardised to share the axis
        scaled = len(values) > 1
        drawn = []
        for c in values:
            v = frame[c].to_numpy(dtype=np.float64)
            if scaled:
                v = (v - np.nanmean(v)) / (np.nanstd(v) or 1.0)
            drawn.append(v)
            axes[0].plot(x, v, lw=0.8, label=c)
        if scaled:
            axes[0].set_ylabel("values (standardised per column)")
        flags = np.flatnonzero(frame["flag"].to_numpy())
        for i in flags:
            axes[0].axvspan(i - 0.5, i + 0.5 + max(1, len(frame) // 200), color="tab:red",
                            alpha=0.3)
        if "label" in frame:
            lab = np.flatnonzero(frame["label"].to_numpy())
            axes[0].scatter(lab, np.full(len(lab), np.nanmin(np.stack(drawn))),
                            marker="|", color="black", label="labelled anomaly")
        axes[0].legend(loc="upper left", fontsize=8)
        axes[0].set_title(title or f"{len(flags)} flagged readings (red)")
        axes[1].plot(x, frame["score"].to_numpy(), lw=0.7, color="tab:gray")
        axes[1].set_ylabel("score")
        axes[2].plot(x, frame["likelihood"].to_numpy(), lw=0.7, color="tab:purple")
        if threshold is not None:
            axes[2].axhline(threshold, color="tab:red", ls="--", lw=0.8)
        axes[2].set_ylabel("likelihood")
        axes[2].set_xlabel(f"reading ({time_col} {frame[time_col].iloc[0]} → "
                           f"{frame[time_col].iloc[-1]})")
    fig.tight_layout()
    checkpoint.atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100,
                                                          format=Path(path).suffix[1:] or None))
    plt.close(fig)
    return path
