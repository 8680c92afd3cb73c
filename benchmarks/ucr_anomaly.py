"""Short-sequence anomaly detection on UCR sets that aeon ships (no download): one class is
"normal", the detector learns the normal examples of the train split only, and the test split
is scored (anomaly = any other class). Side by side with a nearest-neighbour anchor: the
Euclidean distance to the closest normal training example, thresholded the same way (the
``quantile`` of the leave-one-out training distances).

    nice -n 10 .venv/bin/python benchmarks/ucr_anomaly.py

Each row: accuracy, precision, recall (of the flags at the training-score quantile) and
ROC-AUC (of the scores) on the test split, for rnnkit's reconstruction (autoencoder) and
forecasting detectors and for the 1-NN anchor.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from rnnkit.apps import anomaly


def load(name: str):
    from aeon.datasets import load_classification

    X, y = load_classification(name, split="train")
    Xt, yt = load_classification(name, split="test")
    return X[:, 0], y.astype(str), Xt[:, 0], yt.astype(str)


def write_ucr(path: Path, X, y) -> None:
    frame = pd.DataFrame(X)
    frame.insert(0, "label", y)
    frame.to_csv(path, index=False, header=False)


def metrics(truth, flags, scores) -> dict:
    return {"accuracy": float((truth == flags).mean()),
            "precision": float(precision_score(truth, flags, zero_division=0)),
            "recall": float(recall_score(truth, flags, zero_division=0)),
            "roc_auc": float(roc_auc_score(truth, scores))}


def nearest_normal(X_normal, X_test, quantile: float) -> dict:
    d = np.sqrt(((X_test[:, None] - X_normal[None]) ** 2).sum(-1))  # (test, normal)
    own = np.sqrt(((X_normal[:, None] - X_normal[None]) ** 2).sum(-1))
    np.fill_diagonal(own, np.inf)
    threshold = np.quantile(own.min(1), quantile)
    scores = d.min(1)
    return scores, scores > threshold


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default="GunPoint,ItalyPowerDemand")
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--hidden-size", type=int, default=32)
    p.add_argument("--quantile", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="ucr-anomaly-"))
    rows, cpu0 = [], time.process_time()
    for name in args.sets.split(","):
        X, y, Xt, yt = load(name)
        write_ucr(work / f"{name}_train.csv", X, y)
        write_ucr(work / f"{name}_test.csv", Xt, yt)
        for normal in sorted(set(y)):
            truth = (yt != normal).astype(int)
            for detector in ("reconstruct", "forecast"):
                config = anomaly.Config(
                    data=str(work / f"{name}_train.csv"), layout="sequences",
                    detector=detector, normal_label=normal, hidden_size=args.hidden_size,
                    epochs=args.epochs, batch_size=8, lr=5e-3, quantile=args.quantile,
                    checkpoint=str(work / f"{name}-{normal}-{detector}"), seed=args.seed)
                anomaly.train(config)
                frame = anomaly.load(config.checkpoint).predict(work / f"{name}_test.csv")
                rows.append({"set": name, "normal": normal, "detector": f"rnnkit {detector}",
                             **metrics(truth, frame["flag"].to_numpy(),
                                       frame["score"].to_numpy())})
            scores, flags = nearest_normal(X[y == normal], Xt, args.quantile)
            rows.append({"set": name, "normal": normal, "detector": "1-NN distance (anchor)",
                         **metrics(truth, flags.astype(int), scores)})
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".3f"))
    mean = table.groupby("detector")[["accuracy", "precision", "recall", "roc_auc"]].mean()
    print("\nmean over sets and normal classes:\n" + mean.to_markdown(floatfmt=".3f"))
    print(f"\n{time.process_time() - cpu0:.0f} CPU s; config: {vars(args)}")


if __name__ == "__main__":
    main()
