"""A larger real training set for the numeric defaults: a UCR set's series cut into windows.

The bundled UCR/UEA sets (benchmarks/ucr.py) have at most 537 training series, so they cannot
show what the numeric defaults do with thousands. Here each series of both splits is cut into
windows of ``--window`` steps every ``--stride`` steps, each labelled with its series' class
(PLAID: the appliance); the training split's windows train, the test split's are scored.

    python benchmarks/ucr_windows.py                              # PLAID, 100-step windows
    python benchmarks/ucr_windows.py --config epochs=150          # the old fixed 150 epochs

It prints the training set's size, the ensemble and epochs the defaults resolve to for it,
the test accuracy and the CPU seconds (1 torch thread).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
import ucr

from rnnkit.apps import classify


def windows(X, y, width: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(N', C, width) windows of every series in ``X`` (C, T_i) and their series' labels."""
    cut, labels = [], []
    for x, label in zip(X, y, strict=True):
        x = np.asarray(x, np.float32)
        for start in range(0, x.shape[-1] - width + 1, stride):
            cut.append(x[:, start:start + width])
            labels.append(label)
    if not cut:
        raise SystemExit(f"no series has {width} steps: lower --window")
    return np.stack(cut), np.array(labels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="PLAID", help="a set benchmarks/ucr.py reads (PLAID)")
    ap.add_argument("--window", type=int, default=100, help="steps per window (100)")
    ap.add_argument("--stride", type=int, default=25, help="steps between windows (25)")
    ap.add_argument("--config", default="", help="Config overrides: key=value,key=value")
    args = ap.parse_args()
    if args.window < 1 or args.stride < 1:
        ap.error("--window and --stride must be positive")
    torch.set_num_threads(1)
    config = ucr.parse_config(args.config)
    train = windows(*ucr.load(args.set, "train"), args.window, args.stride)
    test = windows(*ucr.load(args.set, "test"), args.window, args.stride)
    plan = config.resolved("numeric", len(train[1]))
    print(f"{args.set} in windows of {args.window} steps every {args.stride}: train "
          f"{len(train[1]):,}, test {len(test[1]):,}; config overrides: {args.config or 'none'}"
          f" -> ensemble {plan.ensemble}, epochs {plan.epochs}", flush=True)
    c0, w0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime, time.perf_counter()
    history = classify.train(config, ucr.examples(*train), progress=False, device="cpu")
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - c0
    report = classify.ClassifyPredictor(history.model, history.config, history.preprocessing
                                        ).evaluate(ucr.examples(*test))
    print(f"accuracy {100 * report['accuracy']:.2f} %, training {cpu:.0f} CPU s "
          f"(wall {time.perf_counter() - w0:.0f} s)")


if __name__ == "__main__":
    main()
