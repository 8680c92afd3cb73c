"""Predict the next number: the seeds' first RNN example, in rnnkit.

Windows [i, i+1, i+2] -> i+3 for i = 1..99; a SimpleRNN(10, ReLU) with a linear head, Adam,
MSE, 200 epochs; then the prediction for [98, 99, 100] (the truth is 101). ``--three`` runs
the seeds' 3-sample variant instead: [[1,2,3],[2,3,4],[3,4,5]] -> [4,5,6] with a
SimpleRNN(50, tanh).

    python examples/next_number.py --seed 0
    python examples/next_number.py --three
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import rnnkit
from rnnkit.data.windows import make_windows


def next_number(seed: int = 0, epochs: int = 200, progress: bool = False):
    """Train on the 99 windows; returns (model, history, prediction after [98, 99, 100],
    fit seconds)."""
    X, y = make_windows(np.arange(1, 103), window=3)  # (99, 3, 1), (99, 1): [1,2,3] -> 4 ...
    torch.manual_seed(seed)  # the model's initial weights
    model = rnnkit.SequenceRegressor(1, 10, cell="rnn", activation="relu")
    t0 = time.perf_counter()
    history = rnnkit.fit(model, (X, y), epochs=epochs, loss="mse", optimizer="adam", seed=seed,
                         progress=progress)
    seconds = time.perf_counter() - t0
    prediction = rnnkit.predict(model, np.array([[[98.0], [99.0], [100.0]]]))
    return model, history, float(prediction[0, 0]), seconds


def three_samples(seed: int = 0, epochs: int = 200):
    """The 3-sample variant; returns the predictions for the three training windows."""
    X = np.array([[1, 2, 3], [2, 3, 4], [3, 4, 5]], dtype=np.float32)[:, :, None]
    y = np.array([4, 5, 6], dtype=np.float32)
    torch.manual_seed(seed)
    model = rnnkit.SequenceRegressor(1, 50, cell="rnn", activation="tanh")
    rnnkit.fit(model, (X, y), epochs=epochs, seed=seed, progress=False)
    return rnnkit.predict(model, X)[:, 0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--three", action="store_true", help="the 3-sample SimpleRNN(50) variant")
    args = parser.parse_args(argv)
    if not 0 <= args.seed < 2**63:
        parser.error(f"--seed must lie in 0..2**63-1, got {args.seed}")
    if args.three:
        preds = three_samples(args.seed)
        print("Predictions for [1,2,3], [2,3,4], [3,4,5] (truth 4, 5, 6):",
              ", ".join(f"{p:.2f}" for p in preds))
        return
    _, _, prediction, seconds = next_number(args.seed)
    print(f"Predicted next number after [98, 99, 100]: {prediction:.2f}  "
          f"(truth 101; fit {seconds:.1f} s)")


if __name__ == "__main__":
    main()
