"""Demo part: the seeds' first example — predict the number after [98, 99, 100].

Trains ``SequenceRegressor(1, 10, cell="rnn", activation="relu")`` on the windows
[i, i+1, i+2] -> i+3 (i = 1..99) for 200 epochs with the library's defaults, prints the
prediction against the truth, saves and reloads the checkpoint (checking the reloaded model
predicts the same), and plots the loss curve.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import rnnkit
from rnnkit.data.windows import make_windows


def _plot(history, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.semilogy(history["epoch"], history["train_loss"], label="train MSE")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (log scale)")
    ax.set_title("next number: SimpleRNN(10, ReLU), Adam, batch 32")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run(out_dir, seed: int = 0, quiet: bool = False) -> None:
    out_dir = Path(out_dir)
    X, y = make_windows(np.arange(1, 103), window=3)  # (99, 3, 1) -> (99, 1)
    torch.manual_seed(seed)
    model = rnnkit.SequenceRegressor(1, 10, cell="rnn", activation="relu")
    history = rnnkit.fit(model, (X, y), epochs=200, seed=seed, progress=not quiet)
    query = np.array([[[98.0], [99.0], [100.0]]], dtype=np.float32)
    pred = float(rnnkit.predict(model, query)[0, 0])
    print(f"windows [i, i+1, i+2] -> i+3, i = 1..99; 200 epochs: final train MSE "
          f"{history[-1]['train_loss']:.4f}")
    print(f"prediction after [98, 99, 100]: {pred:.2f}   truth: 101   error: {pred - 101:+.2f}")

    ckpt = out_dir / "next_number"
    rnnkit.save(model, ckpt, extras={"window": 3})
    again = float(rnnkit.predict(rnnkit.load(ckpt), query)[0, 0])
    same = "identical" if again == pred else f"DIFFERENT ({again:.6f})"
    print(f"saved to {ckpt}/ and reloaded: prediction {again:.2f} ({same})")

    png = out_dir / "next_number_loss.png"
    _plot(history, png)
    print(f"loss curve: {png}")
