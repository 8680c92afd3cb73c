"""Write a small Keras model to import with ``rnnkit import-keras``: the articles' next number.

    python examples/keras_next_number.py            # -> runs/next_number.keras, .h5
    rnnkit import-keras runs/next_number.keras --checkpoint runs/keras-next

A ``Sequential`` of ``SimpleRNN(10, relu)`` and ``Dense(1)`` on windows [i, i+1, i+2] -> i+3,
trained briefly by Keras itself (torch backend: no TensorFlow), saved as a Keras 3 ``.keras``
file and as a legacy ``.h5``. Needs ``keras`` and ``h5py`` (``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs", help="folder to write into (default runs)")
    parser.add_argument("--epochs", type=int, default=50, help="Keras training epochs (50)")
    args = parser.parse_args()
    if Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out {args.out} is a file; give a folder")
    if args.epochs < 1:  # 0 saved an untrained model
        parser.error(f"--epochs must be a positive integer, got {args.epochs}")

    try:
        import h5py  # noqa: F401 - the .h5 copy
        import keras
    except ModuleNotFoundError as e:  # was a traceback after `make demo` (no dev extra)
        parser.exit(2, f"{parser.prog}: error: this needs {e.name} (Keras 3 and h5py): "
                       "pip install keras h5py, or pip install -e '.[dev]'\n")
    import numpy as np

    keras.utils.set_random_seed(0)
    x = np.arange(1, 103, dtype="float32")
    X = np.stack([x[i:i + 3] for i in range(99)])[..., None]  # (99, 3, 1)
    y = x[3:102, None]  # (99, 1)
    model = keras.Sequential([keras.Input((3, 1)),
                              keras.layers.SimpleRNN(10, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, y, epochs=args.epochs, verbose=0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("absl").setLevel(logging.ERROR)  # "HDF5 is a legacy format"
    for suffix in ("keras", "h5"):
        model.save(out / f"next_number.{suffix}")
    pred = float(model.predict(np.array([[[98.0], [99.0], [100.0]]], "float32"), verbose=0)[0, 0])
    print(f"wrote {out / 'next_number.keras'} and {out / 'next_number.h5'} "
          f"(Keras predicts {pred:.2f} after 98, 99, 100)")


if __name__ == "__main__":
    main()
